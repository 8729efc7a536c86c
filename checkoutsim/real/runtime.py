"""How the real body waits and hands work to threads, injected from outside.

The executor runs database work through ``offload`` (a real thread), waits
through ``pause`` (cooperatively, in the caller), wakes lock waiters through
``notify`` (callable from any thread), and lets the gateway finish late work
through ``later``. ``checkoutsim.load.runtime`` implements this over gevent's
hub and thread pool; ``ThreadRuntime`` here implements it over plain threads for
tests and tools that do not run under gevent.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from checkoutsim.real.database import Threading
from checkoutsim.real.timebase import ManualTime, RealTime

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Pause:
    """A handler's request: wait ``seconds`` of model time, then call ``resume``.

    ``wake`` names a lock whose release ends the wait early. ``resume`` runs in
    a worker thread and returns the operation's result or another ``Pause``.
    """

    seconds: float
    resume: Callable[[], Any]
    wake: str | None = None
    #: ``resume`` is a call to the inventory service (it queued for its turn).
    inventory: bool = False
    #: How long a waiter that is not first in line for ``wake`` waits: only the
    #: first polls, the others wait to be woken (or for their own deadline).
    patience: float | None = None


def after(seconds: float, resume: Callable[[], Any]) -> Any:
    """``Pause`` for a positive delay, else the result of ``resume`` right away."""
    if seconds > 0:
        return Pause(seconds, resume)
    return resume()


class Runtime(Protocol):
    """Threads, waits and wake-ups, as the body's host provides them."""

    time: RealTime
    threading: Threading

    def offload(self, function: Callable[..., T], *args: Any) -> T:
        """Run blocking work in a real thread and return its result."""
        ...

    def offload_inventory(self, function: Callable[..., T], *args: Any) -> T:
        """Run one inventory-service call on that service's own pool of threads."""
        ...

    def claim_inventory_worker(self) -> bool:
        """Take an idle inventory worker for a call made in place (any thread).

        True only when a worker is free *and* no call is queued: then running
        the call here is what the pool would have done at once. Pair with
        ``release_inventory_worker``.
        """
        ...

    def release_inventory_worker(self) -> None:
        """Give back a worker taken by ``claim_inventory_worker``."""
        ...

    def pause(self, seconds: float, wake: str | None = None, patience: float | None = None) -> None:
        """Wait ``seconds`` of model time, or until ``notify(wake)``.

        A waiter behind others on ``wake`` waits ``patience`` instead, if given.
        """
        ...

    def notify(self, name: str) -> None:
        """Wake the first waiter on ``name``; safe to call from any thread."""
        ...

    def later(self, seconds: float, function: Callable[[], Any]) -> None:
        """Run blocking ``function`` after ``seconds`` of model time, in the background."""
        ...


class ThreadRuntime:
    """A runtime for plain threads: work runs in the calling thread.

    With a ``ManualTime`` nothing really waits: pauses advance the clock and
    ``later`` work is queued until ``run_due``. With a wall clock, waits are
    real ``threading.Event`` waits and ``later`` uses timers.
    """

    def __init__(self, time: RealTime, threads: Threading | None = None) -> None:
        self.time = time
        self.threading = threads or Threading()
        self._manual = isinstance(time, ManualTime)
        self._lock = threading.Lock()
        self._waiters: dict[str, deque[threading.Event]] = {}
        self._pending: list[tuple[float, Callable[[], Any]]] = []
        self._timers: list[threading.Timer] = []

    def offload(self, function: Callable[..., T], *args: Any) -> T:
        """Call ``function`` in this thread (the caller already is a real thread)."""
        return function(*args)

    def offload_inventory(self, function: Callable[..., T], *args: Any) -> T:
        """Call ``function`` in this thread too."""
        return function(*args)

    def claim_inventory_worker(self) -> bool:
        """Plain threads have no inventory pool: calls always run in place."""
        return True

    def release_inventory_worker(self) -> None:
        """Nothing to give back."""

    def pause(self, seconds: float, wake: str | None = None, patience: float | None = None) -> None:
        """Sleep, or wait on an event that ``notify`` may set first."""
        if seconds <= 0:
            return
        if wake is None or self._manual:
            self.time.sleep(seconds)
            return
        event = threading.Event()
        with self._lock:
            queue = self._waiters.setdefault(wake, deque())
            if queue and patience is not None:
                seconds = patience
            queue.append(event)
        event.wait(self.time.wall(seconds))
        with self._lock:
            queue = self._waiters.get(wake)
            if queue and event in queue:
                queue.remove(event)

    def notify(self, name: str) -> None:
        """Wake the longest-waiting thread on ``name`` (first come, first served)."""
        with self._lock:
            queue = self._waiters.get(name)
            event = queue.popleft() if queue else None
        if event is not None:
            event.set()

    def later(self, seconds: float, function: Callable[[], Any]) -> None:
        """Queue (manual clock) or time (wall clock) background work."""
        if self._manual:
            with self._lock:
                self._pending.append((self.time.now() + seconds, function))
            return
        timer = threading.Timer(self.time.wall(seconds), function)
        timer.daemon = True
        with self._lock:
            self._timers.append(timer)
        timer.start()

    def run_due(self) -> int:
        """Run queued background work whose time has come; how many ran."""
        now = self.time.now()
        with self._lock:
            due = [item for item in self._pending if item[0] <= now]
            self._pending = [item for item in self._pending if item[0] > now]
        for _, function in sorted(due, key=lambda item: item[0]):
            function()
        return len(due)

    def drain(self, timeout_s: float = 10.0) -> None:
        """Wait for background timers (wall clock) to finish."""
        with self._lock:
            timers, self._timers = self._timers, []
        for timer in timers:
            timer.join(timeout_s)
