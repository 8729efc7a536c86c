"""Tests of the circuit breaker's state machine against resilience4j's documented behaviour.

Most cases port resilience4j's CircuitBreakerStateMachineTest and its sliding
window tests to a ManualClock; time only moves when a test moves it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checkoutsim.policy import ops
from checkoutsim.policy.breaker import (
    BreakerConfig,
    BreakerState,
    CallOutcome,
    CircuitBreaker,
    IllegalStateTransitionError,
    charge_outcome,
)
from checkoutsim.policy.clock import ManualClock

CLOSED = BreakerState.CLOSED
OPEN = BreakerState.OPEN
HALF_OPEN = BreakerState.HALF_OPEN

# resilience4j's state-machine test set-up: a 20-second time window needing 5
# calls, 4 trial calls, slow above 4 s, 5 s in OPEN.
RESILIENCE4J_TEST_CONFIG = BreakerConfig(
    failure_rate_threshold=50.0,
    slow_call_rate_threshold=50.0,
    slow_call_duration_threshold_s=4.0,
    sliding_window_type="time",
    sliding_window_size=20,
    minimum_number_of_calls=5,
    wait_duration_in_open_state_s=5.0,
    permitted_number_of_calls_in_half_open_state=4,
)


def make_breaker(**overrides: Any) -> tuple[CircuitBreaker, ManualClock]:
    """A breaker on the resilience4j test set-up, with some settings changed."""
    clock = ManualClock()
    config = dataclasses.replace(RESILIENCE4J_TEST_CONFIG, **overrides)
    return CircuitBreaker(config, clock=clock), clock


def assert_metrics(
    breaker: CircuitBreaker,
    failure_rate: float,
    successful: int,
    buffered: int,
    failed: int,
    not_permitted: int,
) -> None:
    """The five numbers resilience4j's tests check after every step."""
    metrics = breaker.metrics
    assert metrics.failure_rate == pytest.approx(failure_rate)
    assert metrics.number_of_successful_calls == successful
    assert metrics.number_of_buffered_calls == buffered
    assert metrics.number_of_failed_calls == failed
    assert metrics.number_of_not_permitted_calls == not_permitted


def record(breaker: CircuitBreaker, failed: bool, duration_s: float = 0.0) -> None:
    """Report one finished call."""
    if failed:
        breaker.on_error(duration_s)
    else:
        breaker.on_success(duration_s)


def open_then_half_open(breaker: CircuitBreaker) -> None:
    """Force the breaker into a fresh HALF_OPEN trial."""
    breaker.transition_to_open_state()
    breaker.transition_to_half_open_state()
    assert breaker.state is HALF_OPEN


# --- configuration ---------------------------------------------------------


def test_defaults_are_resilience4j_defaults() -> None:
    assert dataclasses.astuple(BreakerConfig()) == (50.0, 100.0, 60.0, "count", 100, 100, 60.0, 10)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("failure_rate_threshold", 0.0),
        ("failure_rate_threshold", 100.5),
        ("slow_call_rate_threshold", -1.0),
        ("slow_call_rate_threshold", float("nan")),
        ("slow_call_duration_threshold_s", 0.0),
        ("wait_duration_in_open_state_s", -5.0),
        ("sliding_window_type", "sliding"),
        ("sliding_window_size", 0),
        ("minimum_number_of_calls", 0),
        ("minimum_number_of_calls", 2.5),
        ("permitted_number_of_calls_in_half_open_state", 0),
        ("permitted_number_of_calls_in_half_open_state", True),
    ],
)
def test_config_rejects_out_of_range_values_naming_field_and_value(
    field: str, value: object
) -> None:
    with pytest.raises(ValueError, match=field) as raised:
        BreakerConfig(**{field: value})
    assert repr(value) in str(raised.value)


def test_negative_duration_is_rejected() -> None:
    breaker, _ = make_breaker()
    with pytest.raises(ValueError, match="duration_s"):
        breaker.on_success(-0.1)


# --- CLOSED ----------------------------------------------------------------


