"""The shop's store on SQLite: inventory, reservations, leases, payments, orders.

Each public method is one transaction, the way a service would issue it: a
read is one autocommit ``SELECT``; a write is one ``BEGIN IMMEDIATE`` ...
``COMMIT``. The naive strategy's read and write are therefore two statements
with a real gap between them, and the race in that gap is real.

The durable saga log is kept by triggers (``checkoutsim.real.schema``): writes
that move a saga forward move its log row inside the same transaction, so the
log costs no extra round trip and can never disagree with the rows it describes.
Single-statement writes run as autocommit transactions, one round trip each.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from checkoutsim.policy.inventory import locked_sku
from checkoutsim.policy.ops import (
    KeyState,
    PaymentRecord,
    ReservationRequest,
    StockRow,
)
from checkoutsim.real.database import Database
from checkoutsim.real.orders import OrderStore
from checkoutsim.real.saga_context import SagaContext
from checkoutsim.real.schema import SHOP
from checkoutsim.real.timebase import RealTime

#: A lock wait given up at its deadline (or a lock refused with no wait allowed).
RECORD_TIMEOUT = "INSERT INTO lock_timeouts (name, asked_s, gave_up_s) VALUES (?, ?, ?)"
#: A grant raises its row's fence to the new token (SQLite's dialect).
RAISE_FENCE = "UPDATE inventory SET fence = MAX(fence, ?) WHERE sku = ?"
#: Server-assigned intent ids start here, clear of the shopper numbers a load
#: generator's audit files them under (``checkoutsim.real.records.by_shopper``).
SERVER_INTENT_BASE = 1_000_000_000


class Store(OrderStore):
    """Every shop-side operation of the real body, one transaction each."""

    def __init__(self, database: Database, time: RealTime) -> None:
        self.db = database
        self.time = time

    # --- setup ---------------------------------------------------------------------

    def create(self, stock: Sequence[int], meta: dict[str, str], schema: str = SHOP) -> None:
        """Create the schema; stock the catalog and record ``meta`` if the file is new."""
        self.db.execute_script(schema)

        def work(conn: sqlite3.Connection) -> Any:
            if conn.execute("SELECT COUNT(*) FROM inventory").fetchone()[0] == 0:
                conn.executemany(
                    "INSERT INTO inventory (sku, initial, available) VALUES (?, ?, ?)",
                    [(sku, units, units) for sku, units in enumerate(stock)],
                )
                conn.executemany(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", meta.items()
                )

        return self.db.transaction(work)

    def meta(self) -> dict[str, str]:
        """The run's metadata (scenario, variant, time scale, origin...)."""
        return dict(self.db.read().execute("SELECT key, value FROM meta").fetchall())

    def set_meta(self, key: str, value: str) -> None:
        """Record one metadata value."""

        def work(conn: sqlite3.Connection) -> Any:
            conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

        return self.db.transaction(work)

    # --- inventory -----------------------------------------------------------------

    def read_stock(self, sku: int) -> StockRow:
        """``SELECT`` one SKU's row."""
        row = (
            self.db.read()
            .execute("SELECT available, version FROM inventory WHERE sku = ?", (sku,))
            .fetchone()
        )
        return StockRow(row[0], row[1])

    def write_stock(
        self,
        request: ReservationRequest,
        available: int,
        fence_token: int | None,
        lease_token: int | None,
        saga: SagaContext,
    ) -> int | None:
        """A blind write of ``available``; with a fence, refused if a newer token wrote."""
        now = self.time.now()

        def work(conn: sqlite3.Connection) -> Any:
            changed = conn.execute(
                "UPDATE inventory SET available = ?, version = version + 1, fence = MAX(fence, ?)"
                " WHERE sku = ? AND fence <= ?",
                # Without a fence the token is 0: every write passes, as a blind write does.
                (available, fence_token or 0, request.sku, fence_token or 1 << 62),
            ).rowcount
            self._record_write(conn, request.sku, lease_token, fence_token, bool(changed), now)
            if not changed:
                return None
            return self._reserve(conn, request, saga, now)

        return self.db.transaction(work)

    def compare_and_set(
        self,
        request: ReservationRequest,
        expected_version: int,
        available: int,
        lease_token: int | None,
        saga: SagaContext,
    ) -> int | None:
        """Write only if the version has not moved since the read."""
        now = self.time.now()

        def work(conn: sqlite3.Connection) -> Any:
            changed = conn.execute(
                "UPDATE inventory SET available = ?, version = version + 1"
                " WHERE sku = ? AND version = ?",
                (available, request.sku, expected_version),
            ).rowcount
            self._record_write(conn, request.sku, lease_token, None, bool(changed), now)
            if not changed:
                return None
            return self._reserve(conn, request, saga, now)

        return self.db.transaction(work)

    def decrement(self, request: ReservationRequest, saga: SagaContext) -> int | None:
        """One conditional ``UPDATE``: take the units only where that many are left."""
        now = self.time.now()

        def work(conn: sqlite3.Connection) -> Any:
            changed = conn.execute(
                "UPDATE inventory SET available = available - ?, version = version + 1"
                " WHERE sku = ? AND available >= ?",
                (request.quantity, request.sku, request.quantity),
            ).rowcount
            if not changed:
                return None
            return self._reserve(conn, request, saga, now)

        return self.db.transaction(work)

    def _record_write(
        self,
        conn: sqlite3.Connection,
        sku: int,
        lease_token: int | None,
        fence_token: int | None,
        accepted: bool,
        now: float,
    ) -> None:
        conn.execute(
            "INSERT INTO stock_writes (sku, lease_token, fence_token, accepted, time_s)"
            " VALUES (?, ?, ?, ?, ?)",
            (sku, lease_token, fence_token, int(accepted), now),
        )

    def reserve_in(
        self, conn: sqlite3.Connection, request: ReservationRequest, saga: SagaContext, now: float
    ) -> int:
        """Insert a reservation inside a caller's write transaction (``checkoutsim.real.races``)."""
        return self._reserve(conn, request, saga, now)

    def _reserve(
        self, conn: sqlite3.Connection, request: ReservationRequest, saga: SagaContext, now: float
    ) -> int:
        """Insert the reservation that goes with a stock write (a trigger opens its saga log)."""
        reservation_id = conn.execute(
            "INSERT INTO reservations (intent_id, saga_key, sku, quantity, created_s, expires_s,"
            " updated_s) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                request.intent_id,
                saga.key,
                request.sku,
                request.quantity,
                now,
                now + request.ttl_s,
                now,
            ),
        ).lastrowid
        assert reservation_id is not None
        return reservation_id

    def release(self, reservation_id: int) -> bool:
        """Return an active reservation's units to stock."""
        now = self.time.now()
        return self.db.transaction(
            lambda conn: self._give_back(conn, reservation_id, "released", now)
        )

    def due_reservations(self) -> list[tuple[int, int]]:
        """Every active reservation past its TTL, as (id, SKU), oldest first.

        A read (readers never block writers in WAL mode), so the common case,
        nothing due, takes no write lock at all.
        """
        return [
            (row[0], row[1])
            for row in self.db.read().execute(
                "SELECT id, sku FROM reservations WHERE state = 'active' AND expires_s <= ?"
                " ORDER BY id",
                (self.time.now(),),
            )
        ]

    def expire_due(self) -> int:
        """Return every reservation past its TTL to stock; how many expired."""
        due_ids = [reservation_id for reservation_id, _ in self.due_reservations()]
        if not due_ids:
            return 0
        now = self.time.now()
        return self.db.transaction(
            lambda conn: sum(
                self._give_back(conn, reservation_id, "expired", now) for reservation_id in due_ids
            )
        )

    def expire(self, reservation_id: int) -> bool:
        """Return one reservation's units to stock as expired, if still held."""
        now = self.time.now()
        return self.db.transaction(
            lambda conn: self._give_back(conn, reservation_id, "expired", now)
        )

    @staticmethod
    def _give_back(conn: sqlite3.Connection, reservation_id: int, state: str, now: float) -> bool:
        """Mark an active reservation ``state`` and put its units back; False if not active."""
        row = conn.execute(
            "UPDATE reservations SET state = ?, updated_s = ?"
            " WHERE id = ? AND state = 'active' RETURNING sku, quantity",
            (state, now, reservation_id),
        ).fetchone()
        if row is not None:
            conn.execute(
                "UPDATE inventory SET available = available + ?, version = version + 1"
                " WHERE sku = ?",
                (row[1], row[0]),
            )
        return row is not None

    # --- leases --------------------------------------------------------------------

    def try_lock(
        self, name: str, ttl_s: float, asked_s: float | None = None
    ) -> tuple[int | None, float]:
        """Grant ``name`` if it is free or its lease lapsed.

        ``asked_s`` is when the caller first asked (default: now); the grant's
        row keeps it, so waits are counted from the records.

        Returns ``(token, held_until)``: the fencing token when granted, else
        ``None`` and the time the current lease runs out. A grant of an
        inventory lock raises that SKU row's fence to the new token in the same
        transaction, as PostgreSQL and Redis grants do (see
        ``checkoutsim.real.redis_locks.LeasedStore.try_lock``): a paused holder
        that wakes and writes before its successor does is refused too.

        One round trip, as a PostgreSQL upsert or a Redis ``SET NX`` is, and as
        the model charges one query: a read first would save a refused attempt
        its write, but it cost every grant a second round trip inside the hot
        lock's hand-over. The grant is stamped when it commits, so a hold is
        measured from the moment others are shut out.
        """
        sku = locked_sku(name)

        def work(conn: sqlite3.Connection) -> Any:
            now = self.time.now()
            held = conn.execute("SELECT expires_s FROM locks WHERE name = ?", (name,)).fetchone()
            if held is not None and held[0] > now:
                return None, held[0]
            token = conn.execute(
                "INSERT INTO lock_grants (name, granted_s, expires_s, asked_s) VALUES (?, ?, ?, ?)",
                (name, now, now + ttl_s, now if asked_s is None else asked_s),
            ).lastrowid
            conn.execute(
                "INSERT INTO locks (name, token, expires_s) VALUES (?, ?, ?)"
                " ON CONFLICT (name) DO UPDATE SET token = excluded.token,"
                " expires_s = excluded.expires_s",
                (name, token, now + ttl_s),
            )
            if sku is not None:
                conn.execute(RAISE_FENCE, (token, sku))
            return token, now + ttl_s

        return self.db.transaction(work)

    def record_stall(self, intent_id: int, until_s: float) -> None:
        """Record that a crashed coordinator stops this transaction from now to ``until_s``."""
        self.db.write_one(
            "INSERT INTO coordinator_stalls (intent_id, stalled_s, until_s) VALUES (?, ?, ?)",
            (intent_id, self.time.now(), until_s),
        )

    def record_lock_timeout(self, name: str, asked_s: float) -> None:
        """Record a lock wait given up now, asked for at ``asked_s``."""
        self.db.write_one(RECORD_TIMEOUT, (name, asked_s, self.time.now()))

    def raise_fence(self, name: str, token: int) -> None:
        """Raise the fence of the SKU row an inventory lock ``name`` guards to ``token``.

        For a grant made outside the store (Redis, which records the grant
        itself); other locks guard no row. Why the fence rises at the grant:
        ``checkoutsim.real.redis_locks.LeasedStore.try_lock``.
        """
        sku = locked_sku(name)
        if sku is not None:
            self.db.write_one(RAISE_FENCE, (token, sku))

    def release_lock(self, name: str, token: int) -> bool:
        """Compare-and-delete: only the current token frees the lock (stamped at commit)."""

        def work(conn: sqlite3.Connection) -> Any:
            now = self.time.now()
            freed = conn.execute(
                "DELETE FROM locks WHERE name = ? AND token = ?", (name, token)
            ).rowcount
            if freed:
                conn.execute("UPDATE lock_grants SET released_s = ? WHERE token = ?", (now, token))
            return bool(freed)

        return self.db.transaction(work)

    # --- the payment service's table -------------------------------------------------

    def lookup_payment(self, key: str) -> PaymentRecord | None:
        """Find the payment row for ``key``."""
        row = (
            self.db.read()
            .execute("SELECT state, capture_id FROM payments WHERE key = ?", (key,))
            .fetchone()
        )
        return None if row is None else PaymentRecord(key, KeyState(row[0]), row[1])

    def insert_payment(self, record: PaymentRecord) -> PaymentRecord | None:
        """Insert under the UNIQUE key; return the clashing row if the constraint fires.

        A row left in ``retry`` charged nothing, so the insert claims it instead.
        """
        written = self.db.write_one(
            "INSERT INTO payments (key, state, capture_id, updated_s) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (key) DO UPDATE SET state = excluded.state,"
            " capture_id = excluded.capture_id, updated_s = excluded.updated_s"
            " WHERE payments.state = 'retry'",
            (record.key, record.state.value, record.capture_id, self.time.now()),
        )
        if written.rowcount:
            return None
        return self.lookup_payment(record.key)

    def update_payment(self, record: PaymentRecord) -> None:
        """Overwrite the row for ``record.key`` with its final state."""
        self.db.write_one(
            "UPDATE payments SET state = ?, capture_id = ?, updated_s = ? WHERE key = ?",
            (record.state.value, record.capture_id, self.time.now(), record.key),
        )

    # --- saga log ---------------------------------------------------------------------

    def open_sagas(self) -> list[tuple[int, int, str, int | None]]:
        """Sagas stopped at a recovery point: (reservation, intent, step, capture)."""
        return (
            self.db.read()
            .execute(
                "SELECT reservation_id, intent_id, step, capture_id FROM saga_log"
                " WHERE step IN ('reserved', 'captured') ORDER BY reservation_id"
            )
            .fetchall()
        )

    def mark_recovered(self, reservation_id: int) -> None:
        """Close a saga the recovery pass compensated without going through the store."""
        self.db.write_one(
            "UPDATE reservations SET state = 'recovered', updated_s = ?"
            " WHERE id = ? AND state = 'active'",
            (self.time.now(), reservation_id),
        )
