"""The retrain use case: pin a window and a holdout, validate, split, train, score both models, decide.

Read `RetrainJob` top to bottom: each method is one step of the `retrain` DAG and takes and returns
a `RetrainRun` (`retrain.jobs.retrain_run`), the small frozen record of what the steps decided so far
(it travels between tasks as `to_dict()`). The model travels through MLflow and the data through
files under `Layout`; nothing here imports Airflow, so every step runs the same from a test, the CLI
or a task.

What makes reruns converge: `prepare` pins the window, the holdout days and the champion to beat in
`Layout.prepared_file` on the first run of a date. Once the date is decided (its model card holds
decision.json), a rerun reuses that pin and the recorded trigger whatever labels landed since: a
date is decided once, and labels that land later are for a later date's retrain. `train` then reuses
the MLflow run trained on the same date, data and settings (its fingerprint), so a rerun reaches the
same decision with the same run and writes the same files. A rerun of a decided date under settings
its card records otherwise (estimator, parameters, seed, gate) stops at its first step, before any
write (`retrain.records.card.refuse_changed_rerun`); and the card refuses to be rewritten with other
content (`retrain.records.card.write_card`), so no card is ever left half old, half new.

The promotion that follows a `deploy` decision lives in `retrain.jobs.promote`.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from retrain.jobs.retrain_outputs import write_holdout_scores, write_retrain_report
from retrain.jobs.retrain_run import Approval, Evaluated, HoldoutScores, RetrainRun, fingerprint
from retrain.model.gate import GatePolicy, decide_paired

if TYPE_CHECKING:
    from retrain.data.errors import DataValidationError
    from retrain.layout import Layout
    from retrain.records.ledger import Trigger
    from retrain.registry import Registry
    from retrain.settings import Settings

log = logging.getLogger(__name__)


def _pinned_holdout(pinned: dict[str, Any]) -> list[str]:
    """The holdout days of a pin; "fresh" is the key files written before the holdout was named so carry."""
    return pinned.get("holdout_days", pinned.get("fresh"))


def _champion_text(version: str | None) -> str:
    """A pinned champion as a log line says it: "v3", or "none yet"."""
    return "none yet" if version is None else f"v{version}"


@dataclass
class RetrainJob:
    """The retrain use case on one data folder and one registry.

    Args:
        settings: The typed settings (window, holdout, estimator, gate thresholds).
        layout: Where the data, splits, cards and reports live.
        registry: MLflow behind `retrain.registry.Registry`; built from `settings` when omitted.
    """

    settings: Settings
    layout: Layout
    registry: Registry = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.registry is None:
            from retrain.registry import Registry

            self.registry = Registry.from_settings(self.settings)

    # -- 1. prepare: the window, the holdout days and the champion to beat ------------------------

    def prepare(self, ds: str, trigger: Trigger) -> RetrainRun:
        """Pick the training window and the holdout days, and pin the champion (reused by a rerun).

        The window and the holdout are counted in labelled days (`training_window`): days whose labels
        have not arrived are left out, whatever their features.

        A rerun of a date (prepared.json exists) reuses its pin:
        - decided (models/{ds}/decision.json exists): always, with the trigger the decision recorded,
          whatever labels landed since, so the rerun reaches the same decision with the same MLflow run
          and the same files (the pin is read back from the card if processed/{ds}/ was removed). A
          decision on the labels that landed since is a later date's retrain.
        - not decided (the first run failed before the gate): only while the labelled window is
          unchanged; otherwise the date is pinned again against today's champion. Nothing was decided,
          so nothing can be contradicted, and a day the failed run quarantined must leave the window.

        Raises:
            FileNotFoundError: `ds`'s features have not landed, or no day up to `ds` is labelled yet.
            ConflictError: `ds` is decided and its card records other settings: nothing was written.
            NothingToDo: the window holds no labelled day newer than the champion's training window
                (recorded in the ledger as a skip first): training again would learn nothing new.
        """
        from retrain.data.prepare import fresh_days, training_window
        from retrain.io import read_json, write_json
        from retrain.records import card

        if not self.layout.features_landed(ds):
            raise FileNotFoundError(
                f"raw/{ds}/data.csv has not landed; run the generate_data DAG for {ds} first "
                f"(retrain run generate_data --date {ds})"
            )
        card.refuse_changed_rerun(self.layout, ds, self.settings)
        window = training_window(self.layout.labelled_days(until=ds), ds, self.settings.window_days)
        pinned_path = self.layout.prepared_file(ds)
        pinned = read_json(pinned_path) if pinned_path.is_file() else None
        decided = card.recorded_decision(self.layout, ds)
        if decided is not None and pinned is None:
            # processed/{ds}/ was removed: the card holds the same pin (window.json, metrics.json).
            pinned = card.recorded_pin(self.layout, ds)
            if pinned is not None:
                write_json(pinned_path, pinned)
        if pinned is not None and decided is not None:
            trigger = decided.get("trigger", trigger)
            self._log_decided_rerun(ds, pinned, decided, window)
            window, holdout, champion_version = pinned["window"], _pinned_holdout(pinned), pinned["champion_version"]
        elif pinned is not None and pinned.get("window") == window:
            holdout, champion_version = _pinned_holdout(pinned), pinned["champion_version"]
            log.info("rerun of %s: reusing its holdout days and champion (%s)", ds, _champion_text(champion_version))
        else:
            champion = self.registry.champion()
            champion_window_end = champion.tags.get("window_end") if champion else None
            if champion is not None and champion_window_end and window[-1] <= champion_window_end:
                self._skip_no_new_data(ds, trigger, champion.version, champion_window_end, window)
            holdout = fresh_days(window, self.settings.holdout_days, champion_window_end)
            champion_version = champion.version if champion else None
            write_json(pinned_path, {"window": window, "holdout_days": holdout, "champion_version": champion_version})
        run = RetrainRun(
            ds=ds,
            trigger=trigger,
            window=tuple(window),
            holdout_days=tuple(holdout),
            champion_version=champion_version,
        )
        log.info(
            "window %s..%s (%d labelled days: %s), holdout from %s, champion %s",
            window[0],
            window[-1],
            len(window),
            ", ".join(window),
            list(holdout),
            champion_version,
        )
        return run

    @staticmethod
    def _log_decided_rerun(ds: str, pinned: dict[str, Any], decided: dict[str, Any], window: list[str]) -> None:
        """Say that a decided date's rerun reuses its pin, and what the labels landed since would change."""
        days, now = pinned["window"], window[0] + ".." + window[-1]
        log.info(
            "rerun of %s, decided %r before: reusing its pinned window %s..%s, holdout days and champion (%s)%s",
            *(ds, decided.get("decision"), days[0], days[-1], _champion_text(pinned["champion_version"])),
            ""
            if window == days
            else f"; labels landed since (its window would now be {now}) are left to a later "
            "date's retrain: run `retrain run retrain --date YYYY-MM-DD` with a later date for a decision on them",
        )

    def _skip_no_new_data(
        self, ds: str, trigger: Trigger, champion_version: str, champion_window_end: str, window: list[str]
    ) -> None:
        """Record "no new labelled data since version N" (once per date and champion) and end the run."""
        from retrain.errors import NothingToDo
        from retrain.records import ledger

        reason = (
            f"no new labelled data since version {champion_version}: its training window ends {champion_window_end} "
            f"and the newest labelled day up to {ds} is {window[-1]}"
        )
        path = self.settings.ledger_path
        if ledger.find(path, ds=ds, champion_version=champion_version, skipped_before_training=True) is None:
            ledger.append(
                path,
                ledger.no_new_data_entry(
                    ds=ds,
                    trigger=trigger,
                    champion_version=champion_version,
                    window=window,
                    reason=reason,
                    metric=self.settings.metric,
                    threshold=self.settings.metric_threshold,
                    label=self.settings.model_label,
                ),
            )
        log.info("skipped before training: %s", reason)
        raise NothingToDo(reason)

    # -- 2. validate every day of the window --------------------------------------------------------

    def validate(self, run: RetrainRun) -> RetrainRun:
        """Validate every day; the first bad file stops the run with its name, column and row.

        Raises:
            DataValidationError: A day is unusable (`quarantine_bad_day` sets it aside).
        """
        from retrain.data.prepare import shared_columns
        from retrain.data.validate import validate_day

        # Days may reorder columns or carry extras (generate_data accepts both): read the shared ones by name.
        columns = shared_columns(self.layout, list(run.window))
        rows = 0
        for day in run.window:
            features, _ = validate_day(self.layout.raw_data(day), self.layout.raw_target(day), columns)
            rows += len(features)
        log.info("validated %d rows × %d features over %d days", rows, len(columns), len(run.window))
        return dataclasses.replace(run, columns=tuple(columns), rows=rows)

    def quarantine_bad_day(self, exc: DataValidationError) -> Path | None:
        """Move the raw day holding the bad file (`exc.path`) to quarantine/{ds}/; None if it is no raw day's."""
        from retrain.data.load import quarantine_day

        path = getattr(exc, "path", None)
        if path is None:
            return None
        day = Path(path).parent.name
        try:
            folder = self.layout.raw(day)
        except ValueError:
            return None
        if Path(path).parent != folder:
            return None
        return quarantine_day(self.layout, day, str(exc), [self.layout.raw_data(day), self.layout.raw_target(day)])

    # -- 3. split: the holdout comes only from the holdout days -----------------------------------

    def split(self, run: RetrainRun) -> RetrainRun:
        """Stratified, seeded split written to processed/{ds}/ (byte-identical on a rerun).

        Raises:
            DataValidationError: A split cannot be trained or scored (e.g. one class only).
            ConflictError: `run.ds` is decided under other settings or rows: processed/{ds}/ was left as it was.
        """
        from retrain.data.prepare import fits_kinds, split_window, window_kinds, write_split
        from retrain.data.validate import check_trainable, validate_day
        from retrain.records import card

        columns = list(run.columns)
        frames = {
            day: validate_day(self.layout.raw_data(day), self.layout.raw_target(day), columns) for day in run.window
        }
        # One kind per column over the window: a day whose column reads as another kind (a category
        # column holding only digit codes that day) is read again as the window's kind, its text intact.
        kinds = window_kinds(frames)
        for day, (features, _) in list(frames.items()):
            if not fits_kinds(features, kinds):
                frames[day] = validate_day(self.layout.raw_data(day), self.layout.raw_target(day), columns, kinds)
        train, holdout = split_window(
            frames, list(run.holdout_days), self.settings.holdout_fraction, self.settings.seed
        )
        check_trainable(train["target"], where="the training split", stratified=False)
        check_trainable(holdout["target"], where="the holdout split", stratified=False)
        # Also here, not only in prepare: a task cleared on its own in Airflow reruns without prepare.
        card.refuse_changed_rerun(self.layout, run.ds, self.settings, rows=(len(train), len(holdout)))
        write_split(self.layout, run.ds, train, holdout)
        log.info("train %d rows, holdout %d rows", len(train), len(holdout))
        return dataclasses.replace(run, train_rows=len(train), holdout_rows=len(holdout))

    # -- 4. train the challenger (or reuse an identical earlier run) ------------------------------

    def train(self, run: RetrainRun) -> RetrainRun:
        """Fit the configured estimator and log it to MLflow; reuse the run of an identical earlier attempt.

        Raises:
            EstimatorError: `RETRAIN_ESTIMATOR` / `RETRAIN_ESTIMATOR_PARAMS` cannot work (configuration).
            ConflictError: `run.ds` is decided under other settings: no MLflow run was logged.
        """
        from retrain.data.prepare import read_split
        from retrain.io import sha256_file
        from retrain.model.evaluate import all_metrics
        from retrain.model.train import build_estimator, fit
        from retrain.records import card

        settings, ds = self.settings, run.ds
        card.refuse_changed_rerun(self.layout, ds, settings)
        train_file, holdout_file = self.layout.train_file(ds), self.layout.holdout_file(ds)
        spec = fingerprint(settings, sha256_file(train_file), sha256_file(holdout_file))
        reused = self.registry.find_run({"ds": ds, "fingerprint": spec})
        if reused is not None:
            log.info("reusing MLflow run %s: same date, data and settings were trained before", reused)
            return dataclasses.replace(run, run_id=reused, reused_run=True)
        X, y, _ = read_split(train_file)
        model = fit(build_estimator(settings.estimator, settings.estimator_params, settings.seed), X, y)
        run_id = self.registry.log_challenger(
            model,
            X.head(5),
            ds=ds,
            params={
                "estimator": settings.estimator,
                **settings.estimator_params,
                "seed": settings.seed,
                "train_rows": run.train_rows,
                "holdout_rows": run.holdout_rows,
            },
            metrics={f"train_{k}": v for k, v in all_metrics(model, X, y).items()},
            tags={
                "ds": ds,
                "trigger": run.trigger,
                "window_start": run.window[0],
                "window_end": run.window[-1],
                "holdout_days": ",".join(run.holdout_days),
                "fingerprint": spec,
            },
            window=list(run.window),
        )
        log.info("challenger logged as MLflow run %s", run_id)
        return dataclasses.replace(run, run_id=run_id, reused_run=False)

    # -- 5. evaluate: both models on the same holdout, the gate, and its record --------------------

    def evaluate(self, run: RetrainRun) -> Evaluated:
        """Score challenger and champion on the same holdout, apply the gate, and record the decision.

        Each model's probabilities are computed once; every metric, the holdout scores file and the
        report derive from them. The decision is recorded on the challenger's MLflow run, in the model
        card (models/{ds}/) and in the report (reports/{ds}/report.html, also attached to the run).

        Raises:
            ConflictError: `run.ds` was decided before and this evaluation would record something else
                (`retrain.records.card.write_card`): the card, the holdout scores, the MLflow
                decision tags and the report were left as they were.
        """
        from retrain.data.prepare import read_split
        from retrain.model.evaluate import class_probabilities, metrics_from_proba
        from retrain.records import card

        settings, ds = self.settings, run.ds
        X, y, _ = read_split(self.layout.holdout_file(ds))
        classes, challenger_proba = class_probabilities(self.registry.load_model(f"runs:/{run.run_id}/model"), X)
        champion_classes: list[Any] | None = None
        champion_proba = None
        if run.champion_version is not None:
            champion = self.registry.load_model(f"models:/{settings.model_name}/{run.champion_version}")
            champion_classes, champion_proba = class_probabilities(champion, X)
        scores = HoldoutScores(
            metric=settings.metric,
            challenger=metrics_from_proba(y, challenger_proba, classes),
            champion=None if champion_proba is None else metrics_from_proba(y, champion_proba, champion_classes),
        )
        # The paired interval needs both models' columns in one class order; a champion that knows
        # other classes is compared on the point estimates only (the gate says so in its reasons).
        paired = None
        if champion_proba is not None and champion_classes is not None and set(champion_classes) == set(classes):
            paired = champion_proba[:, [champion_classes.index(c) for c in classes]]
        decision = decide_paired(
            settings.metric,
            y.to_numpy(),
            classes,
            challenger_proba,
            paired,
            challenger_score=scores.challenger_score,
            champion_score=scores.champion_score,
            policy=GatePolicy.from_settings(settings),
            slices=self._slice_values(X),
        )
        log.info(
            "%s on the holdout: challenger %.4f, champion (v%s) %s",
            settings.metric,
            scores.challenger_score,
            run.champion_version,
            "none" if scores.champion_score is None else f"{scores.champion_score:.4f}",
        )
        for reason in decision.reasons:
            log.info("gate: %s", reason)
        log.info("gate decision: %s", decision.decision)

        # The card first: for a date decided before, it refuses other content before anything is written.
        card.write_card(self.layout, run, scores, decision, settings)
        write_holdout_scores(self.layout, ds, y, classes, challenger_proba, champion_classes, champion_proba)
        self.registry.record_decision(run.run_id, decision, run.champion_version)
        same_classes = champion_classes == classes
        report = write_retrain_report(
            self.settings,
            self.layout,
            self.registry,
            run,
            decision,
            X,
            y,
            classes,
            challenger_proba,
            champion_proba if same_classes else None,
        )
        log.info("report: %s", report)
        return Evaluated(run=run, scores=scores, decision=decision)

    def _slice_values(self, X: Any) -> dict[str, Any]:
        """`RETRAIN_SLICE_COLUMNS`' values on the holdout rows.

        Raises:
            ConfigurationError: A slice column is not one of the model's features.
        """
        from retrain.errors import ConfigurationError

        missing = [c for c in self.settings.slice_columns if c not in X.columns]
        if missing:
            raise ConfigurationError(
                f"RETRAIN_SLICE_COLUMNS names {missing}, which the holdout does not have; "
                f"its feature columns are {list(X.columns)[:20]}"
            )
        return {c: X[c].to_numpy() for c in self.settings.slice_columns}

    # -- 6b. skip: the champion stays ----------------------------------------------------------------

    def skip(self, evaluated: Evaluated, approval: Approval | None = None) -> dict[str, Any]:
        """Record the skip with its reasons in the ledger (once per date and run); the champion stays.

        `approval` is the answer when a person was asked (`RETRAIN_APPROVAL=required`) and rejected the
        deploy, or nobody answered in time: who, when and their comment (or the timeout) are recorded
        in the ledger, as tags on the challenger's run and in the card's `approval.json`.

        Raises:
            BadInputError: `approval` approved the deploy: an approved deploy is never skipped here.
        """
        from retrain.errors import BadInputError
        from retrain.records import card, ledger

        run, decision = evaluated.run, evaluated.decision
        if approval is not None:
            if approval.approved:
                raise BadInputError(f"the deploy of {run.ds} was approved ({approval.reason()}): it is not a skip")
            self.registry.record_approval(str(run.run_id), approval)
            card.write_approval(self.layout, run.ds, approval)
        path = self.settings.ledger_path
        if ledger.find(path, ds=run.ds, run_id=run.run_id, decision="skip") is None:
            ledger.append(
                path,
                ledger.skip_entry(
                    decision,
                    ds=run.ds,
                    trigger=run.trigger,
                    champion_version=run.champion_version,
                    run_id=str(run.run_id),
                    window=run.window,
                    label=self.settings.model_label,
                    approval=approval,
                ),
            )
        reasons = [*decision.reasons, *([approval.reason()] if approval is not None else [])]
        log.info("skipped deploy: %s", "; ".join(reasons))
        return {"ds": run.ds, "decision": "skip"}
