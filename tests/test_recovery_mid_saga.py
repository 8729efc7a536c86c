"""Recovery of sagas cut short mid-compensation and mid-retry-queue.

Each test writes the durable records a SIGKILL leaves at one moment of a saga
(no process is killed, nothing sleeps), runs recovery, and checks the store
against the audit and against what a restarted queue consumer would then do.
"""

from __future__ import annotations

from pathlib import Path

from checkoutsim.policy.ops import EnqueuePayment, KeyState, PaymentRecord, ReservationRequest
from checkoutsim.real.chaos import audit_store
from checkoutsim.real.recovery import recover
from checkoutsim.real.saga_context import SagaContext
from checkoutsim.real.service import CheckoutService
from tests.real_support import service, settings


def _reserve(shop: CheckoutService, intent: int, key: str) -> int:
    reservation = shop.store.decrement(
        ReservationRequest(intent, 0, 1, 600.0), SagaContext(intent, key)
    )
    assert reservation is not None
    return reservation


def _clean(shop: CheckoutService) -> bool:
    checks, metrics = audit_store(shop)
    return metrics["unfinished_sagas"] == 0 and all(c["status"] != "invalid" for c in checks)


def _queued_shop(tmp_path: Path) -> CheckoutService:
    config = settings(queue={"enabled": True, "partitions": 1, "backoff_base_s": 0.0})
    shop, _ = service(tmp_path, config)
    return shop


def _park(shop: CheckoutService, intent: int, key: str, reservation: int) -> None:
    """A payment the gateway could not take, parked with its key (payment row ``retry``)."""
    shop.store.insert_payment(PaymentRecord(key, KeyState.RETRY))
    assert shop.consumers is not None
    shop.consumers.queue.enqueue(
        EnqueuePayment(intent, key, key, 100, 0, 1, reservation), shop.runtime.time.now()
    )


def _open_parked(shop: CheckoutService) -> int:
    row = shop.shop_db.read().execute(
        "SELECT COUNT(*) FROM parked_payments WHERE state IN ('queued', 'in_flight')"
    )
    return row.fetchone()[0]


def test_a_kill_between_refund_and_release_finishes_the_compensation(tmp_path: Path) -> None:
    shop, _ = service(tmp_path)
    reservation = _reserve(shop, 1, "compensating")
    capture = shop.ledger.settle(1, 100, "compensating", declined=False).capture_id
    shop.store.insert_payment(PaymentRecord("compensating", KeyState.CAPTURED, capture))
    # The order failed for good; the saga refunded, then died before it released.
    assert capture is not None and shop.ledger.refund(capture)

    report = recover(shop)

    # An order for refunded money would ship goods nobody paid for.
    assert report.ordered == 0 and report.released == 1 and report.refunded == 0
    assert not shop.store.has_order(1)
    assert shop.stock() == {"sku-0": 10}
    steps = dict(shop.shop_db.read().execute("SELECT reservation_id, step FROM saga_log"))
    assert steps == {reservation: "released"}
    assert _clean(shop)


def test_a_kill_during_the_refund_call_finishes_the_refund_and_releases(tmp_path: Path) -> None:
    shop, _ = service(tmp_path)
    _reserve(shop, 1, "refunding")
    capture = shop.ledger.settle(1, 100, "refunding", declined=False).capture_id
    shop.store.insert_payment(PaymentRecord("refunding", KeyState.CAPTURED, capture))
    # The refund reached the gateway; the process died before it was settled.
    assert capture is not None
    shop.ledger.request_refund(capture)

    report = recover(shop)

    assert report.refunded == 1 and report.released == 1 and report.ordered == 0
    assert shop.ledger.frame()["refunded_s"].notna().all()
    assert shop.stock() == {"sku-0": 10}
    assert _clean(shop)
    again = recover(shop)
    assert (again.refunded, again.released, again.orphans_refunded) == (0, 0, 0)


def test_a_parked_payment_is_closed_with_its_saga_and_never_charged_later(
    tmp_path: Path,
) -> None:
    shop = _queued_shop(tmp_path)
    reservation = _reserve(shop, 1, "parked")
    _park(shop, 1, "parked", reservation)

    report = recover(shop)

    assert report.released == 1 and report.parked_closed == 1
    assert _open_parked(shop) == 0
    # The restarted service's consumer finds nothing to deliver: no charge after recovery.
    assert shop.consumers is not None and shop.consumers.drain_due() == 0
    assert len(shop.ledger.frame()) == 0
    assert shop.stock() == {"sku-0": 10}
    assert _clean(shop)


def test_a_parked_payment_a_dead_consumer_charged_gets_its_order(tmp_path: Path) -> None:
    shop = _queued_shop(tmp_path)
    reservation = _reserve(shop, 1, "delivered")
    _park(shop, 1, "delivered", reservation)
    assert shop.consumers is not None
    claimed = shop.consumers.queue.next_due(0, shop.runtime.time.now())
    assert claimed is not None
    # The consumer's charge was booked under the key; it died before recording it.
    shop.ledger.claim("delivered", claim=True)
    shop.ledger.settle(1, 100, "delivered", declined=False)

    report = recover(shop)

    assert report.charges_resolved == 1 and report.ordered == 1 and report.parked_closed == 1
    assert shop.store.has_order(1) and _open_parked(shop) == 0
    outcome = shop.shop_db.read().execute("SELECT outcome FROM parked_payments").fetchone()[0]
    assert outcome == "recovered"
    assert shop.consumers.drain_due() == 0 and len(shop.ledger.frame()) == 1
    assert _clean(shop)
    # Recovery is idempotent: a second pass (a kill during the first) changes nothing.
    again = recover(shop)
    assert (again.ordered, again.released, again.refunded, again.parked_closed) == (0, 0, 0, 0)
