"""The clock of the SimPy body: simulated time read from the environment."""

from __future__ import annotations

import simpy


class SimClock:
    """Simulated time of a SimPy environment."""

    def __init__(self, env: simpy.Environment) -> None:
        self._env = env

    def now(self) -> float:
        """Return the environment's simulated time."""
        return float(self._env.now)
