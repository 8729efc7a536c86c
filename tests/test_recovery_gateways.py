"""Crash recovery with several gateways: the attempt record names the provider to ask.

Each test writes the durable records a kill leaves while a payment is in flight
at the second gateway (no process is killed, nothing sleeps, manual clock),
runs recovery, and checks every provider's ledger: the payment is finished at
the provider that holds it, and charged once.
"""

from __future__ import annotations

from pathlib import Path

from checkoutsim.policy.ops import KeyState, PaymentRecord, ReservationRequest
from checkoutsim.policy.routing import QueryCharge, RecordAttempt
from checkoutsim.real.chaos import audit_store
from checkoutsim.real.recovery import recover
from checkoutsim.real.saga_context import SagaContext
from checkoutsim.real.service import CheckoutService
from tests.real_support import INSTANT, body, service, settings


class Killed(BaseException):
    """The process dies here (a kill: nothing after it in the saga runs)."""


def test_a_kill_while_the_backup_holds_the_payment_orders_it_once(tmp_path: Path) -> None:
    # The primary is down (refused, so the payment moves on); the backup answers
    # after the 5 s time-out. The process dies when it would ask the backup about it.
    slow = {"distribution": "constant", "mean_s": 6.0}
    config = settings(
        payment={"retries": 0},
        faults={"outages": [{"service": "gateway", "start_s": 0.0, "end_s": 1e6}]},
        gateways={
            "routing": "safe_failover",
            "others": [{"name": "backup", "latency": slow, "timeout_s": 5.0}],
        },
    )
    shop, clock = service(tmp_path, config)

    def die(op: QueryCharge, saga: SagaContext) -> None:
        raise Killed

    shop.executor.handlers[QueryCharge] = die
    try:
        shop.api.checkout("k0", body())
    except Killed:
        pass
    else:
        raise AssertionError("the saga never asked the backup")
    clock.advance(60.0)
    shop.runtime.run_due()  # type: ignore[attr-defined]
    # The backup captured after the shop stopped waiting; the shop's rows say "sent".
    assert list(shop.ledger.frame()["gateway"]) == ["backup"]
    shop.close()

    restarted, _ = service(tmp_path, config)
    with restarted:
        report = recover(restarted)
        assert report.charges_resolved == 1 and report.ordered == 1
        assert report.refunded == 0 and report.orphans_refunded == 0
        # The client's resend gets the order; nothing is charged again anywhere.
        status, answer = restarted.api.checkout("k0", body())
        assert (status, answer["status"]) == (200, "ordered")
        ledger = restarted.ledger.frame()
        assert list(ledger["gateway"]) == ["backup"] and ledger["refunded_s"].isna().all()
        assert _clean(restarted)


def _two_gateway_shop(tmp_path: Path, routing: str = "safe_failover") -> CheckoutService:
    config = settings(
        payment={"retries": 0},
        gateways={"routing": routing, "others": [{"name": "backup", "latency": INSTANT}]},
    )
    shop, _ = service(tmp_path, config)
    assert shop.providers is not None
    return shop


def _in_flight(shop: CheckoutService, intent: int, key: str, tried: list[int]) -> int:
    """A reserved saga whose charge was sent (payment ``in_progress``) to ``tried`` in turn."""
    saga = SagaContext(intent, key)
    reservation = shop.store.decrement(ReservationRequest(intent, 0, 1, 600.0), saga)
    assert reservation is not None
    shop.store.insert_payment(PaymentRecord(key, KeyState.IN_PROGRESS))
    assert shop.providers is not None
    for gateway in tried:
        shop.providers.record_attempt(RecordAttempt(key, gateway), saga)
    return reservation


def _backup(shop: CheckoutService):  # type: ignore[no-untyped-def]
    assert shop.providers is not None
    return shop.providers.gateways[1].ledger


def _clean(shop: CheckoutService) -> bool:
    checks, metrics = audit_store(shop)
    return metrics["unfinished_sagas"] == 0 and all(c["status"] != "invalid" for c in checks)


def test_a_capture_at_the_backup_whose_answer_died_gets_its_order_once(tmp_path: Path) -> None:
    shop = _two_gateway_shop(tmp_path)
    with shop:
        # The primary refused (outage), the backup captured; the process died before the answer.
        _in_flight(shop, 1, "k1", tried=[0, 1])
        backup = _backup(shop)
        assert not backup.claim("k1", claim=True)
        capture = backup.settle(1, 100, "k1", declined=False).capture_id

        report = recover(shop)

        assert report.charges_resolved == 1 and report.ordered == 1
        assert report.refunded == 0 and report.orphans_refunded == 0
        ledger = shop.ledger.frame()
        # One capture, at the backup, not refunded, and it is the order's.
        assert list(ledger["gateway"]) == ["backup"]
        assert ledger["refunded_s"].isna().all()
        orders = shop.shop_db.read().execute("SELECT capture_id FROM orders").fetchall()
        assert orders == [(capture,)]
        assert shop.stock() == {"sku-0": 9}
        assert _clean(shop)
        again = recover(shop)
        assert (again.ordered, again.refunded, again.orphans_refunded) == (0, 0, 0)


def test_a_call_that_died_at_the_backup_is_forgotten_there(tmp_path: Path) -> None:
    shop = _two_gateway_shop(tmp_path)
    with shop:
        _in_flight(shop, 1, "k1", tried=[0, 1])
        backup = _backup(shop)
        # The backup took the key and the process died before it booked anything.
        assert not backup.claim("k1", claim=True)

        report = recover(shop)

        assert report.gateway_keys_forgotten == 1 and report.released == 1
        assert report.ordered == 0 and len(shop.ledger.frame()) == 0
        # A resend under the key runs at the backup (once), instead of "in flight" for ever.
        assert not backup.claim("k1", claim=False)
        assert shop.stock() == {"sku-0": 10}
        assert _clean(shop)


def test_naive_failover_captured_at_both_orders_one_and_refunds_the_other(
    tmp_path: Path,
) -> None:
    shop = _two_gateway_shop(tmp_path, "naive_failover")
    with shop:
        # Naive failover writes no attempt record: recovery asks every provider.
        _in_flight(shop, 1, "k1", tried=[])
        assert shop.providers is not None
        for ledger in (shop.providers.gateways[0].ledger, _backup(shop)):
            assert not ledger.claim("k1", claim=True)
            ledger.settle(1, 100, "k1", declined=False)

        report = recover(shop)

        assert report.ordered == 1 and report.orphans_refunded == 1
        ledger = shop.ledger.frame()
        # The duplicate happened (the audit says so); the money is back for the second.
        assert len(ledger) == 2 and ledger["refunded_s"].notna().sum() == 1
