"""The real drain's wait for the orphan sweeper (``checkoutsim.load.drive.SweeperWatch``).

The drain may end only when the sweeper has done all it ever will: a pass began
its look-up at least the minimum age after the shop went quiet and after the
last late capture landed, or nothing is left for a pass to refund.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from checkoutsim.load.drive import SweeperWatch
from checkoutsim.load.session import SweeperPasses


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
