"""The checkout saga: reserve (compensatable) -> capture (pivot) -> order (retriable).

Written once as a generator over operations, driven by the simulation and the
real service alike. The reservation is the compensation registered before the
payment call, whose outcome can be unknown. After the pivot the order is retried
and the payment refunded only when the retries are exhausted. The orphan sweeper
refunds captures that ended with neither an order nor a refund.

Compensation modes, for the order-failure comparison:

- ``none``: an order failure is returned as is: money kept, units held.
- ``refund_only``: refund and release at the first order failure, no retry.
- ``refund_then_retry``: the textbook's catch block: refund and release, then
  retry the order with the same payment and reservation ids. The retry can
  succeed, and then the shop ships an order whose money it gave back, against
  units it already returned to stock.
- ``saga``: retry the order with back-off, compensate only when retries run out.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import Enum

from checkoutsim.policy.inventory import InventoryPolicy, ReserveStatus, give_back, reserve
from checkoutsim.policy.ops import (
    Checkpoint,
    CreateOrder,
    EnqueuePayment,
    HasOrder,
    OrderStatus,
    Refund,
    ReservationRequest,
    Step,
    UnrefundedCaptures,
    Wait,
)
from checkoutsim.policy.payment import PaymentPolicy, PayStatus, gateway_key, pay
from checkoutsim.policy.retry import backoff_delay

COMPENSATION_MODES = ("none", "refund_only", "saga", "refund_then_retry")
EXPIRED_RESERVATION_HANDLING = ("oversell", "refund")
INVENTORY_DOWN_HANDLING = ("reject", "accept")


class Outcome(Enum):
    """What the shopper is told at the end of one checkout request."""

    ORDERED = "ordered"
    SOLD_OUT = "sold_out"
    REJECTED = "rejected"
    PAYMENT_FAILED = "payment_failed"
    PROCESSING = "processing"  # outcome not known yet (another request owns it, or unknown)
    ORDER_FAILED = "order_failed"


@dataclass(frozen=True, slots=True)
class SagaPolicy:
    """Knobs of the saga and its compensations."""

    compensation: str = "saga"
    order_retries: int = 3
    order_backoff_base_s: float = 0.5
    order_backoff_cap_s: float = 5.0
    reservation_ttl_s: float = 600.0
    on_expired_reservation: str = "refund"
    #: Park payments the gateway could not take (down, breaker open) in the retry queue.
    queue_payments: bool = False
    #: When the inventory service is down: refuse (consistency) or sell blind (availability).
    when_inventory_down: str = "reject"

    def __post_init__(self) -> None:
        if self.compensation not in COMPENSATION_MODES:
            raise ValueError(f"unknown compensation mode {self.compensation!r}")
        if self.on_expired_reservation not in EXPIRED_RESERVATION_HANDLING:
            raise ValueError(f"unknown expiry handling {self.on_expired_reservation!r}")
        if self.when_inventory_down not in INVENTORY_DOWN_HANDLING:
            raise ValueError(f"unknown inventory-down handling {self.when_inventory_down!r}")


@dataclass(slots=True, unsafe_hash=True)
class CheckoutRequest:
    """One checkout request as the service receives it."""

    intent_id: int
    sku: int
    quantity: int
    amount: int
    key: str


@dataclass(frozen=True, slots=True)
class Policies:
    """The three policies a checkout runs under, bundled for the bodies."""

    inventory: InventoryPolicy
    payment: PaymentPolicy
    saga: SagaPolicy
    #: Yield a ``Checkpoint`` at each step boundary. A body where no
    #: coordinator can crash turns them off: there they never stall, and a
    #: flash sale would build and pass one for every shopper.
    checkpoints: bool = True


def checkout(request: CheckoutRequest, policies: Policies, rng: random.Random) -> Step[Outcome]:
    """Run one checkout request through the saga and return what the shopper sees."""
    saga = policies.saga
    checkpoints = policies.checkpoints
    if checkpoints:
        yield Checkpoint(request.intent_id, begin=True)
    reservation = yield from reserve(
        policies.inventory,
        ReservationRequest(
            request.intent_id, request.sku, request.quantity, saga.reservation_ttl_s
        ),
        rng,
    )
    if reservation.status is ReserveStatus.SOLD_OUT:
        return Outcome.SOLD_OUT
    if reservation.status in (ReserveStatus.CONFLICT, ReserveStatus.ERROR):
        # ERROR: the stock row's CHECK constraint refused the write.
        return Outcome.REJECTED
    if reservation.status is ReserveStatus.UNAVAILABLE and saga.when_inventory_down == "reject":
        # Consistency over availability: no stock check, no sale.
        return Outcome.REJECTED
    # None when the inventory was down and the shop chose to sell anyway.
    reservation_id = reservation.reservation_id

    if checkpoints:
        yield Checkpoint(request.intent_id)
    paid = yield from take_payment(request, policies, reservation_id, rng)
    if isinstance(paid, Outcome):
        return paid
    if checkpoints:
        yield Checkpoint(request.intent_id)
    return (
        yield from create_order(
            request, saga, reservation_id, paid, rng, inventory=policies.inventory
        )
    )


def take_payment(
    request: CheckoutRequest, policies: Policies, reservation_id: int | None, rng: random.Random
) -> Step[Outcome | int]:
    """Charge for a reserved checkout: the capture id, or what the shopper is told.

    Every path that does not end in a capture settles the reservation first
    (released, or handed to the retry queue with the parked payment).
    """
    saga = policies.saga
    payment = yield from pay(policies.payment, request.intent_id, request.key, request.amount, rng)
    if payment.replayed:
        # Another request with this key owns the payment and finishes the saga
        # (order or refund). Going on with its capture would let two sagas
        # share one payment: one could refund it while the other orders with it.
        yield from _release(reservation_id, request, policies.inventory)
        if payment.status is PayStatus.FAILED:
            return Outcome.PAYMENT_FAILED
        return Outcome.PROCESSING
    queueable = payment.status is PayStatus.RETRIABLE or (
        payment.status is PayStatus.UNKNOWN and gateway_key(policies.payment, request.key)
    )
    if saga.queue_payments and queueable:
        # The shopper is told "processing"; the reservation stays with the
        # parked payment, and the queue's consumer finishes the saga.
        yield EnqueuePayment(
            request.intent_id,
            request.key,
            gateway_key(policies.payment, request.key),
            request.amount,
            request.sku,
            request.quantity,
            reservation_id,
        )
        return Outcome.PROCESSING
    if payment.status is not PayStatus.CAPTURED:
        # The reservation was the compensation registered before the pivot.
        yield from _release(reservation_id, request, policies.inventory)
        if payment.status is PayStatus.FAILED:
            return Outcome.PAYMENT_FAILED
        if payment.status is PayStatus.RETRIABLE:
            return Outcome.REJECTED  # gateway down, rate limited or breaker open
        # CONFLICT: the first request with this key owns the outcome. UNKNOWN:
        # money may have moved; the sweeper refunds it if no order appears.
        return Outcome.PROCESSING
    capture_id = payment.capture_id
    assert capture_id is not None
    return capture_id


def _release(
    reservation_id: int | None, request: CheckoutRequest, inventory: InventoryPolicy | None
) -> Step[None]:
    """Compensate the reservation, if there is one, under the strategy's rules."""
    if reservation_id is not None:
        yield from give_back(inventory, reservation_id, request.sku, request.intent_id)


