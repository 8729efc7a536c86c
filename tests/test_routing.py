"""Routing payments over several gateways: the policy core against scripted providers.

Each provider here is a small independent implementation of what a payment
provider does with a call (capture now, decline, refuse before processing,
hang, capture after the caller's time-out, capture and lose the response),
with its own idempotency keys and its own ledger. Hypothesis draws the faults
and their timings; the invariant is read from the providers' ledgers once
every call in flight has settled.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checkoutsim.policy import ops
from checkoutsim.policy.payment import PaymentPolicy, PayStatus, pay
from checkoutsim.policy.routing import (
    QueryCharge,
    RecordAttempt,
    RoutingPolicy,
    candidates,
    weighted_choice,
)

CAPTURED = ops.ChargeStatus.CAPTURED
IN_FLIGHT = "in_flight"
#: What a provider's next charge meets.
BEHAVIOURS = ("captured", "declined", "error", "refused", "hang", "late", "late_decline", "lost")


@dataclass
class Provider:
    """A provider's books and scripted behaviour."""

    index: int
    script: list[str]
    #: For each late call, how long after it the provider settles it.
    delays: list[float]
    #: Whether each status look-up finds the provider unreachable.
    down: list[bool]
    keys: dict[str, object] = field(default_factory=dict)
    captures: list[int] = field(default_factory=list)
    pending: list[tuple[float, str, int, bool]] = field(default_factory=list)
    calls: int = 0

    def _capture(self, key: str | None, intent: int) -> ops.ChargeResult:
        self.captures.append(intent)
        result = ops.ChargeResult(CAPTURED, len(self.captures) * 10 + self.index)
        if key is not None:
            self.keys[key] = result
        return result

    def charge(self, op: ops.Charge, now: float) -> ops.ChargeResult:
        behaviour = self.script[self.calls % len(self.script)]
        self.calls += 1
        if behaviour == "refused":
            return ops.ChargeResult(ops.ChargeStatus.REFUSED)
        if behaviour == "error":
            return ops.ChargeResult(ops.ChargeStatus.ERROR)
        if behaviour == "hang":
            # Down before accepting anything: nothing recorded, the caller times out.
            return ops.ChargeResult(ops.ChargeStatus.UNKNOWN)
        key = op.gateway_key
        if key is not None and key in self.keys:
            stored = self.keys[key]
            return ops.ChargeResult(ops.ChargeStatus.UNKNOWN) if stored == IN_FLIGHT else stored  # type: ignore[return-value]
        if behaviour == "declined":
            declined = ops.ChargeResult(ops.ChargeStatus.DECLINED)
            if key is not None:
                self.keys[key] = declined
            return declined
        if behaviour in ("late", "late_decline"):
            if key is not None:
                self.keys[key] = IN_FLIGHT
            delay = self.delays[len(self.pending) % len(self.delays)]
            self.pending.append((now + delay, key or "", op.intent_id, behaviour == "late"))
            return ops.ChargeResult(ops.ChargeStatus.UNKNOWN)
        result = self._capture(key, op.intent_id)
        return ops.ChargeResult(ops.ChargeStatus.UNKNOWN) if behaviour == "lost" else result

    def settle(self, now: float) -> None:
        """Finish the calls due by ``now`` on the provider's own time."""
        due = [item for item in self.pending if item[0] <= now]
        self.pending = [item for item in self.pending if item[0] > now]
        for _when, key, intent, captures in due:
            if captures:
                self._capture(key or None, intent)
            elif key:
                self.keys[key] = ops.ChargeResult(ops.ChargeStatus.DECLINED)

    def query(self, key: str, asked: int) -> ops.ChargeResult:
        if self.down and self.down[asked % len(self.down)]:
            return ops.ChargeResult(ops.ChargeStatus.UNKNOWN)
        if key not in self.keys:
            return ops.ChargeResult(ops.ChargeStatus.ERROR)  # no such charge
        stored = self.keys[key]
        return ops.ChargeResult(ops.ChargeStatus.UNKNOWN) if stored == IN_FLIGHT else stored  # type: ignore[return-value]


@dataclass
class World:
    """Drives a payment generator over the providers with a manual clock."""

    providers: list[Provider]
    now: float = 0.0
    asked: int = 0
    operations: list[ops.Operation] = field(default_factory=list)

    def run(self, steps: ops.Step[object]) -> object:
        result: object = None
        while True:
            try:
                operation = steps.send(result)
            except StopIteration as stop:
                return stop.value
            self.operations.append(operation)
            result = self.perform(operation)

    def perform(self, operation: ops.Operation) -> object:
        if isinstance(operation, ops.Charge):
            return self.providers[operation.gateway].charge(operation, self.now)
        if isinstance(operation, QueryCharge):
            self.asked += 1
            return self.providers[operation.gateway].query(operation.gateway_key, self.asked)
        if isinstance(operation, ops.Wait):
            self.now += operation.seconds
            for provider in self.providers:
                provider.settle(self.now)
            return None
        if isinstance(operation, ops.InsertPayment | ops.UpdatePayment | RecordAttempt):
            return None
        raise AssertionError(f"unexpected operation {operation}")

    def finish(self) -> None:
        """Let every call still in flight settle."""
        for provider in self.providers:
            provider.settle(float("inf"))

    def providers_charged(self, intent: int) -> int:
        return sum(intent in provider.captures for provider in self.providers)