def test_opens_at_the_failure_threshold_once_the_minimum_is_buffered() -> None:
    breaker, _ = make_breaker()
    assert breaker.state is CLOSED
    assert_metrics(breaker, -1.0, 0, 0, 0, 0)
    for failed_so_far in (1, 2, 3):
        assert breaker.try_acquire_permission()
        breaker.on_error(0.0)
        assert breaker.state is CLOSED
        assert_metrics(breaker, -1.0, 0, failed_so_far, failed_so_far, 0)
    breaker.on_success(0.0)
    assert breaker.state is CLOSED
    assert_metrics(breaker, -1.0, 1, 4, 3, 0)

    breaker.on_success(0.0)

    assert breaker.state is OPEN
    assert_metrics(breaker, 60.0, 2, 5, 3, 0)
    assert not breaker.try_acquire_permission()
    assert_metrics(breaker, 60.0, 2, 5, 3, 1)


def test_never_opens_before_the_minimum_even_if_every_call_fails() -> None:
    breaker, _ = make_breaker(sliding_window_type="count", sliding_window_size=10)
    for _ in range(4):
        breaker.on_error(0.0)
    assert breaker.state is CLOSED
    assert breaker.metrics.failure_rate == -1.0
    assert breaker.metrics.slow_call_rate == -1.0
    assert breaker.metrics.number_of_failed_calls == 4
    breaker.on_error(0.0)
    assert breaker.state is OPEN


def test_opens_exactly_at_the_threshold_not_only_above_it() -> None:
    breaker, _ = make_breaker(sliding_window_type="count", minimum_number_of_calls=4)
    for _ in range(2):
        breaker.on_success(0.0)
    breaker.on_error(0.0)
    assert breaker.state is CLOSED
    breaker.on_error(0.0)
    assert breaker.state is OPEN
    assert breaker.metrics.failure_rate == 50.0


def test_stays_closed_below_the_threshold() -> None:
    breaker, _ = make_breaker(sliding_window_type="count", sliding_window_size=5)
    for failed in (True, False, True, False, False, False, False, False):
        record(breaker, failed)
        assert breaker.state is CLOSED
    assert breaker.metrics.number_of_buffered_calls == 5
    assert breaker.metrics.failure_rate == 0.0


def test_count_window_keeps_only_the_last_n_outcomes() -> None:
    breaker, _ = make_breaker(
        sliding_window_type="count",
        sliding_window_size=4,
        minimum_number_of_calls=4,
        failure_rate_threshold=75.0,
    )
    for failed in (True, False, False, False, True, True):
        record(breaker, failed)
    # Window now: success, success, error, error; the first error slid out.
    assert breaker.state is CLOSED
    assert breaker.metrics.failure_rate == 50.0
    assert breaker.metrics.number_of_buffered_calls == 4
    breaker.on_error(0.0)
    assert breaker.state is OPEN
    assert breaker.metrics.failure_rate == 75.0


def test_count_window_clamps_a_minimum_larger_than_the_window() -> None:
    breaker, _ = make_breaker(
        sliding_window_type="count", sliding_window_size=5, minimum_number_of_calls=100
    )
    for _ in range(4):
        breaker.on_error(0.0)
    assert breaker.metrics.failure_rate == -1.0
    breaker.on_error(0.0)
    assert breaker.state is OPEN


def test_time_window_does_not_clamp_the_minimum_to_its_size() -> None:
    breaker, _ = make_breaker(sliding_window_size=2, minimum_number_of_calls=5)
    for _ in range(4):
        breaker.on_error(0.0)
    assert breaker.state is CLOSED
    assert breaker.metrics.number_of_buffered_calls == 4
    breaker.on_error(0.0)
    assert breaker.state is OPEN


def test_time_window_counts_calls_spread_over_seconds() -> None:
    breaker, clock = make_breaker()
    for failed in (False, False, False, True, True):
        record(breaker, failed)
        clock.advance(1.0)
    assert breaker.state is CLOSED
    assert breaker.metrics.failure_rate == 40.0
    breaker.on_error(0.0)
    assert breaker.state is OPEN
    assert breaker.metrics.failure_rate == 50.0


def test_time_window_forgets_buckets_older_than_the_window() -> None:
    # A 5-second window that never decides, to watch the counts alone.
    breaker, clock = make_breaker(sliding_window_size=5, minimum_number_of_calls=1000)

    def check(failed: bool, buffered: int, successful: int, failed_calls: int) -> None:
        record(breaker, failed, 0.1)
        metrics = breaker.metrics
        assert metrics.number_of_buffered_calls == buffered
        assert metrics.number_of_successful_calls == successful
        assert metrics.number_of_failed_calls == failed_calls

    check(True, 1, 0, 1)
    clock.advance(0.1)
    check(False, 2, 1, 1)
    clock.advance(0.1)
    check(False, 3, 2, 1)
    for step in [(False, 4, 3, 1), (False, 5, 4, 1), (True, 6, 4, 2), (False, 7, 5, 2)]:
        clock.advance(1.0)
        check(*step)
    # Second 0 (one error, two successes) leaves the window now.
    clock.advance(1.0)
    check(False, 5, 4, 1)
    clock.advance(1.0)
    check(False, 5, 4, 1)
    clock.advance(5.0)
    check(False, 1, 1, 0)


