"""The inventory store's operations (stock reads and writes, reservations, locks) and their results.

Re-exported by ``policy/ops.py``; see there for how bodies run them.
"""

from __future__ import annotations

from dataclasses import dataclass

from checkoutsim.policy.operation import Operation


@dataclass(slots=True, unsafe_hash=True)
class ReservationRequest:
    """What a successful stock write should also record as a reservation."""

    intent_id: int
    sku: int
    quantity: int
    ttl_s: float


@dataclass(slots=True, unsafe_hash=True)
class StockRow:
    """A read of one SKU's inventory row."""

    available: int
    version: int


# --- inventory store -----------------------------------------------------------------


@dataclass(slots=True, unsafe_hash=True)
class ReadStock(Operation):
    """Read a SKU's row; the result is a ``StockRow``."""

    sku: int


@dataclass(slots=True, unsafe_hash=True)
class WriteStock(Operation):
    """Blindly write a new ``available`` value and record the reservation.

    With ``fence_token`` set, the store refuses the write when a newer token has
    already written this SKU. Result: the reservation id, or ``None`` if refused.
    """

    sku: int
    available: int
    reservation: ReservationRequest
    fence_token: int | None = None


@dataclass(slots=True, unsafe_hash=True)
class CompareAndSetStock(Operation):
    """Write ``available`` only if the row's version is still ``expected_version``.

    Result: the reservation id, or ``None`` if the version moved.
    """

    sku: int
    expected_version: int
    available: int
    reservation: ReservationRequest


@dataclass(slots=True, unsafe_hash=True)
class DecrementIfAvailable(Operation):
    """One conditional update: take ``quantity`` only where that many are left.

    Result: the reservation id, or ``None`` if not enough stock.
    """

    reservation: ReservationRequest

    @property
    def sku(self) -> int:
        """The SKU whose row the update writes."""
        return self.reservation.sku


class _StockNegative:
    """The result of a ``DecrementThenCheck`` that took the units and left the row
    below zero: the caller must give them back (``GiveBack``)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "STOCK_NEGATIVE"


class _ConstraintFailed:
    """The result of a write that a ``CHECK (available >= 0)`` refused: nothing written."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "CONSTRAINT_FAILED"


#: Singleton: the decrement left the row negative; give the units back.
STOCK_NEGATIVE = _StockNegative()
#: Singleton: the row's CHECK constraint refused the write (an error to the shopper).
CONSTRAINT_FAILED = _ConstraintFailed()


@dataclass(slots=True, unsafe_hash=True)
class DecrementStock(Operation):
    """``UPDATE ... SET available = available - q`` with no stock condition.

    The relative decrement after a check: no update is lost, but nothing stops
    the row going below zero except a ``CHECK`` constraint, if the store has
    one. Result: the reservation id, or ``CONSTRAINT_FAILED``.
    """

    reservation: ReservationRequest

    @property
    def sku(self) -> int:
        """The SKU whose row the update writes."""
        return self.reservation.sku


@dataclass(slots=True, unsafe_hash=True)
class DecrementThenCheck(Operation):
    """Redis-style ``DECRBY``: take the units first, look at the new value after.

    Result: the reservation id when the new value is not negative;
    ``STOCK_NEGATIVE`` when it is (the units stay taken until ``GiveBack``);
    ``CONSTRAINT_FAILED`` when a ``CHECK`` constraint refused the write.
    """

    reservation: ReservationRequest

    @property
    def sku(self) -> int:
        """The SKU whose row (or key) the decrement writes."""
        return self.reservation.sku


@dataclass(slots=True, unsafe_hash=True)
class GiveBack(Operation):
    """``INCRBY`` the units a ``DecrementThenCheck`` took and could not keep."""

    sku: int
    quantity: int


@dataclass(slots=True, unsafe_hash=True)
class ReserveForUpdate(Operation):
    """``BEGIN; SELECT ... FOR UPDATE; check; UPDATE; COMMIT``: a pessimistic row lock.

    The row is locked from the read to the commit, so the check and the write
    see one value. Result: the reservation id, or ``None`` if not enough stock.
    """

    reservation: ReservationRequest

    @property
    def sku(self) -> int:
        """The SKU whose row the transaction locks."""
        return self.reservation.sku


@dataclass(slots=True, unsafe_hash=True)
class ReserveWithOrder(Operation):
    """One local transaction: ``UPDATE stock ... WHERE available >= q; INSERT order; COMMIT``.

    The MVP's checkout: the stock row and the (pending) order row are written
    in one database transaction, so the row stays locked through both
    statements and neither exists without the other. Result: the reservation
    id, ``None`` if not enough stock, or ``OrderStatus.FAILED`` when the order
    insert failed and the whole transaction rolled back (no units held).
    """

    reservation: ReservationRequest

    @property
    def sku(self) -> int:
        """The SKU whose row the transaction locks."""
        return self.reservation.sku


@dataclass(slots=True, unsafe_hash=True)
class DecrementBucket(Operation):
    """A conditional decrement of one of the SKU's stock buckets (rows).

    Result: the reservation id, or ``None`` if that bucket holds too little,
    whatever the other buckets hold.
    """

    reservation: ReservationRequest
    bucket: int

    @property
    def sku(self) -> int:
        """The SKU one of whose buckets the update writes."""
        return self.reservation.sku


@dataclass(slots=True, unsafe_hash=True)
class ReserveThroughQueue(Operation):
    """Send the reservation to the SKU's queue; its one consumer answers in order.

    The consumer is the only writer of the SKU's stock, so it keeps the count
    in memory: a sold-out answer costs an in-memory check, a reservation a
    write. Result: the reservation id, or ``None`` if not enough stock.
    """

    reservation: ReservationRequest

    @property
    def sku(self) -> int:
        """The SKU whose queue the request goes to."""
        return self.reservation.sku


@dataclass(slots=True, unsafe_hash=True)
class AcquireMutex(Operation):
    """Take the serving process's in-memory lock ``name``, waiting as long as it takes.

    ``holder`` (the intent) is who holds it. An in-process lock: shoppers served
    by another process of the same service never see it. Result: None.
    """

    name: str
    holder: int


@dataclass(slots=True, unsafe_hash=True)
class ReleaseMutex(Operation):
    """Release the in-process lock ``name`` held by ``holder``."""

    name: str
    holder: int


@dataclass(slots=True, unsafe_hash=True)
class AcquireLock(Operation):
    """Take a lease on ``name`` for ``ttl_s``, waiting at most ``wait_s``.

    Result: a fencing token (grows with every grant), or ``None`` on time-out.
    """

    name: str
    ttl_s: float
    wait_s: float


@dataclass(slots=True, unsafe_hash=True)
class ReleaseLock(Operation):
    """Release ``name`` if ``token`` still holds it (compare-and-delete)."""

    name: str
    token: int


@dataclass(slots=True, unsafe_hash=True)
class ReleaseReservation(Operation):
    """Return a reservation's units to stock. Result: True if it was still held."""

    reservation_id: int


@dataclass(slots=True, unsafe_hash=True)
class ExpireReservation(Operation):
    """The reaper's give-back: return a reservation past its TTL to stock, as expired.

    Result: True if it was still held (a payment may have confirmed it meanwhile).
    """

    reservation_id: int
