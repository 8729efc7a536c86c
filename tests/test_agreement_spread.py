"""``compare --grid``'s invariant rule: one real run judged against the model's seeded runs."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from checkoutsim.results.agreement import judge_invariant_spread, judge_with_spread
from tests.test_agreement import CLEAN


def run(oversold: int, checkouts: int = 300) -> dict[str, Any]:
    """A run of ``checkouts`` intents that oversold ``oversold`` units."""
    return {**CLEAN, "checkouts": checkouts, "oversold_units": oversold}


def test_a_model_that_never_oversells_needs_a_real_zero() -> None:
    model = [run(0)] * 20
    assert judge_invariant_spread("oversold_units", model, run(0)).agree
    line = judge_invariant_spread("oversold_units", model, run(3))
    assert (line.agree, line.sign_agree) == (False, False)


def test_a_model_that_always_oversells_needs_a_real_non_zero() -> None:
    model = [run(count) for count in range(5, 25)]
    line = judge_invariant_spread("oversold_units", model, run(0))
    assert (line.agree, line.sign_agree) == (False, False)
    assert judge_invariant_spread("oversold_units", model, run(14)).agree


def test_where_the_model_sometimes_oversells_either_real_outcome_agrees() -> None:
    # The checks in flight at sell-out: a mean of about one unit, zero about half the time.
    model = [run(count) for count in [0] * 9 + [1] * 6 + [2] * 4 + [3]]
    assert judge_invariant_spread("oversold_units", model, run(0)).agree
    assert judge_invariant_spread("oversold_units", model, run(2)).agree


def test_a_real_count_far_outside_the_models_runs_disagrees_on_size_not_sign() -> None:
    # Two modes: a burst read the full stock (about 80 oversold) or did not (0).
    model = [run(0)] * 6 + [run(count) for count in range(74, 88)]
    line = judge_invariant_spread("oversold_units", model, run(10))
    assert (line.agree, line.sign_agree) == (False, True)
    assert "outside its spread" in line.difference
    assert judge_invariant_spread("oversold_units", model, run(80)).agree
    assert judge_invariant_spread("oversold_units", model, run(400)).agree is False


def test_the_other_metrics_are_judged_against_the_first_model_run() -> None:
    slow = {**run(0), "latency_p50_s": 3.0}
    agree, lines = judge_with_spread([run(0), slow], run(0))
    assert agree
    agree, lines = judge_with_spread([slow, run(0)], run(0))
    assert not agree
    assert [line.metric for line in lines if line.agree is False] == ["latency_p50_s"]


@given(st.lists(st.integers(0, 60), min_size=1, max_size=30))
def test_a_real_run_like_the_models_median_run_always_agrees(counts: list[int]) -> None:
    model = [run(count) for count in counts]
    median = sorted(counts)[len(counts) // 2]
    for metric in ("oversold_units", "oversell_rate"):
        model_rates = [{**item, "oversell_rate": item["oversold_units"] / 100} for item in model]
        real = {**run(median), "oversell_rate": median / 100}
        line = judge_invariant_spread(metric, model_rates, real)
        assert line.agree, (metric, counts, median, line.difference)


@given(st.lists(st.integers(0, 60), min_size=1, max_size=30), st.integers(0, 200))
def test_a_sign_disagreement_is_always_a_disagreement(counts: list[int], real: int) -> None:
    line = judge_invariant_spread("oversold_units", [run(count) for count in counts], run(real))
    assert line.sign_agree is not None
    if not line.sign_agree:
        assert line.agree is False
    if all(count > 0 for count in counts) or not any(counts):
        assert line.sign_agree == ((real > 0) == any(counts))