def test_time_window_empties_on_read_as_time_passes() -> None:
    breaker, clock = make_breaker(sliding_window_size=5, minimum_number_of_calls=1000)
    breaker.on_error(0.0)
    clock.set(4.9)
    assert breaker.metrics.number_of_buffered_calls == 1
    clock.set(5.0)
    assert breaker.metrics.number_of_buffered_calls == 0


def test_slow_calls_open_it_even_when_failures_are_below_threshold() -> None:
    breaker, _ = make_breaker()
    breaker.on_error(5.0)
    breaker.on_success(5.0)
    breaker.on_error(0.1)
    breaker.on_success(0.1)
    assert breaker.state is CLOSED
    breaker.on_success(5.0)
    assert breaker.state is OPEN
    metrics = breaker.metrics
    assert metrics.number_of_buffered_calls == 5
    assert metrics.number_of_slow_calls == 3
    assert metrics.number_of_slow_successful_calls == 2
    assert metrics.number_of_slow_failed_calls == 1
    assert metrics.slow_call_rate == 60.0
    assert metrics.failure_rate == 40.0


def test_a_call_exactly_at_the_slow_threshold_is_not_slow() -> None:
    breaker, _ = make_breaker()
    breaker.on_success(4.0)
    assert breaker.metrics.number_of_slow_calls == 0
    breaker.on_success(4.000001)
    assert breaker.metrics.number_of_slow_calls == 1


# --- OPEN ------------------------------------------------------------------


def test_open_refuses_calls_and_counts_them() -> None:
    breaker, _ = make_breaker()
    breaker.transition_to_open_state()
    assert not breaker.try_acquire_permission()
    assert not breaker.try_acquire_permission()
    assert breaker.metrics.number_of_not_permitted_calls == 2
    assert breaker.total_not_permitted_calls == 2


def test_open_moves_to_half_open_only_after_the_wait() -> None:
    breaker, clock = make_breaker()
    breaker.transition_to_open_state()
    assert breaker.open_until == 5.0
    assert not breaker.try_acquire_permission()
    clock.advance(3.0)
    assert not breaker.try_acquire_permission()
    assert_metrics(breaker, -1.0, 0, 0, 0, 2)
    clock.set(5.0)  # resilience4j needs the clock strictly past the wait
    assert not breaker.try_acquire_permission()
    clock.advance(1.0)
    # Reading the state never transitions: only a request does.
    assert breaker.state is OPEN
    assert breaker.try_acquire_permission()
    assert breaker.state is HALF_OPEN
    assert breaker.open_until is None
    # A fresh window for the trial calls; refusals belonged to the old one.
    assert_metrics(breaker, -1.0, 0, 0, 0, 0)
    assert breaker.total_not_permitted_calls == 3


def test_metrics_that_opened_it_stay_readable_and_late_calls_are_recorded() -> None:
    breaker, clock = make_breaker(sliding_window_type="count", minimum_number_of_calls=2)
    breaker.on_error(0.0)
    breaker.on_error(0.0)
    assert breaker.state is OPEN
    clock.advance(30.0)  # long after: a time window would have emptied, a count one does not
    assert breaker.metrics.failure_rate == 100.0
    # A call permitted while CLOSED finishes after the breaker opened.
    breaker.on_success(0.0)
    assert breaker.state is OPEN
    assert_metrics(breaker, 200.0 / 3.0, 1, 3, 2, 0)


def test_transition_to_open_while_open_restarts_the_wait_without_a_new_transition() -> None:
    breaker, clock = make_breaker()
    breaker.transition_to_open_state()
    clock.advance(4.0)
    breaker.transition_to_open_state()
    assert breaker.transition_count == 1
    clock.advance(4.0)
    assert not breaker.try_acquire_permission()
    assert breaker.open_seconds() == 8.0


