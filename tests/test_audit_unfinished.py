"""Checkouts unfinished when a run stops are counted apart, never as orphans.

A store on a manual clock holds sagas in every state a stopped run can leave:
still reserving, captured and still running, ordered, compensated, and two
real orphans (money kept by a saga that had finished). The audit must count
the unfinished ones apart and still find both orphans.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from checkoutsim.policy.ops import KeyState, PaymentRecord, ReservationRequest
from checkoutsim.real import records
from checkoutsim.real.saga_context import SagaContext
from checkoutsim.real.service import CheckoutService
from checkoutsim.results import audit
from tests.real_support import service


def _reserve(shop: CheckoutService, intent: int) -> int:
    """The saga's first step: units reserved under the intent's key."""
    reservation = shop.store.decrement(
        ReservationRequest(intent, 0, 1, 600.0), SagaContext(intent, f"k{intent}")
    )
    assert reservation is not None
    return reservation


def _capture(shop: CheckoutService, intent: int) -> int:
    """The pivot: money captured and recorded in the payment table."""
    capture = shop.ledger.settle(intent, 100, f"k{intent}", declined=False).capture_id
    assert capture is not None
    shop.store.insert_payment(PaymentRecord(f"k{intent}", KeyState.CAPTURED, capture))
    return capture


def _shopper(intent: int) -> list[object]:
    """A shopper record that gave up waiting (what a slow service leaves)."""
    return [intent, float(intent), 0, 1, 1, 1, "timed_out", float(intent) + 30, 0.0, []]


def _store_with_every_state(tmp_path: Path) -> CheckoutService:
    shop, _ = service(tmp_path)
    _reserve(shop, 1)  # 1: reserved, request still running: unfinished, no money
    _reserve(shop, 2)  # 2: captured, request still running: unfinished payment
    _capture(shop, 2)
    reservation = _reserve(shop, 3)  # 3: ordered: finished
    capture = _capture(shop, 3)
    shop.store.create_order(3, reservation, capture, False, False, SagaContext(3, "k3"))
    reservation = _reserve(shop, 4)  # 4: compensated (refund and release): finished
    shop.ledger.refund(_capture(shop, 4))
    shop.store.release(reservation)
    reservation = _reserve(shop, 5)  # 5: units released, refund never made: orphan
    _capture(shop, 5)
    shop.store.release(reservation)
    _reserve(shop, 6)  # 6: captured, gave up without compensating (mode none): orphan
    _capture(shop, 6)
    shop.requests.begin("k7", 7, "hash")  # 7: key started, nothing else yet: unfinished
    shop.requests.begin("k8", 8, "hash")  # 8: key started, captured: unfinished payment
    _reserve(shop, 8)
    _capture(shop, 8)
    return shop


def _audited(shop: CheckoutService, running: list[str]) -> tuple[dict[str, audit.Check], dict]:
    facts = records.collect(shop.store, shop.ledger)
    checkouts = records.checkout_frame([_shopper(intent) for intent in range(1, 9)])
    history = records.build_history(checkouts, facts, [], 120.0, running=running)
    checks = records.real_audit(history, facts)
    metrics = records.real_metrics(history, facts, checks, 120.0)
    return {check.invariant: check for check in checks}, metrics


def test_unfinished_checkouts_are_counted_apart_and_real_orphans_still_count(
    tmp_path: Path,
) -> None:
    shop = _store_with_every_state(tmp_path)
    checks, metrics = _audited(shop, running=["k1", "k2"])
    shop.close()

    assert metrics["unfinished_checkouts"] == 4  # intents 1, 2, 7 and 8
    assert metrics["unfinished_payments"] == 2  # the captures of 2 and 8
    orphans = checks["capture_has_order_or_refund"]
    assert orphans.status == "invalid" and orphans.count == 2
    assert metrics["orphan_payments"] == 2
    assert orphans.example is not None and orphans.example["intent_id"] in (5, 6)


def test_an_open_saga_whose_request_had_returned_is_finished_and_its_money_an_orphan(
    tmp_path: Path,
) -> None:
    shop = _store_with_every_state(tmp_path)
    checks, metrics = _audited(shop, running=[])
    shop.close()

    # Without a running request, intent 2's open saga had stopped for good.
    assert metrics["unfinished_checkouts"] == 2  # only the started keys, 7 and 8
    assert metrics["unfinished_payments"] == 1
    assert checks["capture_has_order_or_refund"].count == 3  # 2, 5 and 6


def test_the_open_records_survive_the_trip_over_http(tmp_path: Path) -> None:
    shop = _store_with_every_state(tmp_path)
    facts = records.collect(shop.store, shop.ledger)
    shop.close()

    again = records.ServerFacts.from_json(facts.to_json())

    pd.testing.assert_frame_equal(again.open_records, facts.open_records, check_dtype=False)
    kinds = dict(zip(facts.open_records["intent_id"], facts.open_records["record"], strict=False))
    assert kinds[1] == "reserved" and kinds[2] == "captured" and kinds[7] == "started"


def test_with_nothing_unfinished_the_orphan_check_sees_the_whole_ledger() -> None:
    ledger = pd.DataFrame(
        [(0, 1, 100, 1.0, float("nan"))],
        columns=["capture_id", "intent_id", "amount", "time_s", "refunded_s"],
    )
    orders = pd.DataFrame(columns=["intent_id", "sku", "quantity", "time_s"])
    assert audit.unfinished_payments(ledger, orders, []).empty
    assert len(audit.unfinished_payments(ledger, orders, [1])) == 1
    captured = pd.DataFrame([(1, "k1", "captured")], columns=["intent_id", "key", "record"])
    assert audit.unfinished_checkouts(captured, orders, []) == []
    assert audit.unfinished_checkouts(captured, orders, ["k1"]) == [1]
    # Matched by key: another request's key says nothing about this saga.
    assert audit.unfinished_checkouts(captured, orders, ["k2"]) == []
