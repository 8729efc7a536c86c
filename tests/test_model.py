"""The SimPy model: the scenarios' effects, reproducibility, and a queueing check."""

from __future__ import annotations

import math

import pytest

from checkoutsim.experiments.runner import run_scenario
from checkoutsim.results.metrics import summarise
from checkoutsim.results.stats import mean_ci95
from checkoutsim.scenario import files as scenarios
from checkoutsim.scenario.settings import Settings
from checkoutsim.sim.model import simulate


def metrics_by_variant(name: str, seed: int, *overrides: str) -> dict[str, dict[str, float]]:
    result = run_scenario(scenarios.load(name, list(overrides)), seed=seed)
    return {variant.name: variant.metrics for variant in result.variants}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_flash_sale_naive_oversells_and_the_others_do_not(seed: int) -> None:
    metrics = metrics_by_variant("flash-sale", seed)
    assert metrics["naive"]["oversold_units"] > 0
    for safe in ("lock_ttl", "fenced", "optimistic", "atomic"):
        assert metrics[safe]["oversold_units"] == 0, safe
        assert metrics[safe]["units_sold"] <= metrics[safe]["stock"]
    # The locks serialise every shopper on one key and pay for it in latency.
    for locked in ("lock_ttl", "fenced"):
        assert metrics[locked]["latency_p99_s"] > metrics["atomic"]["latency_p99_s"]
        assert metrics[locked]["latency_p50_s"] > 2 * metrics["atomic"]["latency_p50_s"]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_double_click_only_key_first_charges_once(seed: int) -> None:
    metrics = metrics_by_variant("double-click", seed)
    assert metrics["no_key"]["duplicate_charges"] > 0
    assert metrics["check_then_charge"]["duplicate_charges"] > 0
    assert metrics["key_first"]["duplicate_charges"] == 0
    # Every double click of no_key charges twice; the textbook misses some.
    assert (
        metrics["no_key"]["duplicate_charges"] >= metrics["check_then_charge"]["duplicate_charges"]
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_order_failure_saga_leaves_no_orphans_and_sells_more(seed: int) -> None:
    metrics = metrics_by_variant("order-failure", seed)
    assert metrics["no_compensation"]["orphan_payments"] > 0
    assert metrics["refund_only"]["orphan_payments"] == 0
    assert metrics["saga"]["orphan_payments"] == 0
    assert metrics["saga"]["orders"] > metrics["refund_only"]["orders"]
    assert metrics["refund_only"]["refunds"] > 0
    # The textbook's catch block ships orders whose money it handed back.
    assert metrics["refund_then_retry"]["unpaid_orders"] > 0
    for safe in ("no_compensation", "refund_only", "saga"):
        assert metrics[safe]["unpaid_orders"] == 0


def test_same_seed_same_numbers_other_seed_other_numbers() -> None:
    first = metrics_by_variant("double-click", 5)
    again = metrics_by_variant("double-click", 5)
    other = metrics_by_variant("double-click", 6)
    assert first == again
    assert first["no_key"]["checkouts"] != other["no_key"]["checkouts"]


def test_variants_share_arrivals_common_random_numbers() -> None:
    metrics = metrics_by_variant("flash-sale", 4)
    assert len({m["checkouts"] for m in metrics.values()}) == 1


def test_conservation_every_intent_has_exactly_one_outcome() -> None:
    for name in ("flash-sale", "double-click", "order-failure"):
        for variant, m in metrics_by_variant(name, 2).items():
            told = sum(
                m[k]
                for k in (
                    "orders",
                    "sold_out",
                    "rejected",
                    "payment_failed",
                    "order_failed",
                    "processing",
                    "timed_out",
                    "in_flight",
                )
            )
            assert told == m["checkouts"], (name, variant)


def erlang_c_wait(arrival_rate: float, service_rate: float, servers: int) -> float:
    """Mean wait in queue of M/M/c (Erlang C), by the stable Erlang B recursion."""
    offered = arrival_rate / service_rate
    blocking = 1.0
    for k in range(1, servers + 1):
        blocking = offered * blocking / (k + offered * blocking)
    utilisation = offered / servers
    waiting = blocking / (1 - utilisation * (1 - blocking))
    return waiting / (servers * service_rate - arrival_rate)


def test_model_reduced_to_mmc_matches_erlang_c_at_rho_0_9() -> None:
    servers, service_rate, rho = 10, 100.0, 0.9
    arrival_rate = rho * servers * service_rate
    zero = {"distribution": "constant", "mean_s": 0.0}
    settings = Settings.model_validate(
        {
            "load": {"rate_per_s": arrival_rate, "duration_s": 20.0, "drain_s": 5.0},
            # Many SKUs: each write holds its row's lock, and with one row the
            # writes would queue on it; spread thin, the pool alone is the queue.
            "catalog": {"skus": 100_000, "stock_per_sku": 10**6},
            "inventory": {
                "strategy": "atomic",
                "workers": servers,
                "query": {"distribution": "exponential", "mean_s": 1 / service_rate},
            },
            "payment": {"strategy": "no_key", "query": zero},
            "gateway": {"latency": zero},
            "order": {"latency": zero},
        }
    )
    waits = []
    for replication in range(8):
        history = simulate(settings, seed=11, replication=replication)
        counters = history.counters
        assert counters["inventory_calls"] == len(history.checkouts)  # one query each: M/M/c
        waits.append(counters["inventory_wait_s"] / counters["inventory_calls"])
    mean, low, high = mean_ci95(waits)
    expected = erlang_c_wait(arrival_rate, service_rate, servers)
    assert low <= expected <= high, (expected, mean, low, high)
    assert math.isclose(mean, expected, rel_tol=0.15)


def test_client_time_outs_retries_and_abandonment() -> None:
    settings = Settings.model_validate(
        {
            "load": {"rate_per_s": 20.0, "duration_s": 20.0, "drain_s": 60.0},
            "catalog": {"stock_per_sku": 10**6},
            "gateway": {"latency": {"p50_s": 3.0, "p99_s": 30.0}, "timeout_s": 60.0},
            "shopper": {"timeout_s": 5.0, "retries_on_timeout": 1, "abandon_probability": 0.5},
        }
    )
    history = simulate(settings, seed=1)
    checkouts = history.checkouts
    assert (checkouts["attempts"] == 2).any()  # some shoppers retried
    timed_out = checkouts[checkouts["told"] == "timed_out"]
    assert len(timed_out) > 0
    assert (timed_out["latency_s"] >= 5.0 - 1e-9).all()
    metrics = summarise(history, 20.0)
    assert metrics["duplicate_charges"] == 0  # key_first: a retry reuses the key
