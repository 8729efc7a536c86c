"""The real body's runtime under gevent: a thread pool, cooperative waits, wake-ups.

Locust monkey-patches the process, so a greenlet that calls ``sqlite3`` would
freeze every other greenlet until SQLite returns. Database work therefore goes
to a pool of real threads (``gevent.threadpool.ThreadPool``), sized like the
model's inventory worker pool, and the calling greenlet waits cooperatively.
The threads use the *unpatched* ``threading.local`` and ``threading.Lock``,
because the patched ones are greenlet objects that do not work across threads.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Self, TypeVar

import gevent
import gevent.event
import gevent.pool
import gevent.threadpool
from gevent import monkey

from checkoutsim.load.affinity import Pinned, core_for
from checkoutsim.real.database import Threading
from checkoutsim.real.overload import StepTimes
from checkoutsim.real.timebase import WallTime
from checkoutsim.real.wait_lines import Ticket, WaitLines

if TYPE_CHECKING:
    from checkoutsim.scenario.settings import Settings

T = TypeVar("T")


def real_threading() -> Threading:
    """Thread-local storage and locks as they were before monkey-patching."""
    return Threading(
        local=monkey.get_original("threading", "local"),
        lock=monkey.get_original("threading", "Lock"),
    )


def real_sleep() -> Callable[[float], None]:
    """``time.sleep`` as it was before monkey-patching: it blocks the OS thread."""
    return monkey.get_original("time", "sleep")


class GeventRuntime:
    """``checkoutsim.real.runtime.Runtime`` over gevent's hub and a thread pool."""

    #: Threads of the general pool when a subclass needs a fixed number (else
    #: ``general_threads``).
    pool_threads: int | None = None

    def __init__(
        self,
        origin: float,
        time_scale: float,
        threads: int,
        general_threads: int = 32,
        core: int | None = None,
    ) -> None:
        # Pinned first, so that every thread the pools start inherits the core.
        self.pinned = Pinned(core) if core is not None else None
        self.threading = real_threading()
        self.time = WallTime(origin, time_scale, sleep=gevent.sleep, block=real_sleep())
        self.pool = gevent.threadpool.ThreadPool(max(1, self.pool_threads or general_threads))
        # The inventory service's workers: its calls queue here, first come first served.
        self.inventory_pool = gevent.threadpool.ThreadPool(max(1, threads))
        self.inventory_workers = max(1, threads)
        self._inventory_lock = self.threading.lock()
        self._inventory_busy = 0
        self._inventory_queued = 0
        #: Pool tasks that found every worker taken by calls made in place, each
        #: parked on a real lock held until a worker is handed to it, first first.
        self._inventory_parked: deque[Any] = deque()
        self.background = gevent.pool.Group()
        #: When (model seconds) the last work scheduled by ``later`` (a late
        #: capture) finished: money that moved after its saga ended.
        self.late_landed_s = float("-inf")
        self._hub = gevent.get_hub()
        self._waiters: dict[str, deque[gevent.event.Event]] = {}
        # Lock lines are touched only in the hub's thread (``notify`` from a pool
        # thread goes through the hub), so the guard never waits; it is a real lock.
        self.lines = WaitLines(gevent.event.Event, self.threading.lock())
        self._hub_thread = self._hub.thread_ident
        #: How late each timed step ended against its scaled budget (``real.overload``).
        self.steps = StepTimes()

    @classmethod
    def for_settings(
        cls,
        settings: Settings,
        origin: float | None = None,
        process: int | None = None,
        siblings: bool = False,
    ) -> Self:
        """A runtime with the scenario's time scale and pools, its clock starting at ``origin``.

        ``process`` is the index of a process that serves checkouts: with
        ``real.one_core_per_process`` its threads are kept on one core
        (``checkoutsim.load.affinity``). ``None`` (a master that only
        coordinates) leaves them where they are. ``siblings``: one of a run's
        workers (``affinity.core_for``).
        """
        core = None
        if process is not None and settings.real.one_core_per_process:
            core = core_for(process, siblings)
        return cls(
            time.time() if origin is None else origin,
            settings.real.time_scale,
            settings.inventory.workers,
            settings.real.service_threads,
            core,
        )

    def offload(self, function: Callable[..., T], *args: Any) -> T:
        """Run ``function`` in a pool thread; this greenlet yields until it returns.

        How long the work waited for a thread is recorded (``steps.record_handoff``):
        the model has no such pool, so on a host with cores to spare the wait is
        a thread's wake-up, and on a starved one it is the starvation.
        """
        handed = time.perf_counter()
        taken: list[float] = []

        def timed() -> T:
            taken.append(time.perf_counter())
            return function(*args)

        try:
            return self.pool.apply(timed)
        finally:
            if taken:
                self.steps.record_handoff(taken[0] - handed)

    def offload_inventory(self, function: Callable[..., T], *args: Any) -> T:
        """Queue one inventory call for the inventory service's pool (first come, first served)."""
        with self._inventory_lock:
            self._inventory_queued += 1
        return self.inventory_pool.apply(self._inventory_task, (function, args))

    def _inventory_task(self, function: Callable[..., T], args: tuple[Any, ...]) -> T:
        """A pool thread's call: it waits for a worker the calls made in place may hold.

        The pool has as many threads as the service has workers, but a call made
        in place (``claim_inventory_worker``) runs on a general thread: without
        this wait, a burst's first calls claimed every worker in place and the
        pool's idle threads then served as many more, twice the workers at once
        (8 store calls at once with 4 workers, traced at a grid point), where a
        database with N connections serves N.
        """
        parked = None
        with self._inventory_lock:
            self._inventory_queued -= 1
            if self._inventory_busy < self.inventory_workers:
                self._inventory_busy += 1
            else:
                parked = self.threading.lock()
                parked.acquire()
                self._inventory_parked.append(parked)
        if parked is not None:
            # Released by ``release_inventory_worker``, which hands its worker over.
            parked.acquire()
        try:
            return function(*args)
        finally:
            self.release_inventory_worker()

    def claim_inventory_worker(self) -> bool:
        """Take an idle inventory worker if one is free and nobody is queued for one."""
        with self._inventory_lock:
            if (
                self._inventory_queued
                or self._inventory_parked
                or self._inventory_busy >= self.inventory_workers
            ):
                return False
            self._inventory_busy += 1
            return True

    def release_inventory_worker(self) -> None:
        """Give a worker back, or straight to the first pool task parked for one."""
        with self._inventory_lock:
            if self._inventory_parked:
                handed = self._inventory_parked.popleft()
            else:
                self._inventory_busy -= 1
                return
        handed.release()

    def pause(self, seconds: float, wake: str | None = None) -> None:
        """Sleep ``seconds`` of model time, or until ``notify(wake)``."""
        if seconds <= 0:
            return
        if wake is None:
            # A step's budget: on a busy host the loop wakes late, and that lateness
            # is what tells an overloaded host from a slow design.
            budget = self.time.wall(seconds)
            started = time.perf_counter()
            gevent.sleep(budget)
            self.steps.record(budget, time.perf_counter() - started)
            return
        event = gevent.event.Event()
        queue = self._waiters.setdefault(wake, deque())
        queue.append(event)
        try:
            event.wait(self.time.wall(seconds))
        finally:
            if event in queue:
                queue.remove(event)

    def join_line(self, name: str) -> Ticket:
        """Take a place at the back of lock ``name``'s line."""
        return self.lines.join(name)

    def wait_in_line(self, ticket: Ticket, first_s: float, behind_s: float) -> bool:
        """Wait cooperatively: the front until its next look, the rest until woken.

        Only the front polls; the others wait ``behind_s`` (their deadline)
        unless a release in this process or their turn at the front wakes them,
        so a crowd of waiters does not flood the store with attempts. True if
        woken rather than timed out.
        """
        seconds = self.lines.seconds_for(ticket, first_s, behind_s)
        woken = ticket.event.is_set()
        if seconds > 0 and not woken:
            woken = ticket.event.wait(self.time.wall(seconds))
        # A wake-up is spent by the attempt that follows it.
        ticket.event.clear()
        return woken

    def leave_line(self, ticket: Ticket) -> None:
        """Leave the line; the next in line is woken to take over looking."""
        self.lines.leave(ticket)

    def _in_hub(self, function: Callable[..., Any], *args: Any) -> None:
        """Call ``function`` in the hub's thread: now if this is it, else on its loop.

        Greenlets, events and groups belong to the hub of the thread that made
        them; one made in a pool thread would sit on that thread's hub, which never runs.
        """
        if monkey.get_original("threading", "get_ident")() == self._hub_thread:
            function(*args)
        else:
            self._hub.loop.run_callback_threadsafe(function, *args)

    def notify(self, name: str) -> None:
        """Wake the first greenlet waiting on ``name``, from any thread."""
        self._in_hub(self._wake, name)

    def _wake(self, name: str) -> None:
        queue = self._waiters.get(name)
        if queue:
            queue.popleft().set()
        self.lines.wake_first(name)

    def later(self, seconds: float, function: Callable[[], Any]) -> None:
        """Run ``function`` in a pool thread after ``seconds`` of model time, from any thread.

        A gateway call runs in a pool thread, so its late capture's timer goes
        to the hub (``_in_hub``), or it would never fire.
        """
        self._in_hub(self._spawn_later, seconds, function)

    def _spawn_later(self, seconds: float, function: Callable[[], Any]) -> None:
        def landed() -> Any:
            try:
                return function()
            finally:
                self.late_landed_s = self.time.now()

        greenlet = gevent.spawn_later(self.time.wall(seconds), self.offload, landed)
        self.background.add(greenlet)

    def spawn(self, function: Callable[..., Any], *args: Any) -> gevent.Greenlet:
        """Start a background greenlet that ``drain`` waits for."""
        return self.background.spawn(function, *args)

    def drain(self, timeout_s: float) -> bool:
        """Wait for background work; True if all of it finished in time."""
        return self.background.join(timeout=timeout_s)

    def quiesce(self, timeout_s: float = 10.0) -> bool:
        """Wait until no thread is running a task, so the databases can be read and closed.

        Killing a greenlet that waits on a pool thread does not stop the thread:
        its task runs to the end, and may still write.
        """
        waiter = gevent.spawn(lambda: (self.pool.join(), self.inventory_pool.join()))
        waiter.join(timeout_s)
        finished = waiter.dead
        waiter.kill(block=False)
        return finished

    def close(self) -> None:
        """Stop background work and the thread pools; give back the cores it had."""
        self.background.kill(block=False)
        self.pool.kill()
        self.inventory_pool.kill()
        if self.pinned is not None:
            self.pinned.release()
            self.pinned = None
