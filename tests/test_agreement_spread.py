"""``compare --grid``'s invariant rule: one real run judged against the model's seeded runs."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from checkoutsim.results.agreement import (
    NOISE_P,
    judge_invariant_spread,
    judge_with_spread,
    poisson_two_sided,
)
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
    # A burst read the full stock in every run (74 to 93 oversold).
    model = [run(count) for count in range(74, 94)]
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


def test_one_breaking_run_in_twenty_does_not_make_a_real_oversell_agree() -> None:
    # The review's case: 50 units in 1 of 20 runs, zero otherwise; the real run 50.
    model = [run(50)] + [run(0)] * 19
    line = judge_invariant_spread("oversold_units", model, run(50))
    assert (line.agree, line.sign_agree) == (False, False)
    # Nor a real 4 against a mean of 0.05 (once called count noise of the real count).
    model = [run(1)] + [run(0)] * 19
    assert judge_invariant_spread("oversold_units", model, run(4)).agree is False
    # Two runs of 20 are a prediction: the same 50 then agrees.
    assert judge_invariant_spread("oversold_units", [run(50)] * 2 + [run(0)] * 18, run(50)).agree


def test_one_zero_run_in_twenty_does_not_make_a_real_zero_agree() -> None:
    model = [run(0)] + [run(30)] * 19
    line = judge_invariant_spread("oversold_units", model, run(0))
    assert (line.agree, line.sign_agree) == (False, False)
    assert judge_invariant_spread("oversold_units", [run(0)] * 2 + [run(30)] * 18, run(0)).agree


def test_count_noise_is_judged_under_the_models_mean() -> None:
    # Near the edge: model runs of 0, 1 and 2, a real 3 is a plausible count.
    model = [run(count) for count in [0] * 7 + [1] * 7 + [2] * 6]
    line = judge_invariant_spread("oversold_units", model, run(3))
    assert line.agree and "count noise" in line.difference
    # A real 9 under the same mean (0.95) is not: P(X >= 9) is about 1e-6.
    assert judge_invariant_spread("oversold_units", model, run(9)).agree is False
    assert poisson_two_sided(3, 0.95) > NOISE_P > poisson_two_sided(9, 0.95)


def test_the_spread_counts_zero_runs_and_trims_one_run_at_each_end() -> None:
    # Zero in 10 runs, 40 in 9, one run of 400: the 400 is the tail, not the spread.
    model = [run(0)] * 10 + [run(40)] * 9 + [run(400)]
    assert judge_invariant_spread("oversold_units", model, run(40)).agree
    line = judge_invariant_spread("oversold_units", model, run(300))
    assert (line.agree, line.sign_agree, line.within_factor) == (False, True, False)


def test_within_factor_is_reported_apart_from_the_other_tests() -> None:
    model = [run(count) for count in [0] * 7 + [1] * 7 + [2] * 6]
    assert judge_invariant_spread("oversold_units", model, run(1)).within_factor is True
    assert judge_invariant_spread("oversold_units", model, run(3)).within_factor is False
    assert judge_invariant_spread("oversold_units", model, run(0)).within_factor is None


@given(st.floats(0.01, 400), st.integers(0, 2000))
def test_the_poisson_tail_is_a_probability_largest_near_the_mean(mean: float, count: int) -> None:
    chance = poisson_two_sided(count, mean)
    assert 0.0 <= chance <= 1.0
    near = poisson_two_sided(math.floor(mean), mean)
    if abs(count - mean) > abs(math.floor(mean) - mean) + 1 + 3 * math.sqrt(mean):
        assert chance <= near
