"""A checkout's multi-statement saga steps as one statement each, on PostgreSQL.

``Store.decrement`` and ``OrderStore.create_order`` are transactions of two or
three statements, whose later statements depend on the earlier ones' results.
On SQLite that costs nothing (the statements are function calls in the
process); on a server each statement is a round trip, and ``BEGIN`` and
``COMMIT`` two more: five for an order. Here each is one data-modifying
``WITH`` statement, so one round trip, and atomic as any single statement is
(READ COMMITTED re-checks an ``UPDATE``'s ``WHERE`` against the row's newest
version after waiting for a concurrent writer, so the conditions hold).

Only the common case takes the one-statement path; anything else (an injected
order failure, an order placed blind, a reservation that lapsed) runs the
general transaction, which the one-statement attempt left untouched.
"""

from __future__ import annotations

from typing import Any

from checkoutsim.policy.ops import OrderStatus, ReservationRequest
from checkoutsim.real.saga_context import SagaContext
from checkoutsim.real.store import Store

#: Take the units where that many are left, and insert the reservation that goes with them.
DECREMENT = (
    "WITH taken AS (UPDATE inventory SET available = available - ?, version = version + 1"
    " WHERE sku = ? AND available >= ? RETURNING sku)"
    " INSERT INTO reservations (intent_id, saga_key, sku, quantity, created_s, expires_s,"
    " updated_s) SELECT ?, ?, sku, ?, ?, ?, ? FROM taken RETURNING id"
)
#: An existing order for the intent; else confirm a live reservation and place the order.
PLACE_ORDER = (
    "WITH existing AS (SELECT id FROM orders WHERE intent_id = ?),"
    " taken AS (UPDATE reservations SET state = 'confirmed', updated_s = ?"
    " WHERE id = ? AND state = 'active' AND expires_s > ?"
    " AND NOT EXISTS (SELECT 1 FROM existing) RETURNING sku, quantity),"
    " placed AS (INSERT INTO orders (intent_id, reservation_id, capture_id, sku, quantity,"
    " created_s) SELECT ?, ?, ?, sku, quantity, ? FROM taken RETURNING id)"
    " SELECT (SELECT id FROM existing), (SELECT id FROM placed)"
)


class OneStatementCheckout(Store):
    """``Store`` with a checkout's two multi-statement steps as one round trip each."""

    def decrement(self, request: ReservationRequest, saga: SagaContext) -> int | None:
        """One conditional ``UPDATE`` and the reservation's ``INSERT``, in one statement."""
        now = self.time.now()
        written = self.db.write_one(
            DECREMENT,
            (
                request.quantity,
                request.sku,
                request.quantity,
                request.intent_id,
                saga.key,
                request.quantity,
                now,
                now + request.ttl_s,
                now,
            ),
        )
        return written.rows[0][0] if written.rows else None

    def create_order(
        self,
        intent_id: int,
        reservation_id: int | None,
        capture_id: int,
        allow_expired: bool,
        failed: bool,
        saga: SagaContext,
        blind: tuple[int, int] = (0, 0),
    ) -> OrderStatus:
        """As ``OrderStore.create_order``; a live reservation's order in one statement."""
        if failed or reservation_id is None:
            return super().create_order(
                intent_id, reservation_id, capture_id, allow_expired, failed, saga, blind
            )
        now = self.time.now()

        def work(session: Any) -> tuple[int | None, int | None]:
            # ``session`` is a ``checkoutsim.real.postgres.Session`` (which imports this module).
            row = session.execute(
                PLACE_ORDER,
                (intent_id, now, reservation_id, now, intent_id, reservation_id, capture_id, now),
            ).fetchone()
            return row[0], row[1]

        # A transaction, to be run again should a concurrent order for the same
        # intent win the UNIQUE key: the second try then finds it.
        existing, placed = self.db.transaction(work, single_statement=True)
        if existing is not None:
            saga.order_id = existing
            return OrderStatus.EXISTS
        if placed is not None:
            saga.order_id = placed
            return OrderStatus.CREATED
        # The reservation is not live: the general path expires it, or orders anyway.
        return super().create_order(
            intent_id, reservation_id, capture_id, allow_expired, failed, saga, blind
        )
