"""One definition of agreement: every metric judged by its kind, on constructed pairs."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from checkoutsim.results.agreement import (
    COUNT_NOISE_SD,
    FACTOR,
    RATE_TOLERANCE,
    count_noise,
    disagreements,
    host_lateness,
    judge,
    kind_of,
    rate_tolerance,
)
from checkoutsim.results.metrics import CONTRACT, DIAGNOSTICS, INVARIANTS

#: A clean run of 2,000 intents: nothing broken, everyone ordered quickly.
CLEAN: dict[str, Any] = {
    **dict.fromkeys(CONTRACT, 0),
    "checkouts": 2000,
    "orders": 2000,
    "stock": 5000,
    "units_sold": 2000,
    "success_rate": 1.0,
    "latency_p50_s": 0.30,
    "latency_p95_s": 0.50,
    "latency_p99_s": 0.60,
    "latency_max_s": 0.90,
}

#: The saturated saga-vs-2pc run at time scale 0.05, 2PC's figures (model, real):
#: success 98.3% against 51.5%, mean lock hold 0.64 s against 1.78 s. No invariant
#: broke on either side.
SATURATED_MODEL = {
    **CLEAN,
    "orders": 1966,
    "success_rate": 0.983,
    "rejected": 34,
    "lock_hold_mean_s": 0.64,
    "blocked_transactions": 1380,
    "latency_p50_s": 0.31,
    "latency_p99_s": 2.4,
}
SATURATED_REAL = {
    **CLEAN,
    "orders": 1030,
    "success_rate": 0.515,
    "rejected": 970,
    "lock_hold_mean_s": 1.78,
    "blocked_transactions": 1710,
    "latency_p50_s": 0.45,
    "latency_p99_s": 3.1,
}


def old_three_invariant_agreement(sim: dict[str, Any], real: dict[str, Any]) -> bool:
    """The rule ``compare`` used before: three invariants, zero versus non-zero, then 2x."""
    rates = {
        "oversold_units": "oversell_rate",
        "duplicate_charges": "duplicate_charge_rate",
        "orphan_payments": None,
    }
    for count, rate_name in rates.items():
        sim_count, real_count = float(sim.get(count, 0)), float(real.get(count, 0))
        if (sim_count > 0) != (real_count > 0):
            return False
        if sim_count == 0:
            continue
        if rate_name is None:
            sim_rate = sim_count / max(1.0, sim["checkouts"])
            real_rate = real_count / max(1.0, real["checkouts"])
        else:
            sim_rate, real_rate = float(sim[rate_name]), float(real[rate_name])
        ratio = real_rate / sim_rate if sim_rate > 0 else math.inf
        if not 1 / FACTOR <= ratio <= FACTOR:
            return False
    return True


def test_the_saturated_two_phase_pair_agreed_before_and_disagrees_on_success_now() -> None:
    assert old_three_invariant_agreement(SATURATED_MODEL, SATURATED_REAL)
    agree, lines = judge(SATURATED_MODEL, SATURATED_REAL, time_scale=0.05)
    assert not agree
    (wrong,) = disagreements(lines)
    assert wrong.metric == "success_rate" and wrong.kind == "rate"
    assert (wrong.sim, wrong.real) == (0.983, 0.515)
    assert wrong.difference.startswith("-46.8 pts")
    # The lock hold is a diagnostic: shown, never judged.
    (hold,) = [line for line in lines if line.metric == "lock_hold_mean_s"]
    assert (hold.kind, hold.agree, hold.judged) == ("diagnostic", None, False)


def test_every_contract_metric_has_a_kind_and_the_invariants_are_all_judged() -> None:
    kinds = {metric: kind_of(metric) for metric in CONTRACT}
    assert {metric for metric, kind in kinds.items() if kind == "invariant"} == {
        *INVARIANTS,
        "oversell_rate",
        "duplicate_charge_rate",
    }
    assert kinds["success_rate"] == "rate"
    assert kinds["latency_p50_s"] == kinds["latency_p99_s"] == "latency"
    assert kinds["latency_p95_s"] == kinds["compensations"] == "diagnostic"
    assert all(kind_of(name) == "diagnostic" for name in DIAGNOSTICS)
    _, lines = judge(CLEAN, CLEAN)
    assert [line.metric for line in lines] == list(CONTRACT)


def test_unpaid_orders_are_judged_zero_against_non_zero() -> None:
    agree, lines = judge(CLEAN, {**CLEAN, "unpaid_orders": 3})
    assert not agree
    assert [line.metric for line in disagreements(lines)] == ["unpaid_orders"]
    assert disagreements(lines)[0].difference == "zero vs non-zero"


@pytest.mark.parametrize(
    ("model", "real", "agrees"), [(100, 100, True), (100, 199, True), (100, 201, False)]
)
def test_broken_invariants_agree_within_a_factor_of_two(
    model: int, real: int, agrees: bool
) -> None:
    agree, lines = judge(
        {**CLEAN, "duplicate_charges": model}, {**CLEAN, "duplicate_charges": real}
    )
    (line,) = [line for line in lines if line.metric == "duplicate_charges"]
    assert line.agree is agrees and agree is agrees


@pytest.mark.parametrize(
    ("model", "real", "agrees"),
    [
        # A factor of three, but 6 apart where two standard deviations of the
        # difference of two Poisson counts are 2 * sqrt(12) = 6.9: chance.
        (3, 9, True),
        (9, 3, True),
        # 18 apart against 2 * sqrt(24) = 9.8: beyond chance, and 7x.
        (21, 3, False),
        # Zero against one is never noise: whether it breaks at all must match.
        (0, 1, False),
        (1, 0, False),
    ],
)
def test_small_counts_agree_within_their_poisson_noise(model: int, real: int, agrees: bool) -> None:
    agree, lines = judge({**CLEAN, "oversold_units": model}, {**CLEAN, "oversold_units": real})
    (line,) = [line for line in lines if line.metric == "oversold_units"]
    assert line.agree is agrees and agree is agrees


@given(
    model=st.integers(1, 400),
    real=st.integers(1, 400),
    n_model=st.integers(400, 5000),
    n_real=st.integers(400, 5000),
)
def test_a_broken_invariant_agrees_exactly_within_2x_or_its_count_noise(
    model: int, real: int, n_model: int, n_real: int
) -> None:
    sim = {**CLEAN, "checkouts": n_model, "duplicate_charges": model}
    other = {**CLEAN, "checkouts": n_real, "duplicate_charges": real}
    (line,) = [line for line in judge(sim, other)[1] if line.metric == "duplicate_charges"]
    rate_model, rate_real = model / n_model, real / n_real
    # The rule written out from its definition, not through the module's helpers.
    sd = math.sqrt(model / n_model**2 + real / n_real**2)
    within = 1 / FACTOR <= rate_real / rate_model <= FACTOR
    assert line.agree is (within or abs(rate_real - rate_model) <= COUNT_NOISE_SD * sd)


def test_count_noise_is_two_poisson_standard_deviations_of_the_difference() -> None:
    assert count_noise(3, 1, 9, 1) == pytest.approx(2 * math.sqrt(12))
    # Per intent: the same counts over 100 intents each are a hundredth of it.
    assert count_noise(3, 100, 9, 100) == pytest.approx(2 * math.sqrt(12) / 100)
    # The derived rates use their own count and base (oversold units per unit sold).
    sim = {**CLEAN, "oversold_units": 4, "oversell_rate": 4 / 200, "units_sold": 200}
    real = {**CLEAN, "oversold_units": 10, "oversell_rate": 10 / 210, "units_sold": 210}
    (line,) = [line for line in judge(sim, real)[1] if line.metric == "oversell_rate"]
    assert line.agree and line.difference.endswith("(within count noise)")


def test_invariant_counts_are_compared_per_checkout_intent() -> None:
    # Twice the intents and twice the orphans: the same rate, agreement.
    real = {**CLEAN, "checkouts": 4000, "orphan_payments": 80}
    agree, _ = judge({**CLEAN, "orphan_payments": 10}, real)
    assert not agree
    agree, _ = judge({**CLEAN, "orphan_payments": 40}, real)
    assert agree


def test_latency_is_judged_at_p50_and_p99_within_a_factor_of_two() -> None:
    agree, lines = judge(CLEAN, {**CLEAN, "latency_p99_s": 1.3, "latency_max_s": 60.0})
    assert not agree
    assert [line.metric for line in disagreements(lines)] == ["latency_p99_s"]
    assert judge(CLEAN, {**CLEAN, "latency_p50_s": 0.59})[0]
    # Nobody answered on one side only is a disagreement; on both, agreement.
    assert not judge(CLEAN, {**CLEAN, "latency_p50_s": math.nan})[0]
    both = {**CLEAN, "latency_p50_s": math.nan}
    assert judge(both, both)[0]


def test_latency_below_the_real_bodys_own_overhead_is_no_disagreement() -> None:
    fast = {**CLEAN, "latency_p50_s": 0.001, "latency_p99_s": 0.002}
    # 6 ms of wall time at time scale 1 is within the 10 ms floor, though 4x apart.
    slower = {**fast, "latency_p50_s": 0.004, "latency_p99_s": 0.008}
    assert judge(fast, slower, time_scale=1.0)[0]
    # At time scale 0.5 the floor is 20 model ms; 30 ms apart is judged by the ratio.
    assert not judge(fast, {**fast, "latency_p99_s": 0.032}, time_scale=0.5)[0]


@given(
    p=st.floats(0.0, 1.0),
    n=st.integers(1, 100_000),
    gap=st.floats(-1.0, 1.0),
)
def test_a_rate_agrees_exactly_when_the_gap_is_within_its_stated_tolerance(
    p: float, n: int, gap: float
) -> None:
    q = min(1.0, max(0.0, p + gap))
    model = {**CLEAN, "checkouts": n, "success_rate": p}
    real = {**CLEAN, "checkouts": n, "success_rate": q}
    (line,) = [line for line in judge(model, real)[1] if line.metric == "success_rate"]
    tolerance = rate_tolerance(p, q, n, n)
    assert tolerance >= RATE_TOLERANCE
    assert line.agree is (abs(q - p) <= tolerance)


def test_the_rate_tolerance_shrinks_to_its_fixed_points_with_many_intents() -> None:
    assert rate_tolerance(0.5, 0.5, 100, 100) == pytest.approx(0.05 + 2 * math.sqrt(0.005))
    assert rate_tolerance(0.5, 0.5, 10**9, 10**9) == pytest.approx(RATE_TOLERANCE, abs=1e-4)


def test_the_hosts_measured_lateness_widens_the_latency_floor() -> None:
    health = {
        "schedule_lag": {"p50_s": 0.004, "p99_s": 0.050},
        "step_overrun": {"p50_s": 0.001, "p99_s": 0.030},
    }
    lateness = host_lateness(health)
    assert lateness == pytest.approx({"latency_p50_s": 0.005, "latency_p99_s": 0.080})
    assert host_lateness(None) == {}
    # 4x apart at p99 but only 60 ms (time scale 1): beyond the 10 ms floor,
    # within 10 ms plus the 80 ms the host was late.
    fast = {**CLEAN, "latency_p99_s": 0.020}
    slow = {**CLEAN, "latency_p99_s": 0.080}
    assert not judge(fast, slow)[0]
    agree, lines = judge(fast, slow, 1.0, lateness)
    (line,) = [line for line in lines if line.metric == "latency_p99_s"]
    assert agree and line.difference == "+60 ms (floor 90)"


def test_the_moment_a_cache_first_shows_sold_out_is_shown_not_judged() -> None:
    """One moment per SKU per run, anywhere in a TTL window: 130 ms against 490 ms is chance."""
    assert kind_of("sold_out_shown_after_s") == "diagnostic"
    agree, lines = judge({"sold_out_shown_after_s": 0.130}, {"sold_out_shown_after_s": 0.490}, 1.0)
    assert agree and [line.agree for line in lines] == [None]
