"""Runs price their failures: lost orders (no order, not sold out) times the order value.

The checks count lost orders again from each run's own records (the checkouts
frame and the orders frame), not from the metrics the price is computed from.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from checkoutsim.experiments.runner import RunResult, run_scenario
from checkoutsim.results.formatting import format_value
from checkoutsim.results.money import LOST_OUTCOMES, lost_orders, priced
from checkoutsim.results.verdicts import Judged, what_it_shows
from checkoutsim.scenario import files as scenarios
from checkoutsim.scenario.files import ScenarioError
from checkoutsim.scenario.settings import Settings


@pytest.fixture(scope="module")
def outage():
    """gateway-outage at a quarter of its load (the outage, breaker and queue unchanged)."""
    loaded = scenarios.load("gateway-outage", ["load.rate_per_s=5", "money.order_value=59.5"])
    return run_scenario(loaded, seed=1, keep_histories=True)


def test_lost_revenue_is_counted_from_the_records(outage) -> None:
    for variant in outage.variants:
        history = variant.histories[0]
        checkouts = history.checkouts
        ordered = checkouts["intent_id"].isin(history.orders["intent_id"])
        lost = int((~ordered & (checkouts["told"] != "sold_out")).sum())
        assert variant.metrics["lost_orders"] == lost, variant.name
        assert variant.metrics["lost_revenue_usd"] == pytest.approx(lost * 59.5), variant.name


def test_the_outage_costs_revenue_without_the_queue_and_none_with_it(outage) -> None:
    lost = {variant.name: variant.metrics["lost_revenue_usd"] for variant in outage.variants}
    assert lost["no_breaker"] > 0
    assert lost["breaker"] > 0
    assert lost["breaker_queue"] < min(lost["no_breaker"], lost["breaker"])


def test_the_json_carries_lost_revenue(outage) -> None:
    for variant in outage.to_json()["variants"]:
        assert variant["metrics"]["lost_revenue_usd"] == pytest.approx(
            variant["metrics"]["lost_orders"] * 59.5
        )


@given(
    counts=st.dictionaries(
        st.sampled_from([*LOST_OUTCOMES, "sold_out", "orders", "checkouts"]),
        st.integers(min_value=0, max_value=10_000),
    ),
    value=st.floats(min_value=0.01, max_value=10_000, allow_nan=False),
)
def test_sold_out_and_orders_are_never_lost(counts: dict[str, int], value: float) -> None:
    expected = sum(counts.get(outcome, 0) for outcome in LOST_OUTCOMES)
    assert lost_orders(counts) == expected
    assert priced(counts, value)["lost_revenue_usd"] == pytest.approx(expected * value)


def test_the_order_value_has_a_default_and_a_bad_one_is_one_line() -> None:
    assert Settings().money.order_value == 60.0
    assert scenarios.load("flash-sale").base.money.order_value == 60.0
    assert scenarios.load("gateway-outage").base.money.order_value == 60.0
    with pytest.raises(ScenarioError) as raised:
        scenarios.load("gateway-outage", ["money.order_value=-1"])
    message = str(raised.value)
    assert "\n" not in message and "money.order_value" in message and "-1" in message


def test_lost_revenue_is_shown_in_whole_dollars() -> None:
    assert format_value(118_500.0, "lost_revenue_usd") == "$118,500"
    assert format_value(0, "lost_revenue_usd") == "$0"


def test_what_it_shows_names_the_design_that_lost_least(outage: RunResult) -> None:
    shown = " ".join(what_it_shows(outage.judged()))
    lost = {variant.name: variant.metrics["lost_revenue_usd"] for variant in outage.variants}
    least = min(lost, key=lost.__getitem__)
    assert f"least revenue lost: {least} {format_value(lost[least], 'lost_revenue_usd')}" in shown


def test_a_run_without_a_fault_does_not_rank_lost_revenue() -> None:
    objective = {"served_rate": 0.9, "latency_p99_s": 2.0}
    base = {"served_rate": 0.9, "latency_p99_s": 1.0}
    items = [
        Judged("a", {**base, "lost_revenue_usd": 60.0}, objective),
        Judged("b", {**base, "lost_revenue_usd": 0.0}, objective),
    ]
    assert not any("revenue" in phrase for phrase in what_it_shows(items))
