"""Bounded pools of workers in simulated time, cheaper than ``simpy.Resource``.

A database connection pool and a row lock (a pool of one) are the model's
busiest queues: a flash sale's hot row puts nearly every query in a line.
These pools cost as few events as the queueing allows.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import simpy
from simpy.events import NORMAL


class Handoff(simpy.Event):
    """The event a queued caller waits on: fired when handed a worker, or later.

    ``fire_after`` schedules it a service time from now, the way SimPy's own
    ``Timeout`` schedules itself, so a caller handed a worker with its service
    time known resumes once, when served, not once to start and once to finish.
    ``handed_at`` is when it got its (first) worker; ``holds`` is False when it
    was served without the worker it queued for (see ``wanted``).
    """

    __slots__ = ("handed_at", "holds")

    def fire_after(self, delay: float) -> None:
        """Trigger successfully, ``delay`` simulated seconds from now."""
        self._ok = True
        self._value = None
        self.env.schedule(self, NORMAL, delay)


#: Whether a queued caller still needs the worker it waits for (asked on hand-over).
Wanted = Callable[[], bool]


class WorkerPool:
    """A FIFO pool of ``capacity`` workers.

    A free worker is taken with no event at all; only a caller that has to queue
    waits on an event, handed the worker directly by the one releasing it. A
    caller that says how long it will hold the worker (``service_s``) is, when
    queued, woken only when its service is over: one event instead of two. A
    caller that needs a second pool too (``then``: a write needs a connection,
    then its row) is queued there on its behalf when handed the first, and
    still woken once. A caller with ``wanted`` is asked, when a worker of
    ``then`` (or of this pool) would be handed to it, whether it still needs
    one: a conditional UPDATE whose condition the row no longer meets matches
    nothing and fails without taking the row, so the row goes to the next.
    """

    __slots__ = ("_env", "busy", "capacity", "waiting")

    def __init__(self, env: simpy.Environment, capacity: int) -> None:
        self._env = env
        self.capacity = capacity
        self.busy = 0
        #: The callers in line, first first (read by the engine's fast path).
        self.waiting: deque[tuple[Handoff, float | None, WorkerPool | None, Wanted | None]] = (
            deque()
        )

    def acquire(
        self,
        service_s: float | None = None,
        then: WorkerPool | None = None,
        wanted: Wanted | None = None,
        first: bool = False,
    ) -> Handoff | None:
        """Take a worker: None if one was free, else an event to wait on.

        Without ``service_s`` the event fires when the worker is handed over;
        with it, ``service_s`` after that, the service done; with ``then`` too,
        ``service_s`` after a worker of ``then`` is handed over as well. The
        caller holds what it was given (``holds``) until it calls ``release``
        on each. A caller that gets a worker at once (None) asks ``then`` itself.
        ``first``: queued ahead of every caller already in line (a request the
        server already holds, finishing, before requests not yet started).
        """
        if self.busy < self.capacity:
            self.busy += 1
            return None
        event = Handoff(self._env)
        event.handed_at = None
        event.holds = True
        if first:
            self.waiting.appendleft((event, service_s, then, wanted))
        else:
            self.waiting.append((event, service_s, then, wanted))
        return event

    def release(self) -> None:
        """Give the worker back, or straight to the first caller in the queue that needs it."""
        waiting = self.waiting
        while waiting:
            event, service_s, then, wanted = waiting.popleft()
            if event.handed_at is None:
                event.handed_at = self._env.now
            if then is not None:
                then._take_for(event, service_s, wanted)
                return
            if wanted is not None and not wanted():
                _serve_without(event, service_s)
                continue
            _serve(event, service_s)
            return
        self.busy -= 1

    def _take_for(self, event: Handoff, service_s: float | None, wanted: Wanted | None) -> None:
        """Acquire for a caller already waiting on ``event`` (see ``then``)."""
        if wanted is not None and not wanted():
            _serve_without(event, service_s)
        elif self.busy < self.capacity:
            self.busy += 1
            _serve(event, service_s)
        else:
            self.waiting.append((event, service_s, None, wanted))

    @property
    def queued(self) -> int:
        """How many callers wait for a worker."""
        return len(self.waiting)


def _serve(event: Handoff, service_s: float | None) -> None:
    """Hand over now, or wake the caller when its service is over."""
    if service_s is None:
        event.succeed()
    else:
        event.fire_after(service_s)


def _serve_without(event: Handoff, service_s: float | None) -> None:
    """The caller no longer needs the worker: it finishes without it."""
    event.holds = False
    _serve(event, service_s)
