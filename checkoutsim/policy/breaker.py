"""A circuit breaker with resilience4j's semantics, driven by an injected clock.

No timer and no wall clock: every decision happens inside a call, at the time
the injected clock reports, so SimPy and the real service drive the same machine.

Semantics, as resilience4j's ``CircuitBreakerStateMachine``:

- CLOSED records outcomes in a sliding window: ``"count"`` keeps the last N
  outcomes; ``"time"`` keeps one bucket per whole second of the last N seconds.
  No rate exists (both read -1) until the window holds the minimum number of
  calls: ``min(minimum_number_of_calls, sliding_window_size)`` for a count
  window, ``minimum_number_of_calls`` itself for a time window (a time window can
  hold more calls than its size). It opens when the failure rate or the slow-call
  rate reaches its threshold (``>=``).
- A call is slow when its duration is strictly longer than
  ``slow_call_duration_threshold_s``, whether it succeeded or failed; a slow
  failure counts in both rates.
- OPEN refuses every call (counting each refusal) until the clock is strictly
  past ``opened_at + wait_duration_in_open_state_s``; the first request after
  that moves it to HALF_OPEN and is granted. Calls that were already running
  when it opened are still recorded in the window that opened it, which stays
  readable through ``metrics``.
- HALF_OPEN grants ``permitted_number_of_calls_in_half_open_state`` permits and
  refuses the rest. Trial outcomes go to a fresh count window of that size, and
  it decides as soon as ``min(minimum_number_of_calls, permitted)`` trials have
  been recorded (with the defaults: all of them): OPEN again if either rate is at
  or above its threshold, CLOSED otherwise.
- Entering CLOSED or HALF_OPEN starts a fresh window; entering OPEN keeps the
  window that tripped it. CLOSED -> HALF_OPEN is not a legal transition.
- An ignored outcome (resilience4j's ``ignoreExceptions``) is recorded in
  neither rate and gives its half-open permit back: a gateway's 429 (the
  account's rate limit) says the caller is too fast, not that the gateway is
  sick, so ``charge_outcome`` ignores it. Counted as a failure, a burst of
  429s opened the breaker for its whole wait, and the throttle became an outage.

For the simulation's metrics the breaker also keeps the total time spent OPEN
(``open_seconds``), a cumulative refusal count (``total_not_permitted_calls``;
resilience4j's own per-state counter resets with each new window) and a log of
state changes (``transitions``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Literal

from checkoutsim.policy.breaker_window import (
    BreakerMetrics,
    CountWindow,
    Recorder,
    Tally,
    TimeWindow,
)
from checkoutsim.policy.ops import ChargeResult, ChargeStatus

if TYPE_CHECKING:
    from checkoutsim.policy.clock import Clock

SlidingWindowType = Literal["count", "time"]


class BreakerState(Enum):
    """The states of the breaker (resilience4j's DISABLED, FORCED_OPEN and so on are left out)."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CallOutcome(Enum):
    """How a finished call counts for the breaker."""

    SUCCESS = "success"
    FAILURE = "failure"
    #: Neither: the answer says nothing about the callee's health (resilience4j's ignored).
    IGNORED = "ignored"


#: A state as a timeline records it: 0 closed (or no breaker), 1 half-open, 2 open.
TIMELINE_CODES = {BreakerState.CLOSED: 0, BreakerState.HALF_OPEN: 1, BreakerState.OPEN: 2}


class IllegalStateTransitionError(RuntimeError):
    """A transition resilience4j forbids (CLOSED -> HALF_OPEN)."""


def _require(condition: bool, name: str, value: object, expectation: str) -> None:
    """Raise a ValueError naming the field and its value unless ``condition`` holds."""
    if not condition:
        raise ValueError(f"{name} must be {expectation}, got {value!r}")


@dataclass(frozen=True, slots=True)
class BreakerConfig:
    """Breaker settings, named after resilience4j's and with its defaults (seconds, percent)."""

    failure_rate_threshold: float = 50.0
    slow_call_rate_threshold: float = 100.0
    slow_call_duration_threshold_s: float = 60.0
    sliding_window_type: SlidingWindowType = "count"
    sliding_window_size: int = 100
    minimum_number_of_calls: int = 100
    wait_duration_in_open_state_s: float = 60.0
    permitted_number_of_calls_in_half_open_state: int = 10

    def __post_init__(self) -> None:
        """Reject values resilience4j's builder rejects."""
        for name in ("failure_rate_threshold", "slow_call_rate_threshold"):
            value = getattr(self, name)
            _require(0 < value <= 100, name, value, "in (0, 100]")
        for name in ("slow_call_duration_threshold_s", "wait_duration_in_open_state_s"):
            value = getattr(self, name)
            _require(value > 0, name, value, "> 0")
        _require(
            self.sliding_window_type in ("count", "time"),
            "sliding_window_type",
            self.sliding_window_type,
            "'count' or 'time'",
        )
        for name in (
            "sliding_window_size",
            "minimum_number_of_calls",
            "permitted_number_of_calls_in_half_open_state",
        ):
            value = getattr(self, name)
            # A bool is an int to Python, but not a count.
            is_count = isinstance(value, int) and not isinstance(value, bool)
            _require(is_count and value >= 1, name, value, "an int >= 1")


@dataclass(frozen=True, slots=True)
class BreakerTransition:
    """One change of state, at clock time ``at``."""

    at: float
    from_state: BreakerState
    to_state: BreakerState


class _Verdict(Enum):
    """What a window says after an outcome is recorded."""

    BELOW_MINIMUM = "below_minimum"
    BELOW_THRESHOLDS = "below_thresholds"
    ABOVE_THRESHOLDS = "above_thresholds"


class CircuitBreaker:
    """resilience4j's circuit-breaker state machine over an injected clock.

    Typical use: ``if breaker.try_acquire_permission():`` make the call, then
    ``on_success(duration_s)`` or ``on_error(duration_s)``; if a permitted call
    is abandoned before it is made, ``release_permission()``.
    """

    def __init__(self, config: BreakerConfig, clock: Clock) -> None:
        self._config = config
        self._clock = clock
        self._state = BreakerState.CLOSED
        self._recorder = self._closed_recorder()
        self._half_open_permits_left = 0
        self._open_until: float | None = None
        self._opened_at: float | None = None
        self._finished_open_seconds = 0.0
        self._last_asked_at: float | None = None
        self._total_not_permitted_calls = 0
        self._transitions: list[BreakerTransition] = []

    @property
    def config(self) -> BreakerConfig:
        """The settings this breaker runs with."""
        return self._config

    @property
    def state(self) -> BreakerState:
        """The current state; reading it never moves OPEN to HALF_OPEN."""
        return self._state

    @property
    def metrics(self) -> BreakerMetrics:
        """A snapshot of the current state's window (the tripping window while OPEN)."""
        return self._recorder.snapshot(self._clock.now())

    @property
    def open_until(self) -> float | None:
        """While OPEN, the time after which the next request is let through; else None."""
        return self._open_until if self._state is BreakerState.OPEN else None

    @property
    def total_not_permitted_calls(self) -> int:
        """Refusals over the breaker's whole life, across every state and window."""
        return self._total_not_permitted_calls

    @property
    def transitions(self) -> tuple[BreakerTransition, ...]:
        """Every change of state so far, oldest first (same-state resets not included)."""
        return tuple(self._transitions)

    @property
    def transition_count(self) -> int:
        """How many times the state changed."""
        return len(self._transitions)

    def open_seconds(self, now: float | None = None) -> float:
        """Total time spent OPEN up to ``now`` (the clock's time when omitted).

        Includes the current OPEN spell, so the simulation can read it at the end
        of a run without closing the breaker first.
        """
        if now is None:
            now = self._clock.now()
        total = self._finished_open_seconds
        if self._state is BreakerState.OPEN and self._opened_at is not None:
            total += max(0.0, now - self._opened_at)
        return total

    def open_seconds_while_asked(self) -> float:
        """Total time spent OPEN, a spell still open counted up to the last call asked about.

        Once nobody asks, an open breaker refuses no one: the time after the last
        call would only measure how late the run was read, which for a load test
        depends on how long its drain took.
        """
        if self._state is BreakerState.OPEN and self._last_asked_at is not None:
            return self.open_seconds(self._last_asked_at)
        return self.open_seconds()

    def try_acquire_permission(self) -> bool:
        """Ask to make a call; False means it must not be made (and is counted as refused)."""
        self._last_asked_at = self._clock.now()
        if self._state is BreakerState.CLOSED:
            return True
        if self._state is BreakerState.OPEN:
            assert self._open_until is not None
            # resilience4j lets the first request after the wait through and
            # turns half-open on the spot: there is no timer thread to do it.
            if self._clock.now() > self._open_until:
                self.transition_to_half_open_state()
            else:
                self._refuse()
                return False
        if self._half_open_permits_left > 0:
            self._half_open_permits_left -= 1
            return True
        self._refuse()
        return False

    def release_permission(self) -> None:
        """Give back a permit whose call was never made (only HALF_OPEN rations permits)."""
        if self._state is BreakerState.HALF_OPEN:
            # Capped, unlike resilience4j, so that a stray release cannot mint an
            # extra trial call.
            self._half_open_permits_left = min(
                self._half_open_permits_left + 1,
                self._config.permitted_number_of_calls_in_half_open_state,
            )

    def on_success(self, duration_s: float) -> None:
        """Record a call that succeeded after ``duration_s`` seconds."""
        self._record(failed=False, duration_s=duration_s)

    def on_error(self, duration_s: float) -> None:
        """Record a call that failed after ``duration_s`` seconds."""
        self._record(failed=True, duration_s=duration_s)

    def on_ignored(self) -> None:
        """A call whose answer says nothing about the callee's health: not recorded.

        As resilience4j treats an ignored exception: neither rate moves, and a
        half-open permit is given back, so the trial still gets its calls.
        """
        self._last_asked_at = self._clock.now()
        self.release_permission()

    def record(self, outcome: CallOutcome, duration_s: float) -> None:
        """Record a finished call: ``on_success``, ``on_error`` or ``on_ignored`` by outcome."""
        if outcome is CallOutcome.SUCCESS:
            self.on_success(duration_s)
        elif outcome is CallOutcome.FAILURE:
            self.on_error(duration_s)
        else:
            self.on_ignored()

    def transition_to_open_state(self) -> None:
        """Open now, keeping the current window readable; restarts the wait if already OPEN."""
        now = self._clock.now()
        self._open_until = now + self._config.wait_duration_in_open_state_s
        self._move_to(BreakerState.OPEN, now)

    def transition_to_half_open_state(self) -> None:
        """Start a fresh trial of ``permitted_number_of_calls_in_half_open_state`` calls."""
        if self._state is BreakerState.CLOSED:
            raise IllegalStateTransitionError("illegal state transition from CLOSED to HALF_OPEN")
        permitted = self._config.permitted_number_of_calls_in_half_open_state
        minimum = min(self._config.minimum_number_of_calls, permitted)
        self._recorder = Recorder(CountWindow(permitted), minimum)
        self._half_open_permits_left = permitted
        self._move_to(BreakerState.HALF_OPEN, self._clock.now())

    def transition_to_closed_state(self) -> None:
        """Close with a fresh window."""
        self._recorder = self._closed_recorder()
        self._move_to(BreakerState.CLOSED, self._clock.now())

    def _closed_recorder(self) -> Recorder:
        size = self._config.sliding_window_size
        minimum = self._config.minimum_number_of_calls
        if self._config.sliding_window_type == "time":
            return Recorder(TimeWindow(size), minimum)
        # A count window can never hold more than its size, so a larger minimum
        # would keep it from ever deciding; resilience4j clamps it the same way.
        return Recorder(CountWindow(size), min(minimum, size))

    def _refuse(self) -> None:
        self._recorder.not_permitted_calls += 1
        self._total_not_permitted_calls += 1

    def _record(self, failed: bool, duration_s: float) -> None:
        if not duration_s >= 0:
            raise ValueError(f"duration_s must be >= 0, got {duration_s!r}")
        now = self._clock.now()
        self._last_asked_at = now
        slow = duration_s > self._config.slow_call_duration_threshold_s
        totals = self._recorder.window.record(failed, slow, now)
        if self._state is BreakerState.OPEN:
            # A call that was already running when the breaker opened: counted in
            # the window that is on show, but OPEN only ends by waiting.
            return
        verdict = self._verdict(totals)
        if verdict is _Verdict.ABOVE_THRESHOLDS:
            self.transition_to_open_state()
        elif verdict is _Verdict.BELOW_THRESHOLDS and self._state is BreakerState.HALF_OPEN:
            self.transition_to_closed_state()

    def _verdict(self, totals: Tally) -> _Verdict:
        failure_rate, slow_call_rate = self._recorder.rates(totals)
        if failure_rate < 0:
            return _Verdict.BELOW_MINIMUM
        if (
            failure_rate >= self._config.failure_rate_threshold
            or slow_call_rate >= self._config.slow_call_rate_threshold
        ):
            return _Verdict.ABOVE_THRESHOLDS
        return _Verdict.BELOW_THRESHOLDS

    def _move_to(self, new_state: BreakerState, now: float) -> None:
        old_state = self._state
        if old_state is BreakerState.OPEN and new_state is not BreakerState.OPEN:
            assert self._opened_at is not None
            self._finished_open_seconds += max(0.0, now - self._opened_at)
            self._opened_at = None
        if new_state is BreakerState.OPEN and old_state is not BreakerState.OPEN:
            self._opened_at = now
        self._state = new_state
        # Same-state resets (OPEN -> OPEN restarting the wait) are not state
        # changes; resilience4j does not publish them either.
        if new_state is not old_state:
            self._transitions.append(BreakerTransition(now, old_state, new_state))


def charge_outcome(result: ChargeResult) -> CallOutcome:
    """How a gateway's answer to a charge counts for the breaker in front of it (both bodies).

    A capture or a decline is the gateway working; a 429 (``THROTTLED``: the
    account's rate limit) is the gateway working and the caller too fast, so it
    is ignored; anything else (an error, an unknown outcome) is a failure.
    """
    if result.status in (ChargeStatus.CAPTURED, ChargeStatus.DECLINED):
        return CallOutcome.SUCCESS
    if result.status is ChargeStatus.THROTTLED:
        return CallOutcome.IGNORED
    return CallOutcome.FAILURE
