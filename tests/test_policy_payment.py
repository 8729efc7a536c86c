"""Payment strategies and the saga, raced step by step with a manual clock."""

from __future__ import annotations

import dataclasses
import random

import pytest

from checkoutsim.policy import ops
from checkoutsim.policy.clock import ManualClock
from checkoutsim.policy.inventory import InventoryPolicy
from checkoutsim.policy.payment import PaymentPolicy, PayStatus, pay
from checkoutsim.policy.saga import (
    CheckoutRequest,
    Outcome,
    Policies,
    SagaPolicy,
    checkout,
    sweep_orphans,
)
from tests.support import Interleaving, StepBody


def clicks(strategy: str, body: StepBody, retries: int = 0) -> Interleaving:
    policy = PaymentPolicy(strategy, retries=retries)
    rng = random.Random(0)
    return Interleaving(body, [pay(policy, 7, "k7", 100, rng), pay(policy, 7, "k7", 100, rng)])


def test_check_then_charge_double_charges_when_clicks_overlap() -> None:
    body = StepBody([10])
    race = clicks("check_then_charge", body)
    race.run([0, 1])  # both look the key up and find nothing
    results = race.run_all()
    assert len(body.ledger.capture_intent) == 2  # the gateway took the money twice
    assert {r.status for r in results} == {PayStatus.CAPTURED}
    assert len(body.shop.payments) == 1  # the UNIQUE index stopped only the second row


def test_check_then_charge_is_fine_when_clicks_do_not_overlap() -> None:
    body = StepBody([10])
    race = clicks("check_then_charge", body)
    race.run([0, 0, 0])  # the first click finishes before the second starts
    race.run_all()
    assert len(body.ledger.capture_intent) == 1


def test_key_first_charges_once_and_tells_the_second_click_it_is_processing() -> None:
    body = StepBody([10])
    race = clicks("key_first", body)
    race.run([0, 1])  # both insert the key; the second hits the UNIQUE constraint
    results = race.run_all()
    assert len(body.ledger.capture_intent) == 1
    assert sorted(r.status.value for r in results) == ["captured", "conflict"]


def test_key_first_replays_a_finished_payment() -> None:
    body = StepBody([10])
    policy = PaymentPolicy("key_first")
    first = body.run(pay(policy, 7, "k7", 100, random.Random(0)))
    again = body.run(pay(policy, 7, "k7", 100, random.Random(0)))
    assert (again.status, again.capture_id) == (first.status, first.capture_id)
    assert again.replayed and not first.replayed
    assert len(body.ledger.capture_intent) == 1


@pytest.mark.parametrize(("strategy", "captures"), [("no_key", 2), ("key_first", 1)])
def test_retry_after_a_lost_response(strategy: str, captures: int) -> None:
    body = StepBody([10])
    body.gateway.script = ["lost"]  # captured, but the response never arrives
    result = body.run(pay(PaymentPolicy(strategy, retries=2), 7, "k7", 100, random.Random(0)))
    assert result.status is PayStatus.CAPTURED
    assert len(body.ledger.capture_intent) == captures


def test_errors_before_processing_are_retriable_and_charge_nothing() -> None:
    body = StepBody([10])
    body.gateway.script = ["error", "error"]
    result = body.run(pay(PaymentPolicy("no_key", retries=1), 7, "k7", 100, random.Random(0)))
    assert result.status is PayStatus.RETRIABLE
    assert not body.ledger.capture_intent


def test_a_decline_is_a_definite_failure() -> None:
    body = StepBody([10])
    body.gateway.script = ["declined"]
    result = body.run(pay(PaymentPolicy("no_key", retries=3), 7, "k7", 100, random.Random(0)))
    assert result.status is PayStatus.FAILED
    assert len(body.executed) == 1  # no retry of a definite no


def test_an_open_breaker_stops_the_retries_at_once() -> None:
    body = StepBody([10])
    body.gateway.script = ["refused", "captured"]
    result = body.run(pay(PaymentPolicy("no_key", retries=3), 7, "k7", 100, random.Random(0)))
    assert result.status is PayStatus.RETRIABLE
    assert len(body.executed) == 1


def test_a_retriable_key_first_payment_leaves_the_key_claimable() -> None:
    body = StepBody([10])
    body.gateway.script = ["error"]
    policy = PaymentPolicy("key_first", retries=0)
    first = body.run(pay(policy, 7, "k7", 100, random.Random(0)))
    assert first.status is PayStatus.RETRIABLE
    again = body.run(pay(policy, 7, "k7", 100, random.Random(0)))
    assert again.status is PayStatus.CAPTURED and not again.replayed


def test_backoff_waits_move_the_manual_clock() -> None:
    clock = ManualClock()
    body = StepBody([10], clock)
    body.gateway.script = ["error", "error"]
    body.run(
        pay(PaymentPolicy("no_key", retries=2, backoff_base_s=1.0), 7, "k", 1, random.Random(3))
    )
    assert 0 < clock.now() <= 1.0 + 2.0  # two jittered waits under caps of 1 s and 2 s


def saga_policies(
    mode: str, retries: int = 3, expired: str = "refund", ttl: float = 600.0
) -> Policies:
    return Policies(
        InventoryPolicy("atomic"),
        PaymentPolicy("key_first"),
        SagaPolicy(
            mode, order_retries=retries, reservation_ttl_s=ttl, on_expired_reservation=expired
        ),
    )


def one_checkout(body: StepBody, policies: Policies, intent: int = 1) -> Outcome:
    request = CheckoutRequest(intent, 0, 1, 100, f"k{intent}")
    return body.run(checkout(request, policies, random.Random(0)))


