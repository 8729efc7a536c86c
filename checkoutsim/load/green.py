"""A runtime for server stores: database calls stay in the calling greenlet.

SQLite's calls block the OS thread, so ``GeventRuntime`` sends them to real
threads. psycopg's and redis-py's sockets are different: under Locust's
monkey-patching they are cooperative (psycopg 3 detects gevent and waits with a
patched selector), so a query's round trip yields to the hub and other
greenlets run meanwhile. Running them in the greenlet is chosen deliberately:

- the races are still real: every round trip is a yield point, and the
  concurrency between transactions happens in the server, not in Python;
- it saves the thread pool's hand-off (about 170 us a call here) on every call;
- psycopg_pool's and redis-py's pools guard themselves with ``threading``
  primitives, which monkey-patching turns into greenlet primitives that must
  not be shared between OS threads: in greenlets they are used as intended.

The inventory service keeps its bounded pool of workers, as a semaphore.

A PostgreSQL connection waits for its socket with ``socket_wait``
(``GreenWaits``, which also gives its free list a gevent semaphore): a watcher
per direction, made once per connection and hub, on which the greenlet waits
with one switch to the hub and back, where psycopg's default under gevent
(``select.poll``, which gevent emulates) builds a poll object, a watcher and a
timer on every wait.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import gevent.lock
from gevent.hub import get_hub

from checkoutsim.load.runtime import GeventRuntime

T = TypeVar("T")


class GreenletRuntime(GeventRuntime):
    """``GeventRuntime`` whose offloaded work runs in place, in the calling greenlet."""

    #: Nothing is offloaded, so one pool thread is plenty.
    pool_threads = 1

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._slots = gevent.lock.Semaphore(self.inventory_workers)
        #: How a PostgreSQL store's connections wait (``PostgresDatabase``'s ``waits``).
        self.database_waits = GreenWaits()
        #: Greenlets queued for an inventory worker (a claim must not jump them).
        self._queued = 0

    def offload(self, function: Callable[..., T], *args: Any) -> T:
        """Call ``function`` here: its socket waits yield to other greenlets."""
        return function(*args)

    def offload_inventory(self, function: Callable[..., T], *args: Any) -> T:
        """Wait for one of the inventory service's workers, first come first served."""
        self._queued += 1
        try:
            self._slots.acquire()
        finally:
            self._queued -= 1
        try:
            return function(*args)
        finally:
            self._slots.release()

    def claim_inventory_worker(self) -> bool:
        """Take an idle worker if one is free and nobody is queued for one."""
        return self._queued == 0 and self._slots.acquire(blocking=False)

    def release_inventory_worker(self) -> None:
        """Give a worker back."""
        self._slots.release()


def socket_wait(generator: Any, fileno: int, watchers: dict[Any, Any]) -> Any:
    """Run one of psycopg's generators to its end, waiting cooperatively for its socket.

    The generator yields what it waits for (psycopg's ``Wait``: 1 read, 2
    write, 3 either), which are libev's event bits too, and is sent back what
    is ready (psycopg's ``Ready``, the same bits). A wait for either is
    answered "both": the generator then reads and flushes without blocking, so
    a direction that was not ready costs nothing. ``watchers`` keeps one
    watcher per direction and hub, for the connection's life.
    """
    hub = get_hub()
    try:
        waited = next(generator)
        while True:
            key = (hub, waited)
            watcher = watchers.get(key)
            if watcher is None:
                watcher = watchers[key] = hub.loop.io(fileno, int(waited))
            hub.wait(watcher)
            waited = generator.send(int(waited))
    except StopIteration as stop:
        return stop.value


class GreenWaits:
    """``pg_connections.Waits`` for greenlets: the hub's watchers, gevent's lock."""

    @staticmethod
    def socket_wait(generator: Any, fileno: int, watchers: dict[Any, Any]) -> Any:
        """Drive a psycopg generator, waiting for ``fileno`` on this thread's hub."""
        return socket_wait(generator, fileno, watchers)

    @staticmethod
    def semaphore(count: int) -> gevent.lock.Semaphore:
        """gevent's semaphore (in C): a free list's waits cost one switch each."""
        return gevent.lock.Semaphore(count)
