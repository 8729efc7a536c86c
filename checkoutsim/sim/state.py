"""In-memory state of the simulated shop and gateway: the rows, not the costs.

The SimPy engine charges time for each operation and then applies it here.
Nothing in this module knows about time passing except through the ``now``
arguments it is given, so it can be tested on its own.
"""

from __future__ import annotations

from array import array
from collections import deque
from dataclasses import dataclass, field

from checkoutsim.policy.ops import (
    CONSTRAINT_FAILED,
    STOCK_NEGATIVE,
    ChargeResult,
    KeyState,
    OrderStatus,
    PaymentRecord,
    ReservationRequest,
    StockRow,
)
from checkoutsim.sim.ordered_intents import SPARSE_GAP, OrderedIntents

# Re-exported: the ordered-intents set moved to its own module.
__all__ = ["SPARSE_GAP", "OrderedIntents"]

ACTIVE, CONFIRMED, RELEASED, EXPIRED = 0, 1, 2, 3


@dataclass(slots=True)
class Reservation:
    """A hold on units, returned to stock on release or expiry."""

    intent_id: int
    sku: int
    quantity: int
    expires_at: float
    state: int = ACTIVE
    #: The stock bucket the units came from (``stock_buckets``), else -1.
    bucket: int = -1


@dataclass(slots=True)
class Shop:
    """Inventory rows, reservations, fencing marks, payment keys and orders."""

    initial_stock: list[int]
    available: list[int] = field(default_factory=list)
    version: list[int] = field(default_factory=list)
    fence: list[int] = field(default_factory=list)
    #: Live reservations by id; confirmed and released ones are dropped (a
    #: million checkouts would otherwise keep a million dead rows in memory).
    reservations: dict[int, Reservation] = field(default_factory=dict)
    reservations_made: int = 0
    _expiry_queue: deque[int] = field(default_factory=deque)
    #: The payment table by key: a captured row as its capture id alone (a
    #: million row objects would cost 56 bytes each), any other as its record.
    payments: dict[str, PaymentRecord | int] = field(default_factory=dict)
    #: The intents with an order (UNIQUE per intent); rows in the columns below.
    orders: OrderedIntents = field(default_factory=lambda: OrderedIntents())
    order_intent: array[int] = field(default_factory=lambda: array("q"))
    order_sku: array[int] = field(default_factory=lambda: array("q"))
    order_quantity: array[int] = field(default_factory=lambda: array("q"))
    order_time: array[float] = field(default_factory=lambda: array("d"))
    #: The capture that paid for each order, as the real body's orders record it (-1 for none).
    order_capture: array[int] = field(default_factory=lambda: array("q"))
    sold: list[int] = field(default_factory=list)
    reserved_units: int = 0
    expired: int = 0
    #: Reservations a compensation returned to stock (state ``released``).
    released: int = 0
    fence_rejections: int = 0
    #: Does the row carry ``CHECK (available >= 0)``?
    check_constraint: bool = False
    #: Rows each SKU's stock is split over (``stock_buckets``); 0: no bucket rows.
    buckets: int = 0
    bucket_available: list[list[int]] = field(default_factory=list)
    #: Units taken by decrements that went negative and are yet to be given back.
    owed: list[int] = field(default_factory=list)
    #: The lowest ``available`` any row reached.
    stock_min: int = 0
    #: Shoppers told sold out while the SKU still held enough units.
    false_sold_outs: int = 0
    #: Writes the CHECK constraint refused.
    constraint_errors: int = 0
    #: Does the reaper return units under the strategy's lock (``take_due``,
    #: ``expire``)? Then an order does not expire due reservations itself.
    reaper_locks: bool = False

    def __post_init__(self) -> None:
        self.available = list(self.initial_stock)
        self.version = [0] * len(self.initial_stock)
        self.fence = [0] * len(self.initial_stock)
        self.sold = [0] * len(self.initial_stock)
        self.owed = [0] * len(self.initial_stock)
        self.stock_min = min(self.initial_stock, default=0)
        if self.buckets > 0:
            self.bucket_available = [
                split_stock(units, self.buckets) for units in self.initial_stock
            ]

    # --- inventory rows -----------------------------------------------------------

    def read(self, sku: int) -> StockRow:
        """The row as a query would see it now."""
        return StockRow(self.available[sku], self.version[sku])

    def write(
        self, request: ReservationRequest, available: int, fence_token: int | None, now: float
    ) -> int | None:
        """A blind write of ``available``; refused if a newer fencing token wrote."""
        sku = request.sku
        if fence_token is not None:
            if fence_token < self.fence[sku]:
                self.fence_rejections += 1
                return None
            self.fence[sku] = fence_token
        self.available[sku] = available
        self.version[sku] += 1
        return self._reserve(request, now)

    def raise_fence(self, sku: int, token: int) -> None:
        """A lock on the row changed hands: writes fenced with older tokens are refused.

        The store learns a token when its lock is granted, not only when its
        holder first writes: otherwise a paused holder that wakes and writes
        before its successor does is accepted, and so is the successor's write
        from a read made before it, one update lost under a fenced lock.
        """
        if token > self.fence[sku]:
            self.fence[sku] = token

    def compare_and_set(
        self, request: ReservationRequest, expected_version: int, available: int, now: float
    ) -> int | None:
        """Write only if the version has not moved since the read."""
        if self.version[request.sku] != expected_version:
            return None
        self.available[request.sku] = available
        self.version[request.sku] += 1
        return self._reserve(request, now)

    def decrement_if_available(self, request: ReservationRequest, now: float) -> int | None:
        """``UPDATE ... SET available = available - q WHERE available >= q``."""
        sku = request.sku
        if self.available[sku] < request.quantity:
            return None
        self.available[sku] -= request.quantity
        self.version[sku] += 1
        return self._reserve(request, now)

    # --- the strategies found in the wild ----------------------------------------

    def decrement(self, request: ReservationRequest, now: float) -> object:
        """``UPDATE ... SET available = available - q``: no stock condition at all."""
        sku = request.sku
        left = self.available[sku] - request.quantity
        if left < 0 and self.check_constraint:
            self.constraint_errors += 1
            return CONSTRAINT_FAILED
        self.available[sku] = left
        self.version[sku] += 1
        self.stock_min = min(self.stock_min, left)
        return self._reserve(request, now)

    def decrement_then_check(self, request: ReservationRequest, now: float) -> object:
        """``DECRBY``, then look: kept if not negative, else owed back (``give_back``).

        A shopper turned away while the SKU, counting the units owed back by
        others who went negative, still held enough is a false sold-out.
        """
        sku = request.sku
        before = self.available[sku]
        left = before - request.quantity
        if left < 0 and self.check_constraint:
            self.constraint_errors += 1
            return CONSTRAINT_FAILED
        self.available[sku] = left
        self.version[sku] += 1
        if left >= 0:
            return self._reserve(request, now)
        self.stock_min = min(self.stock_min, left)
        if before + self.owed[sku] >= request.quantity:
            self.false_sold_outs += 1
        self.owed[sku] += request.quantity
        return STOCK_NEGATIVE

    def give_back(self, sku: int, quantity: int) -> None:
        """``INCRBY``: return units a negative decrement took."""
        self.available[sku] += quantity
        self.owed[sku] -= quantity
        self.version[sku] += 1

    def decrement_bucket(self, request: ReservationRequest, bucket: int, now: float) -> int | None:
        """A conditional decrement of one bucket; a refusal while others hold stock is false."""
        sku = request.sku
        rows = self.bucket_available[sku]
        if rows[bucket] < request.quantity:
            if self.available[sku] >= request.quantity:
                self.false_sold_outs += 1
            return None
        rows[bucket] -= request.quantity
        self.available[sku] -= request.quantity
        self.version[sku] += 1
        reservation_id = self._reserve(request, now)
        self.reservations[reservation_id].bucket = bucket
        return reservation_id

    def _reserve(self, request: ReservationRequest, now: float) -> int:
        """Insert the reservation row that goes with a successful stock write."""
        reservation_id = self.reservations_made
        self.reservations_made += 1
        self.reservations[reservation_id] = Reservation(
            request.intent_id, request.sku, request.quantity, now + request.ttl_s
        )
        self._expiry_queue.append(reservation_id)
        self.reserved_units += request.quantity
        return reservation_id

    def release(self, reservation_id: int) -> bool:
        """Return an active reservation's units to stock."""
        reservation = self.reservations.get(reservation_id)
        if reservation is None or reservation.state != ACTIVE:
            return False
        self._return_units(reservation, RELEASED)
        del self.reservations[reservation_id]
        self.released += 1
        return True

    def expire_due(self, now: float) -> int:
        """Expire every active reservation whose TTL has passed; return how many."""
        return sum(self.expire(reservation_id) for reservation_id, _ in self.take_due(now))

    def take_due(self, now: float) -> list[tuple[int, int]]:
        """Hand the reaper every active reservation past its TTL, as (id, SKU).

        Each is handed over once; its units stay held until ``expire`` (run
        under the strategy's lock) returns them.
        """
        due = []
        queue = self._expiry_queue
        # A run's TTL is one value, so creation order is expiry order: a FIFO
        # queue finds every due reservation without scanning the rest.
        while queue:
            reservation = self.reservations.get(queue[0])
            if reservation is not None and reservation.expires_at > now:
                break
            reservation_id = queue.popleft()
            if reservation is not None and reservation.state == ACTIVE:
                due.append((reservation_id, reservation.sku))
        return due

    def due_again(self, reservation_id: int) -> None:
        """Hand a reservation to the reaper's next ``take_due`` again (its give-back failed)."""
        # At the front: it is due, so the FIFO's order by expiry still holds.
        self._expiry_queue.appendleft(reservation_id)

    def expire(self, reservation_id: int) -> bool:
        """Return one reservation's units to stock as expired, if still held."""
        reservation = self.reservations.get(reservation_id)
        if reservation is None or reservation.state != ACTIVE:
            return False
        # Kept (as EXPIRED): a late payment may still confirm it blindly.
        self._return_units(reservation, EXPIRED)
        self.expired += 1
        return True

    def _return_units(self, reservation: Reservation, state: int) -> None:
        """Put a reservation's units back and mark why."""
        reservation.state = state
        self.available[reservation.sku] += reservation.quantity
        if reservation.bucket >= 0:
            self.bucket_available[reservation.sku][reservation.bucket] += reservation.quantity
        self.version[reservation.sku] += 1
        self.reserved_units -= reservation.quantity

    # --- orders -------------------------------------------------------------------

    def create_order(
        self, intent_id: int, reservation_id: int, capture_id: int, allow_expired: bool, now: float
    ) -> OrderStatus:
        """Confirm a reservation into an order, unique per intent."""
        if intent_id in self.orders:
            return OrderStatus.EXISTS
        if not self.reaper_locks:
            self.expire_due(now)
        reservation = self.reservations.get(reservation_id)
        if reservation is None:
            # Released (compensated) already: only a blind confirmation gets here.
            return OrderStatus.RESERVATION_EXPIRED
        due = reservation.state == ACTIVE and reservation.expires_at <= now
        if self.reaper_locks and due and not allow_expired:
            # Due, not reaped yet: refused, its units left to the reaper, which
            # returns them under the lock. Ordered anyway, it sells held units.
            return OrderStatus.RESERVATION_EXPIRED
        if reservation.state != ACTIVE:
            if not allow_expired:
                return OrderStatus.RESERVATION_EXPIRED
        else:
            self.reserved_units -= reservation.quantity
        reservation.state = CONFIRMED
        del self.reservations[reservation_id]
        self.sold[reservation.sku] += reservation.quantity
        self._record_order(intent_id, reservation.sku, reservation.quantity, now, capture_id)
        return OrderStatus.CREATED

    def create_blind_order(
        self, intent_id: int, sku: int, quantity: int, now: float, capture_id: int = -1
    ) -> OrderStatus:
        """An order taken while the inventory was down: no reservation, no stock check."""
        if intent_id in self.orders:
            return OrderStatus.EXISTS
        self.sold[sku] += quantity
        self._record_order(intent_id, sku, quantity, now, capture_id)
        return OrderStatus.CREATED

    def _record_order(
        self, intent_id: int, sku: int, quantity: int, now: float, capture_id: int
    ) -> None:
        """Append an order; typed arrays keep a million orders compact."""
        self.orders.add(intent_id)
        self.order_intent.append(intent_id)
        self.order_sku.append(sku)
        self.order_quantity.append(quantity)
        self.order_time.append(now)
        self.order_capture.append(capture_id)

    # --- the shop's payment table ------------------------------------------------

    def payment(self, key: str) -> PaymentRecord | None:
        """The payment row stored under ``key``, if any."""
        stored = self.payments.get(key)
        if isinstance(stored, int):
            return PaymentRecord(key, KeyState.CAPTURED, stored)
        return stored

    def insert_payment(self, record: PaymentRecord) -> PaymentRecord | None:
        """Insert under a UNIQUE key; return the clashing row if there is one."""
        existing = self.payment(record.key)
        if existing is not None and existing.state is not KeyState.RETRY:
            return existing
        self.update_payment(record)
        return None

    def update_payment(self, record: PaymentRecord) -> None:
        """Store ``record`` under its key, over any row there."""
        if record.state is KeyState.CAPTURED and record.capture_id is not None:
            self.payments[record.key] = record.capture_id
        else:
            self.payments[record.key] = record


