"""Operations the policy core yields to whichever body runs it, and their results.

Every operation is a small frozen dataclass. A body (the SimPy model or the real
service) executes it and sends the result back into the policy generator. The
results are plain values or the small result types below, so the two bodies can
be checked against each other.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from enum import Enum
from typing import Any, TypeVar

T = TypeVar("T")

#: A policy step: yields operations, receives their results, returns ``T``.
Step = Generator["Operation", Any, T]


@dataclass(frozen=True, slots=True)
class ReservationRequest:
    """What a successful stock write should also record as a reservation."""

    intent_id: int
    sku: int
    quantity: int
    ttl_s: float


@dataclass(frozen=True, slots=True)
class StockRow:
    """A read of one SKU's inventory row."""

    available: int
    version: int


class Operation:
    """Base class of everything a policy can yield."""

    __slots__ = ()


class _Unavailable:
    """The result of any inventory operation while the service is down or fenced off
    by an open breaker: the operation did not happen."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "UNAVAILABLE"


#: Singleton result meaning "the service did not do it: down, or breaker open".
UNAVAILABLE = _Unavailable()


# --- inventory store -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReadStock(Operation):
    """Read a SKU's row; the result is a ``StockRow``."""

    sku: int


@dataclass(frozen=True, slots=True)
class WriteStock(Operation):
    """Blindly write a new ``available`` value and record the reservation.

    With ``fence_token`` set, the store refuses the write when a newer token has
    already written this SKU. Result: the reservation id, or ``None`` if refused.
    """

    sku: int
    available: int
    reservation: ReservationRequest
    fence_token: int | None = None


@dataclass(frozen=True, slots=True)
class CompareAndSetStock(Operation):
    """Write ``available`` only if the row's version is still ``expected_version``.

    Result: the reservation id, or ``None`` if the version moved.
    """

    sku: int
    expected_version: int
    available: int
    reservation: ReservationRequest


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
class GiveBack(Operation):
    """``INCRBY`` the units a ``DecrementThenCheck`` took and could not keep."""

    sku: int
    quantity: int


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
class AcquireMutex(Operation):
    """Take the serving process's in-memory lock ``name``, waiting as long as it takes.

    ``holder`` (the intent) is who holds it. An in-process lock: shoppers served
    by another process of the same service never see it. Result: None.
    """

    name: str
    holder: int


@dataclass(frozen=True, slots=True)
class ReleaseMutex(Operation):
    """Release the in-process lock ``name`` held by ``holder``."""

    name: str
    holder: int


@dataclass(frozen=True, slots=True)
class AcquireLock(Operation):
    """Take a lease on ``name`` for ``ttl_s``, waiting at most ``wait_s``.

    Result: a fencing token (grows with every grant), or ``None`` on time-out.
    """

    name: str
    ttl_s: float
    wait_s: float


@dataclass(frozen=True, slots=True)
class ReleaseLock(Operation):
    """Release ``name`` if ``token`` still holds it (compare-and-delete)."""

    name: str
    token: int


@dataclass(frozen=True, slots=True)
class ReleaseReservation(Operation):
    """Return a reservation's units to stock. Result: True if it was still held."""

    reservation_id: int


# --- payment service (the shop's own idempotency table) ------------------------------


class KeyState(Enum):
    """State of a payment row keyed by an idempotency key."""

    IN_PROGRESS = "in_progress"
    CAPTURED = "captured"
    FAILED = "failed"
    RETRY = "retry"  # nothing was charged; the next request with the key may claim the row


@dataclass(frozen=True, slots=True)
class PaymentRecord:
    """A row of the shop's payment table."""

    key: str
    state: KeyState
    capture_id: int | None = None


@dataclass(frozen=True, slots=True)
class LookupPayment(Operation):
    """Find the payment row for ``key``. Result: ``PaymentRecord`` or ``None``."""

    key: str


