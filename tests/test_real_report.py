"""``--report`` on the real commands: a load test and a comparison write a report."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_compare_report_has_model_versus_real_and_run_figures(tmp_path: Path) -> None:
    out = tmp_path / "report"
    result = subprocess.run(
        [sys.executable, "-m", "checkoutsim", "compare", "double-click", "--variant",
         "key_first", "--run-time", "2s", "--report", "--out", str(out), "--json"],
        capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    names = {path.name for path in out.iterdir()}
    assert {"index.html", "model_vs_real.png", "latency_cdf.png", "result.json"} <= names
    assert '"mode": "compare"' in result.stdout
