"""Time for the real implementation: model seconds on a compressed wall clock.

Every timestamp the real body stores is in *model* seconds since the run's
origin, so its frames line up with the model's. The scenario's injected delays
(gateway latency, time-outs, TTLs, back-offs) are model seconds too: ``WallTime``
sleeps them for ``seconds * time_scale`` of wall time. Database work is real and
never scaled; a store round trip, when injected, is wall seconds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol


class RealTime(Protocol):
    """The clock and sleeper the real body is given (never the wall clock directly)."""

    def now(self) -> float:
        """Model seconds since the run's origin."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of model time, cooperatively (the caller's greenlet yields)."""
        ...

    def block(self, wall_seconds: float) -> None:
        """Hold the calling OS thread for ``wall_seconds`` (a remote round trip)."""
        ...

    def wall(self, seconds: float) -> float:
        """Wall seconds that ``seconds`` of model time take."""
        ...


class WallTime:
    """Model time derived from ``time.time()``, shared by every process of a run.

    ``time.time()`` rather than a monotonic clock because several processes (a
    Locust master and its workers, or a server) must agree on one origin.
    """

    def __init__(
        self,
        origin: float,
        time_scale: float,
        sleep: Callable[[float], None] = time.sleep,
        block: Callable[[float], None] = time.sleep,
    ) -> None:
        if time_scale <= 0:
            raise ValueError(f"time_scale must be positive, got {time_scale}")
        self.origin = origin
        self.time_scale = time_scale
        self._sleep = sleep
        self._block = block

    def now(self) -> float:
        """Model seconds since the origin (negative before it)."""
        return (time.time() - self.origin) / self.time_scale

    def sleep(self, seconds: float) -> None:
        """Sleep ``seconds`` of model time with the injected (cooperative) sleeper."""
        if seconds > 0:
            self._sleep(seconds * self.time_scale)

    def block(self, wall_seconds: float) -> None:
        """Block this OS thread with the injected (unpatched) sleep."""
        if wall_seconds > 0:
            self._block(wall_seconds)

    def wall(self, seconds: float) -> float:
        """Wall seconds for ``seconds`` of model time."""
        return seconds * self.time_scale


class ManualTime:
    """A clock that moves only when slept on: deterministic tests, no real waiting.

    ``sleep`` advances the clock by the model seconds asked for; ``block``
    advances it by the wall seconds converted at ``time_scale``.
    """

    def __init__(self, start: float = 0.0, time_scale: float = 1.0) -> None:
        self._now = start
        self.time_scale = time_scale
        self._lock = threading.Lock()
        self.slept: list[float] = []

    def now(self) -> float:
        """The manual model time."""
        return self._now

    def sleep(self, seconds: float) -> None:
        """Advance the clock by ``seconds`` and remember the sleep."""
        with self._lock:
            self.slept.append(seconds)
            if seconds > 0:
                self._now += seconds

    def block(self, wall_seconds: float) -> None:
        """Advance the clock by the model equivalent of ``wall_seconds``."""
        with self._lock:
            if wall_seconds > 0:
                self._now += wall_seconds / self.time_scale

    def advance(self, seconds: float) -> None:
        """Move time forward without recording a sleep."""
        with self._lock:
            self._now += seconds

    def wall(self, seconds: float) -> float:
        """Wall seconds for ``seconds`` of model time."""
        return seconds * self.time_scale
