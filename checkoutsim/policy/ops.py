"""Operations the policy core yields to whichever body runs it, and their results.

Every operation is a small slotted dataclass, hashable and compared by value,
and never changed once made (see ``policy/operation.py`` for why it is not
declared frozen). A body (the SimPy model or the real service) executes it
and sends the result back into the policy generator. The results are plain
values or the small result types below, so the two bodies can be checked
against each other. The inventory store's operations live in
``policy/stock_ops.py`` and the base class in ``policy/operation.py``; both are
re-exported here, so a body imports every operation from this one module.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from checkoutsim.policy.operation import UNAVAILABLE, Operation, Step, T
from checkoutsim.policy.stock_ops import (
    CONSTRAINT_FAILED,
    STOCK_NEGATIVE,
    AcquireLock,
    AcquireMutex,
    CompareAndSetStock,
    DecrementBucket,
    DecrementIfAvailable,
    DecrementStock,
    DecrementThenCheck,
    ExpireReservation,
    GiveBack,
    ReadStock,
    ReleaseLock,
    ReleaseMutex,
    ReleaseReservation,
    ReservationRequest,
    ReserveForUpdate,
    ReserveThroughQueue,
    ReserveWithOrder,
    StockRow,
    WriteStock,
)

__all__ = [
    "CONSTRAINT_FAILED",
    "STOCK_NEGATIVE",
    "UNAVAILABLE",
    "AcquireLock",
    "AcquireMutex",
    "CompareAndSetStock",
    "DecrementBucket",
    "DecrementIfAvailable",
    "DecrementStock",
    "DecrementThenCheck",
    "ExpireReservation",
    "GiveBack",
    "Operation",
    "ReadStock",
    "ReleaseLock",
    "ReleaseMutex",
    "ReleaseReservation",
    "ReservationRequest",
    "ReserveForUpdate",
    "ReserveThroughQueue",
    "ReserveWithOrder",
    "Step",
    "StockRow",
    "T",
    "WriteStock",
]


# --- payment service (the shop's own idempotency table) ------------------------------


class KeyState(Enum):
    """State of a payment row keyed by an idempotency key."""

    IN_PROGRESS = "in_progress"
    CAPTURED = "captured"
    FAILED = "failed"
    RETRY = "retry"  # nothing was charged; the next request with the key may claim the row


@dataclass(slots=True, unsafe_hash=True)
class PaymentRecord:
    """A row of the shop's payment table."""

    key: str
    state: KeyState
    capture_id: int | None = None


@dataclass(slots=True, unsafe_hash=True)
class LookupPayment(Operation):
    """Find the payment row for ``key``. Result: ``PaymentRecord`` or ``None``."""

    key: str


@dataclass(slots=True, unsafe_hash=True)
class InsertPayment(Operation):
    """Insert a payment row under a UNIQUE key.

    Result: ``None`` if inserted (or if it claimed a row left in ``RETRY``),
    else the existing ``PaymentRecord`` (the unique constraint fired).
    """

    record: PaymentRecord


@dataclass(slots=True, unsafe_hash=True)
class UpdatePayment(Operation):
    """Overwrite the row for ``record.key`` with the final state."""

    record: PaymentRecord


# --- payment gateway -----------------------------------------------------------------


class ChargeStatus(Enum):
    """How a gateway call ended, as far as the caller can tell."""

    CAPTURED = "captured"
    DECLINED = "declined"  # definitive: the card was refused, nothing captured
    ERROR = "error"  # retriable, and nothing was captured (5xx before processing)
    #: Retriable, nothing captured: the account's rate limit refused it (a 429). The
    #: gateway is working, so a breaker ignores it (``policy.breaker.charge_outcome``).
    THROTTLED = "throttled"
    REFUSED = "refused"  # not sent: the breaker in front of the gateway is open
    UNKNOWN = "unknown"  # time-out or lost response: money may or may not have moved


@dataclass(slots=True, unsafe_hash=True)
class ChargeResult:
    """The caller's view of one gateway call."""

    status: ChargeStatus
    capture_id: int | None = None


@dataclass(slots=True, unsafe_hash=True)
class Charge(Operation):
    """Ask the gateway to capture ``amount`` for an intent, optionally with a key."""

    intent_id: int
    amount: int
    gateway_key: str | None
    #: Which provider (0: the primary); capture ids name their provider too.
    gateway: int = 0


@dataclass(slots=True, unsafe_hash=True)
class Refund(Operation):
    """Refund a capture. Result: True if the gateway recorded the refund."""

    capture_id: int


@dataclass(slots=True, unsafe_hash=True)
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


@dataclass(slots=True, unsafe_hash=True)
class Authorize(Operation):
    """Two-phase commit's prepare at the gateway: hold funds. Result: True if held."""

    intent_id: int
    amount: int


@dataclass(slots=True, unsafe_hash=True)
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


@dataclass(slots=True, unsafe_hash=True)
class ConfirmOrder(Operation):
    """Mark the pending order a ``ReserveWithOrder`` wrote as paid (one ``UPDATE``).

    The order row already exists, so this is a write on the shop's own
    database, not a call to an order service: it does not fail as one does.
    Result: an ``OrderStatus`` as for ``CreateOrder``.
    """

    intent_id: int
    reservation_id: int
    capture_id: int


@dataclass(slots=True, unsafe_hash=True)
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


@dataclass(slots=True, unsafe_hash=True)
class HasOrder(Operation):
    """Does an order exist for this intent? Result: bool."""

    intent_id: int


@dataclass(slots=True, unsafe_hash=True)
class Checkpoint(Operation):
    """A step boundary where the transaction's coordinator must be alive.

    While the coordinator that owns ``intent_id`` is down the transaction waits
    here, holding whatever it holds. At ``begin`` nothing is held yet: a
    transaction whose coordinator is already down is taken by a live one.
    """

    intent_id: int
    begin: bool = False


@dataclass(slots=True, unsafe_hash=True)
class Wait(Operation):
    """Do nothing for ``seconds`` (a back-off)."""

    seconds: float