def test_closed_to_half_open_is_an_illegal_transition() -> None:
    breaker, _ = make_breaker()
    with pytest.raises(IllegalStateTransitionError):
        breaker.transition_to_half_open_state()
    assert breaker.state is CLOSED


# --- HALF_OPEN -------------------------------------------------------------


def test_half_open_permits_exactly_the_configured_calls_each_trial() -> None:
    breaker, _ = make_breaker()
    for _ in range(2):
        open_then_half_open(breaker)
        assert [breaker.try_acquire_permission() for _ in range(6)] == [True] * 4 + [False] * 2
        assert breaker.metrics.number_of_not_permitted_calls == 2


def test_released_permission_can_be_used_again_but_never_adds_permits() -> None:
    breaker, _ = make_breaker()
    open_then_half_open(breaker)
    breaker.release_permission()  # nothing taken yet: must not mint a fifth permit
    assert [breaker.try_acquire_permission() for _ in range(5)] == [True] * 4 + [False]
    breaker.release_permission()
    assert breaker.try_acquire_permission()
    assert not breaker.try_acquire_permission()


def test_half_open_goes_back_to_open_when_trial_failures_reach_the_threshold() -> None:
    breaker, clock = make_breaker()
    open_then_half_open(breaker)
    assert_metrics(breaker, -1.0, 0, 0, 0, 0)
    for failed in (True, True, False, True):
        assert breaker.try_acquire_permission()
        record(breaker, failed)
    assert breaker.state is OPEN
    assert_metrics(breaker, 75.0, 1, 4, 3, 0)
    assert breaker.open_until == clock.now() + 5.0


def test_half_open_goes_back_to_open_on_slow_trial_calls() -> None:
    breaker, _ = make_breaker()
    open_then_half_open(breaker)
    for duration in (5.0, 5.0, 5.0, 1.0):
        assert breaker.try_acquire_permission()
        breaker.on_success(duration)
    assert breaker.state is OPEN
    assert breaker.metrics.number_of_slow_calls == 3
    assert breaker.metrics.slow_call_rate == 75.0
    assert breaker.metrics.failure_rate == 0.0


def test_half_open_closes_after_enough_successful_trials_with_a_fresh_window() -> None:
    breaker, _ = make_breaker()
    open_then_half_open(breaker)
    for failed in (True, False, False, False):
        assert breaker.try_acquire_permission()
        record(breaker, failed)
    assert breaker.state is CLOSED
    assert_metrics(breaker, -1.0, 0, 0, 0, 0)
    assert breaker.try_acquire_permission()
    breaker.on_success(0.0)
    assert_metrics(breaker, -1.0, 1, 1, 0, 0)


def test_half_open_decides_only_after_all_trial_calls_finish() -> None:
    breaker, _ = make_breaker()
    open_then_half_open(breaker)
    for _ in range(4):
        assert breaker.try_acquire_permission()
    for _ in range(3):
        breaker.on_error(0.0)
        assert breaker.state is HALF_OPEN
    breaker.on_error(0.0)
    assert breaker.state is OPEN


def test_half_open_decides_early_when_the_minimum_is_below_the_trial_size() -> None:
    # resilience4j's half-open window needs min(minimum, permitted) calls.
    breaker, _ = make_breaker(minimum_number_of_calls=2)
    open_then_half_open(breaker)
    breaker.on_success(0.0)
    assert breaker.state is HALF_OPEN
    breaker.on_success(0.0)
    assert breaker.state is CLOSED


# --- simulation bookkeeping -------------------------------------------------


def test_open_time_and_transitions_are_recorded() -> None:
    breaker, clock = make_breaker(sliding_window_type="count", minimum_number_of_calls=1)
    clock.set(10.0)
    breaker.on_error(0.0)
    assert breaker.state is OPEN
    clock.set(13.0)
    assert breaker.open_seconds() == 3.0
    clock.set(16.0)
    assert breaker.try_acquire_permission()
    clock.set(17.0)
    breaker.on_error(0.0)  # the trial fails: open again
    clock.set(20.0)
    assert breaker.open_seconds() == 6.0 + 3.0
    assert breaker.open_seconds(now=21.0) == 6.0 + 4.0
    assert [(step.at, step.from_state, step.to_state) for step in breaker.transitions] == [
        (10.0, CLOSED, OPEN),
        (16.0, OPEN, HALF_OPEN),
        (17.0, HALF_OPEN, OPEN),
    ]
    assert breaker.transition_count == 3
    breaker.transition_to_closed_state()
    clock.set(100.0)
    assert breaker.open_seconds() == 9.0


