"""What the retrain steps hand each other: small, frozen, JSON-serialisable records (XCom carries `to_dict()`).

`RetrainRun` grows step by step (`dataclasses.replace`); `Evaluated` is what the gate hands to the
branch and to the deploy or skip; `Approval` is a person's answer when `RETRAIN_APPROVAL=required`.
`fingerprint` says when two attempts train the same run (`RetrainRun.reused_run`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, get_args

from retrain.model.gate import GateDecision

if TYPE_CHECKING:
    from retrain.records.ledger import Trigger
    from retrain.settings import Settings


def fingerprint(settings: Settings, train_sha: str, holdout_sha: str) -> str:
    """What makes two trainings identical: estimator, parameters, seed and both split files' SHA-256.

    The key `val` is the holdout's: kept so that runs logged before the rename are still recognised.
    """
    spec = {
        "estimator": settings.estimator,
        "params": settings.estimator_params,
        "seed": settings.seed,
        "train": train_sha,
        "val": holdout_sha,
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class RetrainRun:
    """One retrain of one logical date, as far as its steps got.

    Attributes:
        ds: The logical date (YYYY-MM-DD); the window ends on it.
        trigger: Why it runs (schedule, drift, performance, manual).
        window: The landed days trained on, oldest first.
        holdout_days: The days (of `window`) the holdout is drawn from: days the champion never saw.
        champion_version: The champion to beat, pinned when the run was first prepared (None: none yet).
        columns: The feature columns every day of the window shares (set by `validate`).
        rows: Rows validated over the window.
        train_rows, holdout_rows: Sizes of the split (set by `split`).
        run_id: The challenger's MLflow run (set by `train`).
        reused_run: Whether `train` reused the run of an earlier, identical attempt.
    """

    ds: str
    trigger: Trigger
    window: tuple[str, ...]
    holdout_days: tuple[str, ...]
    champion_version: str | None
    columns: tuple[str, ...] = ()
    rows: int = 0
    train_rows: int = 0
    holdout_rows: int = 0
    run_id: str | None = None
    reused_run: bool = False

    def to_dict(self) -> dict[str, Any]:
        """A small JSON-safe dict (for XCom); `from_dict` reads it back."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RetrainRun:
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in names}
        return cls(**values)


@dataclass(frozen=True)
class HoldoutScores:
    """Every metric of both models on the same holdout, derived from their probabilities (computed once).

    Attributes:
        metric: The gate's metric.
        challenger: `{metric: score}` for every metric of `retrain.model.evaluate.METRICS`.
        champion: The same for the champion, or None when there is none.
    """

    metric: str
    challenger: dict[str, float]
    champion: dict[str, float] | None = None

    @property
    def challenger_score(self) -> float:
        return self.challenger[self.metric]

    @property
    def champion_score(self) -> float | None:
        return None if self.champion is None else self.champion[self.metric]


@dataclass(frozen=True)
class Evaluated:
    """What `evaluate` hands to the branch and to the deploy or skip: the run, the scores, the decision."""

    run: RetrainRun
    scores: HoldoutScores
    decision: GateDecision

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict for XCom (NaN scores become None)."""
        from retrain.records.ledger import json_safe

        return {
            "run": self.run.to_dict(),
            "scores": json_safe(dataclasses.asdict(self.scores)),
            "decision": self.decision.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Evaluated:
        def metrics(values: dict[str, Any] | None) -> dict[str, float] | None:
            return None if values is None else {k: float("nan") if v is None else float(v) for k, v in values.items()}

        scores = data["scores"]
        return cls(
            run=RetrainRun.from_dict(data["run"]),
            scores=HoldoutScores(
                metric=scores["metric"],
                challenger=metrics(scores["challenger"]) or {},
                champion=metrics(scores["champion"]),
            ),
            decision=GateDecision.from_dict(data["decision"]),
        )


ApprovalOutcome = Literal["approved", "rejected", "timed_out"]
"""What became of a request for approval (`RETRAIN_APPROVAL=required`)."""


@dataclass(frozen=True)
class Approval:
    """A person's answer to "deploy this challenger?", or the timeout that answered for nobody.

    Built by the Airflow adapter from the human-in-the-loop response (`retrain.airflow.approval`);
    the deploy and the skip record it in the ledger, on the MLflow run (and version) and in the card.

    Attributes:
        outcome: approved, rejected or timed_out.
        by: The Airflow user who answered (their user name); None when the request timed out.
        at: When it was answered or timed out (UTC, ISO 8601).
        comment: What they wrote with the answer (None when empty).
        timeout_seconds: How long the request waited at most (`RETRAIN_APPROVAL_TIMEOUT`).
    """

    outcome: ApprovalOutcome
    by: str | None
    at: str
    comment: str | None = None
    timeout_seconds: int | None = None

    def __post_init__(self) -> None:
        if self.outcome not in get_args(ApprovalOutcome):
            raise ValueError(f"approval outcome must be one of {get_args(ApprovalOutcome)}, not {self.outcome!r}")
        if self.outcome != "timed_out" and not self.by:
            raise ValueError(f"an approval {self.outcome} by nobody: a person's answer names the person")

    @property
    def approved(self) -> bool:
        return self.outcome == "approved"

    @property
    def approved_by(self) -> str | None:
        """The approver, the field `retrain status` shows (None unless approved)."""
        return self.by if self.approved else None

    def reason(self) -> str:
        """One sentence for the reasons: who decided, when, and their comment (or the timeout)."""
        said = f": {self.comment!r}" if self.comment else ""
        if self.outcome == "timed_out":
            waited = f" within {self.timeout_seconds} s" if self.timeout_seconds else ""
            return f"approval timed out at {self.at}: nobody answered{waited}, so no deploy"
        return f"{self.outcome} by {self.by} at {self.at}{said}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (XCom, ledger, card); `from_dict` reads it back."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Approval:
        timeout = data.get("timeout_seconds")
        return cls(
            outcome=data["outcome"],
            by=data.get("by") or None,
            at=str(data["at"]),
            comment=data.get("comment") or None,
            timeout_seconds=None if timeout is None else int(timeout),
        )
