"""The soak: every fault at once under sustained load, audited.

The default run plays the whole five-minute fault schedule compressed into a
short load test; the slow run plays it in real time, as
``checkoutsim soak`` / ``checkoutsim loadtest soak --run-time 5m`` do.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from checkoutsim.experiments.runner import run_scenario
from checkoutsim.scenario import files as scenarios


def _soak(run_time: str, overrides: list[str], timeout_s: float) -> dict:
    """Run ``checkoutsim soak --json`` in a child process and return the safe variant's figures.

    A child process, because the in-process load test monkey-patches with gevent
    and runs under whatever state earlier tests left; a hang becomes a bounded failure.
    """
    command = [sys.executable, "-m", "checkoutsim.cli.chaos", "soak", "--variant", "safe"]
    command += ["--run-time", run_time, "--json"]
    for override in overrides:
        command += ["--set", override]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)
    assert done.returncode in (0, 1), done.stderr[-2000:]
    (figures,) = json.loads(done.stdout)["variants"]
    return figures


def _assert_survived(figures: dict) -> None:
    assert figures["broken_invariants"] == [], figures
    assert not any(figures["losses"].values()), figures["losses"]
    assert figures["survived"]
    faults = figures["faults"]
    # Every kind of fault the scenario schedules really happened.
    # A refund inside an outage too: the sagas' refunds as the gateway goes down the
    # third time fail, and with no orphan left the sweeper refunded them afterwards.
    gateway = ("outage_refused", "outage_hung", "rate_limited", "unknown", "refund_in_outage")
    for kind in [f"gateway_{name}" for name in gateway] + ["order_failures"]:
        assert faults[kind] > 0, (kind, faults)
    assert figures["orders"] > 0


def test_the_model_finds_the_soak_clean_for_the_safe_variant_only() -> None:
    result = run_scenario(scenarios.load("soak"), 1, 1, keep_histories=True)
    by_name = {variant.name: variant.metrics for variant in result.variants}
    safe = by_name["safe"]
    assert safe["oversold_units"] == safe["duplicate_charges"] == safe["orphan_payments"] == 0
    # Refunds failed inside a gateway outage, and every such payment was refunded later
    # (no orphan): the same refund rule as the real body's (``world.gateway_rules``).
    (history,) = next(v for v in result.variants if v.name == "safe").histories
    assert history.counters["fault_gateway_refund_in_outage"] > 0
    assert safe["sweeper_refunds"] > 0
    # The faults bite: without a key, lost responses retried are second charges.
    assert by_name["no_key"]["duplicate_charges"] > 0


def test_a_compressed_soak_survives_every_fault() -> None:
    # The whole 300 s fault schedule in 15 wall seconds. Compression multiplies the
    # real (unscaled) database overheads by 20 in model time, so the arrival rate
    # and the gateway's rate limit are scaled down with it: at 20 arrivals a model
    # second, sagas would outlast the sweeper's minimum age and race it.
    figures = _soak(
        "15s",
        ["real.time_scale=0.05", "load.rate_per_s=5", "faults.gateway_rate_limit_per_s=4"],
        timeout_s=180,
    )
    _assert_survived(figures)


@pytest.mark.slow
def test_five_minutes_of_soak_survive_every_fault() -> None:
    figures = _soak("5m", [], timeout_s=900)
    assert figures["wall_s"] == pytest.approx(300.0)
    assert figures["checkouts_per_s"] > 15
    _assert_survived(figures)
