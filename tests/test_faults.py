"""The fault scenarios: each effect the scenario exists to show, over three seeds."""

from __future__ import annotations

import pytest

from checkoutsim.experiments.runner import run_scenario
from checkoutsim.scenario import files as scenarios
from checkoutsim.sim.model import simulate

SEEDS = [1, 2, 3]


def metrics_by_variant(name: str, seed: int) -> dict[str, dict[str, float]]:
    result = run_scenario(scenarios.load(name), seed=seed)
    return {variant.name: variant.metrics for variant in result.variants}


@pytest.mark.parametrize("seed", SEEDS)
def test_gateway_outage_breaker_fails_fast_and_the_queue_loses_nothing(seed: int) -> None:
    m = metrics_by_variant("gateway-outage", seed)
    for guarded in ("breaker", "breaker_queue"):
        assert m[guarded]["breaker_open_s"] > 0
        assert m[guarded]["latency_p99_s"] < m["no_breaker"]["latency_p99_s"]
    queued = m["breaker_queue"]
    assert queued["payment_queued"] > 0
    # Every parked payment ends recovered, settled or dead-lettered: none lost.
    assert queued["retry_queue_depth_at_end"] == 0
    ended = queued["queued_recovered"] + queued["queued_settled"] + queued["dead_lettered"]
    assert ended == queued["payment_queued"]
    assert queued["duplicate_charges"] == 0
    assert queued["orders"] > m["breaker"]["orders"]  # parked sales are not lost sales


@pytest.mark.parametrize("seed", SEEDS)
def test_slow_gateway_retries_double_charge_only_without_a_key(seed: int) -> None:
    m = metrics_by_variant("slow-gateway", seed)
    assert m["no_key_retry"]["duplicate_charges"] > 0
    assert m["key_first_retry"]["duplicate_charges"] == 0
    assert m["breaker_queue"]["duplicate_charges"] == 0


@pytest.mark.parametrize("seed", SEEDS)
def test_inventory_outage_reject_is_consistent_accept_oversells(seed: int) -> None:
    m = metrics_by_variant("inventory-outage", seed)
    assert m["reject"]["oversold_units"] == 0
    assert m["reject"]["rejected"] > 0
    assert m["accept"]["oversold_units"] > 0


@pytest.mark.parametrize("seed", SEEDS)
def test_lock_pause_two_holders_oversell_unless_fenced(seed: int) -> None:
    m = metrics_by_variant("lock-pause", seed)
    assert m["lock_ttl"]["oversold_units"] > 0
    assert m["lock_ttl"]["lock_expirations"] > 0
    assert m["fenced"]["oversold_units"] == 0
    assert m["fenced"]["fence_rejections"] > 0
    assert m["atomic"]["oversold_units"] == 0


@pytest.mark.parametrize("seed", SEEDS)
def test_reservation_expiry_oversell_or_refund(seed: int) -> None:
    m = metrics_by_variant("reservation-expiry", seed)
    assert m["oversell"]["oversold_units"] > 0
    assert m["refund"]["oversold_units"] == 0
    assert m["refund"]["refunds"] > 0
    assert m["refund"]["orphan_payments"] == 0


@pytest.mark.parametrize("seed", SEEDS)
def test_two_phase_commit_blocks_while_its_coordinator_is_down(seed: int) -> None:
    m = metrics_by_variant("saga-vs-2pc", seed)
    two_pc, saga = m["two_phase_commit"], m["saga"]
    assert two_pc["blocked_transactions"] > 0
    assert saga["blocked_transactions"] == 0
    assert two_pc["throughput_during_faults_per_s"] < saga["throughput_during_faults_per_s"]
    assert two_pc["lock_hold_mean_s"] > 0


def test_timeline_records_breaker_state_and_queue_depth_each_second() -> None:
    variant = scenarios.load("gateway-outage").variant("breaker_queue")
    timeline = simulate(variant.settings, seed=1).timeline
    assert timeline["time_s"].diff().dropna().eq(1.0).all()
    during = timeline[(timeline["time_s"] >= 60) & (timeline["time_s"] < 180)]
    assert (during["breaker_state"] == 2).any()  # open at some point in the outage
    assert timeline.loc[timeline["time_s"] < 60, "breaker_state"].eq(0).all()
    assert during["queue_depth"].max() > 0
    assert timeline["queue_depth"].iloc[-1] == 0


def _order_outage_latencies(mode: str) -> tuple[float, float]:
    """Median latency of checkouts answered inside an order outage, and the order time-out."""
    base = scenarios.load("order-failure")
    variant = next(v for v in base.variants if v.name == "saga")
    settings = variant.settings.model_copy(
        update={
            "order": variant.settings.order.model_copy(update={"failure_rate": 0.0}),
            "faults": variant.settings.faults.model_validate(
                {"outages": [{"service": "order", "start_s": 2.0, "end_s": 4.0, "mode": mode}]}
            ),
            "saga": variant.settings.saga.model_copy(update={"order_retries": 0}),
        }
    )
    checkouts = simulate(settings, seed=1).checkouts
    inside = checkouts[(checkouts.arrival_s > 2.5) & (checkouts.arrival_s < 3.5)]
    latency = inside.answered_s - inside.arrival_s
    return float(latency.median()), settings.order.timeout_s


def test_order_outage_hang_costs_the_time_out_and_error_fails_fast() -> None:
    hung, timeout_s = _order_outage_latencies("hang")
    refused, _ = _order_outage_latencies("error")
    assert hung >= timeout_s
    assert refused < 1.0


def test_throttled_calls_never_open_the_breaker_so_production_carries_the_account_limit() -> None:
    """At 100 checkouts a second against one account of 100 calls a second, bursts
    meet the rate limit; the 429s are retried and parked, and the breaker stays shut."""
    scenario = scenarios.load(
        "evolution", ["load.rate_per_s=100", "load.duration_s=30"], ["production"]
    )
    (variant,) = run_scenario(scenario, seed=1).variants
    assert variant.metrics["rate_limited"] > 0
    assert variant.metrics["breaker_open_s"] == 0
    assert variant.metrics["breaker_rejections"] == 0
