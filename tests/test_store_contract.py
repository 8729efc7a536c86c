"""The store's contract, written once and run on every store: SQLite and PostgreSQL.

Each case runs against SQLite always and against PostgreSQL when one is
reachable (see ``tests.backend_support``; unreachable: skipped, with the reason).
The constraints must hold whatever the code does, and each inventory strategy
must behave the same way: a blind write loses an update, a fenced write from an
older token is refused, a compare-and-set fails when the version moved, the
conditional decrement never takes more than is left, also under real threads.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from checkoutsim.policy.inventory import lock_name
from checkoutsim.policy.ops import KeyState, OrderStatus, PaymentRecord, ReservationRequest
from checkoutsim.real.saga_context import SagaContext
from tests.backend_support import Services, services_for, sql_count
from tests.real_support import settings


@pytest.fixture(params=["sqlite", "postgresql"])
def services(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Services]:
    """Services on each store, leases in the store."""
    yield from services_for(request.param, "database", tmp_path)


def request(intent: int = 1, quantity: int = 1, ttl_s: float = 600.0) -> ReservationRequest:
    return ReservationRequest(intent, 0, quantity, ttl_s)


def test_stock_can_never_go_negative(services: Services) -> None:
    shop, _ = services.make()
    with pytest.raises(sqlite3.IntegrityError), shop.store.db.write() as conn:
        conn.execute("UPDATE inventory SET available = -1 WHERE sku = 0")
    assert shop.stock() == {"sku-0": 10}


def test_decrement_takes_only_what_is_left(services: Services) -> None:
    shop, _ = services.make(settings(catalog={"stock_per_sku": 2}))
    saga = SagaContext(1, "k")
    assert shop.store.decrement(request(quantity=2), saga) is not None
    assert shop.store.decrement(request(quantity=1), saga) is None
    assert shop.stock() == {"sku-0": 0}


def test_a_blind_write_loses_an_update(services: Services) -> None:
    shop, _ = services.make()
    store = shop.store
    first, second = store.read_stock(0), store.read_stock(0)
    store.write_stock(request(1), first.available - 1, None, None, SagaContext(1, "a"))
    store.write_stock(request(2), second.available - 1, None, None, SagaContext(2, "b"))
    assert shop.stock() == {"sku-0": 9}
    assert sql_count(shop, "SELECT COUNT(*) FROM reservations") == 2


def test_a_fenced_write_from_an_older_token_is_refused(services: Services) -> None:
    shop, _ = services.make()
    store = shop.store
    assert store.write_stock(request(1), 9, 5, 5, SagaContext(1, "a")) is not None
    assert store.write_stock(request(2), 8, 4, 4, SagaContext(2, "b")) is None
    rows = store.db.read().execute("SELECT fence_token, accepted FROM stock_writes ORDER BY id")
    assert [tuple(row) for row in rows.fetchall()] == [(5, 1), (4, 0)]


def test_a_lease_grant_refuses_the_older_holders_fenced_write(services: Services) -> None:
    # The fence moves when the lease changes hands, not when the new holder
    # writes: the older holder's write is refused before the newer one writes.
    shop, _ = services.make()
    store = shop.store
    name = lock_name(0)
    older, _ = store.try_lock(name, 600.0)
    assert older is not None
    stale = store.read_stock(0)
    assert store.release_lock(name, older)
    newer, _ = store.try_lock(name, 600.0)
    assert newer is not None and newer > older
    late = store.write_stock(request(1), stale.available - 1, older, older, SagaContext(1, "a"))
    assert late is None
    assert store.read_stock(0) == stale
    other, _ = store.try_lock(lock_name(1), 600.0)
    assert other is not None
    # A grant on another SKU's lock leaves this row's fence alone.
    fresh = store.write_stock(request(2), stale.available - 1, newer, newer, SagaContext(2, "b"))
    assert fresh is not None


def test_compare_and_set_fails_when_the_version_moved(services: Services) -> None:
    shop, _ = services.make()
    store = shop.store
    row = store.read_stock(0)
    assert store.compare_and_set(request(1), row.version, 9, None, SagaContext(1, "a"))
    assert store.compare_and_set(request(2), row.version, 9, None, SagaContext(2, "b")) is None


def test_payment_keys_are_unique_and_a_retry_row_can_be_claimed(services: Services) -> None:
    shop, _ = services.make()
    store = shop.store
    assert store.insert_payment(PaymentRecord("k", KeyState.IN_PROGRESS)) is None
    clash = store.insert_payment(PaymentRecord("k", KeyState.IN_PROGRESS))
    assert clash == PaymentRecord("k", KeyState.IN_PROGRESS)
    store.update_payment(PaymentRecord("k", KeyState.RETRY))
    assert store.insert_payment(PaymentRecord("k", KeyState.IN_PROGRESS)) is None


def test_one_order_per_intent(services: Services) -> None:
    shop, _ = services.make()
    store = shop.store
    first = store.decrement(request(7), SagaContext(7, "a"))
    second = store.decrement(request(7), SagaContext(7, "b"))
    saga = SagaContext(7, "a")
    assert store.create_order(7, first, 1, False, False, saga) is OrderStatus.CREATED
    assert store.create_order(7, second, 2, False, False, saga) is OrderStatus.EXISTS
    with pytest.raises(sqlite3.IntegrityError), store.db.write() as conn:
        conn.execute(
            "INSERT INTO orders (intent_id, reservation_id, capture_id, sku, quantity, created_s)"
            " VALUES (7, ?, 3, 0, 1, 0)",
            (second,),
        )


def test_an_expired_reservation_refuses_the_order_or_oversells(services: Services) -> None:
    shop, clock = services.make(settings(catalog={"stock_per_sku": 1}))
    store = shop.store
    first = store.decrement(request(1, ttl_s=10), SagaContext(1, "a"))
    clock.advance(11)
    expired = store.create_order(1, first, 1, False, False, SagaContext(1, "a"))
    assert expired is OrderStatus.RESERVATION_EXPIRED
    assert shop.stock() == {"sku-0": 1}
    second = store.decrement(request(2, ttl_s=10), SagaContext(2, "b"))
    assert store.create_order(2, second, 2, False, False, SagaContext(2, "b")) is (
        OrderStatus.CREATED
    )
    assert store.create_order(1, first, 1, True, False, SagaContext(1, "a")) is (
        OrderStatus.CREATED
    )
    assert sql_count(shop, "SELECT SUM(quantity) FROM orders") == 2


def test_the_reaper_returns_expired_units(services: Services) -> None:
    shop, clock = services.make()
    shop.store.decrement(request(1, quantity=3, ttl_s=5), SagaContext(1, "a"))
    assert shop.reap() == 0
    clock.advance(5)
    assert shop.reap() == 1
    assert shop.stock() == {"sku-0": 10}


def test_the_saga_log_follows_the_rows(services: Services) -> None:
    shop, _ = services.make()
    store = shop.store
    reserved_only = store.decrement(request(1), SagaContext(1, "a"))
    captured = store.decrement(request(2), SagaContext(2, "b"))
    store.insert_payment(PaymentRecord("b", KeyState.CAPTURED, 42))
    rows = store.db.read().execute("SELECT reservation_id, step FROM saga_log").fetchall()
    assert dict((row[0], row[1]) for row in rows) == {
        reserved_only: "reserved",
        captured: "captured",
    }


def test_the_ledger_refunds_a_capture_once(services: Services) -> None:
    shop, _ = services.make()
    capture = shop.ledger.settle(1, 100, "key", declined=False)
    assert capture.capture_id is not None
    assert shop.ledger.refund(capture.capture_id)
    assert not shop.ledger.refund(capture.capture_id)
    assert shop.ledger.unrefunded(older_than=1e9) == []


def _hammer(work: object, threads: int = 8) -> None:
    """Run ``work`` in several threads at once."""
    start = threading.Barrier(threads)

    def run() -> None:
        start.wait()
        work()  # type: ignore[operator]

    pool = [threading.Thread(target=run) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()


def test_concurrent_decrements_never_oversell(services: Services) -> None:
    shop, _ = services.make(settings(catalog={"stock_per_sku": 20}))
    counter = iter(range(1_000_000))

    def buy() -> None:
        for _ in range(10):
            intent = next(counter)
            shop.store.decrement(request(intent), SagaContext(intent, f"k{intent}"))

    _hammer(buy)
    assert shop.stock() == {"sku-0": 0}
    assert sql_count(shop, "SELECT COUNT(*) FROM reservations") == 20


def test_concurrent_read_then_write_loses_updates(services: Services) -> None:
    shop, _ = services.make(settings(catalog={"stock_per_sku": 1000}))
    counter = iter(range(1_000_000))

    def buy() -> None:
        for _ in range(10):
            intent = next(counter)
            row = shop.store.read_stock(0)
            shop.store.write_stock(
                request(intent), row.available - 1, None, None, SagaContext(intent, "k")
            )

    _hammer(buy)
    reserved = sql_count(shop, "SELECT COUNT(*) FROM reservations")
    # 80 reservations; stock fell by fewer units whenever two writes crossed.
    assert reserved == 80
    assert shop.stock()["sku-0"] >= 1000 - reserved
