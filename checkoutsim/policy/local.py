"""The MVP's checkout: one service, one database, one local transaction.

The stock reservation and the (pending) order are written in one database
transaction, before any money moves; then the payment is taken with its
idempotency key inserted first; then the order is marked paid. Nothing here is
a distributed transaction, so the failure modes the saga exists for cannot
arise: an order insert that fails rolls the reservation back with it, and no
payment has been taken yet, so it is retried with nothing to compensate. A
payment that does not capture releases the pending order and its units, as the
saga releases its reservation.

What it gives up is measured elsewhere: the stock row stays locked through
both statements of the transaction, and the one service has no breaker and no
retry queue in front of the gateway.
"""

from __future__ import annotations

import random

from checkoutsim.policy.inventory import give_back
from checkoutsim.policy.ops import (
    UNAVAILABLE,
    Checkpoint,
    ConfirmOrder,
    OrderStatus,
    Refund,
    ReservationRequest,
    ReserveWithOrder,
    Step,
    Wait,
)
from checkoutsim.policy.retry import backoff_delay
from checkoutsim.policy.saga import CheckoutRequest, Outcome, Policies, take_payment


def local_checkout(
    request: CheckoutRequest, policies: Policies, rng: random.Random
) -> Step[Outcome]:
    """Run one checkout as the MVP does and return what the shopper sees."""
    saga = policies.saga
    checkpoints = policies.checkpoints
    if checkpoints:
        yield Checkpoint(request.intent_id, begin=True)
    reservation = ReservationRequest(
        request.intent_id, request.sku, request.quantity, saga.reservation_ttl_s
    )
    # The transaction is retried on an order-insert failure: it rolled back
    # whole, and no money has moved, so a retry is all the handling it needs.
    attempts = saga.order_retries + 1
    for attempt in range(attempts):
        reserved = yield ReserveWithOrder(reservation)
        if reserved is not OrderStatus.FAILED:
            break
        if attempt + 1 < attempts:
            yield Wait(
                backoff_delay(attempt, saga.order_backoff_base_s, saga.order_backoff_cap_s, rng)
            )
    else:
        return Outcome.ORDER_FAILED  # nothing held, nothing charged
    if reserved is UNAVAILABLE:
        return Outcome.REJECTED  # the one database is down: no sale
    if reserved is None:
        return Outcome.SOLD_OUT
    if checkpoints:
        yield Checkpoint(request.intent_id)
    paid = yield from take_payment(request, policies, reserved, rng)
    if isinstance(paid, Outcome):
        return paid
    if checkpoints:
        yield Checkpoint(request.intent_id)
    status = yield ConfirmOrder(request.intent_id, reserved, paid)
    if status is OrderStatus.CREATED:
        return Outcome.ORDERED
    if status is OrderStatus.EXISTS:
        # Another click of the same intent was confirmed first: free our units.
        # No strategy's lock to take (``give_back_policy``): every reservation
        # here is one conditional statement, with no read-then-write to lose it.
        yield from give_back(None, reserved, request.sku, request.intent_id)
        return Outcome.ORDERED
    # The pending order's hold lapsed while the payment was slow: its units
    # went back to stock, so the money goes back too.
    yield Refund(paid)
    return Outcome.ORDER_FAILED
