"""Payment strategies: how the shop keeps a Pay click from charging twice.

- ``no_key``: charge the gateway; retry on errors and time-outs with no key.
- ``check_then_charge``: the textbook: look the key up, charge the gateway,
  then insert the key under a UNIQUE constraint. Two concurrent clicks both pass
  the look-up and both charge; the constraint stops only the second *row*.
- ``key_first``: insert the key row first (the UNIQUE constraint serialises
  clicks), pass the key to the gateway, store and replay the result. A
  concurrent request with the same key gets a conflict.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import Enum

from checkoutsim.policy.ops import (
    Charge,
    ChargeResult,
    ChargeStatus,
    InsertPayment,
    KeyState,
    LookupPayment,
    PaymentRecord,
    Step,
    UpdatePayment,
    Wait,
)
from checkoutsim.policy.retry import backoff_delay

STRATEGIES = ("no_key", "check_then_charge", "key_first")


class PayStatus(Enum):
    """How a payment attempt ended for the saga."""

    CAPTURED = "captured"
    FAILED = "failed"  # definitively not charged (declined)
    RETRIABLE = "retriable"  # not charged, but a later attempt may succeed (down, 429, open)
    UNKNOWN = "unknown"  # gave up without knowing whether money moved
    CONFLICT = "conflict"  # another request with the same key is still running


@dataclass(frozen=True, slots=True)
class PayResult:
    """Outcome of a payment attempt; ``capture_id`` set when captured."""

    status: PayStatus
    capture_id: int | None = None
    #: The result came from another request's stored row: that request owns it.
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class PaymentPolicy:
    """Knobs of the payment strategies."""

    strategy: str = "key_first"
    retries: int = 2
    backoff_base_s: float = 0.2
    backoff_cap_s: float = 2.0

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"unknown payment strategy {self.strategy!r}")


def gateway_key(policy: PaymentPolicy, key: str) -> str | None:
    """The key a strategy passes to the gateway: only key-first passes one."""
    return key if policy.strategy == "key_first" else None


_FROM_STATE = {KeyState.CAPTURED: PayStatus.CAPTURED, KeyState.FAILED: PayStatus.FAILED}


def pay(
    policy: PaymentPolicy, intent_id: int, key: str, amount: int, rng: random.Random
) -> Step[PayResult]:
    """Charge ``amount`` for an intent using the policy's strategy."""
    if policy.strategy == "no_key":
        return (yield from charge_with_retries(policy, intent_id, amount, None, rng))
    if policy.strategy == "check_then_charge":
        return (yield from _check_then_charge(policy, intent_id, key, amount, rng))
    return (yield from _key_first(policy, intent_id, key, amount, rng))


def charge_with_retries(
    policy: PaymentPolicy, intent_id: int, amount: int, gateway_key: str | None, rng: random.Random
) -> Step[PayResult]:
    """Call the gateway, retrying errors and time-outs with capped, jittered back-off.

    Without a gateway key a retry after an UNKNOWN can capture a second time:
    that is the duplicate charge this tool counts.
    """
    uncertain = False
    for attempt in range(policy.retries + 1):
        result: ChargeResult = yield Charge(intent_id, amount, gateway_key)
        if result.status is ChargeStatus.CAPTURED:
            return PayResult(PayStatus.CAPTURED, result.capture_id)
        if result.status is ChargeStatus.DECLINED:
            return PayResult(PayStatus.FAILED)
        # Once any attempt's outcome was unknown, a later clean error does not
        # prove that no money moved.
        uncertain = uncertain or result.status is ChargeStatus.UNKNOWN
        if result.status is ChargeStatus.REFUSED:
            break  # the breaker is open: failing fast is its whole point
        if attempt < policy.retries:
            yield Wait(backoff_delay(attempt, policy.backoff_base_s, policy.backoff_cap_s, rng))
    return PayResult(PayStatus.UNKNOWN if uncertain else PayStatus.RETRIABLE)


def _replay(record: PaymentRecord) -> PayResult:
    """Turn a stored payment row into the result the first request got."""
    if record.state is KeyState.IN_PROGRESS:
        return PayResult(PayStatus.CONFLICT, replayed=True)
    return PayResult(_FROM_STATE[record.state], record.capture_id, replayed=True)


def _record(key: str, result: PayResult) -> PaymentRecord:
    """The payment row that stores ``result`` under ``key``."""
    if result.status is PayStatus.CAPTURED:
        return PaymentRecord(key, KeyState.CAPTURED, result.capture_id)
    if result.status is PayStatus.FAILED:
        return PaymentRecord(key, KeyState.FAILED)
    if result.status is PayStatus.RETRIABLE:
        # Nothing was charged: the next request with this key may claim the row.
        return PaymentRecord(key, KeyState.RETRY)
    # Unknown stays in progress: only the queue or the sweeper may resolve it.
    return PaymentRecord(key, KeyState.IN_PROGRESS)


def _check_then_charge(
    policy: PaymentPolicy, intent_id: int, key: str, amount: int, rng: random.Random
) -> Step[PayResult]:
    """The textbook: look up, charge (no key to the gateway), insert under UNIQUE."""
    existing = yield LookupPayment(key)
    if existing is not None and existing.state is not KeyState.RETRY:
        return _replay(existing)
    result = yield from charge_with_retries(policy, intent_id, amount, None, rng)
    clash = yield InsertPayment(_record(key, result))
    if clash is not None:
        # The unique index fired: return the stored payment, as the textbook does.
        # Our own capture, if any, is now a second charge nobody will refund.
        return _replay(clash)
    return result


def _key_first(
    policy: PaymentPolicy, intent_id: int, key: str, amount: int, rng: random.Random
) -> Step[PayResult]:
    """Insert the key first, charge with the key, store the result for replays."""
    clash = yield InsertPayment(PaymentRecord(key, KeyState.IN_PROGRESS))
    if clash is not None:
        return _replay(clash)
    result = yield from charge_with_retries(policy, intent_id, amount, key, rng)
    if result.status is not PayStatus.UNKNOWN:
        yield UpdatePayment(_record(key, result))
    return result
