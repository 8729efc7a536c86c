"""Circuit breakers for the real body: the policy core's breaker on a shared clock.

The state machine is ``checkoutsim.policy.breaker.CircuitBreaker``, built from
the scenario by the same ``make_breaker`` the model uses. Here its clock is the
run's ``RealTime``: wall time since the run's origin, divided by the scenario's
``real.time_scale``, so its windows and waits are model seconds on a compressed
wall clock, as every other injected delay is. One breaker serves every thread
of a process (gevent's pool runs the calls), so each method holds a lock: the
unpatched kind, since the callers are real threads.

A breaker lives in one process, as a resilience4j breaker lives in one JVM;
several service processes each keep their own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from checkoutsim.policy import ops
from checkoutsim.policy.breaker import (
    BreakerMetrics,
    BreakerState,
    CallOutcome,
    CircuitBreaker,
)
from checkoutsim.real.runtime import Pause
from checkoutsim.real.timebase import RealTime
from checkoutsim.scenario.settings import Breaker
from checkoutsim.world.faults import make_breaker

REFUSED = ops.ChargeResult(ops.ChargeStatus.REFUSED)


class SharedBreaker:
    """A ``CircuitBreaker`` that many threads may call at once."""

    def __init__(self, breaker: CircuitBreaker, time: RealTime, lock: Any) -> None:
        self._breaker = breaker
        self._time = time
        self._lock = lock

    @property
    def state(self) -> BreakerState:
        """The breaker's current state."""
        with self._lock:
            return self._breaker.state

    @property
    def metrics(self) -> BreakerMetrics:
        """A snapshot of the current state's window."""
        with self._lock:
            return self._breaker.metrics

    def try_acquire_permission(self) -> bool:
        """Ask to make a call; False means refuse it (the breaker counts the refusal)."""
        with self._lock:
            return self._breaker.try_acquire_permission()

    def on_success(self, duration_s: float) -> None:
        """Record a call that succeeded after ``duration_s`` model seconds."""
        with self._lock:
            self._breaker.on_success(max(0.0, duration_s))

    def on_error(self, duration_s: float) -> None:
        """Record a call that failed after ``duration_s`` model seconds."""
        with self._lock:
            self._breaker.on_error(max(0.0, duration_s))

    def record(self, outcome: CallOutcome, duration_s: float) -> None:
        """Record a finished call by its outcome (an ignored one moves neither rate)."""
        with self._lock:
            self._breaker.record(outcome, max(0.0, duration_s))

    def open_seconds(self) -> float:
        """Model seconds spent OPEN, a spell still open counted up to the last call."""
        with self._lock:
            return self._breaker.open_seconds_while_asked()

    def rejections(self) -> int:
        """Calls refused over the breaker's life."""
        with self._lock:
            return self._breaker.total_not_permitted_calls

    def transitions(self) -> int:
        """How many times the state changed."""
        with self._lock:
            return self._breaker.transition_count

    def measured(self, call: Callable[[], Any], judge: Callable[[Any], CallOutcome]) -> Any:
        """Make a permitted call and record its outcome; returns its answer (maybe a ``Pause``).

        The duration runs from now until the final answer, following ``Pause``
        resumptions (a hung gateway is a pause, then an unknown outcome), as the
        model measures a call from its start to its answer. An exception is a
        failure; ``judge`` says how an answer counts.
        """
        started = self._time.now()
        try:
            value = call()
        except Exception:
            self.on_error(self._time.now() - started)
            raise
        return self._follow(value, started, judge)

    def _follow(self, value: Any, started: float, judge: Callable[[Any], CallOutcome]) -> Any:
        if isinstance(value, Pause):
            resume = value.resume

            def resumed() -> Any:
                try:
                    answer = resume()
                except Exception:
                    self.on_error(self._time.now() - started)
                    raise
                return self._follow(answer, started, judge)

            # The same kind of pause (a lock wait stays one), resuming through here.
            return replace(value, resume=resumed)
        self.record(judge(value), self._time.now() - started)
        return value


def shared_breaker(settings: Breaker, time: RealTime, lock: Any) -> SharedBreaker | None:
    """The scenario's breaker on the run's clock, or None when it is off."""
    breaker = make_breaker(settings, time)
    return SharedBreaker(breaker, time, lock) if breaker is not None else None


def inventory_judged(result: Any) -> CallOutcome:
    """An inventory call failed when the service did not do it (down)."""
    return CallOutcome.FAILURE if result is ops.UNAVAILABLE else CallOutcome.SUCCESS
