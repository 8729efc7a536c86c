"""The real body's circuit breakers: the policy core's machine on the run's clock.

The shared wrapper must not change what the breaker decides (checked against a
bare ``CircuitBreaker`` over random call sequences), must measure a call until
its final answer (a hung gateway is a pause, then an unknown outcome), and must
survive many threads. Then the executor: an open gateway breaker refuses
charges without sending them, an open inventory breaker refuses inventory
calls, and both are counted for the metrics.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from checkoutsim.policy import ops
from checkoutsim.policy.breaker import BreakerState, CircuitBreaker, charge_outcome
from checkoutsim.policy.clock import ManualClock
from checkoutsim.real.breakers import shared_breaker
from checkoutsim.real.runtime import LockWait, Pause
from checkoutsim.real.timebase import ManualTime
from checkoutsim.scenario.settings import Breaker
from checkoutsim.world.faults import make_breaker
from tests.real_support import body, service, settings

SMALL = Breaker(
    enabled=True,
    sliding_window_size=4,
    minimum_number_of_calls=2,
    slow_call_duration_threshold_s=5.0,
    wait_duration_in_open_state_s=15.0,
    permitted_number_of_calls_in_half_open_state=2,
)
UNKNOWN = ops.ChargeResult(ops.ChargeStatus.UNKNOWN)
CAPTURED = ops.ChargeResult(ops.ChargeStatus.CAPTURED, 1)

calls = st.lists(st.tuples(st.floats(0.0, 20.0), st.booleans(), st.floats(0.0, 8.0)), max_size=60)


@hypothesis_settings(max_examples=200, deadline=None)
@given(calls)
def test_the_shared_breaker_decides_as_the_policy_breaker(
    sequence: list[tuple[float, bool, float]],
) -> None:
    time = ManualTime()
    shared = shared_breaker(SMALL, time, threading.Lock())
    clock = ManualClock()
    bare = make_breaker(SMALL, clock)
    assert shared is not None and isinstance(bare, CircuitBreaker)
    for wait, failed, duration in sequence:
        time.advance(wait)
        clock.advance(wait)
        permitted = shared.try_acquire_permission()
        assert permitted == bare.try_acquire_permission()
        if not permitted:
            continue
        time.advance(duration)
        clock.advance(duration)
        if failed:
            shared.on_error(duration)
            bare.on_error(duration)
        else:
            shared.on_success(duration)
            bare.on_success(duration)
        assert shared.state is bare.state
    assert shared.open_seconds() == bare.open_seconds()
    assert shared.rejections() == bare.total_not_permitted_calls
    assert shared.metrics == bare.metrics


def test_a_hung_call_is_measured_until_its_answer() -> None:
    time = ManualTime()
    breaker = shared_breaker(SMALL, time, threading.Lock())
    assert breaker is not None
    for _ in range(2):
        answer = breaker.measured(lambda: Pause(10.0, lambda: UNKNOWN), charge_outcome)
        assert isinstance(answer, Pause)
        time.advance(answer.seconds)
        assert answer.resume() is UNKNOWN
    metrics = breaker.metrics
    # Both slow (10 s > 5 s) and failed: the breaker opens on the second.
    assert metrics.number_of_slow_failed_calls == 2
    assert breaker.state is BreakerState.OPEN
    assert not breaker.try_acquire_permission()


def test_a_wait_keeps_its_kind_through_the_breaker() -> None:
    time = ManualTime()
    breaker = shared_breaker(SMALL, time, threading.Lock())
    assert breaker is not None
    line = LockWait(2.0, lambda: CAPTURED, "inventory:0", inventory=True, deadline=9.0)
    answer = breaker.measured(lambda: line, charge_outcome)
    # A lock wait stays a lock wait, with its lock, line deadline and service.
    assert type(answer) is LockWait
    assert (answer.seconds, answer.wake, answer.inventory, answer.deadline) == (
        2.0,
        "inventory:0",
        True,
        9.0,
    )
    time.advance(2.0)
    assert answer.resume() is CAPTURED
    assert breaker.metrics.number_of_successful_calls == 1


def test_a_call_that_raises_is_a_failure() -> None:
    time = ManualTime()
    breaker = shared_breaker(SMALL, time, threading.Lock())
    assert breaker is not None

    def broken() -> ops.ChargeResult:
        raise RuntimeError("store down")

    with pytest.raises(RuntimeError):
        breaker.measured(broken, charge_outcome)
    answer = breaker.measured(lambda: Pause(1.0, broken), charge_outcome)
    with pytest.raises(RuntimeError):
        answer.resume()
    assert breaker.metrics.number_of_failed_calls == 2
    assert breaker.measured(lambda: CAPTURED, charge_outcome) is CAPTURED
    assert breaker.metrics.number_of_successful_calls == 1


def test_many_threads_lose_no_outcome() -> None:
    settings_ = Breaker(enabled=True, sliding_window_size=10_000, minimum_number_of_calls=10_000)
    breaker = shared_breaker(settings_, ManualTime(), threading.Lock())
    assert breaker is not None

    def hammer() -> None:
        for _ in range(1_000):
            if breaker.try_acquire_permission():
                breaker.on_success(0.1)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert breaker.metrics.number_of_buffered_calls == 8_000


def test_no_breaker_when_the_scenario_has_none() -> None:
    assert shared_breaker(Breaker(), ManualTime(), threading.Lock()) is None


# --- in the service ---------------------------------------------------------------------


def breaker_section() -> dict[str, object]:
    """A small breaker for a service's settings."""
    return {
        "enabled": True,
        "sliding_window_size": 4,
        "minimum_number_of_calls": 2,
        "wait_duration_in_open_state_s": 15.0,
        "permitted_number_of_calls_in_half_open_state": 1,
    }


