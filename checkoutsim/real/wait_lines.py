"""Lines of lock waiters, first come, first served, one per lock name.

The model (``checkoutsim.sim.locks``) queues a lock's waiters in order and
hands the lock to the first of them on release or when the lease lapses. The
real body's leases (in the database or in Redis) hand nothing over, so its
waiters ask again, but in the same order: only the front of a line looks again
on its own (at the lease's expiry, or on a poll for releases made by other
processes); the others sleep until a release in this process or the departure
of the waiter before them moves them to the front, or until their deadline. A
crowd of waiters thus costs one attempt per hand-over, not one each per lease.

The runtimes (``checkoutsim.real.runtime``, ``checkoutsim.load.runtime``) keep
one ``WaitLines`` each, with their own kind of event.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol


class Event(Protocol):
    """What a line needs of an event: ``threading.Event`` and gevent's both fit."""

    def set(self) -> None:
        """Wake the waiter."""
        ...

    def is_set(self) -> bool:
        """Was the waiter woken and not yet cleared?"""
        ...

    def clear(self) -> None:
        """Forget an earlier wake-up."""
        ...

    def wait(self, timeout: float | None = None) -> bool:
        """Sleep until set or ``timeout`` wall seconds pass."""
        ...


@dataclass(eq=False, slots=True)
class Ticket:
    """One waiter's place in the line for lock ``name``."""

    name: str
    event: Event


class WaitLines:
    """First-come, first-served lines of waiters, one per lock name."""

    def __init__(self, new_event: Callable[[], Event], guard: AbstractContextManager[Any]) -> None:
        self._new_event = new_event
        # Waiters join and leave from greenlets or threads; a release may wake from any thread.
        self._guard = guard
        self._lines: dict[str, deque[Ticket]] = {}

    def join(self, name: str) -> Ticket:
        """Take a place at the back of ``name``'s line."""
        ticket = Ticket(name, self._new_event())
        with self._guard:
            self._lines.setdefault(name, deque()).append(ticket)
        return ticket

    def is_first(self, ticket: Ticket) -> bool:
        """Is ``ticket`` at the front of its line?"""
        with self._guard:
            line = self._lines.get(ticket.name)
            return bool(line) and line[0] is ticket

    def seconds_for(self, ticket: Ticket, first_s: float, behind_s: float) -> float:
        """How long ``ticket`` sleeps now: the front looks again soonest, the rest wait."""
        return first_s if self.is_first(ticket) else behind_s

    def leave(self, ticket: Ticket) -> None:
        """Leave the line; if ``ticket`` was at the front, wake the next to take over."""
        successor = None
        with self._guard:
            line = self._lines.get(ticket.name)
            if line is None or ticket not in line:
                return
            if line[0] is ticket:
                line.popleft()
                successor = line[0] if line else None
            else:
                line.remove(ticket)
            if not line:
                del self._lines[ticket.name]
        if successor is not None:
            successor.event.set()

    def wake_first(self, name: str) -> bool:
        """Wake the front of ``name``'s line (a release); True if anyone waits."""
        with self._guard:
            line = self._lines.get(name)
            first = line[0] if line else None
        if first is None:
            return False
        first.event.set()
        return True

    def waiting(self, name: str) -> int:
        """How many wait in ``name``'s line."""
        with self._guard:
            return len(self._lines.get(name, ()))