def split_stock(units: int, buckets: int) -> list[int]:
    """A SKU's units spread over ``buckets`` rows as evenly as whole units go."""
    share, extra = divmod(units, buckets)
    return [share + (1 if bucket < extra else 0) for bucket in range(buckets)]


@dataclass(slots=True)
class Ledger:
    """The gateway's own books: captures, refunds, and its idempotency keys."""

    capture_intent: array[int] = field(default_factory=lambda: array("q"))
    capture_time: array[float] = field(default_factory=lambda: array("d"))
    capture_amount: array[int] = field(default_factory=lambda: array("q"))
    refunded_at: dict[int, float] = field(default_factory=dict)
    #: The answer stored under each key: None while in flight, a capture as its
    #: id alone (a million result objects would cost 48 bytes each), else the result.
    keys: dict[str, ChargeResult | int | None] = field(default_factory=dict)
    #: Intents whose funds a two-phase prepare holds (captured, never declined again).
    held: set[int] = field(default_factory=set)

    def capture(self, intent_id: int, amount: int, now: float) -> int:
        """Record a capture and return its id."""
        self.capture_intent.append(intent_id)
        self.capture_time.append(now)
        self.capture_amount.append(amount)
        return len(self.capture_intent) - 1

    def refund(self, capture_id: int, now: float) -> bool:
        """Refund a capture once; a second refund of the same capture is refused."""
        if capture_id in self.refunded_at or capture_id >= len(self.capture_intent):
            return False
        self.refunded_at[capture_id] = now
        return True

    def unrefunded(self, older_than: float) -> list[tuple[int, int]]:
        """Captures made before ``older_than`` with no refund, as (capture, intent)."""
        return [
            (capture_id, intent_id)
            for capture_id, (intent_id, when) in enumerate(
                zip(self.capture_intent, self.capture_time, strict=True)
            )
            if when <= older_than and capture_id not in self.refunded_at
        ]
