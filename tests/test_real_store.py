"""The shop's SQLite store: constraints that hold whatever the code does, and each operation."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from checkoutsim.policy.ops import KeyState, OrderStatus, PaymentRecord, ReservationRequest
from checkoutsim.real.saga_context import SagaContext
from tests.real_support import service, settings


def request(intent: int = 1, quantity: int = 1, ttl_s: float = 600.0) -> ReservationRequest:
    return ReservationRequest(intent, 0, quantity, ttl_s)


def test_stock_can_never_go_negative(tmp_path: Path) -> None:
    shop, _ = service(tmp_path)
    with pytest.raises(sqlite3.IntegrityError), shop.store.db.write() as conn:
        conn.execute("UPDATE inventory SET available = -1 WHERE sku = 0")
    assert shop.stock() == {"sku-0": 10}


def test_decrement_takes_only_what_is_left(tmp_path: Path) -> None:
    shop, _ = service(tmp_path, settings(catalog={"stock_per_sku": 2}))
    saga = SagaContext(1, "k")
    assert shop.store.decrement(request(quantity=2), saga) is not None
    assert shop.store.decrement(request(quantity=1), saga) is None
    assert shop.stock() == {"sku-0": 0}


def test_a_blind_write_loses_an_update(tmp_path: Path) -> None:
    shop, _ = service(tmp_path)
    store = shop.store
    first, second = store.read_stock(0), store.read_stock(0)
    store.write_stock(request(1), first.available - 1, None, None, SagaContext(1, "a"))
    store.write_stock(request(2), second.available - 1, None, None, SagaContext(2, "b"))
    # Two reservations, one unit gone: the textbook lost update.
    assert shop.stock() == {"sku-0": 9}
    assert store.db.read().execute("SELECT COUNT(*) FROM reservations").fetchone()[0] == 2


def test_a_fenced_write_from_an_older_token_is_refused(tmp_path: Path) -> None:
    shop, _ = service(tmp_path)
    store = shop.store
    assert store.write_stock(request(1), 9, 5, 5, SagaContext(1, "a")) is not None
    assert store.write_stock(request(2), 8, 4, 4, SagaContext(2, "b")) is None
    rows = store.db.read().execute("SELECT fence_token, accepted FROM stock_writes").fetchall()
    assert rows == [(5, 1), (4, 0)]


def test_compare_and_set_fails_when_the_version_moved(tmp_path: Path) -> None:
    shop, _ = service(tmp_path)
    store = shop.store
    row = store.read_stock(0)
    assert store.compare_and_set(request(1), row.version, 9, None, SagaContext(1, "a"))
    assert store.compare_and_set(request(2), row.version, 9, None, SagaContext(2, "b")) is None


def test_lock_leases_expire_and_release_compares_the_token(tmp_path: Path) -> None:
    shop, clock = service(tmp_path)
    store = shop.store
    token, _ = store.try_lock("lock", ttl_s=5)
    assert token is not None
    assert store.try_lock("lock", ttl_s=5) == (None, 5.0)
    clock.advance(6)
    newer, _ = store.try_lock("lock", ttl_s=5)
    assert newer is not None and newer > token
    assert not store.release_lock("lock", token)  # the lapsed holder cannot free it
    assert store.release_lock("lock", newer)


def test_payment_keys_are_unique_and_a_retry_row_can_be_claimed(tmp_path: Path) -> None:
    shop, _ = service(tmp_path)
    store = shop.store
    assert store.insert_payment(PaymentRecord("k", KeyState.IN_PROGRESS)) is None
    clash = store.insert_payment(PaymentRecord("k", KeyState.IN_PROGRESS))
    assert clash == PaymentRecord("k", KeyState.IN_PROGRESS)
    store.update_payment(PaymentRecord("k", KeyState.RETRY))
    assert store.insert_payment(PaymentRecord("k", KeyState.IN_PROGRESS)) is None


def test_one_order_per_intent(tmp_path: Path) -> None:
    shop, _ = service(tmp_path)
    store = shop.store
    first = store.decrement(request(7), SagaContext(7, "a"))
    second = store.decrement(request(7), SagaContext(7, "b"))
    saga = SagaContext(7, "a")
    assert store.create_order(7, first, 1, False, False, saga) is OrderStatus.CREATED
    assert store.create_order(7, second, 2, False, False, saga) is OrderStatus.EXISTS
    # The existing order answers without confirming the second reservation.
    state = store.db.read().execute("SELECT state FROM reservations WHERE id = ?", (second,))
    assert state.fetchone()[0] == "active"
    with pytest.raises(sqlite3.IntegrityError), store.db.write() as conn:
        conn.execute(
            "INSERT INTO orders (intent_id, reservation_id, capture_id, sku, quantity, created_s)"
            " VALUES (7, ?, 3, 0, 1, 0)",
            (second,),
        )


def test_an_expired_reservation_refuses_the_order_or_oversells(tmp_path: Path) -> None:
    shop, clock = service(tmp_path, settings(catalog={"stock_per_sku": 1}))
    store = shop.store
    first = store.decrement(request(1, ttl_s=10), SagaContext(1, "a"))
    clock.advance(11)
    assert store.create_order(1, first, 1, False, False, SagaContext(1, "a")) is (
        OrderStatus.RESERVATION_EXPIRED
    )
    assert shop.stock() == {"sku-0": 1}  # the units went back
    second = store.decrement(request(2, ttl_s=10), SagaContext(2, "b"))
    assert store.create_order(2, second, 2, False, False, SagaContext(2, "b")) is (
        OrderStatus.CREATED
    )
    # With "oversell" handling the expired reservation still becomes an order.
    assert store.create_order(1, first, 1, True, False, SagaContext(1, "a")) is (
        OrderStatus.CREATED
    )
    sold = store.db.read().execute("SELECT SUM(quantity) FROM orders").fetchone()[0]
    assert sold == 2


def test_the_reaper_returns_expired_units(tmp_path: Path) -> None:
    shop, clock = service(tmp_path)
    shop.store.decrement(request(1, quantity=3, ttl_s=5), SagaContext(1, "a"))
    assert shop.reap() == 0
    clock.advance(5)
    assert shop.reap() == 1
    assert shop.stock() == {"sku-0": 10}


def test_the_saga_log_follows_the_rows_and_recovery_finishes_open_sagas(tmp_path: Path) -> None:
    shop, _ = service(tmp_path)
    store = shop.store
    reserved_only = store.decrement(request(1), SagaContext(1, "a"))
    captured = store.decrement(request(2), SagaContext(2, "b"))
    store.insert_payment(PaymentRecord("b", KeyState.CAPTURED, 42))
    steps = dict(
        (row[0], row[1])
        for row in store.db.read().execute("SELECT reservation_id, step FROM saga_log")
    )
    assert steps == {reserved_only: "reserved", captured: "captured"}
    recovered = shop.recover()
    assert (recovered["released"], recovered["ordered"], recovered["refunded"]) == (1, 1, 0)
    assert store.open_sagas() == []
    assert store.has_order(2) and not store.has_order(1)
    assert shop.stock() == {"sku-0": 9}


def test_the_reapers_look_reads_only_active_reservations(tmp_path: Path) -> None:
    """The reaper looks many times a second: it must not read every reservation ever made."""
    shop, _ = service(tmp_path)
    plan = shop.store.db.read().execute(
        "EXPLAIN QUERY PLAN SELECT id FROM reservations WHERE state = 'active' AND expires_s <= ?",
        (0.0,),
    )
    details = " ".join(str(row[-1]) for row in plan)
    assert "reservations_active" in details and "SCAN" not in details, details
