"""The fault schedule in simulated time: outages, brown-outs, rate limits, breakers.

Everything here answers questions about *now* (is the gateway down, how much
slower is the inventory, may this request pass the rate limit); the engine
decides what a caller experiences.
"""

from __future__ import annotations

from dataclasses import dataclass

from checkoutsim.policy.breaker import BreakerConfig, CircuitBreaker
from checkoutsim.policy.clock import Clock
from checkoutsim.scenario.settings import Breaker, Faults, Outage


class FaultSchedule:
    """Outage and brown-out windows by service, looked up by time."""

    def __init__(self, faults: Faults) -> None:
        self._outages: dict[str, list[Outage]] = {}
        for outage in faults.outages:
            self._outages.setdefault(outage.service, []).append(outage)
        self._brownouts: dict[str, list[tuple[float, float, float]]] = {}
        for brownout in faults.brownouts:
            self._brownouts.setdefault(brownout.service, []).append(
                (brownout.start_s, brownout.end_s, brownout.latency_factor)
            )

    def outage(self, service: str, now: float) -> Outage | None:
        """The outage window ``service`` is in at ``now``, if any."""
        for outage in self._outages.get(service, ()):
            if outage.start_s <= now < outage.end_s:
                return outage
        return None

    def has_outages(self, service: str) -> bool:
        """Whether ``service`` has any outage window at all (a fast path)."""
        return service in self._outages

    def latency_factor(self, service: str, now: float) -> float:
        """How much slower ``service`` is at ``now`` (1.0 outside brown-outs)."""
        factor = 1.0
        for start, end, multiplier in self._brownouts.get(service, ()):
            if start <= now < end:
                factor *= multiplier
        return factor

    def windows(self) -> list[tuple[str, float, float]]:
        """Every outage and brown-out as ``(service, start_s, end_s)``, for reports."""
        spans = [(o.service, o.start_s, o.end_s) for group in self._outages.values() for o in group]
        spans += [
            (service, start, end)
            for service, group in self._brownouts.items()
            for start, end, _ in group
        ]
        return sorted(spans, key=lambda span: span[1])


class CoordinatorCrashes:
    """Which transactions a coordinator crash stalls, and for how long (both bodies ask).

    Coordinator ``intent_id % coordinators == 0`` is the one that crashes. A
    transaction that begins while it is down is taken by a live one; one it
    had already begun waits at its next step, holding what it holds, until it
    is back. With a single coordinator (one service) there is no live one to
    take a new transaction: it waits for the crashed one too.
    """

    def __init__(self, schedule: FaultSchedule, coordinators: int) -> None:
        self._schedule = schedule
        self._coordinators = coordinators
        #: Transactions a live coordinator took over: that crash never stalls them.
        self._rerouted: set[int] = set()

    def stall_s(self, intent_id: int, begin: bool, now: float) -> float:
        """Seconds the transaction waits at this step (0: it goes on at once)."""
        outage = self._schedule.outage("coordinator", now)
        if outage is None or intent_id % self._coordinators != 0:
            return 0.0
        if begin and self._coordinators > 1:
            self._rerouted.add(intent_id)
            return 0.0
        if intent_id in self._rerouted:
            return 0.0
        return outage.end_s - now


@dataclass(slots=True)
class TokenBucket:
    """A token bucket: ``rate_per_s`` tokens a second, at most ``burst`` saved up."""

    rate_per_s: float
    burst: float
    tokens: float
    updated_at: float = 0.0

    def take(self, now: float) -> bool:
        """Take one token if there is one (refilling for the time since the last call)."""
        self.tokens = min(self.burst, self.tokens + (now - self.updated_at) * self.rate_per_s)
        self.updated_at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class RateLimiter:
    """The gateway's per-account rate limit; payments spread over accounts by intent."""

    def __init__(self, faults: Faults) -> None:
        self.enabled = faults.gateway_rate_limit_per_s > 0
        self._buckets = [
            TokenBucket(
                faults.gateway_rate_limit_per_s,
                faults.gateway_rate_limit_burst,
                faults.gateway_rate_limit_burst,
            )
            for _ in range(faults.gateway_accounts)
        ]
        self.limited = 0

    def allow(self, intent_id: int, now: float) -> bool:
        """Whether this intent's account may make a call now; counts the 429s."""
        if not self.enabled:
            return True
        allowed = self._buckets[intent_id % len(self._buckets)].take(now)
        if not allowed:
            self.limited += 1
        return allowed


def make_breaker(settings: Breaker, clock: Clock) -> CircuitBreaker | None:
    """A circuit breaker from scenario settings, or None when it is off."""
    if not settings.enabled:
        return None
    return CircuitBreaker(
        BreakerConfig(
            failure_rate_threshold=settings.failure_rate_threshold,
            slow_call_rate_threshold=settings.slow_call_rate_threshold,
            slow_call_duration_threshold_s=settings.slow_call_duration_threshold_s,
            sliding_window_type=settings.sliding_window_type,
            sliding_window_size=settings.sliding_window_size,
            minimum_number_of_calls=settings.minimum_number_of_calls,
            wait_duration_in_open_state_s=settings.wait_duration_in_open_state_s,
            permitted_number_of_calls_in_half_open_state=(
                settings.permitted_number_of_calls_in_half_open_state
            ),
        ),
        clock,
    )
