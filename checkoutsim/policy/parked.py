"""What the payment retry queue's consumer does with a parked payment.

A payment is parked when the gateway could not take it (down, rate limited,
breaker open, or an unknown outcome under a gateway key). Each delivery makes
one gateway attempt with the payment's key; the queue itself owns the back-off
and the dead-letter decision. A capture resumes the saga at its retriable
step, creating the order; a decline or a dead letter compensates.
"""

from __future__ import annotations

import random
from enum import Enum

from checkoutsim.policy.inventory import InventoryPolicy, give_back
from checkoutsim.policy.ops import (
    Charge,
    ChargeStatus,
    EnqueuePayment,
    KeyState,
    PaymentRecord,
    Step,
    UpdatePayment,
)
from checkoutsim.policy.saga import CheckoutRequest, Outcome, SagaPolicy, create_order


class Delivery(Enum):
    """How one delivery of a parked payment ended, for the queue."""

    RECOVERED = "recovered"  # captured, and the saga created the order
    SETTLED = "settled"  # ended without an order (declined, or the order failed): compensated
    RETRY = "retry"  # the gateway still could not take it: nack


def deliver(
    parked: EnqueuePayment,
    saga: SagaPolicy,
    rng: random.Random,
    inventory: InventoryPolicy | None = None,
) -> Step[Delivery]:
    """One attempt at a parked payment, and the rest of the saga if it succeeds.

    ``inventory``: the strategy that made the reservation, for its give-back.
    """
    result = yield Charge(parked.intent_id, parked.amount, parked.gateway_key)
    if result.status is ChargeStatus.CAPTURED:
        if parked.gateway_key is not None:
            yield UpdatePayment(PaymentRecord(parked.key, KeyState.CAPTURED, result.capture_id))
        request = CheckoutRequest(
            parked.intent_id, parked.sku, parked.quantity, parked.amount, parked.key
        )
        outcome = yield from create_order(
            request, saga, parked.reservation_id, result.capture_id, rng, inventory
        )
        return Delivery.RECOVERED if outcome is Outcome.ORDERED else Delivery.SETTLED
    if result.status is ChargeStatus.DECLINED:
        yield from abandon(parked, KeyState.FAILED, inventory)
        return Delivery.SETTLED
    return Delivery.RETRY


def abandon(
    parked: EnqueuePayment,
    state: KeyState = KeyState.RETRY,
    inventory: InventoryPolicy | None = None,
) -> Step[None]:
    """Compensate a parked payment that will not be retried (declined or dead-lettered).

    A dead letter leaves the key claimable (``RETRY``): nothing is known to have
    been charged under it, and if something was, the sweeper refunds it.
    """
    if parked.gateway_key is not None:
        yield UpdatePayment(PaymentRecord(parked.key, state))
    if parked.reservation_id is not None:
        yield from give_back(inventory, parked.reservation_id, parked.sku, parked.intent_id)