def test_a_spell_nobody_asks_about_stops_counting_at_the_last_call() -> None:
    breaker, clock = make_breaker(sliding_window_type="count", minimum_number_of_calls=1)
    clock.set(10.0)
    breaker.on_error(0.0)
    clock.set(12.0)
    assert not breaker.try_acquire_permission()  # refused: still open at 12
    clock.set(90.0)  # the load has stopped; the run is read much later
    assert breaker.state is OPEN
    assert breaker.open_seconds() == 80.0
    assert breaker.open_seconds_while_asked() == 2.0
    clock.set(95.0)
    assert breaker.try_acquire_permission()  # asked again: the whole spell counts
    assert breaker.open_seconds_while_asked() == 85.0


# --- invariants ------------------------------------------------------------

configs = st.builds(
    BreakerConfig,
    failure_rate_threshold=st.sampled_from([25.0, 50.0, 75.0, 100.0]),
    slow_call_rate_threshold=st.sampled_from([25.0, 50.0, 100.0]),
    slow_call_duration_threshold_s=st.just(1.0),
    sliding_window_type=st.sampled_from(["count", "time"]),
    sliding_window_size=st.integers(1, 6),
    minimum_number_of_calls=st.integers(1, 8),
    wait_duration_in_open_state_s=st.sampled_from([0.5, 1.0, 2.0]),
    permitted_number_of_calls_in_half_open_state=st.integers(1, 4),
)
# Durations straddle the 1 s slow threshold; advances are binary fractions so
# the clock can land exactly on the end of a wait.
operations = st.lists(
    st.one_of(
        st.tuples(st.just("acquire"), st.just(0.0)),
        st.tuples(st.just("release"), st.just(0.0)),
        st.tuples(st.sampled_from(["success", "error"]), st.sampled_from([0.0, 1.0, 2.0])),
        st.tuples(st.just("advance"), st.sampled_from([0.5, 1.0, 2.5])),
        st.tuples(st.just("force_open"), st.just(0.0)),
    ),
    max_size=80,
)


def window_minimum(config: BreakerConfig, state: BreakerState) -> int:
    """How many calls the window of ``state`` needs before it has rates."""
    if state is HALF_OPEN:
        return min(
            config.minimum_number_of_calls, config.permitted_number_of_calls_in_half_open_state
        )
    if config.sliding_window_type == "count":
        return min(config.minimum_number_of_calls, config.sliding_window_size)
    return config.minimum_number_of_calls


def at_threshold(config: BreakerConfig, failed: int, slow: int, buffered: int) -> bool:
    """Would these counts trip the breaker, minimum aside?"""
    return (
        failed * 100.0 / buffered >= config.failure_rate_threshold
        or slow * 100.0 / buffered >= config.slow_call_rate_threshold
    )


