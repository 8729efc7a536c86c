"""Give-backs that wait for a strategy's lock: bounded, never a spin, never a kept lock.

Driven step by step with hand-written answers (no body), so each case shows
what the policy core asks for when a lock is refused or a write fails.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from checkoutsim.policy.inventory import GIVE_BACK_RETRY_S, InventoryPolicy, expire, give_back
from checkoutsim.policy.ops import (
    UNAVAILABLE,
    AcquireLock,
    Authorize,
    Charge,
    ChargeStatus,
    ExpireReservation,
    ReadStock,
    ReleaseLock,
    ReleaseReservation,
    Wait,
    WriteStock,
)
from checkoutsim.policy.saga import CheckoutRequest
from checkoutsim.policy.two_phase import two_phase_checkout


def test_the_reapers_give_back_asks_for_the_lock_once_and_leaves_the_reservation_due() -> None:
    steps = expire(InventoryPolicy(strategy="lock_ttl", lock_wait_s=2.0), 7, 0)
    assert isinstance(next(steps), AcquireLock)
    with pytest.raises(StopIteration) as end:
        steps.send(None)  # refused within its wait
    # Not expired now, still due: the next pass asks again (a lease with no TTL
    # cannot hold a pass, and every SKU's expiries behind it, for good).
    assert end.value.value is UNAVAILABLE


def test_a_granted_reaper_expires_then_lets_the_lock_go() -> None:
    steps = expire(InventoryPolicy(strategy="fenced"), 7, 0)
    assert isinstance(next(steps), AcquireLock)
    assert steps.send(11) == ExpireReservation(7)
    assert steps.send(True) == ReleaseLock("lock:inventory:0", 11)
    with pytest.raises(StopIteration) as end:
        steps.send(None)
    assert end.value.value is True


def test_a_compensation_told_not_to_wait_pauses_before_it_asks_again() -> None:
    # With no wait in line and a free ask, asking again at once never lets
    # simulated time move: a run hung there for good.
    steps = give_back(InventoryPolicy(strategy="lock_ttl", lock_wait_s=0.0), 7, 0, holder=3)
    assert isinstance(next(steps), AcquireLock)
    for _ in range(3):
        assert steps.send(None) == Wait(GIVE_BACK_RETRY_S)
        assert isinstance(steps.send(None), AcquireLock)
    assert steps.send(5) == ReleaseReservation(7)


def test_a_compensation_that_may_wait_asks_again_at_once() -> None:
    steps = give_back(InventoryPolicy(strategy="lock_ttl", lock_wait_s=2.0), 7, 0, holder=3)
    assert isinstance(next(steps), AcquireLock)
    assert isinstance(steps.send(None), AcquireLock)  # its wait was the pause


def test_a_two_phase_give_back_that_fails_still_releases_the_row_lock() -> None:
    # 2PC's lock has no TTL: kept by a failed give-back, it would refuse the SKU for good.
    steps = two_phase_checkout(CheckoutRequest(1, 0, 1, 60.0, "k"), 1.0, 600.0, checkpoints=False)
    assert isinstance(next(steps), AcquireLock)
    assert isinstance(steps.send(9), ReadStock)
    assert isinstance(steps.send(SimpleNamespace(available=5)), Authorize)
    assert isinstance(steps.send(True), WriteStock)
    assert isinstance(steps.send(42), Charge)
    declined = SimpleNamespace(status=ChargeStatus.DECLINED, capture_id=None)
    step = steps.send(declined)
    while isinstance(step, Charge):
        step = steps.send(declined)
    assert step == ReleaseReservation(42)
    assert steps.throw(RuntimeError("database is locked")) == ReleaseLock("lock:inventory:0", 9)
    with pytest.raises(RuntimeError):
        steps.send(None)
