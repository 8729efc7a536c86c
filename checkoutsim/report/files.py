"""Writing result frames to disk, all or nothing.

Files are first written into a temporary folder beside the target and moved
into place at the end, so an error half-way leaves nothing half-written. A
single file is written to a temporary file and renamed. A failure on the way
is an ``OSError`` that names the target the user gave (not the temporary
name), which the command line shows as one line.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from checkoutsim.experiments.runner import RunResult


@contextlib.contextmanager
def naming_target(target: Path) -> Iterator[None]:
    """Re-raise an ``OSError`` as one about ``target``, the path the user gave."""
    try:
        yield
    except OSError as error:
        if error.filename == str(target):
            raise
        code = error.errno or errno.EIO
        raise OSError(code, error.strerror or os.strerror(code), str(target)) from None


def folder_problem(folder: Path) -> str | None:
    """Why ``folder`` cannot be written into (created if need be), or None if it can.

    Checked before any work, by making and removing a temporary folder where
    the output would go: permission bits alone do not tell (``/proc``, a
    read-only mount, or running as root).
    """
    if "\x00" in str(folder):
        return "a path cannot contain a NUL byte"
    try:
        if folder.exists() and not folder.is_dir():
            return "exists and is not a folder"
        existing = next((p for p in [folder, *folder.parents] if p.exists()), Path("."))
        if not existing.is_dir():
            return f"{existing} is not a folder"
        probe = tempfile.mkdtemp(prefix=".probe-", dir=existing)
        os.rmdir(probe)
    except OSError as error:
        return f"cannot write there: {error.strerror or error}"
    return None


@contextlib.contextmanager
def staged_directory(target: Path, last: Sequence[str] = ()) -> Iterator[Path]:
    """Yield a temporary folder; on success merge its files into ``target``.

    Names in ``last`` are moved after every other file (a report's index.html,
    so that whoever sees the page finds its figures already there).
    """
    target = Path(target)
    with naming_target(target):
        if target.exists() and not target.is_dir():
            raise OSError(errno.EEXIST, "exists and is not a folder", str(target))
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        yield staging
        with naming_target(target):
            target.mkdir(parents=True, exist_ok=True)
            items = sorted(staging.iterdir(), key=lambda item: (item.name in last, item.name))
            for item in items:
                os.replace(item, target / item.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename: all or nothing."""
    path = Path(path)
    with naming_target(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                file.write(text)
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically (temporary file, then rename)."""
    write_text_atomic(path, json.dumps(data, indent=2, allow_nan=False) + "\n")


def write_run_frames(result: RunResult, directory: Path) -> list[Path]:
    """Write each variant's frames (checkouts, orders, ledger, timeline) as CSV.

    With several replications the frames are stacked with a ``replication``
    column. A ``metrics.csv`` holds one row per variant and replication.
    """
    written: list[Path] = []
    import pandas as pd

    with staged_directory(Path(directory)) as staging:
        rows = []
        for variant in result.variants:
            for replication, run in enumerate(variant.runs):
                rows.append({"variant": variant.name, "replication": replication, **run})
            for frame_name in ("checkouts", "orders", "ledger", "timeline"):
                frames = [
                    getattr(history, frame_name).assign(replication=replication)
                    for replication, history in enumerate(variant.histories)
                ]
                if frames:
                    name = f"{variant.name}-{frame_name}.csv"
                    pd.concat(frames, ignore_index=True).to_csv(staging / name, index=False)
                    written.append(Path(directory) / name)
        pd.DataFrame(rows).to_csv(staging / "metrics.csv", index=False)
        written.append(Path(directory) / "metrics.csv")
    return written
