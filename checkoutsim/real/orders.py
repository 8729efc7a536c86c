"""Orders in the shop's store: one per intent, confirmed from a live reservation.

A mixin of ``checkoutsim.real.store.Store`` (it uses that class's ``db`` and
``time``), kept apart because confirming an order has the most cases: an
existing order for the intent, an injected order-service failure, a reservation
that expired (refuse, or order anyway and oversell), and no reservation at all
(the inventory was down and the shop sold blind).
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

from checkoutsim.policy.ops import OrderStatus

if TYPE_CHECKING:
    from checkoutsim.real.database import Database
    from checkoutsim.real.saga_context import SagaContext
    from checkoutsim.real.timebase import RealTime


class OrderStore:
    """Order operations over the shop database (mixed into ``Store``)."""

    db: Database
    time: RealTime
    #: Does the reaper return units under the strategy's lock? Then an order
    #: leaves a due reservation's units to it (see ``_lapsed``).
    reaper_locks: bool = False

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
        """Confirm a reservation into an order, UNIQUE per intent.

        ``failed`` is the injected order-service failure, drawn by the caller.
        With no reservation (the inventory was down and the shop sold anyway),
        the order takes ``blind = (sku, quantity)`` units without a stock check.
        """
        if failed:
            existing = self.order_id(intent_id)
            if existing is None:
                return OrderStatus.FAILED
            saga.order_id = existing
            return OrderStatus.EXISTS
        now = self.time.now()

        def work(conn: sqlite3.Connection) -> OrderStatus:
            reserved = reservation_id
            taken = None
            if reserved is not None:
                # The reservation is confirmed only where the intent has no order
                # yet: on the usual path that one statement is the whole check.
                taken = conn.execute(
                    "UPDATE reservations SET state = 'confirmed', updated_s = ?"
                    " WHERE id = ? AND state = 'active' AND expires_s > ?"
                    " AND NOT EXISTS (SELECT 1 FROM orders WHERE intent_id = ?)"
                    " RETURNING sku, quantity",
                    (now, reserved, now, intent_id),
                ).fetchone()
            if taken is None:
                # Nothing confirmed: an order already exists, or the reservation
                # lapsed, or there is none (sold blind). Told apart as before.
                existing = conn.execute(
                    "SELECT id FROM orders WHERE intent_id = ?", (intent_id,)
                ).fetchone()
                if existing is not None:
                    saga.order_id = existing[0]
                    return OrderStatus.EXISTS
                if reserved is None:
                    reserved = self._blind_reservation(conn, intent_id, saga.key, *blind, now)
                    taken = conn.execute(
                        "UPDATE reservations SET state = 'confirmed', updated_s = ?"
                        " WHERE id = ? AND state = 'active' AND expires_s > ?"
                        " RETURNING sku, quantity",
                        (now, reserved, now),
                    ).fetchone()
                if taken is None:
                    taken = self._lapsed(conn, reserved, allow_expired, now)
                    if taken is None:
                        return OrderStatus.RESERVATION_EXPIRED
            saga.order_id = conn.execute(
                "INSERT INTO orders (intent_id, reservation_id, capture_id, sku, quantity,"
                " created_s) VALUES (?, ?, ?, ?, ?, ?)",
                (intent_id, reserved, capture_id, taken[0], taken[1], now),
            ).lastrowid
            return OrderStatus.CREATED

        return self.db.transaction(work)

    def _lapsed(
        self, conn: sqlite3.Connection, reservation_id: int, allow_expired: bool, now: float
    ) -> tuple[int, int] | None:
        """A reservation that could not be confirmed: expire it if due, maybe order anyway.

        Returns ``(sku, quantity)`` to order with when ``allow_expired`` (the units
        already went back to stock: this is how the oversell happens), else None.
        """
        sku, quantity, state = conn.execute(
            "SELECT sku, quantity, state FROM reservations WHERE id = ?", (reservation_id,)
        ).fetchone()
        # Due but not reaped yet: expire it now, as the reaper would have;
        # unless the reaper takes the strategy's lock to return units: they
        # are its to return then, and ordered anyway, the order sells them.
        if state == "active" and not self.reaper_locks:
            conn.execute(
                "UPDATE reservations SET state = 'expired', updated_s = ? WHERE id = ?",
                (now, reservation_id),
            )
            conn.execute(
                "UPDATE inventory SET available = available + ?, version = version + 1"
                " WHERE sku = ?",
                (quantity, sku),
            )
        if not allow_expired:
            return None
        conn.execute(
            "UPDATE reservations SET state = 'confirmed', updated_s = ? WHERE id = ?",
            (now, reservation_id),
        )
        return sku, quantity

    def _blind_reservation(
        self,
        conn: sqlite3.Connection,
        intent_id: int,
        key: str,
        sku: int,
        quantity: int,
        now: float,
    ) -> int:
        """The bookkeeping row of an order placed without a reservation; it takes no stock.

        The inventory service owns the stock and it is down, so, as in the model
        (``checkoutsim.sim.state.Shop.create_blind_order``), the units stay
        counted as available and are sold again once it is back: that is how
        selling blind oversells, as orders beyond the initial stock.
        """
        reservation_id = conn.execute(
            "INSERT INTO reservations (intent_id, saga_key, sku, quantity, created_s, expires_s,"
            " updated_s) VALUES (?, ?, ?, ?, ?, ?, ?)",
            # Never due, so the confirmation that follows goes through.
            (intent_id, key, sku, quantity, now, float("inf"), now),
        ).lastrowid
        assert reservation_id is not None
        return reservation_id

    def has_order(self, intent_id: int) -> bool:
        """Does an order exist for this intent?"""
        row = (
            self.db.read()
            .execute("SELECT 1 FROM orders WHERE intent_id = ?", (intent_id,))
            .fetchone()
        )
        return row is not None

    def order_id(self, intent_id: int) -> int | None:
        """The order id for an intent, if it has one."""
        row = (
            self.db.read()
            .execute("SELECT id FROM orders WHERE intent_id = ?", (intent_id,))
            .fetchone()
        )
        return None if row is None else row[0]
