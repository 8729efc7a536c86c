"""``--report`` on the real commands: a load test and a comparison write a report."""

from __future__ import annotations

from tests import shared_runs
from tests.test_compare_scenarios import SHORT


def test_compare_report_has_model_versus_real_and_run_figures() -> None:
    # The per-scenario compare test's double-click run, which writes its report too.
    args = SHORT["double-click"]
    result = shared_runs.compare("double-click", *args)
    assert result.returncode == 0, result.stderr[-2000:]
    out = shared_runs.report_directory("double-click", *args)
    names = {path.name for path in out.iterdir()}
    assert {"index.html", "model_vs_real.png", "latency_cdf.png", "result.json"} <= names
    assert '"mode": "compare"' in result.stdout
