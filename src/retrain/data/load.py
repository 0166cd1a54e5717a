"""Landing a user's own days from `RETRAIN_SOURCE`, and moving rejected days aside.

The source folder is laid out like raw/: `{source}/{ds}/data.csv` and `{source}/{ds}/target.csv`.
A day is validated completely before a single byte reaches raw/, so raw/ only ever holds days that
the rest of the system can read. A day that is absent raises `FileNotFoundError` (it may still arrive:
wait and retry); a day that is present but bad raises `BadDataError` (retrying will not help:
quarantine it and tell someone).

Only regular files inside the source folder are read: a day folder or a file that is a symbolic link,
that resolves outside the source folder, or that is not a regular file (a FIFO, a device) is bad data,
refused before a byte of it is read, and never copied anywhere (not to raw/, not to quarantine/).
"""

from __future__ import annotations

import os
import shutil
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from retrain.data import TARGET
from retrain.data.errors import BadDataError, DataValidationError
from retrain.data.validate import read_features, validate_day
from retrain.io import atomic_path, write_text
from retrain.layout import Layout, check_ds

LAYOUT_HINT = (
    "RETRAIN_SOURCE must hold one folder per day: {source}/YYYY-MM-DD/data.csv (or data.parquet) "
    "and .../target.csv (or target.parquet)"
)


_UNSAFE_FIX = (
    "put the day's files themselves (regular files, not links) in {source}/YYYY-MM-DD/; "
    "retrain reads nothing outside RETRAIN_SOURCE"
)

_COPY_FIX = "deliver the day's files as regular files, and do not replace them while the day lands"


def unsafe_source_file(source: Path, path: Path) -> str | None:
    """Why `path` must not be read as part of the source folder, or None when it is a plain file inside it.

    Checked on the link itself (`lstat`), never on what it points to: a symbolic link is refused even
    when its target is a valid CSV elsewhere, because landing would then copy a file the user did not
    put in the source folder.
    """
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(mode):
        return "is a symbolic link"
    if not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):
        return "is not a regular file (a FIFO, a socket or a device)"
    root = Path(source).resolve()
    if not path.resolve().is_relative_to(root):
        return "resolves outside the source folder"
    return None


def refuse_unsafe(source: Path, path: Path) -> None:
    """`BadDataError` when `path` must not be read as part of the source folder (see `unsafe_source_file`)."""
    reason = unsafe_source_file(source, path)
    if reason is not None:
        raise BadDataError.at(path, f"{reason}: refused unread and not copied", fix=_UNSAFE_FIX.format(source=source))


def source_files(source: Path, ds: str) -> tuple[Path, Path]:
    """The two files of day `ds` in the source folder, or `FileNotFoundError` naming what is missing.

    Raises:
        FileNotFoundError: the day folder or one of its files is not there (yet).
        BadDataError: the day folder or a file is a symbolic link, resolves outside `source`, or is not
            a regular file.
    """
    day = Path(source) / check_ds(ds)
    refuse_unsafe(source, day)
    if not day.is_dir():
        raise FileNotFoundError(f"source day folder {day} does not exist. " + LAYOUT_HINT.format(source=source))
    files = (day / "data.csv", day / "target.csv")
    for file in files:
        refuse_unsafe(source, file)
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise FileNotFoundError(f"source file(s) missing: {', '.join(missing)}. " + LAYOUT_HINT.format(source=source))
    return files


