"""`wait_for_data` / `wait_for_labels`: wait for one file of a day, deferred to the triggerer.

The log names the file waited for; a day in `quarantine/` fails the wait at once with its reason
(retrying cannot make a rejected day land); a timeout says which file did not land and how to land it.
With the day already there (the usual case: the DAG runs on the asset event of its landing), the
task succeeds without deferring.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any, Literal

from airflow.sdk import BaseSensorOperator
from airflow.sdk.exceptions import AirflowFailException, AirflowSensorTimeout

from retrain.airflow.context import settings_and_layout
from retrain.airflow.triggers import DayLandedTrigger, landing_status
from retrain.console import NOT_ON_TERMINAL

log = logging.getLogger(__name__)

Part = Literal["features", "labels"]


class DayLandedSensor(BaseSensorOperator):
    """Succeed once raw/{ds}/data.csv (`part="features"`) or target.csv (`"labels"`) is there.

    Args:
        ds: The day (templated: the run's partition key, else its logical date).
        part: Which file of the day to wait for.
        deferrable: Wait in the triggerer (default); False pokes in reschedule mode instead.
    """

    template_fields: Sequence[str] = ("ds",)

    def __init__(self, *, ds: str, part: Part, deferrable: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ds, self.part, self.deferrable = ds, part, deferrable

    def _target(self) -> tuple[str, str]:
        settings, layout = settings_and_layout()
        path = layout.raw_data(self.ds) if self.part == "features" else layout.raw_target(self.ds)
        return str(settings.data_dir), str(path)

    def _check(self, status: dict[str, Any] | None, *, waited: bool = True) -> bool:
        if status is None:
            return False
        if status["status"] == "quarantined":
            raise AirflowFailException(
                f"day {self.ds} is in quarantine: {status['reason']}; {status['path']} will not land. "
                f"Fix the day's files, land it again (retrain run generate_data --date {self.ds}), then rerun this DAG"
            )
        if status["status"] == "timeout":
            raise AirflowSensorTimeout(
                f"{status['path']} did not land within {self.timeout:.0f} s (RETRAIN_WAIT_TIMEOUT); "
                f"land the day with `retrain run generate_data --date {self.ds}`"
            )
        # Found at the first look (the usual case), the terminal of a quiet run is not told: nothing waited.
        log.info("found %s", status["path"], extra=None if waited else NOT_ON_TERMINAL)
        return True

    def _waiting(self, path: str) -> None:
        log.info("waiting for %s (the %s of %s); a day in quarantine/ fails at once", path, self.part, self.ds)

    def poke(self, context: Any) -> bool:
        data_dir, path = self._target()
        status = landing_status(data_dir, self.ds, path)
        if status is None:
            self._waiting(path)
        return self._check(status, waited=False)

    def execute(self, context: Any) -> Any:
        if not self.deferrable:
            return super().execute(context)
        data_dir, path = self._target()
        if self._check(landing_status(data_dir, self.ds, path), waited=False):
            return path
        self._waiting(path)
        log.info(
            "%s is not there yet: deferring to the triggerer (a look every %.0f s, for at most %.0f s: "
            "RETRAIN_WAIT_TIMEOUT)",
            path,
            min(self.poke_interval, self.timeout),  # the trigger never sleeps past the deadline
            self.timeout,
        )
        self.defer(
            trigger=DayLandedTrigger(data_dir, self.ds, path, self.poke_interval, time.time() + self.timeout),
            method_name="execute_complete",
        )
        return None

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> str:
        """Resume after the trigger fired: landed, quarantined (fail) or timed out (fail)."""
        self._check(event)
        return str((event or {}).get("path"))
