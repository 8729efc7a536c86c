"""Two-phase commit across inventory and payment, as the alternative to the saga.

The coordinator asks each participant to prepare: the inventory participant
takes the SKU row's lock and checks stock, the payment participant holds the
funds. Both hold what they prepared until the coordinator's decision reaches
them. If the coordinator crashes after prepare, the participants can neither
commit nor abort on their own: the row lock stays taken and every other
checkout of that SKU queues behind it. That blocking is what this module lets
the model measure against the saga.
"""

from __future__ import annotations

import math
import random

from checkoutsim.policy.inventory import lock_name
from checkoutsim.policy.local import local_checkout
from checkoutsim.policy.ops import (
    UNAVAILABLE,
    AcquireLock,
    Authorize,
    Charge,
    ChargeStatus,
    Checkpoint,
    CreateOrder,
    OrderStatus,
    ReadStock,
    ReleaseLock,
    ReleaseReservation,
    ReservationRequest,
    Step,
    WriteStock,
)
from checkoutsim.policy.saga import CheckoutRequest, Outcome, Policies, checkout

#: Further capture attempts at commit, each with the transaction's key.
COMMIT_RETRIES = 5


def protocol_checkout(
    request: CheckoutRequest,
    policies: Policies,
    rng: random.Random,
    protocol: str,
    lock_wait_s: float,
) -> Step[Outcome]:
    """One checkout under ``protocol``: the saga, two-phase commit, or one local transaction."""
    if protocol == "local_transaction":
        return local_checkout(request, policies, rng)
    if protocol == "two_phase_commit":
        return two_phase_checkout(
            request, lock_wait_s, policies.saga.reservation_ttl_s, policies.checkpoints
        )
    return checkout(request, policies, rng)


def two_phase_checkout(
    request: CheckoutRequest,
    lock_wait_s: float,
    reservation_ttl_s: float,
    checkpoints: bool = True,
) -> Step[Outcome]:
    """One checkout as a 2PC transaction: prepare both participants, decide, commit.

    ``checkpoints``: yield a ``Checkpoint`` at each boundary (see ``Policies``).
    """
    name = lock_name(request.sku)
    if checkpoints:
        yield Checkpoint(request.intent_id, begin=True)
    # Prepare, inventory: an exclusive row lock held until the decision arrives.
    # Participants in 2PC do not time their locks out: that is the protocol.
    token = yield AcquireLock(name, math.inf, lock_wait_s)
    if token is UNAVAILABLE or token is None:
        return Outcome.REJECTED  # blocked behind another transaction's lock: abort
    row = yield ReadStock(request.sku)
    if row is UNAVAILABLE or row.available < request.quantity:
        yield ReleaseLock(name, token)
        return Outcome.SOLD_OUT if row is not UNAVAILABLE else Outcome.REJECTED
    # Prepare, payment: hold the funds.
    held = yield Authorize(request.intent_id, request.amount)
    if not held:
        yield ReleaseLock(name, token)
        return Outcome.PAYMENT_FAILED
    # The decision: while this transaction's coordinator is down, it waits
    # here with the row lock and the funds held.
    if checkpoints:
        yield Checkpoint(request.intent_id)
    # Commit both participants, then release the lock. A participant that voted
    # yes must commit: the capture of the held funds is retried with the key
    # (the gateway replays it) rather than given up.
    reservation = ReservationRequest(
        request.intent_id, request.sku, request.quantity, reservation_ttl_s
    )
    reservation_id = yield WriteStock(
        request.sku, row.available - request.quantity, reservation, token
    )
    capture = yield Charge(request.intent_id, request.amount, request.key)
    for _ in range(COMMIT_RETRIES):
        if capture.status is ChargeStatus.CAPTURED:
            break
        capture = yield Charge(request.intent_id, request.amount, request.key)
    reserved = reservation_id is not UNAVAILABLE and reservation_id is not None
    if reserved and capture.status is not ChargeStatus.CAPTURED:
        # Given back before the lock goes: once it is free, the next holder
        # reads the row and writes it back whole, and a give-back landing
        # between its read and its write would be overwritten (units lost).
        try:
            yield ReleaseReservation(reservation_id)
        except Exception:
            # The lock has no TTL under 2PC: a give-back that fails must not keep it.
            yield ReleaseLock(name, token)
            raise
        yield ReleaseLock(name, token)
        return Outcome.PAYMENT_FAILED
    yield ReleaseLock(name, token)
    if not reserved:
        return Outcome.REJECTED
    status = yield CreateOrder(request.intent_id, reservation_id, capture.capture_id)
    if status in (OrderStatus.CREATED, OrderStatus.EXISTS):
        return Outcome.ORDERED
    return Outcome.ORDER_FAILED
