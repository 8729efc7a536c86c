"""Each evolution stage's $ per order, checked against a hand calculation from the TOML.

The hand calculation reads ``prices.toml`` with :mod:`tomllib` and writes out what
each stage runs (docs/evolution.md), so a wrong count or price in
``results.stage_cost`` shows as a mismatch.
"""

from __future__ import annotations

import math
import tomllib
from importlib import resources

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checkoutsim.results.formatting import format_value
from checkoutsim.results.stage_cost import deployment_counts, priced_deployment
from checkoutsim.scenario.files import load

#: What each stage runs, written out from scenarios/evolution.toml and the docs:
#: (app instances, database primaries, Kafka partitions, gateway accounts).
STAGES = {"mvp": (1, 1, 0, 1), "production": (4, 2, 8, 1), "scale": (4, 2, 8, 4)}


def shipped() -> dict[str, float]:
    """The shipped prices, read straight from the file."""
    text = (resources.files("checkoutsim.capacity") / "prices.toml").read_text(encoding="utf-8")
    return {name: entry["value"] for name, entry in tomllib.loads(text).items()}


def by_hand(stage: str, orders_per_s: float) -> tuple[float, float]:
    """(total $ per order, infrastructure $ per order) for ``stage`` at ``orders_per_s``."""
    price = shipped()
    app, primaries, partitions, accounts = STAGES[stage]
    hours = price["hours_per_month"]
    orders_per_month = orders_per_s * 86_400 * hours / 24
    brokers = 3 if partitions else 0  # 8 × 3 copies is far under 1,000 per broker
    hourly = (
        app * price["app_server"]
        + primaries * (price["database_primary"] + price["database_replica"])
        + brokers * price["kafka_broker"]
    )
    infrastructure = hourly * hours + orders_per_month * 200_000 / 1e9 * price["egress_per_gb"]
    fees = orders_per_month * (60 * 0.029 + 0.30) + accounts * price["gateway_account_monthly"]
    return (infrastructure + fees) / orders_per_month, infrastructure / orders_per_month


@pytest.mark.parametrize("stage", list(STAGES))
def test_each_stage_is_priced_from_what_it_runs(stage: str) -> None:
    variant = load("evolution").variant(stage).settings
    app, primaries, partitions, accounts = STAGES[stage]
    counts = deployment_counts(variant, 40.0)
    assert counts["app"] == app and counts["kafka"] == partitions
    assert counts["inventory_db"] + counts["order_db"] == primaries
    assert counts["payment_gateway"] == accounts and counts["redis"] == 0
    priced = priced_deployment(variant, {"throughput_orders_per_s": 40.0})
    total, infrastructure = by_hand(stage, 40.0)
    assert priced["cost_per_order_usd"] == pytest.approx(total)
    assert priced["infrastructure_per_million_usd"] == pytest.approx(infrastructure * 1e6)


@settings(max_examples=25, deadline=None)
@given(orders_per_s=st.floats(min_value=0.1, max_value=10_000))
def test_machines_per_order_fall_as_the_carried_load_grows(orders_per_s: float) -> None:
    """Machines are billed all month whatever the load; egress and fees are per order."""
    variant = load("evolution").variant("production").settings
    low = priced_deployment(variant, {"throughput_orders_per_s": orders_per_s})
    high = priced_deployment(variant, {"throughput_orders_per_s": 2 * orders_per_s})
    assert high["infrastructure_monthly_usd"] > low["infrastructure_monthly_usd"]
    assert high["infrastructure_per_million_usd"] < low["infrastructure_per_million_usd"]
    assert high["cost_per_order_usd"] > 60 * 0.029 + 0.30  # never below the fee


def test_no_orders_prices_nothing_and_the_cells_read_as_dollars() -> None:
    variant = load("evolution").variant("mvp").settings
    assert all(math.isnan(value) for value in priced_deployment(variant, {}).values())
    assert format_value(2.04003, "cost_per_order_usd") == "$2.04"
    assert format_value(30.0, "infrastructure_per_million_usd") == "$30.00"
