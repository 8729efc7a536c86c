"""The verdict's second axis: the objective, the served share and the recovery time.

Recovery is checked on histories built by hand, where the answer is worked
out from the definition; the served share against the sweep's independent
failure rate; the judgement against the objective's plain reading.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from checkoutsim.experiments.runner import run_scenario
from checkoutsim.experiments.sweep import failure_rate
from checkoutsim.results.metrics import recovery
from checkoutsim.results.objective import judge, objective_phrases
from checkoutsim.results.verdicts import LONGEST_PHRASE, Judged, verdict_phrases, what_it_shows
from checkoutsim.scenario import files as scenarios
from checkoutsim.scenario.files import ScenarioError


def checkouts(rows: list[tuple[int, float, str, float]]) -> pd.DataFrame:
    """Checkouts as (intent, arrival, told, answered)."""
    return pd.DataFrame(rows, columns=["intent_id", "arrival_s", "told", "answered_s"])


def orders(rows: list[tuple[int, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["intent_id", "time_s"])


def test_recovery_counts_only_shoppers_who_arrived_after_the_window() -> None:
    frame = checkouts(
        [
            (1, 5.0, "processing", 15.0),  # before the window: its late order is backlog
            (2, 21.0, "rejected", 21.1),  # after, but not served
            (3, 22.0, "ordered", 23.5),  # ordered at 23.5
            (4, 23.0, "sold_out", 23.2),  # told sold out at 23.2: the first served
        ]
    )
    made = orders([(1, 20.5), (3, 23.5)])
    took, unrecovered = recovery(frame, made, [("gateway", 10.0, 20.0)])
    assert took == pytest.approx(3.2)
    assert unrecovered == 0


def test_overlapping_windows_are_one_and_the_slowest_window_counts() -> None:
    frame = checkouts([(1, 31.0, "ordered", 31.5), (2, 41.0, "ordered", 45.0)])
    made = orders([(1, 31.5), (2, 45.0)])
    windows = [("gateway", 10.0, 20.0), ("order", 15.0, 30.0), ("gateway", 40.0, 41.0)]
    # (10, 30) merged: served again 1.5 s after 30; (40, 41): 4 s after 41.
    took, _ = recovery(frame, made, windows)
    assert took == pytest.approx(4.0)


def test_no_new_shopper_served_is_counted_and_no_new_shopper_is_not_judged() -> None:
    frame = checkouts([(1, 25.0, "rejected", 25.1)])
    took, unrecovered = recovery(frame, orders([]), [("inventory", 10.0, 20.0)])
    assert math.isnan(took) and unrecovered == 1
    took, unrecovered = recovery(frame, orders([]), [("inventory", 10.0, 30.0)])
    assert math.isnan(took) and unrecovered == 0
    assert math.isnan(recovery(frame, orders([]), [])[0])


counts = st.integers(min_value=0, max_value=10_000)


@given(orders=counts, sold_out=counts, others=counts)
def test_served_share_is_one_minus_the_sweeps_failure_rate(
    orders: int, sold_out: int, others: int
) -> None:
    checkouts = orders + sold_out + others
    served = (orders + sold_out) / max(1, checkouts)
    metrics = {"checkouts": checkouts, "orders": orders, "sold_out": sold_out}
    assert served == pytest.approx(1 - failure_rate(metrics)) or checkouts == 0


shares = st.floats(min_value=0, max_value=1)
waits = st.floats(min_value=0.001, max_value=100)


@given(served=shares, p99=waits, served_target=shares, p99_target=waits)
def test_objective_is_met_exactly_when_every_figure_is(
    served: float, p99: float, served_target: float, p99_target: float
) -> None:
    judged = judge(
        {"served_rate": served, "latency_p99_s": p99},
        {"served_rate": served_target, "latency_p99_s": p99_target, "recovery_s": 5.0},
    )
    assert judged["met"] == (served >= served_target and p99 <= p99_target)
    assert "recovery_s" not in judged["figures"]  # no fault window, nothing to judge
    phrases = objective_phrases(judged)
    assert phrases[0].startswith("met objective" if judged["met"] else "missed objective")


def test_a_fault_window_nobody_recovered_from_misses_the_objective() -> None:
    metrics = {"served_rate": 1.0, "latency_p99_s": 1.0, "fault_windows_unrecovered": 1}
    judged = judge(metrics, {"served_rate": 0.99, "latency_p99_s": 3.0, "recovery_s": 10.0})
    assert not judged["met"]
    assert "no new shopper served after the fault" in objective_phrases(judged)[0]


def test_a_figure_is_never_printed_equal_to_an_objective_it_missed() -> None:
    judged = judge(
        {"served_rate": 0.98996, "latency_p99_s": 3.0004},
        {"served_rate": 0.99, "latency_p99_s": 3.0},
    )
    text = " ".join(objective_phrases(judged))
    assert "99% served" not in text.replace("(objective 99%)", "")
    assert "p99 3 s" not in text


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("objective.served_rate=1.5", "objective.served_rate"),
        ("objective.recovery_s=-1", "objective.recovery_s"),
        ("objective.latency_p99_s=0", "objective.latency_p99_s"),
    ],
)
def test_objective_settings_are_bounded(setting: str, message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        scenarios.load("flash-sale", [setting])


def test_every_named_scenario_states_its_objective() -> None:
    for name, path in scenarios.available().items():
        assert "[objective]" in path.read_text(encoding="utf-8"), name


def test_gateway_outage_verdicts_tell_the_availability_story() -> None:
    loaded = scenarios.load("gateway-outage")  # the whole scenario, as `run` runs it
    items = {item.name: item for item in run_scenario(loaded, seed=1).judged()}
    no_breaker, queue = items["no_breaker"], items["breaker_queue"]
    assert no_breaker.verdict["safe"] and queue.verdict["safe"]
    assert not no_breaker.verdict["objective_met"]
    assert queue.verdict["objective_met"]
    assert verdict_phrases(no_breaker)[1].startswith("missed objective: ")
    # "What it shows" is computed: the queue served the most, and by how much.
    shown = " ".join(what_it_shows(list(items.values())))
    assert "most served: breaker_queue 100%" in shown


def test_what_it_shows_ranks_by_the_figures() -> None:
    objective = {"served_rate": 0.9, "latency_p99_s": 2.0}
    items = [
        Judged("a", {"served_rate": 0.5, "latency_p99_s": 1.0, "oversold_units": 3}, objective),
        Judged("b", {"served_rate": 0.95, "latency_p99_s": 1.5}, objective),
        Judged("c", {"served_rate": 0.8, "latency_p99_s": 4.0}, objective),
    ]
    shown = what_it_shows(items)
    assert "safe: b, c" in shown
    assert "a unsafe: oversold 3" in shown
    assert "objective met by b only" in shown
    assert "most served: b 95% (c next, 80%)" in shown
    assert "lowest p99: a 1 s (b next, 1.5 s)" in shown


def test_a_variant_with_its_own_objective_shows_it_in_its_cell() -> None:
    from checkoutsim.results.verdicts import verdict_fields

    a = Judged("a", {"served_rate": 0.5, "latency_p99_s": 1.0}, {"latency_p99_s": 2.0})
    b = Judged("b", {"served_rate": 0.9, "latency_p99_s": 1.5}, {"latency_p99_s": 1.0})
    fields = {field.key: field for field in verdict_fields([a, b])}
    p99 = fields["latency_p99_s"]
    assert p99.label == "latency_p99_s"
    assert [cell.text for cell in p99.cells] == ["1.00 s (≤ 2 s)", "1.50 s (≤ 1 s)"]
    assert [cell.tone for cell in p99.cells] == ["good", "bad"]


def test_a_ranking_with_two_long_names_names_the_runner_up_and_fits() -> None:
    objective = {"served_rate": 0.9, "latency_p99_s": 2.0}
    first, second = "decrement_then_check", "check_then_decrement_checked"
    items = [
        Judged(first, {"served_rate": 0.99, "latency_p99_s": 0.593}, objective),
        Judged(second, {"served_rate": 0.98, "latency_p99_s": 0.597}, objective),
    ]
    shown = what_it_shows(items)
    # Too long for one phrase: the runner-up gets a phrase of its own, still named.
    assert f"lowest p99: {first} 593 ms" in shown
    assert f"next lowest p99: {second} 597 ms" in shown
    assert all(len(phrase) <= LONGEST_PHRASE for phrase in shown)
