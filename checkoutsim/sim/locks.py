"""Named leases with TTLs and fencing tokens, in simulated time.

``SET key token NX PX ttl`` semantics: a lock is free, held, or held by a lease
that has lapsed. Waiters queue FIFO and are handed the lock on release or when
the holder's lease lapses (the holder may still be running: that is how two
holders happen). A waiter handed the lock still pays its own attempt (one
query, charged by the engine) before its hold is counted: a real client, told
the lock is free, has to set the key itself. Tokens grow with every grant, so
the store can fence stale writers.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from heapq import heappush

import simpy
from simpy.events import NORMAL

from checkoutsim.policy.inventory import LONG_LOCK_WAIT_S


def reserve_slot(env: simpy.Environment, when: float) -> Slot:
    """The place in SimPy's event order a timer made now for ``when`` would take.

    SimPy orders events by time, then priority, then a serial number taken
    when each is scheduled. A timer armed later, in this slot (``fire_in``),
    fires exactly where one made now would have, even among others due at the
    very same instant; a slot never armed costs nothing.
    """
    return when, next(env._eid)  # type: ignore[attr-defined]


def fire_in(env: simpy.Environment, slot: Slot) -> simpy.Event:
    """A timer event in a slot reserved earlier (see ``reserve_slot``)."""
    event = simpy.Event(env)
    event._ok = True
    event._value = None
    when, serial = slot
    heappush(env._queue, (when, NORMAL, serial, event))  # type: ignore[attr-defined]
    return event


#: (simulated time, SimPy serial number) of a timer (see ``reserve_slot``).
Slot = tuple[float, int]


@dataclass(slots=True)
class Waiter:
    """A request queued for a lock."""

    event: simpy.Event
    ttl_s: float
    asked_at: float
    #: When (and where in SimPy's order) the waiter gives up if not served by then.
    gives_up: Slot
    done: bool = False


@dataclass(slots=True)
class LockState:
    """One named lease: its token, its expiry, and who waits for it."""

    name: str
    token: int | None = None
    expires_at: float = 0.0
    granted_at: float = 0.0
    watching: int | None = None
    waiters: deque[Waiter] = field(default_factory=deque)
    #: The waiters whose give-up the lock's one give-up timer checks, in
    #: give-up order (see ``LockTable._wait_in_line``).
    giving_up: deque[Waiter] = field(default_factory=deque)
    #: (when, token) of the expiry checks behind the lock's one expiry timer.
    expiry_checks: deque[tuple[Slot, int | None]] = field(default_factory=deque)


@dataclass(slots=True)
class LockStats:
    """What the lock table saw, for the metrics."""

    grants: int = 0
    expirations: int = 0
    timeouts: int = 0
    hold_s: float = 0.0
    holds: int = 0
    long_waits: int = 0  # waits of a second or more: a transaction blocked behind a holder


class LockTable:
    """All named locks of one run."""

    def __init__(
        self, env: simpy.Environment, on_grant: Callable[[str, int], None] | None = None
    ) -> None:
        self.env = env
        #: Told of each grant (name, token): the store raises its fence with it.
        self._on_grant = on_grant
        self.stats = LockStats()
        self._locks: dict[str, LockState] = {}
        self._next_token = 0

    def try_acquire(self, name: str, ttl_s: float, wait_s: float) -> int | simpy.Event | None:
        """Grant now (a token), queue (an event that yields a token or None), or refuse."""
        lock = self._locks.get(name)
        if lock is None:
            lock = self._locks[name] = LockState(name)
        now = self.env.now
        if lock.token is None or lock.expires_at <= now:
            if lock.token is not None:
                self._lapse(lock)
            return self._grant(lock, ttl_s)
        if wait_s <= 0:
            self.stats.timeouts += 1
            return None
        waiter = Waiter(self.env.event(), ttl_s, now, reserve_slot(self.env, now + wait_s))
        lock.waiters.append(waiter)
        self._wait_in_line(lock, waiter, wait_s)
        self._watch_expiry(lock)
        return waiter.event

    def _wait_in_line(self, lock: LockState, waiter: Waiter, wait_s: float) -> None:
        """Arrange for ``waiter`` to give up ``wait_s`` from now unless served first.

        Most waiters are served long before they would give up, and a timer
        each would still fire once per waiter. Waiters usually ask with one
        ``wait_s``, so they give up in the order they queued: one timer per
        lock serves the line, armed for the first waiter still waiting and
        re-armed for the next, each in the slot its own timer would have had,
        so nothing else moves. One that would give up before the waiter ahead
        of it gets a timer of its own.
        """
        line = lock.giving_up
        if line and line[-1].gives_up > waiter.gives_up:
            fire_in(self.env, waiter.gives_up).callbacks.append(lambda _: self._give_up(waiter))
            return
        line.append(waiter)
        if len(line) == 1:
            self._arm_give_up(lock, waiter.gives_up)

    def _arm_give_up(self, lock: LockState, slot: Slot) -> None:
        fire_in(self.env, slot).callbacks.append(lambda _: self._give_up_due(lock))

    def _give_up_due(self, lock: LockState) -> None:
        """The give-up timer: the first waiter in line gives up; re-arm for the next."""
        line = lock.giving_up
        self._give_up(line.popleft())
        # A waiter already served would only have met a timer that did nothing.
        while line and line[0].done:
            line.popleft()
        if line:
            self._arm_give_up(lock, line[0].gives_up)

    def release(self, name: str, token: int) -> None:
        """Compare-and-delete: only the current token frees the lock."""
        lock = self._locks.get(name)
        if lock is not None and lock.token == token:
            self._end_hold(lock)
            lock.token = None
            self._hand_over(lock)

    def hold_from_now(self, name: str, token: int) -> None:
        """A waiter handed the lock has made its own attempt: count its hold from now.

        The lock was kept for it since the release (nobody barges in), but a
        real grant is stamped when the waiter's attempt commits, so the holds
        of both bodies measure the same stretch.
        """
        lock = self._locks.get(name)
        if lock is not None and lock.token == token:
            lock.granted_at = self.env.now

    def _grant(self, lock: LockState, ttl_s: float) -> int:
        self._next_token += 1
        lock.token = self._next_token
        now = self.env.now
        lock.granted_at = now
        lock.expires_at = now + ttl_s
        self.stats.grants += 1
        if self._on_grant is not None:
            self._on_grant(lock.name, self._next_token)
        return self._next_token

    def _end_hold(self, lock: LockState) -> None:
        self.stats.hold_s += min(self.env.now, lock.expires_at) - lock.granted_at
        self.stats.holds += 1

    def _lapse(self, lock: LockState) -> None:
        """The lease ran out while its holder still ran (a pause)."""
        self._end_hold(lock)
        self.stats.expirations += 1
        lock.token = None

    def _give_up(self, waiter: Waiter) -> None:
        if not waiter.done:
            waiter.done = True
            self.stats.timeouts += 1
            self.stats.long_waits += self.env.now - waiter.asked_at >= LONG_LOCK_WAIT_S
            waiter.event.succeed(None)

    def _hand_over(self, lock: LockState) -> None:
        """Give a free lock to the first waiter still waiting."""
        while lock.waiters:
            waiter = lock.waiters.popleft()
            if waiter.done:
                continue
            waiter.done = True
            self.stats.long_waits += self.env.now - waiter.asked_at >= LONG_LOCK_WAIT_S
            waiter.event.succeed(self._grant(lock, waiter.ttl_s))
            if lock.waiters:
                self._watch_expiry(lock)
            return

    def _watch_expiry(self, lock: LockState) -> None:
        """Check at the current lease's expiry whether it lapsed (once per lease).

        Nearly every lease is released long before it expires, and its check
        then finds nothing. The checks wait in one line per lock behind one
        timer, in the slots their own timers would have had: when it fires,
        the first check is made, the checks of leases that ended since are
        dropped, and it is re-armed for the next, so a lock costs about one
        timer per TTL rather than one per lease, and nothing else moves.
        """
        token = lock.token
        if lock.watching == token or math.isinf(lock.expires_at):
            return
        lock.watching = token
        now = self.env.now
        slot = reserve_slot(self.env, now + max(0.0, lock.expires_at - now))
        checks = lock.expiry_checks
        if checks and checks[-1][0] > slot:
            # Due before a check already in line (a shorter TTL): a timer of its own.
            fire_in(self.env, slot).callbacks.append(lambda _: self._on_expiry(lock, token))
            return
        checks.append((slot, token))
        if len(checks) == 1:
            self._arm_expiry(lock, slot)

    def _arm_expiry(self, lock: LockState, slot: Slot) -> None:
        fire_in(self.env, slot).callbacks.append(lambda _: self._expiry_check_due(lock))

    def _expiry_check_due(self, lock: LockState) -> None:
        """The expiry timer: make the first check in line; re-arm for the next."""
        checks = lock.expiry_checks
        _, token = checks[0]
        self._on_expiry(lock, token)
        checks.popleft()
        # A check of a lease already ended can never find it lapsed: drop it
        # (tokens only grow, so an ended lease never holds the lock again).
        while checks and checks[0][1] != lock.token:
            checks.popleft()
        if checks:
            self._arm_expiry(lock, checks[0][0])

    def _on_expiry(self, lock: LockState, token: int | None) -> None:
        # The lease lapsed while its holder still runs: as far as the lock
        # service knows the lock is free, so the next waiter gets it.
        if lock.token == token and lock.expires_at <= self.env.now:
            self._lapse(lock)
            self._hand_over(lock)