def _copy_regular(src: Path, dest: Path) -> None:
    """Copy `src` to `dest` without following a link: a file swapped for a link since it was checked is refused."""
    try:
        fd = os.open(src, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        raise BadDataError.at(src, f"cannot be opened as a regular file ({exc.strerror})", fix=_COPY_FIX) from None
    with open(fd, "rb") as reader:
        if not stat.S_ISREG(os.fstat(reader.fileno()).st_mode):
            raise BadDataError.at(src, "is not a regular file", fix=_COPY_FIX)
        with open(dest, "wb") as writer:
            shutil.copyfileobj(reader, writer, 1 << 20)


def land_day(
    source: Path,
    layout: Layout,
    ds: str,
    expected_columns: list[str] | None = None,
    kinds: dict[str, str] | None = None,
) -> tuple[Path, Path]:
    """Validate day `ds` of the CSV folder `source` (both files) and copy it into `raw/{ds}/`.

    `kinds`: the kind of each column in earlier days (`retrain.data.kinds`); a numeric one must hold numbers.

    Raises:
        FileNotFoundError: the day's folder or one of its files is not in the source (yet).
        DataValidationError: a file is present but unreadable or inconsistent, or the labels hold a
            single class; nothing was written.
    """
    data_src, target_src = source_files(source, ds)
    data, target = land_files(data_src, target_src, layout, ds, expected_columns, kinds)
    assert target is not None
    return data, target


def land_files(
    data_src: Path,
    target_src: Path | None,
    layout: Layout,
    ds: str,
    expected_columns: list[str] | None = None,
    kinds: dict[str, str] | None = None,
) -> tuple[Path, Path | None]:
    """Validate one day's CSV files and copy them into `raw/{ds}/`; raw/ is untouched if they are bad.

    Without `target_src` (labels not arrived yet) only the features are checked and landed. `kinds`: the
    kind of each column in earlier days (`retrain.data.kinds`); a numeric one must hold numbers. The files
    are copied byte for byte (the exact data that was validated is what is kept), each atomically, so
    a rerun gives identical files and a reader never sees half a file.

    Raises:
        DataValidationError: a file is unreadable or inconsistent, or the labels hold a single class;
            nothing was written.
    """
    if target_src is None:
        read_features(data_src, expected_columns, kinds)
        pairs = [(data_src, layout.raw_data(ds))]
    else:
        _, labels = validate_day(data_src, target_src, expected_columns, kinds)
        _refuse_single_class(labels, target_src)
        pairs = [(data_src, layout.raw_data(ds)), (target_src, layout.raw_target(ds))]
    landed = []
    for src, dest in pairs:
        with atomic_path(dest) as tmp:
            _copy_regular(src, tmp)
        landed.append(dest)
    return landed[0], (landed[1] if len(landed) > 1 else None)


def quarantine_day(layout: Layout, ds: str, reason: str, files: list[Path], *, copy: bool = False) -> Path:
    """Move `files` into `quarantine/{ds}/` with a `reason.txt`; never delete or overwrite anything.

    With `copy=True` the files are copied instead of moved: a user's own source files stay where
    the user put them (retrain never deletes what it does not own). A symbolic link is never
    followed: it is listed in reason.txt as not copied (its target may be any file on the host).

    A day rejected again later (after a fix that still failed) goes to `quarantine/{ds}/attempt-N/`
    (N = 2, 3, ...), so every rejected version stays available for the post-mortem. The folder is
    claimed with an exclusive mkdir, so two concurrent quarantines of one day cannot collide.

    Returns:
        The folder the files were moved into.
    """
    target = _claim_folder(layout.quarantine(ds))
    moved = []
    for file in files:
        file = Path(file)
        if file.is_symlink():
            moved.append(f"{file} (a symbolic link: not copied)")
            continue
        if not file.exists():
            continue
        dest = target / file.name
        n = 2
        while dest.exists() or dest.name == "reason.txt":
            dest = target / f"{file.stem}-{n}{file.suffix}"
            n += 1
        if copy:
            shutil.copy2(file, dest, follow_symlinks=False)
        else:
            shutil.move(str(file), dest)
        moved.append(f"{file} -> {dest.name}" + (" (copied)" if copy else ""))
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    listing = "\n".join(f"  {line}" for line in moved) or "  (none of the given files existed)"
    write_text(target / "reason.txt", f"day: {ds}\nquarantined at: {stamp}\nreason: {reason}\nfiles:\n{listing}\n")
    return target


def _refuse_single_class(labels: Any, target_src: Path) -> None:
    """Refuse a day whose labels (a pandas Series) hold one class.

    Raises:
        DataValidationError: every label of `target_src` is the same value.
    """
    classes = labels.unique()
    if len(classes) < 2:
        raise DataValidationError.at(
            target_src,
            f"every one of the {len(labels)} label(s) is {classes[0]}: a day with a single class is almost always "
            "a broken label export, and a window of such days cannot train a classifier",
            fix="check the export of the labels; land the day once it holds the real labels",
            column=TARGET,
        )


def _claim_folder(base: Path) -> Path:
    base.parent.mkdir(parents=True, exist_ok=True)
    try:
        base.mkdir()
        return base
    except FileExistsError:
        pass
    attempt = 2
    while True:
        candidate = base / f"attempt-{attempt}"
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            attempt += 1


def land_labels(target_src: Path, layout: Layout, ds: str) -> Path:
    """Land the labels of a day whose features are already in raw/ (labels that arrived later).

    They are checked against the landed features (one label per row, two classes at least) and copied
    byte for byte, atomically.

    Returns:
        raw/{ds}/target.csv.

    Raises:
        DataValidationError: the labels do not match the landed features or hold a single class; raw/
            is untouched.
    """
    import pyarrow

    from retrain.data.csvfile import read_header, read_table
    from retrain.data.validate import read_target

    features = layout.raw_data(ds)  # validated when it landed: only its row count matters here
    header = read_header(features, what="data file")
    rows = read_table(features, header, {header[0]: pyarrow.string()}).num_rows
    labels = read_target(target_src, rows, data_path=features)
    _refuse_single_class(labels, target_src)
    with atomic_path(layout.raw_target(ds)) as tmp:
        _copy_regular(target_src, tmp)
    return layout.raw_target(ds)
