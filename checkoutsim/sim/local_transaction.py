"""The model's side of the MVP's one local transaction (``checkoutsim.policy.local``).

``ReserveWithOrder`` is a pooled inventory call like the other stock writes:
it takes a database connection and, when there is stock to take, the SKU's
row lock, for the cost of both statements of the transaction (the conditional
``UPDATE`` and the order ``INSERT``, ``sim.races.operation_costs``). An order
failure (``order.failure_rate``) is drawn where the order row is inserted and
rolls the whole transaction back. ``ConfirmOrder`` marks the pending order paid:
one write on the shop's own database, costed as a payment-table round trip.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from checkoutsim.policy import ops
from checkoutsim.sim import SimStep
from checkoutsim.sim.state import Shop


class LocalTransactions:
    """Applies the local transaction's operations to the shop, once their cost is paid."""

    def __init__(
        self,
        shop: Shop,
        order_rng: random.Random,
        failure_rate: float,
        now: Callable[[], float],
        round_trip: Callable[[], SimStep],
    ) -> None:
        self.shop = shop
        self._order_rng = order_rng
        self._failure_rate = failure_rate
        self._now = now
        self._round_trip = round_trip

    def enough_left(self, op: ops.ReserveWithOrder) -> bool:
        """Does the conditional ``UPDATE`` match (and so lock) the row?"""
        return self.shop.available[op.sku] >= op.reservation.quantity

    def reserve_with_order(self, op: ops.ReserveWithOrder) -> Any:
        """Commit the reservation and the pending order, or roll both back."""
        if self._failure_rate > 0 and self._order_rng.random() < self._failure_rate:
            return ops.OrderStatus.FAILED
        return self.shop.decrement_if_available(op.reservation, self._now())

    def confirm(self, op: ops.ConfirmOrder) -> SimStep:
        """``UPDATE orders SET paid``: the pending order becomes the order."""
        yield from self._round_trip()
        return self.shop.create_order(
            op.intent_id, op.reservation_id, op.capture_id, False, self._now()
        )
