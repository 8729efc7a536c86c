"""The docs' figures: what they say about a model run is what that run gives.

Each test reruns the command a doc cites and looks for the figure, formatted
as the run table formats it, in the doc's text (whitespace folded, so a figure
split over two lines still counts). A doc that goes stale fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from checkoutsim.experiments.runner import run_scenario
from checkoutsim.results.formatting import format_value
from checkoutsim.scenario import files as scenario

DOCS = Path(__file__).resolve().parent.parent / "docs"

#: An absolute path to a script in backticks: a tool on one machine, not in the repository.
_ABSOLUTE_SCRIPT = re.compile(r"`/[^`\s]+\.(?:sh|py)\b")


def _text(name: str) -> str:
    return " ".join((DOCS / name).read_text(encoding="utf-8").split())


def _metrics(overrides: list[str], variant: str) -> dict[str, float]:
    result = run_scenario(scenario.load("evolution", overrides, [variant]), 1)
    return dict(result.variants[0].metrics)


def test_docs_cite_no_script_outside_the_repository() -> None:
    cited = {
        path.name: _ABSOLUTE_SCRIPT.findall(path.read_text(encoding="utf-8"))
        for path in sorted(DOCS.glob("*.md"))
    }
    assert {name: found for name, found in cited.items() if found} == {}


def test_evolution_doc_gives_scale_its_own_figures_in_the_fault_runs() -> None:
    """Scale differs from production by a few checkouts in the fault runs: the doc says how."""
    text = _text("evolution.md")
    outage = _metrics(
        [
            'faults.outages=[{service="gateway",start_s=60.0,end_s=180.0,mode="hang"}]',
            "load.duration_s=240",
            "load.drain_s=300",
        ],
        "scale",
    )
    assert outage["payment_queued"] == outage["queued_recovered"]
    served = f"{outage['served_rate'] * 100:g}% served"
    p99 = format_value(outage["latency_p99_s"], "latency_p99_s")
    parked = f"{outage['payment_queued']:,} parked and all charged later"
    assert f"in the gateway outage {served}, p99 {p99}, {parked}" in text
    orders = _metrics(["order.failure_rate=0.2"], "scale")
    assert (
        f"with order writes failing {format_value(orders['served_rate'], 'served_rate')} served,"
        f" {orders['refunds']} refunds, {orders['compensations']} compensations" in text
    )
    crash = _metrics(
        ['faults.outages=[{service="coordinator",start_s=30.0,end_s=60.0}]', "load.duration_s=90"],
        "scale",
    )
    assert f"in the crash p99 {format_value(crash['latency_p99_s'], 'latency_p99_s')}" in text


@pytest.mark.slow  # six 600 s runs, about 12 s
def test_gateways_doc_gives_the_models_own_seed_spread_of_safe_failovers_p99() -> None:
    """The doc explains an --independent p99 disagreement by the model's spread over seeds."""
    loaded = scenario.load("gateway-failover", ["load.duration_s=600"], ["safe_failover"])
    p99s = [run_scenario(loaded, seed).variants[0].metrics["latency_p99_s"] for seed in range(1, 7)]
    low, high = (format_value(value, "latency_p99_s") for value in (min(p99s), max(p99s)))
    assert f"--seed N` gives {low} to {high} over seeds 1 to 6" in _text("gateways.md")


def test_cost_doc_gives_each_gateway_outage_variants_lost_revenue() -> None:
    """Lost revenue is lost orders times the scenario's order value, as the doc's table says."""
    loaded = scenario.load("gateway-outage")
    assert loaded.base.money.order_value == 60.0
    variants = {variant.name: variant.metrics for variant in run_scenario(loaded, 1).variants}
    text = _text("cost.md")
    for name, metrics in variants.items():
        assert metrics["lost_revenue_usd"] == metrics["lost_orders"] * 60.0
        lost = format_value(metrics["lost_orders"], "lost_orders")
        revenue = format_value(metrics["lost_revenue_usd"], "lost_revenue_usd")
        assert f"| {name} | {lost} | {revenue} |" in text, name
    none, breaker = variants["no_breaker"], variants["breaker"]
    assert f'"processing" behind the hanging calls ({none["processing"]:,})' in text
    assert f"{breaker['rejected']:,} rejected while it is open and {breaker['processing']}" in text
    assert f"all {variants['breaker_queue']['queued_recovered']:,} are charged after" in text