@settings(max_examples=400, deadline=None)
@given(config=configs, steps=operations)
def test_invariants_hold_for_any_sequence_of_calls(
    config: BreakerConfig, steps: list[tuple[str, float]]
) -> None:
    clock = ManualClock()
    breaker = CircuitBreaker(config, clock=clock)
    permitted = config.permitted_number_of_calls_in_half_open_state
    # Trial permits taken and not given back, by our own count of the protocol.
    permits_used = 0
    previous_open_seconds = 0.0
    # When the current OPEN spell's wait ends, by our own reckoning.
    wait_ends_at = 0.0

    for action, value in steps:
        before = breaker.state
        if action == "acquire":
            granted = breaker.try_acquire_permission()
            if before is CLOSED:
                assert granted
            if before is HALF_OPEN:
                assert granted == (permits_used < permitted)
            if before is OPEN:
                # Refused exactly until the clock is strictly past the wait.
                waited = clock.now() > wait_ends_at
                assert granted == waited
                assert breaker.state is (HALF_OPEN if waited else OPEN)
                permits_used = 0
            if breaker.state is HALF_OPEN and granted:
                permits_used += 1
        elif action == "release":
            breaker.release_permission()
            if before is HALF_OPEN and permits_used > 0:
                permits_used -= 1
        elif action == "advance":
            clock.advance(value)
        elif action == "force_open":
            breaker.transition_to_open_state()
        else:
            record(breaker, action == "error", value)

        state = breaker.state
        if state is OPEN and (before is not OPEN or action == "force_open"):
            wait_ends_at = clock.now() + config.wait_duration_in_open_state_s
        metrics = breaker.metrics
        buffered = metrics.number_of_buffered_calls
        for rate in (metrics.failure_rate, metrics.slow_call_rate):
            assert rate == -1.0 or 0.0 <= rate <= 100.0
        if state is not OPEN:
            # Rates appear exactly when the window holds its minimum.
            below_minimum = buffered == 0 or buffered < window_minimum(config, state)
            assert (metrics.failure_rate == -1.0) == below_minimum
            assert (metrics.slow_call_rate == -1.0) == below_minimum
        if action in ("success", "error") and before is state:
            # Still where it was after a call: HALF_OPEN has not seen enough
            # trials yet, and CLOSED is below the minimum or below the thresholds.
            if state is HALF_OPEN:
                assert metrics.failure_rate == -1.0
            if state is CLOSED and metrics.failure_rate != -1.0:
                assert not at_threshold(
                    config, metrics.number_of_failed_calls, metrics.number_of_slow_calls, buffered
                )
        if action in ("success", "error") and before is not OPEN and state is OPEN:
            # It opened on this very call: the window had the minimum and a rate at threshold.
            assert buffered >= window_minimum(config, before)
            assert metrics.failure_rate >= config.failure_rate_threshold or (
                metrics.slow_call_rate >= config.slow_call_rate_threshold
            )
        if state is HALF_OPEN:
            assert permits_used <= permitted
            assert buffered <= permitted
        if state is CLOSED and config.sliding_window_type == "count":
            assert buffered <= config.sliding_window_size
        open_seconds = breaker.open_seconds()
        assert previous_open_seconds <= open_seconds <= clock.now()
        previous_open_seconds = open_seconds

    for transition in breaker.transitions:
        assert transition.from_state is not transition.to_state
        assert (transition.from_state, transition.to_state) != (CLOSED, HALF_OPEN)
    assert breaker.total_not_permitted_calls >= breaker.metrics.number_of_not_permitted_calls


def test_an_ignored_call_moves_neither_rate_and_gives_its_half_open_permit_back() -> None:
    breaker, _ = make_breaker(sliding_window_type="count", sliding_window_size=4)
    breaker.on_error(0.0)
    for _ in range(10):
        breaker.record(CallOutcome.IGNORED, 0.0)
    assert breaker.state is CLOSED
    assert_metrics(breaker, -1.0, 0, 1, 1, 0)
    open_then_half_open(breaker)
    assert all(breaker.try_acquire_permission() for _ in range(4))
    assert not breaker.try_acquire_permission()  # the four trial permits are out
    breaker.on_ignored()  # a 429 in the trial: its permit comes back
    assert breaker.try_acquire_permission()
    assert not breaker.try_acquire_permission()


def test_charge_outcome_ignores_a_429_and_fails_errors_and_unknowns() -> None:
    status = ops.ChargeStatus
    assert charge_outcome(ops.ChargeResult(status.CAPTURED, 1)) is CallOutcome.SUCCESS
    assert charge_outcome(ops.ChargeResult(status.DECLINED)) is CallOutcome.SUCCESS
    assert charge_outcome(ops.ChargeResult(status.THROTTLED)) is CallOutcome.IGNORED
    assert charge_outcome(ops.ChargeResult(status.ERROR)) is CallOutcome.FAILURE
    assert charge_outcome(ops.ChargeResult(status.UNKNOWN)) is CallOutcome.FAILURE


def test_a_burst_of_429s_never_opens_the_breaker_but_as_many_errors_do() -> None:
    """The evolution scenario's gateway breaker: 50% of the last 20 calls, at least 10."""
    breaker, _ = make_breaker(
        sliding_window_type="count", sliding_window_size=20, minimum_number_of_calls=10
    )
    throttled = ops.ChargeResult(ops.ChargeStatus.THROTTLED)
    for _ in range(10):
        breaker.record(charge_outcome(ops.ChargeResult(ops.ChargeStatus.CAPTURED, 1)), 0.3)
    for _ in range(50):
        breaker.record(charge_outcome(throttled), 0.01)
    assert breaker.state is CLOSED and breaker.metrics.failure_rate == 0.0
    for _ in range(10):
        breaker.record(charge_outcome(ops.ChargeResult(ops.ChargeStatus.ERROR)), 0.01)
    assert breaker.state is OPEN
