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
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import gevent.lock

from checkoutsim.load.runtime import GeventRuntime

T = TypeVar("T")


class GreenletRuntime(GeventRuntime):
    """``GeventRuntime`` whose offloaded work runs in place, in the calling greenlet."""

    #: Nothing is offloaded, so one pool thread is plenty.
    pool_threads = 1

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._slots = gevent.lock.Semaphore(self.inventory_workers)
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
