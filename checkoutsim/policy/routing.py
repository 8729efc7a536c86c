"""Routing payments over several gateways, without charging one payment at two of them.

- ``primary_only``: every payment goes to the primary (provider 0).
- ``weighted``: each payment goes to one provider, picked by share from its
  intent id (load balancing across accounts); it stays there.
- ``naive_failover``: the textbook: try the next provider whenever a provider
  did not capture, a time-out included. A time-out is not a refusal: the first
  provider may still capture, and the second one charges the same payment
  again. Idempotency keys are per provider, so the key does not stop it.
- ``safe_failover``: record the attempt and its provider before each call
  (``RecordAttempt``); move on only when the call provably did not reach the
  provider or was not processed (breaker open, refused, 429, an error before
  processing). An unknown outcome is resolved by asking that provider about
  the key (``QueryCharge``) until it answers captured, declined or "no such
  charge"; only the last sends the payment on. A provider that cannot say
  keeps the payment: it ends unknown there and is never tried elsewhere.

A provider records a key when it accepts the call (``world.gateway_rules``),
so "no such charge" is final: the call never reached it or failed before
processing, and will not capture later.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from checkoutsim.policy.ops import ChargeResult, ChargeStatus, Operation, Step, Wait
from checkoutsim.policy.payment import PaymentPolicy, PayResult, PayStatus, charge_with_retries
from checkoutsim.policy.retry import backoff_delay

ROUTINGS = ("primary_only", "weighted", "naive_failover", "safe_failover")

#: Spreads intent ids over [0, 1) for ``weighted`` (Fibonacci hashing): the
#: same intent always goes to the same provider, in either body.
_GOLDEN = 0x9E3779B97F4A7C15


@dataclass(frozen=True, slots=True)
class RoutingPolicy:
    """How payments are routed over the scenario's providers."""

    strategy: str = "primary_only"
    #: Each provider's share for ``weighted`` (the primary first); its length is the count.
    shares: tuple[float, ...] = (1.0,)
    resolve_attempts: int = 4
    resolve_backoff_s: float = 1.0

    def __post_init__(self) -> None:
        if self.strategy not in ROUTINGS:
            raise ValueError(f"unknown routing {self.strategy!r}")
        if not self.shares:
            raise ValueError("routing needs at least one provider")

    @property
    def providers(self) -> int:
        """How many providers there are."""
        return len(self.shares)

    def route(
        self,
        policy: PaymentPolicy,
        intent_id: int,
        key: str,
        amount: int,
        gateway_key: str | None,
        rng: random.Random,
    ) -> Step[PayResult]:
        """The payment's gateway calls under this routing (``route``)."""
        return (yield from route(self, policy, intent_id, key, amount, gateway_key, rng))


@dataclass(frozen=True, slots=True)
class RecordAttempt(Operation):
    """Write, in the shop's own database, that the payment under ``key`` goes to ``gateway``.

    Written before the call, so whoever picks the payment up later (a retry,
    a recovery) knows which provider to ask. Result: None.
    """

    key: str
    gateway: int


@dataclass(frozen=True, slots=True)
class QueryCharge(Operation):
    """Ask provider ``gateway`` what became of the charge under ``gateway_key``.

    Result: a ``ChargeResult``: ``CAPTURED`` (with its capture id) or
    ``DECLINED`` as stored; ``ERROR`` for "no such charge" (never accepted, and
    never will be); ``UNKNOWN`` while it is in flight or when the provider does
    not answer (down, past the time-out).
    """

    intent_id: int
    gateway: int
    gateway_key: str


def weighted_choice(shares: tuple[float, ...], intent_id: int) -> int:
    """The provider ``weighted`` routing sends an intent to, by share."""
    point = ((intent_id * _GOLDEN) % 2**64) / 2**64 * sum(shares)
    for index, share in enumerate(shares):
        if point < share:
            return index
        point -= share
    # Rounding at the top end: the last provider with a share.
    return max(index for index, share in enumerate(shares) if share > 0)


def candidates(routing: RoutingPolicy, intent_id: int) -> list[int]:
    """The providers a payment may go to, in the order they are tried."""
    if routing.strategy == "primary_only":
        return [0]
    if routing.strategy == "weighted":
        return [weighted_choice(routing.shares, intent_id)]
    return list(range(routing.providers))


def route(
    routing: RoutingPolicy,
    policy: PaymentPolicy,
    intent_id: int,
    key: str,
    amount: int,
    gateway_key: str | None,
    rng: random.Random,
) -> Step[PayResult]:
    """Charge ``amount`` through the policy's routing; each provider with its retries.

    ``key`` is the shop's idempotency key (the attempt record's), and
    ``gateway_key`` what each provider is given (None for strategies that pass
    none: safe failover then cannot ask, and an unknown outcome ends the route).
    """
    safe = routing.strategy == "safe_failover"
    uncertain = False
    for gateway in candidates(routing, intent_id):
        if safe:
            yield RecordAttempt(key, gateway)
        result = yield from charge_with_retries(
            policy, intent_id, amount, gateway_key, rng, gateway
        )
        if result.status is not PayStatus.UNKNOWN:
            if result.status is not PayStatus.RETRIABLE:
                return result  # captured, or declined: the card's answer, not the provider's
            continue  # nothing reached this provider, or nothing was processed
        if not safe:
            # The textbook: a time-out is taken for a failure, and the next
            # provider is asked to charge what this one may still capture.
            uncertain = True
            continue
        if gateway_key is None:
            return result  # nothing to ask the provider about: it stays unknown
        answer = yield from resolve(routing, intent_id, gateway, gateway_key, rng)
        if answer.status is ChargeStatus.CAPTURED:
            return PayResult(PayStatus.CAPTURED, answer.capture_id)
        if answer.status is ChargeStatus.DECLINED:
            return PayResult(PayStatus.FAILED)
        if answer.status is ChargeStatus.UNKNOWN:
            return result  # it may still capture: never charge it elsewhere
        # "No such charge": provably nothing there, so the next provider may charge.
    return PayResult(PayStatus.UNKNOWN if uncertain else PayStatus.RETRIABLE)


def resolve(
    routing: RoutingPolicy, intent_id: int, gateway: int, key: str, rng: random.Random
) -> Step[ChargeResult]:
    """Ask ``gateway`` about ``key`` until it knows, at most ``resolve_attempts`` times.

    Returns its answer: ``CAPTURED``, ``DECLINED``, ``ERROR`` (no such charge),
    or ``UNKNOWN`` when it still could not say.
    """
    answer = ChargeResult(ChargeStatus.UNKNOWN)
    for attempt in range(routing.resolve_attempts):
        answer = yield QueryCharge(intent_id, gateway, key)
        if answer.status is not ChargeStatus.UNKNOWN:
            return answer
        if attempt + 1 < routing.resolve_attempts:
            base = routing.resolve_backoff_s
            yield Wait(backoff_delay(attempt, base, base * 8, rng))
    return answer
