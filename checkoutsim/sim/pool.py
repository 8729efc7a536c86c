"""Bounded pools of workers in simulated time, cheaper than ``simpy.Resource``.

A database connection pool and a row lock (a pool of one) are the model's
busiest queues: a flash sale's hot row puts nearly every query in a line.
These pools cost as few events as the queueing allows.
"""

from __future__ import annotations

from collections import deque

import simpy
from simpy.events import NORMAL


class Handoff(simpy.Event):
    """The event a queued caller waits on: fired when handed a worker, or later.

    ``fire_after`` schedules it a service time from now, the way SimPy's own
    ``Timeout`` schedules itself, so a caller handed a worker with its service
    time known resumes once, when served, not once to start and once to finish.
    """

    __slots__ = ()

    def fire_after(self, delay: float) -> None:
        """Trigger successfully, ``delay`` simulated seconds from now."""
        self._ok = True
        self._value = None
        self.env.schedule(self, NORMAL, delay)


class WorkerPool:
    """A FIFO pool of ``capacity`` workers.

    A free worker is taken with no event at all; only a caller that has to queue
    waits on an event, handed the worker directly by the one releasing it. A
    caller that says how long it will hold the worker (``service_s``) is, when
    queued, woken only when its service is over: one event instead of two.
    """

    __slots__ = ("_env", "_waiting", "busy", "capacity")

    def __init__(self, env: simpy.Environment, capacity: int) -> None:
        self._env = env
        self.capacity = capacity
        self.busy = 0
        self._waiting: deque[tuple[Handoff, float | None]] = deque()

    def acquire(self, service_s: float | None = None) -> simpy.Event | None:
        """Take a worker: None if one was free, else an event to wait on.

        Without ``service_s`` the event fires when the worker is handed over;
        with it, ``service_s`` after that, the service done. Either way the
        caller holds the worker until it calls ``release``.
        """
        if self.busy < self.capacity:
            self.busy += 1
            return None
        event = Handoff(self._env)
        self._waiting.append((event, service_s))
        return event

    def release(self) -> None:
        """Give the worker back, or straight to the first caller in the queue."""
        if self._waiting:
            event, service_s = self._waiting.popleft()
            if service_s is None:
                event.succeed()
            else:
                event.fire_after(service_s)
        else:
            self.busy -= 1

    @property
    def queued(self) -> int:
        """How many callers wait for a worker."""
        return len(self._waiting)
