"""The real body's side of the strategies found in the wild, on SQLite.

Each store operation is one transaction on the shop's database, as a service
would issue it (``checkoutsim.real.store``): a relative decrement, a
decrement-then-look, a ``SELECT`` then ``UPDATE`` inside one ``BEGIN
IMMEDIATE`` (SQLite's writer lock is the row lock ``FOR UPDATE`` takes
elsewhere: it serialises the writers from the read to the commit), a
conditional decrement of one stock bucket. The in-process mutex and the
per-SKU consumer are locks in this process's memory: another serving process
(``--workers 2``) has its own.

Bookkeeping the strategies themselves do not keep (units owed back by
negative decrements, the lowest stock reached, false sold-outs) is kept in
``stock_marks`` in the same transaction, for the audit.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from checkoutsim.policy import ops
from checkoutsim.policy.inventory import WILD_STRATEGIES
from checkoutsim.real.counters import Counters
from checkoutsim.real.runtime import LockWait, Runtime
from checkoutsim.real.saga_context import SagaContext
from checkoutsim.real.schema import SHOP
from checkoutsim.real.store import Store
from checkoutsim.scenario.settings import Settings

#: The stock row's CHECK constraint, as the shop's schema writes it.
STOCK_CHECK = "available INTEGER NOT NULL CHECK (available >= 0)"
#: A wait for an in-process lock has no deadline (a plain mutex waits forever);
#: this only bounds it so that a bug cannot hang a run.
MUTEX_WAIT_S = 86_400.0

#: Tables the strategies found in the wild add to the shop's schema.
RACES = """
CREATE TABLE IF NOT EXISTS stock_marks (
    sku INTEGER PRIMARY KEY REFERENCES inventory (sku),
    -- units taken by decrements that went negative, not yet given back
    owed INTEGER NOT NULL DEFAULT 0,
    -- the lowest value the stock row reached
    lowest INTEGER NOT NULL,
    -- shoppers told sold out while the SKU held enough units
    false_sold_outs INTEGER NOT NULL DEFAULT 0,
    constraint_errors INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS stock_buckets (
    sku INTEGER NOT NULL REFERENCES inventory (sku),
    bucket INTEGER NOT NULL,
    available INTEGER NOT NULL CHECK (available >= 0),
    PRIMARY KEY (sku, bucket)
);
CREATE TABLE IF NOT EXISTS bucket_reservations (
    reservation_id INTEGER PRIMARY KEY REFERENCES reservations (id),
    sku INTEGER NOT NULL,
    bucket INTEGER NOT NULL
);
-- units going back to stock (release, expiry) go back to their bucket too
CREATE TRIGGER IF NOT EXISTS bucket_units_return AFTER UPDATE OF state ON reservations
WHEN OLD.state = 'active' AND NEW.state IN ('released', 'expired')
BEGIN
    UPDATE stock_buckets SET available = available + NEW.quantity
    WHERE (sku, bucket) = (
        SELECT sku, bucket FROM bucket_reservations WHERE reservation_id = NEW.id
    );
END;
"""


def wild(settings: Settings) -> bool:
    """Does the variant use one of the strategies found in the wild?"""
    return settings.inventory.strategy in WILD_STRATEGIES


def schema_for(settings: Settings) -> str:
    """The shop's schema, without the stock row's CHECK when the variant has none."""
    if not wild(settings) or settings.inventory.check_constraint:
        return SHOP
    assert STOCK_CHECK in SHOP
    return SHOP.replace(STOCK_CHECK, "available INTEGER NOT NULL")


def prepare(store: Store, settings: Settings) -> None:
    """Add the marks (and buckets) tables and their first rows; idempotent."""
    store.db.execute_script(RACES)
    catalog = settings.catalog
    buckets = settings.inventory.buckets if settings.inventory.strategy == "stock_buckets" else 0

    def work(conn: sqlite3.Connection) -> None:
        conn.executemany(
            "INSERT OR IGNORE INTO stock_marks (sku, lowest) VALUES (?, ?)",
            [(sku, catalog.stock_per_sku) for sku in range(catalog.skus)],
        )
        share, extra = divmod(catalog.stock_per_sku, max(buckets, 1))
        conn.executemany(
            "INSERT OR IGNORE INTO stock_buckets (sku, bucket, available) VALUES (?, ?, ?)",
            [
                (sku, bucket, share + (1 if bucket < extra else 0))
                for sku in range(catalog.skus)
                for bucket in range(buckets)
            ],
        )

    store.db.transaction(work)


def marks(store: Store) -> dict[str, float]:
    """What the audit reports of these strategies: stock at the end, its lowest, refusals."""
    shop = store.db.read()
    at_end, lowest = shop.execute("SELECT SUM(available), MIN(available) FROM inventory").fetchone()
    low, false_sold_outs, errors = shop.execute(
        "SELECT MIN(lowest), SUM(false_sold_outs), SUM(constraint_errors) FROM stock_marks"
    ).fetchone()
    return {
        "stock_at_end": int(at_end or 0),
        "stock_min": int(min(lowest or 0, low if low is not None else 0)),
        "false_sold_outs": int(false_sold_outs or 0),
        "stock_constraint_errors": int(errors or 0),
    }


class WildStore:
    """The store operations of the strategies found in the wild, one transaction each."""

    def __init__(self, store: Store, check_constraint: bool) -> None:
        self.store = store
        self.check_constraint = check_constraint

    def _refused(self, conn: sqlite3.Connection, sku: int) -> object:
        conn.execute(
            "UPDATE stock_marks SET constraint_errors = constraint_errors + 1 WHERE sku = ?", (sku,)
        )
        return ops.CONSTRAINT_FAILED

    def decrement(self, op: ops.DecrementStock, saga: SagaContext) -> object:
        """``UPDATE inventory SET available = available - q``: no stock condition."""
        request = op.reservation
        now = self.store.time.now()

        def work(conn: sqlite3.Connection) -> object:
            try:
                left = conn.execute(
                    "UPDATE inventory SET available = available - ?, version = version + 1"
                    " WHERE sku = ? RETURNING available",
                    (request.quantity, request.sku),
                ).fetchone()[0]
            except sqlite3.IntegrityError:
                # CHECK (available >= 0) refused the write: the shopper gets an error.
                return self._refused(conn, request.sku)
            conn.execute(
                "UPDATE stock_marks SET lowest = MIN(lowest, ?) WHERE sku = ?", (left, request.sku)
            )
            return self.store.reserve_in(conn, request, saga, now)

        return self.store.db.transaction(work)

    def decrement_then_check(self, op: ops.DecrementThenCheck, saga: SagaContext) -> object:
        """``DECRBY``, then look at the new value: kept if not negative, else owed back."""
        request = op.reservation
        now = self.store.time.now()

        def work(conn: sqlite3.Connection) -> object:
            owed = conn.execute(
                "SELECT owed FROM stock_marks WHERE sku = ?", (request.sku,)
            ).fetchone()[0]
            try:
                left = conn.execute(
                    "UPDATE inventory SET available = available - ?, version = version + 1"
                    " WHERE sku = ? RETURNING available",
                    (request.quantity, request.sku),
                ).fetchone()[0]
            except sqlite3.IntegrityError:
                return self._refused(conn, request.sku)
            if left >= 0:
                return self.store.reserve_in(conn, request, saga, now)
            # Counting what others owe back, the SKU held enough: a false sold-out.
            false = int(left + request.quantity + owed >= request.quantity)
            conn.execute(
                "UPDATE stock_marks SET owed = owed + ?, lowest = MIN(lowest, ?),"
                " false_sold_outs = false_sold_outs + ? WHERE sku = ?",
                (request.quantity, left, false, request.sku),
            )
            return ops.STOCK_NEGATIVE

        return self.store.db.transaction(work)

    def give_back(self, op: ops.GiveBack, saga: SagaContext) -> None:
        """``INCRBY`` the units a negative decrement took."""

        def work(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE inventory SET available = available + ?, version = version + 1"
                " WHERE sku = ?",
                (op.quantity, op.sku),
            )
            conn.execute(
                "UPDATE stock_marks SET owed = owed - ? WHERE sku = ?", (op.quantity, op.sku)
            )

        self.store.db.transaction(work)

    def for_update(self, op: ops.ReserveForUpdate, saga: SagaContext) -> int | None:
        """``BEGIN IMMEDIATE``, ``SELECT``, check, ``UPDATE``, ``COMMIT``: writers wait throughout.

        The ``UPDATE`` is a second statement, so it pays a second round trip
        while the lock is held, as it would over a network.
        """
        request = op.reservation
        store = self.store
        now = store.time.now()

        def work(conn: sqlite3.Connection) -> int | None:
            available = conn.execute(
                "SELECT available FROM inventory WHERE sku = ?", (request.sku,)
            ).fetchone()[0]
            if available < request.quantity:
                return None
            store.db.round_trip()
            conn.execute(
                "UPDATE inventory SET available = available - ?, version = version + 1"
                " WHERE sku = ?",
                (request.quantity, request.sku),
            )
            return store.reserve_in(conn, request, saga, now)

        return store.db.transaction(work)

    def decrement_bucket(self, op: ops.DecrementBucket, saga: SagaContext) -> int | None:
        """A conditional decrement of one bucket; refused while others hold stock: false."""
        request = op.reservation
        now = self.store.time.now()

        def work(conn: sqlite3.Connection) -> int | None:
            taken = conn.execute(
                "UPDATE stock_buckets SET available = available - ?"
                " WHERE sku = ? AND bucket = ? AND available >= ?",
                (request.quantity, request.sku, op.bucket, request.quantity),
            ).rowcount
            if not taken:
                conn.execute(
                    "UPDATE stock_marks SET false_sold_outs = false_sold_outs + 1"
                    " WHERE sku = ? AND (SELECT available FROM inventory WHERE sku = ?) >= ?",
                    (request.sku, request.sku, request.quantity),
                )
                return None
            conn.execute(
                "UPDATE inventory SET available = available - ?, version = version + 1"
                " WHERE sku = ?",
                (request.quantity, request.sku),
            )
            reservation_id = self.store.reserve_in(conn, request, saga, now)
            conn.execute(
                "INSERT INTO bucket_reservations (reservation_id, sku, bucket) VALUES (?, ?, ?)",
                (reservation_id, request.sku, op.bucket),
            )
            return reservation_id

        return self.store.db.transaction(work)


class ProcessLocks:
    """This process's in-memory locks: the ``mutex`` and the per-SKU consumers.

    A shopper refused a lock waits in its line holding no worker
    (``LockWait``), and a release wakes the front at once. With
    ``inventory.processes`` above 1 this process stands in for that many
    serving processes, as the model does: shopper n takes the mutex of stand-in
    n mod processes. ``--workers N`` runs real processes, each with its own.
    """

    def __init__(
        self, runtime: Runtime, counters: Counters, poll_s: float, processes: int = 1
    ) -> None:
        self.runtime = runtime
        self.counters = counters
        self.processes = processes
        self._guard = runtime.threading.lock()
        self._held: dict[str, int] = {}
        self._poll_model_s = poll_s / max(runtime.time.wall(1.0), 1e-12)

    def _take(self, name: str, holder: int) -> bool:
        with self._guard:
            if name in self._held:
                return False
            self._held[name] = holder
            return True

    def _free(self, name: str) -> None:
        with self._guard:
            self._held.pop(name, None)
        self.runtime.notify(name)

    def _when_taken(self, name: str, holder: int, then: Callable[[], Any]) -> Any:
        """``then()`` once ``name`` is ours: now, or after a wait in its line."""
        deadline = self.runtime.time.now() + MUTEX_WAIT_S

        def attempt() -> Any:
            if self._take(name, holder):
                return then()
            return LockWait(self._poll_model_s, attempt, wake=name, deadline=deadline)

        return attempt()

    def acquire(self, op: ops.AcquireMutex, saga: SagaContext) -> Any:
        """Take this process's lock ``op.name`` (waiting in line while it is held)."""
        return self._when_taken(self._own(op.name, op.holder), op.holder, lambda: None)

    def release(self, op: ops.ReleaseMutex, saga: SagaContext) -> None:
        """Release it, and wake the front of its line."""
        self._free(self._own(op.name, op.holder))

    def _own(self, name: str, holder: int) -> str:
        """The lock of the (stand-in) process serving ``holder``."""
        return name if self.processes == 1 else f"{name}@{holder % self.processes}"

    def through_queue(self, op: ops.ReserveThroughQueue, saga: SagaContext, store: Store) -> Any:
        """The SKU's consumer: one reservation at a time, a conditional decrement each.

        With several serving processes each has its own consumer; the write is
        conditional, so they cannot oversell between them either.
        """
        name = f"queue:inventory:{op.sku}"
        holder = op.reservation.intent_id

        def consume() -> int | None:
            try:
                return store.decrement(op.reservation, saga)
            finally:
                self._free(name)

        return self._when_taken(name, holder, consume)
