"""A fixed pool of request threads (``[server].threads``) in both bodies and the probe.

A thread-pool web server lets at most ``threads`` requests run at once; the
rest wait before any of their work, their check included. So a check-then-write
race can have at most ``threads`` checks in flight: one thread serialises every
request and no strategy can oversell, and ``k`` threads let a relative
decrement oversell by at most ``k - 1`` units a SKU (one unit a checkout). A
probe target on such a server oversold 7 units where the model without the
pool predicted 52; these tests pin the rule, not that run.
"""

from __future__ import annotations

import threading
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from checkoutsim.probe.adapter import Model
from checkoutsim.probe.calibrate import Calibration
from checkoutsim.probe.model import model_settings
from checkoutsim.probe.options import ProbeOptions, schedule_settings
from checkoutsim.real.api import CheckoutApi
from checkoutsim.results.metrics import summarise
from checkoutsim.scenario import files
from checkoutsim.scenario.settings import Settings
from checkoutsim.sim.model import simulate


def sale(strategy: str, threads: int, seed: int, gap_s: float = 0.005) -> dict[str, float]:
    """A crowd on one small SKU: a burst well past the stock, checks with a gap."""
    configured = Settings.model_validate(
        {
            "load": {"rate_per_s": 200.0, "duration_s": 1.0, "drain_s": 30.0, "burst_size": 60},
            "catalog": {"stock_per_sku": 20, "skus": 1},
            "inventory": {"strategy": strategy, "workers": 8, "costs": {"check_gap_s": gap_s}},
            "server": {"threads": threads},
            "shopper": {"timeout_s": 30.0},
        }
    )
    return summarise(simulate(configured, seed), configured.load.duration_s)


@settings(max_examples=12, deadline=None)
@given(
    strategy=st.sampled_from(["naive", "check_then_decrement"]),
    seed=st.integers(min_value=1, max_value=10_000),
)
def test_one_request_thread_serialises_every_checkout_so_nothing_oversells(
    strategy: str, seed: int
) -> None:
    metrics = sale(strategy, 1, seed)
    assert metrics["oversold_units"] == 0
    assert metrics["orders"] == 20


@settings(max_examples=12, deadline=None)
@given(threads=st.integers(min_value=2, max_value=6), seed=st.integers(1, 10_000))
def test_k_request_threads_bound_a_relative_decrements_oversell_by_k_minus_one(
    threads: int, seed: int
) -> None:
    metrics = sale("check_then_decrement", threads, seed, gap_s=0.05)
    assert metrics["oversold_units"] <= threads - 1


def test_without_the_pool_the_same_crowd_oversells_past_any_such_bound() -> None:
    # The contrast that makes the bound above mean something: the same sale
    # with a thread per request lets every check of the burst into the window.
    assert sale("check_then_decrement", 0, 1, gap_s=0.05)["oversold_units"] > 6


def test_requests_beyond_the_threads_wait_so_answers_slow() -> None:
    assert sale("atomic", 1, 3)["latency_p50_s"] > 2 * sale("atomic", 0, 3)["latency_p50_s"]


def start_checkouts(api: CheckoutApi, count: int) -> list[threading.Thread]:
    """``count`` checkouts of one unit, each on a thread of its own, started."""
    callers = [
        threading.Thread(target=api.checkout, args=(f"k{n}", {"sku": "sku-0", "quantity": 1}))
        for n in range(count)
    ]
    for caller in callers:
        caller.start()
    return callers


def test_the_real_api_lets_at_most_threads_requests_run_at_once() -> None:
    config = Settings.model_validate({"server": {"threads": 2}})
    running, most = [0], [0]
    guard = threading.Lock()
    release = threading.Event()
    entered = threading.Semaphore(0)

    def drive(steps: Any, saga: Any) -> tuple[int, dict[str, Any]]:
        with guard:
            running[0] += 1
            most[0] = max(most[0], running[0])
        entered.release()
        release.wait(30)
        with guard:
            running[0] -= 1
        return 201, {}

    api = CheckoutApi(config, lambda *args: iter(()), drive)
    callers = start_checkouts(api, 5)
    # Two get a thread; the other three wait for one, so only two enter.
    assert entered.acquire(timeout=30) and entered.acquire(timeout=30)
    assert not entered.acquire(timeout=0.2)
    release.set()
    for caller in callers:
        caller.join(30)
    assert most[0] == 2 and running[0] == 0


def test_the_probe_gives_the_adapters_request_threads_to_the_model() -> None:
    base = files.load("flash-sale", [], []).variants[0].settings
    schedule = schedule_settings(base, ProbeOptions(run_time_s=1.0, rate_per_s=100.0))
    light = Calibration(ordered_s=0.06, sold_out_s=0.002, stock_read_s=0.001)
    pooled = Model(strategy="check_then_decrement", workers=8, request_threads=8)
    filled = model_settings(schedule, pooled, light, [20], 1)
    assert filled.settings.server.threads == 8
    assert any("8 request threads" in line for line in filled.assumptions)
    unpooled = Model(strategy="check_then_decrement", workers=8)
    filled = model_settings(schedule, unpooled, light, [20], 1)
    assert filled.settings.server.threads == 0
    assert not any("request thread" in line for line in filled.assumptions)


def test_the_server_section_refuses_a_negative_pool() -> None:
    try:
        files.load("flash-sale", ["server.threads=-1"], [])
    except files.ScenarioError as error:
        assert "server.threads" in str(error) and "-1" in str(error)
    else:
        raise AssertionError("a negative thread count was accepted")
