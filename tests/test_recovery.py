"""Crash recovery from the saga log: each recovery point, rerun safety, expiry and leases."""

from __future__ import annotations

import json
import time
from pathlib import Path

from checkoutsim.policy.ops import KeyState, PaymentRecord, ReservationRequest
from checkoutsim.real.chaos import audit_store
from checkoutsim.real.recovery import recover
from checkoutsim.real.saga_context import SagaContext
from checkoutsim.real.service import CheckoutService
from checkoutsim.real.timebase import ManualTime
from tests.real_support import service


def _reserve(shop: CheckoutService, intent: int, key: str, ttl_s: float = 600.0) -> int:
    """A reservation, as the saga's compensatable step leaves it."""
    reservation = shop.store.decrement(
        ReservationRequest(intent, 0, 1, ttl_s), SagaContext(intent, key)
    )
    assert reservation is not None
    return reservation


def _charge_sent(shop: CheckoutService, intent: int, key: str, booked: bool) -> int | None:
    """A key-first charge that died in flight: the gateway may or may not have booked it."""
    shop.store.insert_payment(PaymentRecord(key, KeyState.IN_PROGRESS))
    shop.ledger.claim(key, claim=True)
    if not booked:
        return None
    return shop.ledger.settle(intent, 100, key, declined=False).capture_id


def _steps(shop: CheckoutService) -> dict[int, str]:
    rows = shop.shop_db.read().execute("SELECT intent_id, step FROM saga_log")
    return dict(rows.fetchall())


def _clean(shop: CheckoutService) -> bool:
    checks, metrics = audit_store(shop)
    return metrics["unfinished_sagas"] == 0 and all(c["status"] != "invalid" for c in checks)


def test_every_recovery_point_is_finished_or_compensated(tmp_path: Path) -> None:
    shop, _ = service(tmp_path)
    _reserve(shop, 1, "started")  # reserved, nothing sent: compensate
    _reserve(shop, 2, "sent-not-booked")  # charge sent, the gateway booked nothing
    _charge_sent(shop, 2, "sent-not-booked", booked=False)
    _reserve(shop, 3, "sent-and-booked")  # charge sent, captured, answer lost: roll forward
    _charge_sent(shop, 3, "sent-and-booked", booked=True)
    _reserve(shop, 4, "charged")  # captured and recorded: roll forward
    capture = shop.ledger.settle(4, 100, "charged", declined=False).capture_id
    shop.store.insert_payment(PaymentRecord("charged", KeyState.CAPTURED, capture))

    report = recover(shop)

    assert report.ordered == 2 and report.released == 2 and report.refunded == 0
    assert report.gateway_keys_forgotten == 1 and report.charges_resolved == 2
    assert shop.store.has_order(3) and shop.store.has_order(4)
    assert not shop.store.has_order(1) and not shop.store.has_order(2)
    assert shop.stock() == {"sku-0": 8}
    # Nothing was charged under the forgotten key: a retry may claim the payment row.
    assert shop.store.lookup_payment("sent-not-booked").state is KeyState.RETRY
    assert set(_steps(shop).values()) == {"ordered", "released"}
    assert _clean(shop)


def test_recovery_is_safe_to_rerun(tmp_path: Path) -> None:
    shop, _ = service(tmp_path)
    _reserve(shop, 1, "a")
    _charge_sent(shop, 1, "a", booked=True)
    first = recover(shop).as_dict()
    second = recover(shop).as_dict()
    assert first["ordered"] == 1
    assert all(value == 0 for value in second.values()), second
    assert len(shop.ledger.frame()) == 1 and _clean(shop)


def test_a_capture_whose_reservation_lapsed_is_refunded_not_oversold(tmp_path: Path) -> None:
    shop, clock = service(tmp_path)
    _reserve(shop, 1, "slow", ttl_s=5)
    _charge_sent(shop, 1, "slow", booked=True)
    clock.advance(60)  # the service stayed down past the reservation's TTL
    report = recover(shop)
    assert report.refunded == 1 and report.ordered == 0
    assert shop.stock() == {"sku-0": 10}
    assert _clean(shop)


def test_money_the_log_cannot_see_is_refunded(tmp_path: Path) -> None:
    shop, clock = service(tmp_path)
    # A capture with no key and no reservation left (reaped while the charge ran).
    _reserve(shop, 1, "lost", ttl_s=1)
    clock.advance(2)
    assert shop.reap() == 1
    shop.ledger.settle(1, 100, None, declined=False)
    report = recover(shop)
    assert report.orphans_refunded == 1
    assert _clean(shop)


def test_stuck_api_keys_are_finished_or_forgotten(tmp_path: Path) -> None:
    shop, _ = service(tmp_path)
    shop.requests.begin("ordered-key", 3, "hash")
    shop.requests.begin("lost-key", 5, "hash")
    _reserve(shop, 3, "ordered-key")
    _charge_sent(shop, 3, "ordered-key", booked=True)
    report = recover(shop)
    assert report.requests_finished == 1 and report.requests_forgotten == 1
    finished = shop.requests.lookup("ordered-key")
    assert finished is not None and finished.finished and finished.status_code == 200
    assert shop.requests.lookup("lost-key") is None


def test_a_lease_held_at_the_crash_lapses_on_the_runs_clock_and_fences_stay_ordered(
    tmp_path: Path,
) -> None:
    shop, clock = service(tmp_path)
    before, _ = shop.store.try_lock("sku-0", 5.0)
    assert before is not None
    shop.close()  # the holder dies; its lease row stays
    reopened = CheckoutService(shop.settings, shop.paths, shop.runtime)
    assert isinstance(reopened.runtime.time, ManualTime)
    assert recover(reopened).leases_left_to_lapse == 1
    refused, _ = reopened.store.try_lock("sku-0", 5.0)
    assert refused is None  # still leased: the dead holder's lease is honoured
    clock.advance(5.0)
    after, _ = reopened.store.try_lock("sku-0", 5.0)
    assert after is not None and after > before
    reopened.close()


def test_the_recover_command_finishes_a_dead_services_store(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from checkoutsim.cli.chaos import register_chaos
    from checkoutsim.cli.main import app
    from checkoutsim.real.runtime import ThreadRuntime
    from checkoutsim.real.service import StorePaths
    from checkoutsim.scenario import files as scenarios

    variant = scenarios.load("flash-sale", [], ["atomic"]).variants[0]
    db = tmp_path / "shop.sqlite"
    # The dead service's clock started now: its 600 s reservation has not lapsed.
    meta = {"scenario": "flash-sale", "variant": "atomic", "origin_epoch": repr(time.time())}
    dead = CheckoutService(
        variant.settings, StorePaths.beside(db), ThreadRuntime(ManualTime()), meta=meta
    )
    _reserve(dead, 1, "left-behind")
    _charge_sent(dead, 1, "left-behind", booked=True)
    dead.close()
    register_chaos(app)
    result = CliRunner().invoke(app, ["recover", "--db", str(db), "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["recovery"]["ordered"] == 1
    assert all(check["status"] != "invalid" for check in document["audit"])
    again = json.loads(CliRunner().invoke(app, ["recover", "--db", str(db), "--json"]).output)
    assert again["recovery"]["ordered"] == 0 and again["metrics"]["orders"] == 1
