"""The strategies found in the wild under a real load test (Locust, SQLite, real threads).

Loads are short, bounded and go only to 127.0.0.1. The worker-process run is
marked slow.
"""

from __future__ import annotations

import pytest

from tests.test_real_load import loadtest_json, overloaded


def test_check_then_decrement_oversells_into_negative_stock_unless_checked() -> None:
    runs = loadtest_json(
        "flash-sale-wild",
        "-v",
        "check_then_decrement",
        "-v",
        "check_then_decrement_checked",
        "-v",
        "decrement_then_check",
        "--run-time",
        "3s",
    )
    loose = runs["check_then_decrement"]["metrics"]
    assert loose["oversold_units"] > 0
    assert loose["stock_at_end"] == -loose["oversold_units"]
    checked = runs["check_then_decrement_checked"]["metrics"]
    assert checked["oversold_units"] == 0
    assert checked["stock_constraint_errors"] > 0
    assert checked["rejected"] >= checked["stock_constraint_errors"]
    assert checked["stock_min"] >= 0
    decrement_first = runs["decrement_then_check"]["metrics"]
    assert decrement_first["oversold_units"] == 0
    assert decrement_first["stock_at_end"] >= 0
    for run in runs.values():
        if not overloaded(run):
            assert run["verdict"]["safe"] is (run["metrics"]["oversold_units"] == 0)


@pytest.mark.slow
def test_mutex_is_safe_in_one_process_and_oversells_with_two() -> None:
    one = loadtest_json("flash-sale-wild", "-v", "mutex", "--run-time", "3s")
    assert one["mutex"]["metrics"]["oversold_units"] == 0
    two = loadtest_json("flash-sale-wild", "-v", "mutex", "--workers", "2", "--run-time", "3s")
    assert two["mutex"]["metrics"]["oversold_units"] > 0


@pytest.mark.slow
def test_the_serialising_strategies_never_oversell_under_load() -> None:
    names = ["select_for_update", "stock_buckets", "queue_per_sku"]
    runs = loadtest_json(
        "flash-sale-wild", *[arg for name in names for arg in ("-v", name)], "--run-time", "3s"
    )
    for name in names:
        assert runs[name]["metrics"]["oversold_units"] == 0
    # Counted by the audit from the store's own marks, whatever the count.
    assert "false_sold_outs" in runs["stock_buckets"]["metrics"]


@pytest.fixture(autouse=True)
def _slow_only_on_purpose(request: pytest.FixtureRequest) -> None:
    """Skip ``slow`` tests unless the run asked for them (``-m slow``)."""
    if request.node.get_closest_marker("slow") and "slow" not in (
        request.config.getoption("markexpr") or ""
    ):
        pytest.skip("slow: run with -m slow")
