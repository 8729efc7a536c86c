"""The breaker's sliding windows: running tallies of outcomes, by count or by second.

A count window keeps the last N outcomes; a time window keeps one bucket per
whole second of the last N seconds, rolled exactly as resilience4j rolls its
ring. Both keep running totals, so reading a rate costs nothing.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BreakerMetrics:
    """A snapshot of the current state's window; rates are percent, or -1.0 below the minimum."""

    failure_rate: float
    slow_call_rate: float
    number_of_buffered_calls: int
    number_of_failed_calls: int
    number_of_slow_calls: int
    number_of_slow_successful_calls: int
    number_of_slow_failed_calls: int
    number_of_successful_calls: int
    number_of_not_permitted_calls: int


@dataclass(slots=True)
class Tally:
    """Running counts of a window or of one bucket."""

    calls: int = 0
    failed: int = 0
    slow: int = 0
    slow_failed: int = 0

    def add(self, failed: bool, slow: bool, weight: int = 1) -> None:
        """Count one outcome in (weight 1) or out (weight -1)."""
        self.calls += weight
        self.failed += weight * failed
        self.slow += weight * slow
        self.slow_failed += weight * (failed and slow)

    def remove(self, other: Tally) -> None:
        """Subtract a whole bucket that leaves the window."""
        self.calls -= other.calls
        self.failed -= other.failed
        self.slow -= other.slow
        self.slow_failed -= other.slow_failed


class CountWindow:
    """The last ``size`` outcomes, with running totals so a read costs nothing."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._outcomes: deque[tuple[bool, bool]] = deque()
        self._total = Tally()

    def record(self, failed: bool, slow: bool, now: float) -> Tally:
        """Add an outcome, pushing out the oldest once full; return the totals."""
        if len(self._outcomes) == self._size:
            oldest_failed, oldest_slow = self._outcomes.popleft()
            self._total.add(oldest_failed, oldest_slow, weight=-1)
        self._outcomes.append((failed, slow))
        self._total.add(failed, slow)
        return self._total

    def totals(self, now: float) -> Tally:
        """Totals over the window (time plays no part)."""
        return self._total


class TimeWindow:
    """One bucket per whole second of the last ``size`` seconds of clock time."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._buckets: deque[tuple[int, Tally]] = deque()
        self._total = Tally()

    def _expire(self, second: int) -> None:
        # A bucket is in the window while its second is one of the last `size`
        # seconds, counting the current one, exactly as resilience4j rolls its ring.
        while self._buckets and self._buckets[0][0] <= second - self._size:
            _, bucket = self._buckets.popleft()
            self._total.remove(bucket)

    def record(self, failed: bool, slow: bool, now: float) -> Tally:
        """Add an outcome to the current second's bucket; return the totals."""
        second = math.floor(now)
        self._expire(second)
        # Clocks never go back; if a stale reading ever did, the newest bucket
        # takes it rather than breaking the buckets' order.
        if not self._buckets or self._buckets[-1][0] < second:
            self._buckets.append((second, Tally()))
        self._buckets[-1][1].add(failed, slow)
        self._total.add(failed, slow)
        return self._total

    def totals(self, now: float) -> Tally:
        """Totals over the buckets still inside the window at ``now``."""
        self._expire(math.floor(now))
        return self._total


class Recorder:
    """A window, the minimum number of calls it needs, and its refusals."""

    def __init__(self, window: CountWindow | TimeWindow, minimum_number_of_calls: int) -> None:
        self.window = window
        self.minimum_number_of_calls = minimum_number_of_calls
        self.not_permitted_calls = 0

    def rates(self, totals: Tally) -> tuple[float, float]:
        """Failure and slow-call rates in percent, both -1.0 below the minimum."""
        if totals.calls == 0 or totals.calls < self.minimum_number_of_calls:
            return -1.0, -1.0
        return totals.failed * 100.0 / totals.calls, totals.slow * 100.0 / totals.calls

    def snapshot(self, now: float) -> BreakerMetrics:
        """Freeze the window's current numbers."""
        totals = self.window.totals(now)
        failure_rate, slow_call_rate = self.rates(totals)
        return BreakerMetrics(
            failure_rate=failure_rate,
            slow_call_rate=slow_call_rate,
            number_of_buffered_calls=totals.calls,
            number_of_failed_calls=totals.failed,
            number_of_slow_calls=totals.slow,
            number_of_slow_successful_calls=totals.slow - totals.slow_failed,
            number_of_slow_failed_calls=totals.slow_failed,
            number_of_successful_calls=totals.calls - totals.failed,
            number_of_not_permitted_calls=self.not_permitted_calls,
        )
