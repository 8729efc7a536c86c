"""The real drain's wait for the orphan sweeper (``checkoutsim.load.sweeper_watch``).

The drain may end only when the sweeper has done all it ever will: a pass began
its look-up at least the minimum age after the shop went quiet and after the
last late capture landed, or nothing is left for a pass to refund.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from checkoutsim.load.sweeper_watch import SweeperPasses, SweeperWatch
from checkoutsim.real.saga_context import SagaContext
from tests.real_support import service
from tests.test_audit_unfinished import _capture, _reserve


def watch(looked_from_s: float, late_s: float, has_work: bool) -> SweeperWatch:
    """A watch over fixed figures (model seconds)."""
    return SweeperWatch(
        now_s=lambda: 0.0,
        late_landed_s=lambda: late_s,
        passes=SweeperPasses(looked_from_s),
        has_work=lambda: has_work,
    )


def test_a_capture_landing_after_the_shop_went_quiet_gets_its_own_pass() -> None:
    # Quiet at 35 s, min age 60: a pass from 95 s sees every capture of the sagas,
    # but the late capture landed at 39.6 s, so it needs a pass from 99.6 s.
    assert not watch(looked_from_s=96.0, late_s=39.6, has_work=True).settled(35.0, 60.0)
    assert watch(looked_from_s=99.6, late_s=39.6, has_work=True).settled(35.0, 60.0)
    assert watch(looked_from_s=96.0, late_s=float("-inf"), has_work=True).settled(35.0, 60.0)


def test_with_nothing_left_to_refund_no_pass_is_waited_for() -> None:
    assert watch(looked_from_s=float("-inf"), late_s=39.6, has_work=False).settled(35.0, 60.0)
    assert not watch(looked_from_s=float("-inf"), late_s=39.6, has_work=True).settled(35.0, 60.0)


@given(
    quiet=st.floats(0, 1000),
    late=st.floats(0, 1000),
    looked=st.floats(0, 2000),
    age=st.floats(0, 500),
)
def test_settled_means_a_pass_saw_every_capture_at_its_minimum_age(
    quiet: float, late: float, looked: float, age: float
) -> None:
    settled = watch(looked, late, has_work=True).settled(quiet, age)
    # Every capture happened by max(quiet, late); a look-up from `looked` refunds
    # those at least `age` old, so it saw them all if it began `age` after that.
    assert settled is (looked >= max(quiet, late) + age)


def test_the_service_has_sweeper_work_while_a_capture_has_neither_order_nor_refund(
    tmp_path: Path,
) -> None:
    shop, _ = service(tmp_path)
    assert not shop.sweeper_has_work()
    reservation = _reserve(shop, 3)
    capture = _capture(shop, 3)
    # Captured, no order yet: a pass could refund it once it is old enough.
    assert shop.sweeper_has_work()
    shop.store.create_order(3, reservation, capture, False, False, SagaContext(3, "k3"))
    assert not shop.sweeper_has_work()
    # A second capture for the ordered intent is no sweeper's business (it looks
    # by intent); one for an intent with no order is, until it is refunded.
    _capture(shop, 3)
    assert not shop.sweeper_has_work()
    late = _capture(shop, 9)
    assert shop.sweeper_has_work()
    shop.ledger.refund(late)
    assert not shop.sweeper_has_work()
