"""The promotion use case: make a version the champion, record why, and say so.

One job serves the three ways the champion moves, so they record and announce the same way:

- `deploy`: the gate said deploy. Register the challenger, move `champion` to it by compare-and-swap
  against the champion the gate compared with, finish the model card (model.json, written last),
  record the deploy in the ledger. The announcement is a task of its own (`announce_deploy`).
- `promote` (`retrain promote VERSION`): move `champion` to VERSION, record it, announce it.
- `rollback` (`retrain rollback [--to VERSION]`): move `champion` back, record it, announce it.

With `RETRAIN_APPROVAL=required` a person approves the deploy first: `request_approval` tells the team
(the Airflow adapter `retrain.airflow.approval` asks in Airflow and turns the answer into an
`Approval`), and `deploy` records who approved.

Every step is idempotent, so a rerun after a crash at any point finishes the move once: the registry
returns the version already registered for a run, a promotion to the current champion changes
nothing, a deploy whose model.json is written (it completed) moves nothing again, even when the
champion moved on since, and the ledger is checked before appending. Asking for something impossible (a version that
does not exist, nothing to roll back to) raises `BadInputError` saying what to do; a champion that
moved since the decision raises `ConflictError`. Asking for what is already true changes, records
and announces nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from retrain.errors import BadInputError, ConflictError

if TYPE_CHECKING:
    from retrain.jobs.retrain import Evaluated
    from retrain.jobs.retrain_run import Approval
    from retrain.layout import Layout
    from retrain.registry import Registry
    from retrain.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Promotion:
    """A champion move (or a move that was not needed).

    Attributes:
        kind: promote or rollback.
        version: The champion after the call.
        previous_version: The champion before it (None: there was none).
        changed: False when `version` already was the champion: nothing was recorded or announced.
    """

    kind: Literal["promote", "rollback"]
    version: str
    previous_version: str | None
    changed: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "version": self.version,
            "previous_version": self.previous_version,
            "changed": self.changed,
        }


@dataclass(frozen=True)
class Deployed:
    """A deploy, with what its message says: the new and previous champion and both holdout scores."""

    ds: str
    version: str
    previous_version: str | None
    metric: str
    score: float
    previous_score: float | None

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        from retrain.records.ledger import json_safe

        return json_safe(asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Deployed:
        score = data.get("score")
        return cls(
            ds=str(data["ds"]),
            version=str(data["version"]),
            previous_version=data.get("previous_version"),
            metric=str(data["metric"]),
            score=float("nan") if score is None else float(score),
            previous_score=data.get("previous_score"),
        )


def _send(settings: Settings, message: Any) -> None:
    from retrain.notify import send

    send(settings, message, logger=log, outbox=settings.outbox_path)


@dataclass
class PromotionJob:
    """Moves the `champion` alias for one model and keeps the ledger, the card and the team in step.

    Args:
        settings: For the model name, the ledger and the gate's metric/threshold (recorded with manual moves).
        layout: Where the model card lives.
        registry: MLflow behind `retrain.registry.Registry`; built from `settings` when omitted.
        announce: Sends a manual change's message, a `retrain.notify` message (default: every configured
            channel, recorded in the outbox).
    """

    settings: Settings
    layout: Layout
    registry: Registry = field(default=None)  # type: ignore[assignment]
    announce: Callable[[Settings, Any], None] = _send

    def __post_init__(self) -> None:
        if self.registry is None:
            from retrain.registry import Registry

            self.registry = Registry.from_settings(self.settings)

    # -- the gate's deploy ---------------------------------------------------------------------------

    def deploy(self, evaluated: Evaluated, approval: Approval | None = None) -> Deployed:
        """Register the challenger, move `champion` to it (compare-and-swap), finish the card, record it.

        With `approval` (`RETRAIN_APPROVAL=required`), who approved, when and their comment are recorded
        too: tags on the run and the new version, `approval.json` in the card, `approved_by` and
        `approval` in the ledger entry.

        A deploy of the same date and run that completed before (model.json records it) is not done
        again: the champion may have moved on since, and a rerun must not move it back.

        Raises:
            BadInputError: `approval` is not an approval (a rejected or timed-out request never deploys).
            ConflictError: The champion is no longer the one the gate compared with (another deploy or a
                manual promotion moved it): nothing moved, and the ledger records a skip saying
                "deploy refused".
        """
        from retrain.records import card, ledger
        from retrain.registry import StaleChampionError
        from retrain.registry.tracking import approval_tags

        run, decision, settings = evaluated.run, evaluated.decision, self.settings
        run_id = str(run.run_id)
        tags: dict[str, str] = {"trigger": run.trigger}
        if approval is not None:
            if not approval.approved:
                raise BadInputError(f"the deploy of {run.ds} was not approved ({approval.reason()}): nothing to deploy")
            self.registry.record_approval(run_id, approval)
            card.write_approval(self.layout, run.ds, approval)
            tags.update(approval_tags(approval))
        done = card.recorded_model(self.layout, run.ds)
        if done is not None and done.get("run_id") == run_id:
            # model.json is written last: this deploy completed before. Moving the alias again would
            # undo whatever moved it since (a later deploy, a rollback), so only the ledger is checked.
            version, previous = str(done["version"]), done.get("previous_version")
            log.info("the deploy of %s completed before (version %s): the champion is not moved again", run.ds, version)
            return self._recorded_deploy(evaluated, version, previous, approval)
        version = self.registry.register(run_id, ds=run.ds, tags=tags, label=settings.model_label)
        try:
            previous = self.registry.promote(
                version,
                expected_current=run.champion_version,
                reason=f"retrain {run.ds}: " + "; ".join(decision.reasons),
            )
        except StaleChampionError as exc:
            if ledger.find(settings.ledger_path, ds=run.ds, run_id=run_id, decision="skip") is None:
                entry = ledger.skip_entry(
                    decision,
                    ds=run.ds,
                    trigger=run.trigger,
                    champion_version=run.champion_version,
                    run_id=run_id,
                    window=run.window,
                    label=settings.model_label,
                    refused=str(exc),
                    approval=approval,
                )
                ledger.append(settings.ledger_path, entry)
            raise ConflictError(f"deploy of version {version} refused: {exc}") from exc
        card.write_model_ref(
            self.layout,
            run.ds,
            model_name=settings.model_name,
            version=version,
            previous_version=previous,
            run_id=run_id,
        )
        log.info("deployed %s version %s (previous champion %s)", settings.model_name, version, previous)
        return self._recorded_deploy(evaluated, version, previous, approval)

    def _recorded_deploy(
        self, evaluated: Evaluated, version: str, previous: str | None, approval: Approval | None
    ) -> Deployed:
        """Record the completed deploy in the ledger (once per date and run) and say what the message says."""
        from retrain.records import ledger

        run, settings = evaluated.run, self.settings
        if ledger.find(settings.ledger_path, ds=run.ds, run_id=str(run.run_id), decision="deploy") is None:
            entry = ledger.deploy_entry(
                evaluated.decision,
                ds=run.ds,
                trigger=run.trigger,
                version=version,
                champion_version=run.champion_version,
                run_id=str(run.run_id),
                window=run.window,
                label=settings.model_label,
                approval=approval,
            )
            ledger.append(settings.ledger_path, entry)
        scores = evaluated.scores
        return Deployed(run.ds, version, previous, scores.metric, scores.challenger_score, scores.champion_score)

    # -- by hand ---------------------------------------------------------------------------------------

    def promote(self, version: str, reason: str) -> Promotion:
        """Make `version` the champion (`retrain promote`), record it and announce it.

        Raises:
            BadInputError: `version` does not exist; the message lists the registered versions.
            ConflictError: Another promotion moved the champion while this one ran; try again.
        """
        from retrain.registry import StaleChampionError

        version = str(version)
        self._existing(version, "cannot promote it")
        current = self.registry.champion()
        if current is not None and current.version == version:
            return Promotion("promote", version, version, changed=False)
        try:
            previous = self.registry.promote(
                version, expected_current=current.version if current else None, reason=reason
            )
        except StaleChampionError as exc:
            raise ConflictError(f"{exc}; run the command again") from exc
        return self._record(Promotion("promote", version, previous), reason)

    def rollback(self, to: str | None, reason: str) -> Promotion:
        """Move the champion back to `to`, or to the champion before it (`retrain rollback`); record, announce.

        Raises:
            BadInputError: There is no champion, nothing to roll back to, or `to` does not exist (any more).
        """
        name = self.settings.model_name
        current = self.registry.champion()
        if current is None:
            raise BadInputError(
                f"model {name!r} has no champion, so there is nothing to roll back; "
                f"make one with `retrain promote VERSION` ({self._listing()})"
            )
        if to is None:
            to = self.registry.previous_champion()
            if to is None:
                raise BadInputError(
                    f"champion version {current.version} of {name!r} has no previous champion to roll back to; "
                    f"name one with `retrain rollback --to VERSION` ({self._listing()})"
                )
            self._existing(to, "the previous champion is gone; name another with `retrain rollback --to VERSION`")
        else:
            self._existing(str(to), "cannot roll back to it")
        if str(to) == current.version:
            return Promotion("rollback", current.version, current.version, changed=False)
        previous, restored = self.registry.rollback(str(to), reason)
        return self._record(Promotion("rollback", restored, previous), reason)

    def _existing(self, version: str, consequence: str) -> None:
        from retrain.registry import RegistryError

        try:
            self.registry.get(version)
        except RegistryError:
            raise BadInputError(
                f"model {self.settings.model_name!r} has no version {version!r} (deleted, or never registered): "
                f"{consequence} ({self._listing()})"
            ) from None

    def _listing(self) -> str:
        versions = [v["version"] for v in self.registry.versions()]
        return f"registered versions: {', '.join(versions)}" if versions else "no version is registered yet"

    def _record(self, promotion: Promotion, reason: str) -> Promotion:
        """The manual move's ledger line and message (a deploy's message is its own task)."""
        from retrain.notify import ManualChangeMessage
        from retrain.records import ledger

        settings = self.settings
        build = ledger.promote_entry if promotion.kind == "promote" else ledger.rollback_entry
        entry = build(
            ds=datetime.now(UTC).date().isoformat(),
            version=promotion.version,
            previous_version=promotion.previous_version,
            reason=reason,
            metric=settings.metric,
            threshold=settings.metric_threshold,
        )
        ledger.append(settings.ledger_path, entry)
        message = ManualChangeMessage(
            kind=promotion.kind,  # type: ignore[arg-type]
            model_name=settings.model_name,
            version=promotion.version,
            previous_version=promotion.previous_version,
            reason=reason,
        )
        self.announce(settings, message)
        return promotion


def announce_deploy(settings: Settings, deployed: Deployed) -> dict[str, Any]:
    """Tell the team about a deploy, once: a rerun finds the same message delivered and sends nothing.

    A failing channel is reported in the result and the outbox; it never undoes the deploy.

    Returns:
        `{"channels": [{channel, ok, attempts}, ...]}`, plus `already_sent: True` on a rerun.
    """
    from retrain.notify import DeployMessage, already_sent, send

    message = DeployMessage(
        model_name=settings.model_name,
        version=deployed.version,
        label=settings.model_label,
        metric=deployed.metric,
        score=deployed.score,
        threshold=settings.metric_threshold,
        previous_score=deployed.previous_score,
        previous_version=deployed.previous_version,
        ds=deployed.ds,
    )
    outbox = settings.outbox_path
    if already_sent(outbox, message):
        log.info("this deploy message was already sent (a rerun of %s): not sending it twice", deployed.ds)
        return {"channels": [], "already_sent": True}
    results = send(settings, message, logger=log, outbox=outbox)
    return {"channels": [{"channel": r.channel, "ok": r.ok, "attempts": r.attempts} for r in results]}


def approval_request(settings: Settings, evaluated: Evaluated, *, url: str, deadline: str) -> Any:
    """The message asking for approval of the challenger the gate accepted (`RETRAIN_APPROVAL=required`).

    Args:
        settings: For the model name, the threshold and the approvers (`RETRAIN_APPROVERS`).
        evaluated: The evaluation: both scores and both intervals (challenger's score, gain over the champion).
        url: Where to answer: the Airflow page of the approval task.
        deadline: When the request times out (UTC, ISO 8601).

    Returns:
        A `retrain.notify.ApprovalRequestMessage`.
    """
    from retrain.notify import ApprovalRequestMessage

    run, decision = evaluated.run, evaluated.decision
    return ApprovalRequestMessage(
        model_name=settings.model_name,
        ds=run.ds,
        trigger=run.trigger,
        metric=decision.metric,
        score=decision.challenger_score,
        threshold=decision.threshold,
        score_ci=(decision.challenger_ci_low, decision.challenger_ci_high),
        champion_version=run.champion_version,
        champion_score=decision.champion_score,
        gain_ci=(decision.ci_low, decision.ci_high),
        confidence=decision.confidence,
        url=url,
        deadline=deadline,
        approvers=tuple(settings.approvers),
    )


def request_approval(settings: Settings, evaluated: Evaluated, *, url: str, deadline: str) -> dict[str, Any]:
    """Send the approval request (`approval_request`) on every channel; a failing channel is reported, never raised.

    Returns:
        `{"channels": [{channel, ok, attempts}, ...]}`.
    """
    from retrain.notify import send

    message = approval_request(settings, evaluated, url=url, deadline=deadline)
    results = send(settings, message, logger=log, outbox=settings.outbox_path)
    return {"channels": [{"channel": r.channel, "ok": r.ok, "attempts": r.attempts} for r in results]}
