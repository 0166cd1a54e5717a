"""The one error every reader of data files raises for bad input, free of heavy imports so anyone can catch it.

Landing (`retrain.data`), validation and the streaming scorer (`retrain.scoring.readers`) all raise
`BadDataError` (the scorer's `ScoringInputError` is a subclass), built with `BadDataError.at`, so every
message reads the same way: `{file} [column 'c', row r (line l of the file)]: {problem}. Fix: {fix}`.
"""

from __future__ import annotations

import re
from pathlib import Path

QUOTE_CHARS = 40
"""At most this many characters of a cell value are quoted in a message: enough to recognise it,
never a whole line of a file that turned out to be something else."""


class BadDataError(ValueError):
    """A data file is unusable; the message names the file, the column, the first bad row and a fix.

    Retrying cannot help (the file is what it is): the caller fails at once and sets the day aside.
    Attributes `path`, `column`, `row` (0-based data row, header excluded) and `fix` carry the same
    facts for code that wants them, e.g. to quarantine the day. The constructor takes only the message
    so that the error survives pickling across process boundaries (Airflow workers, multiprocessing).
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.path: Path | None = None
        self.column: str | None = None
        self.row: int | None = None
        self.fix: str | None = None

    @classmethod
    def at(
        cls,
        path: Path | str,
        problem: str,
        *,
        fix: str,
        column: str | None = None,
        row: int | None = None,
    ) -> BadDataError:
        """Build the error from its parts, so every message reads the same way.

        Rows are counted from 0 over data rows; for a CSV the file line (header = line 1) is added,
        because that is what an editor shows (it is exact unless a quoted value spans lines).
        """
        where = []
        if column is not None:
            where.append(f"column {column!r}")
        if row is not None:
            line = f" (line {row + 2} of the file)" if Path(path).suffix.lower() == ".csv" else ""
            where.append(f"row {row}{line}")
        location = f"{path}" + (f" [{', '.join(where)}]" if where else "")
        error = cls(f"{location}: {problem}. Fix: {fix}")
        error.path = Path(path)
        error.column = column
        error.row = row
        error.fix = fix
        return error

    def relocated(self, where: str) -> BadDataError:
        """The same error located at `where` instead of its file: for a staged copy the user never saw.

        The file's line number is dropped (it counted the copy's lines); the column and the row stay.
        """
        message = str(self)
        if self.path is not None and message.startswith(str(self.path)):
            rest = re.sub(r" \(line \d+ of the file\)", "", message[len(str(self.path)) :], count=1)
            message = where + rest
        error = type(self)(message)
        error.path, error.column, error.row, error.fix = self.path, self.column, self.row, self.fix
        return error


DataValidationError = BadDataError
"""The former name, kept so that existing callers and `except DataValidationError` keep working."""


def shown(value: object) -> str:
    """`value` quoted for a message, cut to `QUOTE_CHARS` characters (a cell can be megabytes long).

    A value holding control characters (NUL, newlines from a stray quote, binary) is described, not
    quoted: it is not a typo in a CSV cell but a sign the file is something else.
    """
    text = str(value)
    if not text.isprintable():
        return "(not shown: it holds control characters such as NUL or a line break)"
    return repr(text if len(text) <= QUOTE_CHARS else text[:QUOTE_CHARS] + "...")