def test_order_failure_without_compensation_leaves_an_orphan_payment() -> None:
    body = StepBody([5])
    body.order_script = ["fail"]
    assert one_checkout(body, saga_policies("none")) is Outcome.ORDER_FAILED
    assert body.ledger.unrefunded(older_than=1e9) == [(0, 1)]
    assert body.shop.reserved_units == 1  # units held until the TTL


def test_refund_only_compensates_at_the_first_failure() -> None:
    body = StepBody([5])
    body.order_script = ["fail", "ok"]
    assert one_checkout(body, saga_policies("refund_only")) is Outcome.ORDER_FAILED
    assert body.ledger.refunded_at and body.shop.available == [5]


def test_saga_retries_the_order_after_the_pivot() -> None:
    body = StepBody([5])
    body.order_script = ["fail", "fail", "ok"]
    assert one_checkout(body, saga_policies("saga", retries=3)) is Outcome.ORDERED
    assert not body.ledger.refunded_at


def test_saga_refunds_when_retries_run_out() -> None:
    body = StepBody([5])
    body.order_script = ["fail"] * 4
    assert one_checkout(body, saga_policies("saga", retries=3)) is Outcome.ORDER_FAILED
    assert body.ledger.refunded_at and body.shop.available == [5]


@pytest.mark.parametrize(
    ("handling", "outcome"), [("refund", Outcome.ORDER_FAILED), ("oversell", Outcome.ORDERED)]
)
def test_payment_slower_than_the_reservation_ttl(handling: str, outcome: Outcome) -> None:
    clock = ManualClock()
    body = StepBody([1], clock)
    policies = saga_policies("saga", expired=handling, ttl=5.0)
    race = Interleaving(
        body, [checkout(CheckoutRequest(1, 0, 1, 100, "k1"), policies, random.Random(0))]
    )
    race.run([0, 0, 0])  # reserve, insert key, charge...
    clock.advance(10.0)  # ...the payment took longer than the 5 s reservation
    body.shop.expire_due(clock.now())
    assert body.shop.available == [1]  # the unit went back on sale
    body.run(checkout(CheckoutRequest(2, 0, 1, 100, "k2"), policies, random.Random(0)))
    assert race.run_all() == [outcome]
    sold = sum(body.shop.sold)
    assert sold == (2 if handling == "oversell" else 1)


def test_sweeper_refunds_only_captures_with_no_order() -> None:
    clock = ManualClock()
    body = StepBody([5], clock)
    body.order_script = ["fail"]
    one_checkout(body, saga_policies("none"), intent=1)  # orphan
    one_checkout(body, saga_policies("none"), intent=2)  # ordered
    clock.advance(100.0)
    refunded = body.run(sweep_orphans(min_age_s=60.0))
    assert refunded == 1
    assert list(body.ledger.refunded_at) == [0]
    assert body.run(sweep_orphans(min_age_s=60.0)) == 0  # a second pass finds nothing


def test_a_retry_that_replays_a_capture_leaves_the_saga_to_its_owner() -> None:
    body = StepBody([5])
    body.order_script = ["fail"]
    policies = saga_policies("saga", retries=0)
    request = CheckoutRequest(1, 0, 1, 100, "k1")
    race = Interleaving(
        body,
        [
            checkout(request, policies, random.Random(0)),
            checkout(request, policies, random.Random(1)),
        ],
    )
    race.run([0, 0, 0, 0])  # the first request reserves, inserts the key, charges, stores
    results = race.run_all()  # a retry replays the capture while the first fails the order
    assert sorted(r.value for r in results) == ["order_failed", "processing"]
    assert not body.shop.orders  # nobody orders with a payment that is being refunded
    assert list(body.ledger.refunded_at) == [0]


def test_sweeper_leaves_young_captures_alone() -> None:
    clock = ManualClock()
    body = StepBody([5], clock)
    body.order_script = ["fail"]
    one_checkout(body, saga_policies("none"))
    clock.advance(10.0)
    assert body.run(sweep_orphans(min_age_s=60.0)) == 0


def test_double_click_of_one_intent_orders_once() -> None:
    body = StepBody([5])
    policies = saga_policies("saga")
    request = CheckoutRequest(1, 0, 1, 100, "k1")
    race = Interleaving(
        body,
        [
            checkout(request, policies, random.Random(0)),
            checkout(request, policies, random.Random(1)),
        ],
    )
    results = race.run_all()
    assert sorted(r.value for r in results) == ["ordered", "processing"]
    assert len(body.shop.orders) == 1 and body.shop.available == [4]
    first_work = next(op for op in body.executed if not isinstance(op, ops.Checkpoint))
    assert isinstance(first_work, ops.DecrementIfAvailable)


@pytest.mark.parametrize("stock", [1, 0])
def test_a_checkout_without_checkpoints_makes_the_same_calls_less_the_checkpoints(
    stock: int,
) -> None:
    """Turned off where no coordinator can crash, checkpoints are the only calls dropped."""
    runs = []
    for checkpoints in (True, False):
        body = StepBody([stock])
        policies = dataclasses.replace(saga_policies("saga"), checkpoints=checkpoints)
        runs.append((one_checkout(body, policies), body.executed))
    (with_outcome, with_calls), (without_outcome, without_calls) = runs
    assert without_outcome == with_outcome
    assert [op for op in with_calls if not isinstance(op, ops.Checkpoint)] == without_calls
    assert len(with_calls) > len(without_calls)  # the checkpoints were there to drop
