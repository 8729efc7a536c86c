"""Writing result frames to disk, all or nothing.

Files are first written into a temporary folder beside the target and moved
into place at the end, so an error half-way leaves nothing half-written.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from checkoutsim.runner import RunResult


@contextlib.contextmanager
def staged_directory(target: Path, last: Sequence[str] = ()) -> Iterator[Path]:
    """Yield a temporary folder; on success merge its files into ``target``.

    Names in ``last`` are moved after every other file (a report's index.html,
    so that whoever sees the page finds its figures already there).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        yield staging
        target.mkdir(parents=True, exist_ok=True)
        items = sorted(staging.iterdir(), key=lambda item: (item.name in last, item.name))
        for item in items:
            os.replace(item, target / item.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically (temporary file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    os.replace(temporary, path)


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
