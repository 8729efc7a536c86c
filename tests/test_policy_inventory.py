"""The inventory strategies, raced step by step with no threads and no sleeps."""

from __future__ import annotations

import random

import pytest

from checkoutsim.policy import ops
from checkoutsim.policy.clock import ManualClock
from checkoutsim.policy.inventory import InventoryPolicy, ReserveStatus, reserve
from tests.support import Interleaving, StepBody


def request(intent: int, quantity: int = 1, ttl: float = 600.0) -> ops.ReservationRequest:
    return ops.ReservationRequest(intent, 0, quantity, ttl)


def two_buyers(strategy: str, body: StepBody, **knobs: float) -> Interleaving:
    policy = InventoryPolicy(strategy, **knobs)  # type: ignore[arg-type]
    rng = random.Random(0)
    return Interleaving(body, [reserve(policy, request(1), rng), reserve(policy, request(2), rng)])


@pytest.mark.parametrize("strategy", ["naive", "lock_ttl", "fenced", "optimistic", "atomic"])
def test_single_buyer_reserves_and_sells_out(strategy: str) -> None:
    body = StepBody([1])
    policy = InventoryPolicy(strategy)
    first = body.run(reserve(policy, request(1), random.Random(0)))
    second = body.run(reserve(policy, request(2), random.Random(0)))
    assert first.status is ReserveStatus.RESERVED
    assert second.status is ReserveStatus.SOLD_OUT
    assert body.shop.available == [0]


def test_naive_read_then_write_loses_an_update_and_oversells() -> None:
    body = StepBody([1])
    race = two_buyers("naive", body)
    race.run([0, 1])  # both read available = 1 before either writes
    results = race.run_all()
    assert [r.status for r in results] == [ReserveStatus.RESERVED] * 2
    assert body.shop.available == [0]  # the CHECK (available >= 0) never fires
    assert body.shop.reserved_units == 2  # two units held against one in stock


def test_atomic_conditional_update_lets_only_one_through() -> None:
    body = StepBody([1])
    results = two_buyers("atomic", body).run_all()
    assert sorted(r.status.value for r in results) == ["reserved", "sold_out"]


def test_optimistic_loser_rereads_and_sees_sold_out() -> None:
    body = StepBody([1])
    race = two_buyers("optimistic", body, optimistic_retries=3)
    race.run([0, 1, 0])  # both read version 0; buyer 0 writes first
    results = race.run_all()
    assert sorted(r.status.value for r in results) == ["reserved", "sold_out"]


def test_optimistic_gives_up_after_bounded_retries() -> None:
    policy = InventoryPolicy("optimistic", optimistic_retries=1)
    steps = reserve(policy, request(1), random.Random(0))
    operation = next(steps)
    assert isinstance(operation, ops.ReadStock)
    operation = steps.send(ops.StockRow(5, 0))
    assert isinstance(operation, ops.CompareAndSetStock)
    assert isinstance(steps.send(None), ops.Wait)  # version moved: back off
    assert isinstance(steps.send(None), ops.ReadStock)
    steps.send(ops.StockRow(5, 1))
    with pytest.raises(StopIteration) as stop:
        steps.send(None)  # moved again, retries spent
    assert stop.value.value.status is ReserveStatus.CONFLICT


def test_lock_holder_excludes_a_second_buyer() -> None:
    body = StepBody([1])
    race = two_buyers("lock_ttl", body)
    race.run([0, 1])  # buyer 0 holds the lock; buyer 1 is refused it
    results = race.run_all()
    assert sorted(r.status.value for r in results) == ["conflict", "reserved"]


@pytest.mark.parametrize(("strategy", "oversold"), [("lock_ttl", True), ("fenced", False)])
def test_a_pause_past_the_ttl_gives_two_holders_unless_fenced(
    strategy: str, oversold: bool
) -> None:
    clock = ManualClock()
    body = StepBody([1], clock)
    race = two_buyers(strategy, body, lock_ttl_s=5.0)
    race.run([0, 0])  # buyer 0: lock, then read available = 1
    clock.advance(6.0)  # buyer 0 pauses (GC) past its 5 s lease
    race.run([1, 1, 1])  # buyer 1: lock (lease lapsed), read 1, write 0
    results = race.run_all()  # buyer 0 wakes and writes from its stale read
    statuses = sorted(r.status.value for r in results)
    if oversold:
        assert statuses == ["reserved", "reserved"]
        assert body.shop.reserved_units == 2
    else:
        assert statuses == ["conflict", "reserved"]
        assert body.shop.fence_rejections == 1
        assert body.shop.reserved_units == 1


def test_release_cannot_free_a_lock_someone_else_now_holds() -> None:
    clock = ManualClock()
    body = StepBody([2], clock)
    race = two_buyers("lock_ttl", body, lock_ttl_s=1.0)
    race.run([0])
    clock.advance(2.0)
    race.run([1])  # buyer 1 takes the lapsed lock
    race.run([0, 0, 0])  # buyer 0 reads, writes, and releases its stale token
    assert isinstance(body.executed[-1], ops.ReleaseLock)
    assert body.locks["lock:inventory:0"][0] == 2  # still buyer 1's
    race.run_all()
    assert not body.locks


def test_unknown_strategy_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown inventory strategy"):
        InventoryPolicy("yolo")
