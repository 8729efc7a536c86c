"""Clocks the policy core can be given: the core never reads the wall clock itself.

A clock is any object with ``now() -> float`` (seconds). The simulation passes a
``SimClock`` over its SimPy environment, tests pass a ``ManualClock``; the real
implementation brings its own monotonic clock.
"""

from __future__ import annotations

from typing import Protocol


class Clock(Protocol):
    """Anything that can tell the time in seconds."""

    def now(self) -> float:
        """Return the current time in seconds."""
        ...


class ManualClock:
    """A clock that only moves when told to; for deterministic tests."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start

    def now(self) -> float:
        """Return the current manual time."""
        return self._now

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds`` (never backwards)."""
        if seconds < 0:
            raise ValueError(f"cannot move a clock backwards by {seconds}")
        self._now += seconds

    def set(self, when: float) -> None:
        """Jump to absolute time ``when``, which must not be in the past."""
        if when < self._now:
            raise ValueError(f"cannot move a clock back from {self._now} to {when}")
        self._now = when
