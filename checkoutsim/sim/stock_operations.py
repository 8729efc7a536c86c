"""The inventory operations as the model applies them to the shop.

The engine charges each inventory query its cost (a pooled worker, the SKU's
row lock for a conditional write, the drawn latency); what the query then does
to the stock is here: the test whether a conditional write still matches its
row, and the write itself. The named leases the lock-based strategies take
live here too, since each grant raises the row's fence in the shop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import simpy

from checkoutsim.policy import ops
from checkoutsim.policy.inventory import locked_sku
from checkoutsim.sim.local_transaction import LocalTransactions
from checkoutsim.sim.locks import LockTable
from checkoutsim.sim.state import Shop

#: An inventory operation's row test (None: it takes no row lock) and its effect.
Operation = tuple[Callable[[Any], bool] | None, Callable[[Any], Any]]


def _always(_operation: Any) -> bool:
    """A locking read (``SELECT ... FOR UPDATE``) always finds its row, and so locks it."""
    return True


class StockOperations:
    """Applies inventory operations to one shop, and keeps its named locks."""

    def __init__(self, env: simpy.Environment, shop: Shop) -> None:
        self._env = env
        self._shop = shop
        self.locks = LockTable(env, on_grant=self.lock_granted)
        #: The SKU each lock name guards (None: not a row's lock), parsed once a name.
        self._locked_skus: dict[str, int | None] = {}

    def table(self, local: LocalTransactions) -> dict[type, Operation]:
        """Each inventory operation's row test and effect, by operation type."""
        return {
            ops.ReadStock: (None, self.read_stock),
            # The absolute write-back (``SET available = ?``) likewise holds its
            # row only while the server executes it: its round trip is outside
            # the row, as outside SQLite's writer lock in the real body. Holding
            # the row for the whole cost queued naive's writes behind each other:
            # flash-sale p50 136.6 ms against the real body's 7.8 ms.
            ops.WriteStock: (None, self.write_stock),
            ops.CompareAndSetStock: (self.version_matches, self.compare_and_set),
            ops.DecrementIfAvailable: (self.enough_left, self.decrement),
            ops.ReleaseReservation: (None, self.release_reservation),
            ops.ExpireReservation: (None, self.expire_reservation),
            ops.AcquireLock: (None, self.acquire_lock),
            ops.ReleaseLock: (None, self.release_lock),
            # A relative decrement or give-back (``SET available = available - q``,
            # ``DECRBY``/``INCRBY``) holds its row only while the server executes
            # it, which is short against the round trip its cost mostly is, and
            # such updates commute: they queue for a worker, not for the row.
            # Holding the row for the whole cost kept decrement_then_check's row
            # negative behind queued give-backs: 110 false sold-outs against 0 and
            # 13 in the real body, whose round trip is outside SQLite's writer lock.
            ops.DecrementStock: (None, self.relative_decrement),
            ops.DecrementThenCheck: (None, self.decrement_then_check),
            ops.GiveBack: (None, self.give_back),
            ops.ReserveForUpdate: (_always, self.decrement),
            ops.DecrementBucket: (self.bucket_has_enough, self.decrement_bucket),
            ops.ReserveWithOrder: (local.enough_left, local.reserve_with_order),
        }

    # A conditional UPDATE whose WHERE the row's committed state already fails
    # (a stale version, too little stock) matches no row and so takes no row
    # lock, as in PostgreSQL: it fails at the cost of a query, without waiting
    # behind the row's writers. One whose WHERE holds queues for the row and
    # is judged again once it has it (``apply``).

    def version_matches(self, op: ops.CompareAndSetStock) -> bool:
        """Whether a compare-and-set still matches its row (its expected version)."""
        return self._shop.version[op.sku] == op.expected_version

    def enough_left(self, op: ops.DecrementIfAvailable) -> bool:
        """Whether a conditional decrement still matches its row (enough stock left)."""
        return self._shop.available[op.sku] >= op.reservation.quantity

    def bucket_has_enough(self, op: ops.DecrementBucket) -> bool:
        """Whether a bucket decrement still matches its bucket row."""
        return self._shop.bucket_available[op.sku][op.bucket] >= op.reservation.quantity

    def relative_decrement(self, op: ops.DecrementStock) -> Any:
        """``SET available = available - q``: may go below zero."""
        return self._shop.decrement(op.reservation, self._env.now)

    def decrement_then_check(self, op: ops.DecrementThenCheck) -> Any:
        """Decrement, then look at what is left (the give-back is its own operation)."""
        return self._shop.decrement_then_check(op.reservation, self._env.now)

    def give_back(self, op: ops.GiveBack) -> None:
        """Return units taken by a decrement that went below zero."""
        self._shop.give_back(op.sku, op.quantity)

    def decrement_bucket(self, op: ops.DecrementBucket) -> Any:
        """Decrement one bucket row of the SKU, if it has enough."""
        return self._shop.decrement_bucket(op.reservation, op.bucket, self._env.now)

    def read_stock(self, op: ops.ReadStock) -> Any:
        """The SKU's row as a read sees it."""
        return self._shop.read(op.sku)

    def write_stock(self, op: ops.WriteStock) -> Any:
        """The absolute write-back of a read-check-write (fenced when it has a token)."""
        return self._shop.write(op.reservation, op.available, op.fence_token, self._env.now)

    def compare_and_set(self, op: ops.CompareAndSetStock) -> Any:
        """Write the new stock only if the row's version is still the one read."""
        return self._shop.compare_and_set(
            op.reservation, op.expected_version, op.available, self._env.now
        )

    def decrement(self, op: ops.DecrementIfAvailable) -> Any:
        """One conditional UPDATE: reserve only where enough is left."""
        return self._shop.decrement_if_available(op.reservation, self._env.now)

    def release_reservation(self, op: ops.ReleaseReservation) -> bool:
        """Give a reservation's units back (the compensation)."""
        # Had the query failed, the units would stay held until the reservation expires.
        return self._shop.release(op.reservation_id)

    def expire_reservation(self, op: ops.ExpireReservation) -> bool:
        """The reaper's give-back of a reservation past its TTL."""
        return self._shop.expire(op.reservation_id)

    def acquire_lock(self, op: ops.AcquireLock) -> Any:
        """SET NX PX: a token if free or lapsed, else an event fired on release or expiry."""
        return self.locks.try_acquire(op.name, op.ttl_s, op.wait_s)

    def lock_granted(self, name: str, token: int) -> None:
        """The store hears of each grant of a row's lock (see ``Shop.raise_fence``)."""
        try:
            sku = self._locked_skus[name]
        except KeyError:
            sku = self._locked_skus[name] = locked_sku(name)
        if sku is not None:
            self._shop.raise_fence(sku, token)

    def release_lock(self, op: ops.ReleaseLock) -> None:
        """Compare-and-delete the lease (only its own token frees it)."""
        self.locks.release(op.name, op.token)
