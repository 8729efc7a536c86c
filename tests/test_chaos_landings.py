"""Chaos that lands inside sagas: the chaos scenario, where kills land, kills during recovery.

The landing classifier is checked on durable records written directly (one
saga at each place, no process killed). The default run kills the chaos
scenario's crash-safe variants a few times, once during recovery too; the slow
run kills each 100 times and needs half the kills to land mid-payment or
mid-compensation.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

from checkoutsim.policy.ops import EnqueuePayment, KeyState, PaymentRecord, ReservationRequest
from checkoutsim.real.chaos import (
    DEFAULT_SCENARIO,
    ChaosOptions,
    _Clients,
    is_safe,
    run_chaos,
)
from checkoutsim.real.gateways import provider_path
from checkoutsim.real.landings import Landing, Landings, classify
from checkoutsim.real.saga_context import SagaContext
from checkoutsim.real.service import CheckoutService, StorePaths
from checkoutsim.scenario import files as scenarios
from tests.real_support import service, settings


def _reserve(shop: CheckoutService, intent: int, key: str) -> int:
    reservation = shop.store.decrement(
        ReservationRequest(intent, 0, 1, 600.0), SagaContext(intent, key)
    )
    assert reservation is not None
    return reservation


def _capture(shop: CheckoutService, intent: int, key: str) -> int:
    capture = shop.ledger.settle(intent, 100, key, declined=False).capture_id
    assert capture is not None
    shop.store.insert_payment(PaymentRecord(key, KeyState.CAPTURED, capture))
    return capture


def test_each_open_saga_is_placed_from_its_records(tmp_path: Path) -> None:
    shop, clock = service(tmp_path, settings(queue={"enabled": True}))
    _reserve(shop, 1, "sent")  # charge sent, no answer
    shop.store.insert_payment(PaymentRecord("sent", KeyState.IN_PROGRESS))
    _reserve(shop, 2, "paid")  # past the pivot, no order yet
    _capture(shop, 2, "paid")
    _reserve(shop, 3, "refunding")  # refund asked for, units not back
    shop.ledger.request_refund(_capture(shop, 3, "refunding"))
    _reserve(shop, 4, "declined")  # charge declined, units not back
    shop.store.insert_payment(PaymentRecord("declined", KeyState.FAILED))
    parked = _reserve(shop, 5, "parked")  # in the retry queue
    shop.store.insert_payment(PaymentRecord("parked", KeyState.RETRY))
    assert shop.consumers is not None
    shop.consumers.queue.enqueue(EnqueuePayment(5, "parked", "parked", 100, 0, 1, parked), 0.0)
    _reserve(shop, 6, "reserving")  # the gateway not called yet
    # A resend whose key failed before: the new saga has not paid yet.
    shop.store.insert_payment(PaymentRecord("resent", KeyState.FAILED))
    clock.advance(1)
    _reserve(shop, 8, "resent")
    done = _reserve(shop, 7, "done")  # a finished saga is not in flight
    shop.store.create_order(7, done, _capture(shop, 7, "done"), False, False, SagaContext(7, "x"))
    shop.close()

    paths = StorePaths.in_directory(tmp_path)
    landing = classify(paths.shop, paths.gateway)

    assert landing.sagas == {"payment": 2, "compensation": 2, "retry_queue": 1, "reserving": 2}
    assert landing.label == "compensation"


def test_kills_are_labelled_by_their_most_telling_saga() -> None:
    landings = Landings()
    for sagas in ({}, {"reserving": 2}, {"payment": 3, "retry_queue": 1}, {"compensation": 1}):
        landings.add(Landing(sagas))
    assert landings.labels() == {
        "compensation": 1,
        "payment": 1,
        "retry_queue": 0,
        "reserving": 1,
        "idle": 1,
    }
    assert landings.in_saga() == 2
    assert landings.with_any()["retry_queue"] == 1


def test_the_chaos_scenario_keeps_its_crash_safe_variants_apart() -> None:
    loaded = scenarios.load(DEFAULT_SCENARIO)
    assert {v.name for v in loaded.variants if is_safe(v)} == {"saga", "saga_queue"}
    unsafe = {v.name for v in loaded.variants if not is_safe(v)}
    assert unsafe == {"refund_then_retry", "no_compensation"}


def test_chaos_clients_name_a_checkout_by_its_key_alone() -> None:
    clients = _Clients(0, 20, 3, random.Random(1))
    for _ in range(50):
        key, body = clients.next_request(0.0)
        assert key.startswith("chaos-")
        assert set(json.loads(body)) == {"sku", "quantity"}


def test_kills_under_load_and_during_recovery_leave_a_clean_audit() -> None:
    from checkoutsim.cli.chaos import register_chaos
    from checkoutsim.cli.main import app

    register_chaos(app)
    result = CliRunner().invoke(
        app,
        ["chaos", "--kills", "2", "--recovery-kills", "1", "-v", "saga_queue", "--json"],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["scenario"] == DEFAULT_SCENARIO
    (variant,) = report["variants"]
    assert variant["clean"] and variant["metrics"]["unfinished_sagas"] == 0
    landings = variant["landings"]
    assert landings["kills"] == 2 and sum(landings["by_label"].values()) == 2
    # Stock lasts: the kills cut sagas short instead of sold-out answers.
    assert sum(landings["sagas"].values()) > 0
    assert variant["recovery_kills"]["kills"] == 1
    assert variant["answers"].get("ordered", 0) > 0


@pytest.mark.slow
def test_a_hundred_kills_land_mostly_inside_sagas_and_leave_a_clean_audit(
    tmp_path: Path,
) -> None:
    loaded = scenarios.load(DEFAULT_SCENARIO)
    for variant in [v for v in loaded.variants if is_safe(v)]:
        options = ChaosOptions(kills=100, seed=5, recovery_kills=10)
        result = run_chaos(DEFAULT_SCENARIO, loaded.name, variant, tmp_path, options)
        assert result.clean, result.checks
        assert result.metrics["unfinished_sagas"] == 0
        assert result.landings["mid_payment_or_compensation"] >= 50, result.landings
        assert result.landings["by_label"]["compensation"] > 0, result.landings
        assert result.recovery_kills["kills"] == 10


def test_a_compensation_at_the_second_gateway_is_read_off_its_ledger(tmp_path: Path) -> None:
    config = settings(
        gateways={"routing": "safe_failover", "others": [{"name": "backup"}]},
    )
    shop, _ = service(tmp_path, config)
    assert shop.providers is not None
    primary, backup = (gateway.ledger for gateway in shop.providers.gateways)
    _reserve(shop, 1, "paid")  # captured at the primary, no order yet
    paid = primary.settle(1, 100, "paid", declined=False).capture_id
    shop.store.insert_payment(PaymentRecord("paid", KeyState.CAPTURED, paid))
    _reserve(shop, 2, "refunding")  # captured at the backup, its refund asked for
    refunding = backup.settle(2, 100, "refunding", declined=False).capture_id
    assert refunding is not None
    shop.store.insert_payment(PaymentRecord("refunding", KeyState.CAPTURED, refunding))
    backup.request_refund(refunding)
    shop.close()

    paths = StorePaths.in_directory(tmp_path)
    landing = classify(paths.shop, paths.gateway, [provider_path(paths.gateway, "backup")])

    assert landing.sagas == {"payment": 1, "compensation": 1}


def test_landing_lines_say_what_each_figure_counts() -> None:
    from checkoutsim.cli.chaos import landing_lines

    # Two kills, each leaving sagas open both mid-payment and mid-compensation.
    landings = Landings()
    landings.add(Landing({"payment": 3, "compensation": 1}))
    landings.add(Landing({"payment": 2, "compensation": 1}))
    placed, at_least_one, sagas = landing_lines(landings.as_dict(), {})
    # Placed once each, compensation first: no kill is counted mid-payment here...
    assert placed.startswith("kills, each placed once, at the first of these places")
    assert "mid-compensation 2, mid-payment 0," in placed
    # ...while both kills left a saga open mid-payment, said as such.
    assert at_least_one.startswith("kills that left at least one saga open at each place")
    assert "mid-payment 2, mid-compensation 2," in at_least_one
    assert "mid-payment 5, mid-compensation 2," in sagas
