"""The server's own work on each request, one place at a time (``[server] acceptors``).

As the model's door (``sim/shoppers.py``): a request holds one of ``acceptors``
places for ``accept_s`` before its work, in line first come first served, and
for ``respond_s`` at its answer, ahead of every request still in that line. A
semaphore cannot put a waiter at the front, so this is a small hand-off line:
each waiter parks on a lock of its own, released by the request that hands it
the place. ``threading`` is looked up when a lock is made, so under Locust's
gevent patching a waiting request suspends only its greenlet.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Any


class Door:
    """``places`` requests worked on at once; the rest wait in line, some at its front."""

    def __init__(self, places: int, sleep: Callable[[float], None]) -> None:
        self._guard = threading.Lock()
        self._free = places
        self._line: deque[Any] = deque()
        self._sleep = sleep

    def hold(self, seconds: float, first: bool = False) -> None:
        """Take a place (``first``: ahead of the line), hold it ``seconds``, hand it on."""
        if seconds <= 0:
            return
        parked = None
        with self._guard:
            if self._free > 0 and not self._line:
                self._free -= 1
            else:
                parked = threading.Lock()
                parked.acquire()
                if first:
                    self._line.appendleft(parked)
                else:
                    self._line.append(parked)
        if parked is not None:
            self._wait(parked)
        try:
            self._sleep(seconds)
        finally:
            self._hand_on()

    def _wait(self, parked: Any) -> None:
        """Wait in line until handed a place; a waiter killed in line gives up its turn."""
        try:
            parked.acquire()  # released by the request that hands this one its place
        except BaseException:
            # Killed while waiting (a greenlet killed at shutdown): still in line,
            # it leaves; already handed a place, it hands the place on.
            with self._guard:
                waiting = parked in self._line
                if waiting:
                    self._line.remove(parked)
            if not waiting:
                self._hand_on()
            raise

    def _hand_on(self) -> None:
        with self._guard:
            if not self._line:
                self._free += 1
                return
            handed = self._line.popleft()
        handed.release()
