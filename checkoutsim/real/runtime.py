"""How the real body waits and hands work to threads, injected from outside.

The executor runs database work through ``offload`` (a real thread), waits
through ``pause`` (cooperatively, in the caller), queues lock waiters in lines
(``join_line``, ``wait_in_line``, ``leave_line``: ``checkoutsim.real.wait_lines``),
wakes waiters through ``notify`` (callable from any thread), and lets the
gateway finish late work through ``later``. ``checkoutsim.load.runtime``
implements this over gevent's hub and thread pool; ``ThreadRuntime`` here
implements it over plain threads for tests and tools that do not run under
gevent.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from checkoutsim.real.database import Threading
from checkoutsim.real.timebase import ManualTime, RealTime
from checkoutsim.real.wait_lines import Ticket, WaitLines

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


@dataclass(frozen=True, slots=True)
class LockWait(Pause):
    """A lock attempt refused: wait in the line for lock ``wake``, then call ``resume``.

    The front of the line waits ``seconds`` (to the lease's expiry, the
    deadline or the next poll); a waiter behind it waits until ``deadline``
    (model time) unless a release or its turn at the front wakes it first.
    """

    deadline: float = 0.0
    #: When the caller first asked for the lock (model time), for its records.
    asked_s: float = 0.0


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

    def pause(self, seconds: float, wake: str | None = None) -> None:
        """Wait ``seconds`` of model time, or until ``notify(wake)``."""
        ...

    def join_line(self, name: str) -> Ticket:
        """Take a place at the back of lock ``name``'s line of waiters."""
        ...

    def wait_in_line(self, ticket: Ticket, first_s: float, behind_s: float) -> bool:
        """Wait ``first_s`` of model time at the front of the line, else ``behind_s``.

        A release (``notify``) wakes the front early, and a waiter that reaches
        the front is woken to take over looking. True if woken, not timed out.
        """
        ...

    def leave_line(self, ticket: Ticket) -> None:
        """Leave the line (granted, or out of time); the next in line is woken."""
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
        self.lines = WaitLines(threading.Event, threading.Lock())
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

    def pause(self, seconds: float, wake: str | None = None) -> None:
        """Sleep, or wait on an event that ``notify`` may set first."""
        if seconds <= 0:
            return
        if wake is None or self._manual:
            self.time.sleep(seconds)
            return
        event = threading.Event()
        with self._lock:
            self._waiters.setdefault(wake, deque()).append(event)
        event.wait(self.time.wall(seconds))
        with self._lock:
            queue = self._waiters.get(wake)
            if queue and event in queue:
                queue.remove(event)

    def join_line(self, name: str) -> Ticket:
        """Take a place at the back of lock ``name``'s line."""
        return self.lines.join(name)

    def wait_in_line(self, ticket: Ticket, first_s: float, behind_s: float) -> bool:
        """Sleep (manual clock) or wait on the ticket's event (wall clock); True if woken."""
        seconds = self.lines.seconds_for(ticket, first_s, behind_s)
        woken = ticket.event.is_set()
        if seconds > 0 and not woken:
            if self._manual:
                self.time.sleep(seconds)
            else:
                woken = ticket.event.wait(self.time.wall(seconds))
        # A wake-up is spent by the attempt that follows it.
        ticket.event.clear()
        return woken

    def leave_line(self, ticket: Ticket) -> None:
        """Leave the line; the next in line takes over looking."""
        self.lines.leave(ticket)

    def notify(self, name: str) -> None:
        """Wake the longest-waiting thread on ``name`` (first come, first served)."""
        with self._lock:
            queue = self._waiters.get(name)
            event = queue.popleft() if queue else None
        if event is not None:
            event.set()
        self.lines.wake_first(name)

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
