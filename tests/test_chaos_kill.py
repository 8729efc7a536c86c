"""The kill test: SIGKILL `serve` under load at seeded moments, recover, audit.

The default run kills the atomic variant a few times; the slow run kills every
crash-safe variant of the flash sale 20 times, as `checkoutsim chaos` does.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from checkoutsim.real.chaos import ChaosOptions, ChaosResult, is_safe, run_chaos
from checkoutsim.scenario import files as scenarios


def _assert_clean(result: ChaosResult) -> None:
    by_name = {check["invariant"]: check for check in result.checks}
    assert by_name["no_oversell"]["count"] == 0, by_name["no_oversell"]
    assert by_name["one_capture_per_intent"]["count"] == 0, by_name["one_capture_per_intent"]
    # Every paid intent ends with an order or a refund: no orphan payment.
    assert by_name["capture_has_order_or_refund"]["count"] == 0, result.checks
    assert by_name["order_is_paid"]["count"] == 0, result.checks
    assert result.metrics["unfinished_sagas"] == 0
    assert result.clean


def test_kill_recover_audit_is_clean_for_the_atomic_variant(tmp_path: Path) -> None:
    loaded = scenarios.load("flash-sale", [], ["atomic"])
    options = ChaosOptions(kills=4, seed=7, clients=12, load_s=(0.3, 1.0))
    result = run_chaos("flash-sale", loaded.name, loaded.variants[0], tmp_path, options)
    assert result.kills == 4
    # The kills hit work in flight: some requests were cut off unanswered.
    assert result.answers.get("no_answer", 0) > 0
    assert result.metrics["orders"] > 0
    _assert_clean(result)


def test_chaos_command_prints_a_clean_audit(tmp_path: Path) -> None:
    from checkoutsim.cli.chaos import register_chaos
    from checkoutsim.cli.main import app

    register_chaos(app)
    result = CliRunner().invoke(
        app, ["chaos", "flash-sale", "--kills", "2", "--variant", "fenced", "--seed", "3"]
    )
    assert result.exit_code == 0, result.output
    assert "2 kills, audit clean" in result.output
    assert "no_oversell" in result.output


def test_recover_command_refuses_a_missing_store(tmp_path: Path) -> None:
    from checkoutsim.cli.chaos import register_chaos
    from checkoutsim.cli.main import app

    register_chaos(app)
    result = CliRunner().invoke(app, ["recover", "--db", str(tmp_path / "none.sqlite")])
    assert result.exit_code == 2
    assert "no such file" in result.output


@pytest.mark.slow
def test_twenty_kills_per_safe_variant_leave_a_clean_audit(tmp_path: Path) -> None:
    loaded = scenarios.load("flash-sale")
    safe = [variant for variant in loaded.variants if is_safe(variant)]
    assert {variant.name for variant in safe} == {"fenced", "optimistic", "atomic"}
    for variant in safe:
        options = ChaosOptions(kills=20, seed=11)
        result = run_chaos("flash-sale", loaded.name, variant, tmp_path, options)
        assert result.kills == 20
        _assert_clean(result)
