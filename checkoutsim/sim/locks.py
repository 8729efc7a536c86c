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

import simpy

from checkoutsim.policy.inventory import LONG_LOCK_WAIT_S


@dataclass(slots=True)
class Waiter:
    """A request queued for a lock."""

    event: simpy.Event
    ttl_s: float
    asked_at: float
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
        waiter = Waiter(self.env.event(), ttl_s, now)
        lock.waiters.append(waiter)
        # One plain timed callback, not a condition event: contention is where
        # event counts explode, so waiting costs a single event per waiter.
        self.env.timeout(wait_s).callbacks.append(lambda _: self._give_up(waiter))
        self._watch_expiry(lock)
        return waiter.event

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
        lock.granted_at = self.env.now
        lock.expires_at = self.env.now + ttl_s
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
        """Schedule one check at the current lease's expiry (once per lease)."""
        token = lock.token
        if lock.watching == token or math.isinf(lock.expires_at):
            return
        lock.watching = token
        delay = max(0.0, lock.expires_at - self.env.now)
        self.env.timeout(delay).callbacks.append(lambda _: self._on_expiry(lock, token))

    def _on_expiry(self, lock: LockState, token: int | None) -> None:
        # The lease lapsed while its holder still runs: as far as the lock
        # service knows the lock is free, so the next waiter gets it.
        if lock.token == token and lock.expires_at <= self.env.now:
            self._lapse(lock)
            self._hand_over(lock)
