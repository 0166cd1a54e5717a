"""The one error the data stage raises for bad input, kept free of heavy imports so anyone can catch it."""

from __future__ import annotations

from pathlib import Path


class DataValidationError(ValueError):
    """A data file is unusable; the message names the file, the column, the first bad row and a fix.

    Attributes `path`, `column` and `row` (0-based data row, header excluded) carry the same facts for
    code that wants them, e.g. to quarantine the day. The constructor takes only the message so that the
    error survives pickling across process boundaries (Airflow workers, multiprocessing).
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.path: Path | None = None
        self.column: str | None = None
        self.row: int | None = None

    @classmethod
    def at(
        cls,
        path: Path | str,
        problem: str,
        *,
        fix: str,
        column: str | None = None,
        row: int | None = None,
    ) -> DataValidationError:
        """Build the error from its parts, so every message reads the same way.

        Rows are counted from 0 over data rows; the file line (header = line 1) is added because that is
        what an editor shows.
        """
        where = []
        if column is not None:
            where.append(f"column {column!r}")
        if row is not None:
            where.append(f"row {row} (line {row + 2} of the file)")
        location = f"{path}" + (f" [{', '.join(where)}]" if where else "")
        error = cls(f"{location}: {problem}. Fix: {fix}")
        error.path = Path(path)
        error.column = column
        error.row = row
        return error