def test_an_open_gateway_breaker_refuses_charges_without_sending_them(tmp_path: Path) -> None:
    config = settings(
        payment={"strategy": "key_first", "retries": 0},
        breakers={"gateway": breaker_section()},
        faults={
            "outages": [{"service": "gateway", "start_s": 0.0, "end_s": 30.0, "mode": "error"}]
        },
        catalog={"skus": 1, "stock_per_sku": 100},
    )
    shop, clock = service(tmp_path, config)
    told = [shop.api.checkout(f"k{i}", body())[1]["status"] for i in range(6)]
    assert told == ["rejected"] * 6
    counters = shop.executor.counters.snapshot()
    # Two calls reached the (refusing) gateway and opened the breaker; four were never sent.
    assert counters["fault_gateway_outage_refused"] == 2
    assert shop.breaker_figures()["breaker_rejections"] == 4
    clock.advance(31.0)
    assert shop.api.checkout("k-after", body())[1]["status"] == "ordered"
    assert shop.executor.gateway_breaker is not None
    assert shop.executor.gateway_breaker.state is BreakerState.CLOSED
    assert shop.breaker_figures()["breaker_open_s"] == pytest.approx(31.0)
    shop.close()


def test_an_open_inventory_breaker_refuses_inventory_calls(tmp_path: Path) -> None:
    config = settings(
        breakers={"inventory": breaker_section()},
        faults={
            "outages": [{"service": "inventory", "start_s": 0.0, "end_s": 30.0, "mode": "error"}]
        },
        inventory={"strategy": "atomic"},
        catalog={"skus": 1, "stock_per_sku": 100},
    )
    shop, clock = service(tmp_path, config)
    told = [shop.api.checkout(f"k{i}", body())[1]["status"] for i in range(5)]
    assert told == ["rejected"] * 5
    assert shop.executor.counters.snapshot()["inventory_refusals"] == 3
    assert shop.breaker_figures()["breaker_rejections"] == 3
    clock.advance(31.0)
    assert shop.api.checkout("k-after", body())[1]["status"] == "ordered"
    shop.close()


def test_a_hung_inventory_service_is_waited_out_and_counted_against_its_breaker(
    tmp_path: Path,
) -> None:
    config = settings(
        breakers={"inventory": {**breaker_section(), "slow_call_duration_threshold_s": 2.0}},
        faults={
            "outages": [{"service": "inventory", "start_s": 0.0, "end_s": 30.0, "mode": "hang"}]
        },
        inventory={"strategy": "atomic", "timeout_s": 5.0},
        catalog={"skus": 1, "stock_per_sku": 100},
    )
    shop, clock = service(tmp_path, config)
    told = [shop.api.checkout(f"k{i}", body())[1]["status"] for i in range(4)]
    assert told == ["rejected"] * 4
    # Each of the first two calls hung for the whole time-out; then the breaker,
    # having seen two slow failures, refused the other two at once.
    assert clock.slept.count(5.0) == 2
    assert shop.executor.counters.snapshot()["inventory_refusals"] == 2
    assert shop.executor.inventory_breaker is not None
    metrics = shop.executor.inventory_breaker.metrics
    assert metrics.number_of_slow_failed_calls == 2
    clock.advance(31.0)
    assert shop.api.checkout("k-after", body())[1]["status"] == "ordered"
    shop.close()
