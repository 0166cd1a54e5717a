"""The trigger a waiting `wait_for_*` task defers to: the triggerer watches the file, no worker slot is held.

It fires once the file is there ("landed"), as soon as the day is in `quarantine/` ("quarantined",
with the reason: waiting for a rejected day is pointless), or at its deadline ("timeout").
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from retrain.layout import Layout


def landing_status(data_dir: str, ds: str, path: str) -> dict[str, Any] | None:
    """`{"status": "landed", "path"}` once `path` exists, `{"status": "quarantined", "reason"}` if the day
    is in quarantine/ (and `path` is not there), else None (keep waiting)."""
    if Path(path).is_file():
        return {"status": "landed", "path": path}
    reason = Layout(Path(data_dir)).quarantine_reason(ds)
    if reason is not None:
        return {"status": "quarantined", "path": path, "reason": reason}
    return None


class DayLandedTrigger(BaseTrigger):
    """Wait for one file of day `ds` under the data folder (`path`), until `deadline` (epoch seconds)."""

    def __init__(self, data_dir: str, ds: str, path: str, poke_interval: float, deadline: float) -> None:
        super().__init__()
        self.data_dir, self.ds, self.path = data_dir, ds, path
        self.poke_interval, self.deadline = float(poke_interval), float(deadline)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "data_dir": self.data_dir,
                "ds": self.ds,
                "path": self.path,
                "poke_interval": self.poke_interval,
                "deadline": self.deadline,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        while True:
            status = landing_status(self.data_dir, self.ds, self.path)
            if status is not None:
                yield TriggerEvent(status)
                return
            if time.time() >= self.deadline:
                yield TriggerEvent({"status": "timeout", "path": self.path})
                return
            await asyncio.sleep(min(self.poke_interval, max(0.0, self.deadline - time.time())))