@dataclass(frozen=True, slots=True)
class InsertPayment(Operation):
    """Insert a payment row under a UNIQUE key.

    Result: ``None`` if inserted (or if it claimed a row left in ``RETRY``),
    else the existing ``PaymentRecord`` (the unique constraint fired).
    """

    record: PaymentRecord


@dataclass(frozen=True, slots=True)
class UpdatePayment(Operation):
    """Overwrite the row for ``record.key`` with the final state."""

    record: PaymentRecord


# --- payment gateway -----------------------------------------------------------------


class ChargeStatus(Enum):
    """How a gateway call ended, as far as the caller can tell."""

    CAPTURED = "captured"
    DECLINED = "declined"  # definitive: the card was refused, nothing captured
    ERROR = "error"  # retriable, and nothing was captured (5xx before processing, 429)
    REFUSED = "refused"  # not sent: the breaker in front of the gateway is open
    UNKNOWN = "unknown"  # time-out or lost response: money may or may not have moved


@dataclass(frozen=True, slots=True)
class ChargeResult:
    """The caller's view of one gateway call."""

    status: ChargeStatus
    capture_id: int | None = None


@dataclass(frozen=True, slots=True)
class Charge(Operation):
    """Ask the gateway to capture ``amount`` for an intent, optionally with a key."""

    intent_id: int
    amount: int
    gateway_key: str | None


@dataclass(frozen=True, slots=True)
class Refund(Operation):
    """Refund a capture. Result: True if the gateway recorded the refund."""

    capture_id: int


@dataclass(frozen=True, slots=True)
class UnrefundedCaptures(Operation):
    """List captures older than ``min_age_s`` that have no refund, from the ledger.

    Result: a list of ``(capture_id, intent_id)``.
    """

    min_age_s: float


# --- order service and time ----------------------------------------------------------


class OrderStatus(Enum):
    """How an order-creation call ended."""

    CREATED = "created"
    EXISTS = "exists"  # an order for this intent already exists (idempotent create)
    FAILED = "failed"  # the order service failed; retriable
    RESERVATION_EXPIRED = "reservation_expired"  # the units went back to stock


@dataclass(frozen=True, slots=True)
class Authorize(Operation):
    """Two-phase commit's prepare at the gateway: hold funds. Result: True if held."""

    intent_id: int
    amount: int


@dataclass(frozen=True, slots=True)
class EnqueuePayment(Operation):
    """Park a payment in the retry queue; its consumer finishes the saga later.

    ``gateway_key`` is what a retry passes to the gateway (None for strategies
    that pass none); ``reservation_id`` is None when stock was not reserved.
    """

    intent_id: int
    key: str
    gateway_key: str | None
    amount: int
    sku: int
    quantity: int
    reservation_id: int | None


@dataclass(frozen=True, slots=True)
class CreateOrder(Operation):
    """Create the order for an intent from its reservation (UNIQUE per intent).

    With ``allow_expired`` the order is written even if the reservation has
    expired and its units were returned to stock (which can oversell). With no
    reservation (inventory was down and the checkout accepted anyway) the order
    takes ``quantity`` units of ``sku`` blindly.
    """

    intent_id: int
    reservation_id: int | None
    capture_id: int
    allow_expired: bool = False
    sku: int = 0
    quantity: int = 0


@dataclass(frozen=True, slots=True)
class HasOrder(Operation):
    """Does an order exist for this intent? Result: bool."""

    intent_id: int


@dataclass(frozen=True, slots=True)
class Checkpoint(Operation):
    """A step boundary where the transaction's coordinator must be alive.

    While the coordinator that owns ``intent_id`` is down the transaction waits
    here, holding whatever it holds. At ``begin`` nothing is held yet: a
    transaction whose coordinator is already down is taken by a live one.
    """

    intent_id: int
    begin: bool = False


@dataclass(frozen=True, slots=True)
class Wait(Operation):
    """Do nothing for ``seconds`` (a back-off)."""

    seconds: float