def policy(routing: str, providers: int = 2, retries: int = 1) -> PaymentPolicy:
    return PaymentPolicy(
        "key_first",
        retries=retries,
        routing=RoutingPolicy(routing, (1.0,) * providers, resolve_attempts=3),
    )


def test_naive_failover_charges_at_two_providers_when_the_first_captures_late() -> None:
    world = World(
        [Provider(0, ["late"], delays=[30.0], down=[]), Provider(1, ["captured"], [1.0], [])]
    )
    result = world.run(pay(policy("naive_failover"), 7, "k7", 100, random.Random(0)))
    world.finish()
    assert result.status is PayStatus.CAPTURED  # type: ignore[attr-defined]
    assert world.providers_charged(7) == 2  # the primary's late capture, and the backup's


def test_safe_failover_asks_the_first_provider_and_takes_its_late_capture() -> None:
    world = World(
        [Provider(0, ["late"], delays=[0.1], down=[]), Provider(1, ["captured"], [1.0], [])]
    )
    # No retry: the answer must come from asking the provider.
    result = world.run(pay(policy("safe_failover", retries=0), 7, "k7", 100, random.Random(0)))
    world.finish()
    assert world.asked >= 1
    assert result.status is PayStatus.CAPTURED  # type: ignore[attr-defined]
    assert world.providers[1].calls == 0
    assert world.providers_charged(7) == 1


def test_safe_failover_moves_on_when_the_first_provider_never_took_the_call() -> None:
    world = World(
        [Provider(0, ["hang"], delays=[1.0], down=[]), Provider(1, ["captured"], [1.0], [])]
    )
    result = world.run(pay(policy("safe_failover"), 7, "k7", 100, random.Random(0)))
    assert result.status is PayStatus.CAPTURED  # type: ignore[attr-defined]
    assert world.providers[1].captures == [7]
    # The attempt and its provider were recorded before each provider's first call.
    charges = [
        (index, op.gateway)
        for index, op in enumerate(world.operations)
        if isinstance(op, ops.Charge)
    ]
    for gateway in (0, 1):
        first = min(index for index, at in charges if at == gateway)
        assert world.operations[first - 1] == RecordAttempt("k7", gateway)


def test_safe_failover_keeps_an_unresolved_payment_where_it_is() -> None:
    world = World(
        [Provider(0, ["late"], delays=[1e6], down=[True]), Provider(1, ["captured"], [1.0], [])]
    )
    result = world.run(pay(policy("safe_failover"), 7, "k7", 100, random.Random(0)))
    world.finish()
    assert result.status is PayStatus.UNKNOWN  # type: ignore[attr-defined]
    assert world.providers[1].calls == 0
    assert world.providers_charged(7) == 1  # the primary, on its own time


@settings(max_examples=300, deadline=None)
@given(
    scripts=st.lists(
        st.lists(st.sampled_from(BEHAVIOURS), min_size=1, max_size=6), min_size=2, max_size=4
    ),
    delays=st.lists(st.floats(0.0, 200.0), min_size=1, max_size=4),
    down=st.lists(st.booleans(), max_size=5),
    retries=st.integers(0, 3),
    routing=st.sampled_from(["safe_failover", "primary_only", "weighted"]),
)
def test_no_payment_is_captured_at_two_providers_whatever_the_faults(
    scripts: list[list[str]], delays: list[float], down: list[bool], retries: int, routing: str
) -> None:
    world = World([Provider(index, script, delays, down) for index, script in enumerate(scripts)])
    result = world.run(
        pay(policy(routing, len(scripts), retries), 7, "k7", 100, random.Random(retries))
    )
    world.finish()
    assert world.providers_charged(7) <= 1
    if result.status is PayStatus.CAPTURED:  # type: ignore[attr-defined]
        assert world.providers_charged(7) == 1
    if result.status is PayStatus.RETRIABLE:  # type: ignore[attr-defined]
        assert world.providers_charged(7) == 0  # "nothing charged" must be true


def test_weighted_choice_follows_the_shares() -> None:
    shares = (1.0, 3.0)
    picks = [weighted_choice(shares, intent) for intent in range(20_000)]
    assert abs(picks.count(0) / len(picks) - 0.25) < 0.01
    assert weighted_choice((0.0, 1.0), 5) == 1
    assert weighted_choice((1.0, 0.0), 5) == 0


@pytest.mark.parametrize(
    ("routing", "expected"),
    [
        ("primary_only", [0]),
        ("naive_failover", [0, 1, 2]),
        ("safe_failover", [0, 1, 2]),
    ],
)
def test_candidates(routing: str, expected: list[int]) -> None:
    assert candidates(RoutingPolicy(routing, (1.0, 1.0, 1.0)), 11) == expected


def test_unknown_routing_is_refused() -> None:
    with pytest.raises(ValueError, match="routing"):
        RoutingPolicy("round_robin", (1.0, 1.0))