def create_order(
    request: CheckoutRequest,
    saga: SagaPolicy,
    reservation_id: int | None,
    capture_id: int,
    rng: random.Random,
    inventory: InventoryPolicy | None = None,
) -> Step[Outcome]:
    """The retriable step after the pivot, with the compensation mode's rules.

    ``inventory``: the strategy that made the reservation, so a give-back
    follows its rules (``give_back``); None gives back without them.
    """
    attempts = saga.order_retries + 1 if saga.compensation == "saga" else 1
    allow_expired = saga.on_expired_reservation == "oversell"
    if saga.compensation == "refund_then_retry":
        return (yield from _refund_then_retry(request, saga, reservation_id, capture_id, inventory))
    for attempt in range(attempts):
        status = yield CreateOrder(
            request.intent_id,
            reservation_id,
            capture_id,
            allow_expired,
            request.sku,
            request.quantity,
        )
        if status is OrderStatus.CREATED:
            return Outcome.ORDERED
        if status is OrderStatus.EXISTS:
            # A concurrent click of the same intent already ordered: free our units.
            yield from _release(reservation_id, request, inventory)
            return Outcome.ORDERED
        if status is OrderStatus.RESERVATION_EXPIRED:
            # The units went back to stock while the payment was slow: refund.
            yield Refund(capture_id)
            return Outcome.ORDER_FAILED
        if saga.compensation == "none":
            return Outcome.ORDER_FAILED
        if attempt + 1 < attempts:
            yield Wait(
                backoff_delay(attempt, saga.order_backoff_base_s, saga.order_backoff_cap_s, rng)
            )
    yield Refund(capture_id)
    yield from _release(reservation_id, request, inventory)
    return Outcome.ORDER_FAILED


def _refund_then_retry(
    request: CheckoutRequest,
    saga: SagaPolicy,
    reservation_id: int | None,
    capture_id: int,
    inventory: InventoryPolicy | None,
) -> Step[Outcome]:
    """The textbook's order-failure handling, kept to measure what it does."""
    for attempt in range(saga.order_retries + 1):
        status = yield CreateOrder(
            request.intent_id,
            reservation_id,
            capture_id,
            # After the compensation the reservation is gone: the textbook's
            # retry passes its id anyway and nothing checks it.
            attempt > 0,
            request.sku,
            request.quantity,
        )
        if status in (OrderStatus.CREATED, OrderStatus.EXISTS):
            return Outcome.ORDERED
        if attempt == 0:
            yield Refund(capture_id)
            yield from _release(reservation_id, request, inventory)
    return Outcome.ORDER_FAILED


def find_orphans(min_age_s: float) -> Step[list[int]]:
    """The orphan sweeper's look-up: captures with neither an order nor a refund.

    ``min_age_s`` must exceed the longest a saga can take to create its order,
    or the sweeper refunds a payment whose order is still being retried.
    """
    orphans = []
    captures = yield UnrefundedCaptures(min_age_s)
    for capture_id, intent_id in captures:
        has_order = yield HasOrder(intent_id)
        if not has_order:
            orphans.append(capture_id)
    return orphans


def refund_orphan(capture_id: int) -> Step[bool]:
    """Refund one orphan capture (bodies run several of these at once)."""
    refunded = yield Refund(capture_id)
    return bool(refunded)


def sweep_orphans(min_age_s: float) -> Step[int]:
    """One sequential sweeper pass: find orphans, refund each; return how many."""
    refunded = 0
    for capture_id in (yield from find_orphans(min_age_s)):
        refunded += yield from refund_orphan(capture_id)
    return refunded
