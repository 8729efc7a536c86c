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
    ``handed_at`` is when it got the worker.
    """

    __slots__ = ("handed_at",)

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
    queued, woken only when its service is over: one event instead of two. A
    caller that needs a second pool too (``then``: a write needs a connection,
    then its row) is queued there on its behalf when handed the first, and
    still woken once.
    """

    __slots__ = ("_env", "_waiting", "busy", "capacity")

    def __init__(self, env: simpy.Environment, capacity: int) -> None:
        self._env = env
        self.capacity = capacity
        self.busy = 0
        self._waiting: deque[tuple[Handoff, float | None, WorkerPool | None]] = deque()

    def acquire(
        self, service_s: float | None = None, then: WorkerPool | None = None
    ) -> Handoff | None:
        """Take a worker: None if one was free, else an event to wait on.

        Without ``service_s`` the event fires when the worker is handed over;
        with it, ``service_s`` after that, the service done; with ``then`` too,
        ``service_s`` after a worker of ``then`` is handed over as well. The
        caller holds what it was given until it calls ``release`` on each.
        A caller that gets a worker at once (None) asks ``then`` itself.
        """
        if self.busy < self.capacity:
            self.busy += 1
            return None
        event = Handoff(self._env)
        self._waiting.append((event, service_s, then))
        return event

    def release(self) -> None:
        """Give the worker back, or straight to the first caller in the queue."""
        if not self._waiting:
            self.busy -= 1
            return
        event, service_s, then = self._waiting.popleft()
        event.handed_at = self._env.now
        if then is not None:
            then._take_for(event, service_s)
        elif service_s is None:
            event.succeed()
        else:
            event.fire_after(service_s)

    def _take_for(self, event: Handoff, service_s: float | None) -> None:
        """Acquire for a caller already waiting on ``event`` (see ``then``)."""
        if self.busy < self.capacity:
            self.busy += 1
            if service_s is None:
                event.succeed()
            else:
                event.fire_after(service_s)
        else:
            self._waiting.append((event, service_s, None))

    @property
    def queued(self) -> int:
        """How many callers wait for a worker."""
        return len(self._waiting)
