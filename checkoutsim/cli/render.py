"""Rich rendering of results for the terminal (the CLI's side, never the core's)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.text import Text

from checkoutsim.results.formatting import format_row, format_value
from checkoutsim.results.layout import fit_tables, wrap_phrases
from checkoutsim.results.objective import FIGURES, objective_target, percent
from checkoutsim.results.run_table import run_view
from checkoutsim.results.verdicts import Cell, Judged, joined

if TYPE_CHECKING:
    from checkoutsim.experiments.runner import RunResult
    from checkoutsim.experiments.scale import ScaleReport
    from checkoutsim.experiments.sweep import SweepResult


def judged_variants(result: RunResult) -> list[Judged]:
    """Each variant of a run with what its verdict is judged against."""
    return result.judged()


def render_run(console: Console, result: RunResult) -> None:
    """Print a run's variants side by side with their verdicts on both axes."""
    loaded = result.scenario
    console.print(f"[bold]{escape(loaded.title)}[/]", highlight=False)
    console.print(f"[italic]Question:[/] {escape(loaded.question)}", highlight=False)
    reps = (
        f"{result.replications} replications, mean ±95% CI"
        if result.replications > 1
        else ("1 replication")
    )
    header = [loaded.name, f"seed {result.seed}", reps, "latencies in simulated seconds"]
    if result.scale is not None:
        render_scale(console, result.scale)
        header.append(f"hot SKU row at {result.scale.hot_sku_orders_per_s:,.0f} orders/s")
    for part in run_view(header, judged_variants(result), console.width):
        console.print(part, highlight=False)
    if result.scale is not None:
        share = result.scale.hot_sku_orders_per_s / result.scale.plan.peak_orders_per_s
        for variant in result.variants:
            capacity = variant.metrics.get("row_capacity_per_s")
            # None, or NaN over replications: nothing held a row, no ceiling to show.
            if capacity is not None and math.isfinite(capacity) and capacity > 0:
                # Broken between phrases, as the verdict lines are, not at any space.
                phrases = [
                    f"{capacity:,.0f} reservations per second of exclusive row time at this load",
                    f"(the whole shop at {capacity / share:,.0f} orders/s",
                    "if that held at any load;",
                    "sweep the rate to find where it saturates)",
                ]
                for line in wrap_phrases(f"{variant.name}:", phrases, console.width):
                    console.print(Text(line))


def render_scale(console: Console, report: ScaleReport) -> None:
    """The tier check of a scale scenario: model versus simulation, and the bottleneck."""
    plan = report.plan
    phrases = [
        f"{plan.orders_per_day:,.0f} orders/day: {plan.average_orders_per_s:,.1f} orders/s on "
        f"average, {plan.peak_orders_per_s:,.0f} at the peak (× {plan.peak_factor:g})",
        "tier counts from the capacity model",
        "`checkoutsim capacity` shows every assumption",
    ]
    for line in wrap_phrases("", joined(phrases, ";"), console.width):
        console.print(Text(line))
    console.print("tiers at the peak: capacity model vs simulated queue", highlight=False)
    tiers = report.tiers

    def simulated(text: str) -> Cell:
        head, sep, tail = text.partition(" of ")
        return Cell(text, "", (head, f"of {tail}") if sep else ())

    rows = [
        ("n", [Cell(f"{tier.count:,}") for tier in tiers]),
        ("simulated", [simulated(tier.simulated) for tier in tiers]),
        ("ρ model", [Cell(f"{tier.model_utilisation:.1%}") for tier in tiers]),
        ("ρ sim", [Cell(f"{tier.sim_utilisation:.1%}") for tier in tiers]),
        ("Wq model", [Cell(format_value(tier.model_mean_wait_s, "wait_s")) for tier in tiers]),
        ("Wq sim", [Cell(format_value(tier.sim_mean_wait_s, "wait_s")) for tier in tiers]),
        (
            "ok",
            [
                Cell("sat.", "withheld")
                if tier.saturated
                else Cell("✓", "good")
                if tier.agree
                else Cell("✗", "bad")
                for tier in tiers
            ],
        ),
    ]
    for table in fit_tables("tier", [tier.tier for tier in tiers], rows, console.width):
        console.print(table)
    legend = [
        "ρ: utilisation",
        "Wq: mean wait in queue",
        "✓: simulated within 5% of the model",
        "sat.: offered more than it can serve, so there is no steady state to simulate",
    ]
    for line in wrap_phrases("", joined(legend, ";"), console.width):
        console.print(Text(line))
    console.print(f"[bold]first bottleneck:[/] {report.bottleneck}", highlight=False)


def render_sweep(console: Console, result: SweepResult) -> None:
    """Print each variant's key figures per point (points as columns, so that the table
    fits the width), then each variant's knee."""
    frame = result.frame
    params = [axis.param for axis in result.axes]
    objective = result.scenario.base.objective.model_dump()
    header = [
        f"sweep {result.scenario.name}",
        f"seed {result.seed}",
        f"columns: {' / '.join(params)}",
        "latencies in simulated seconds",
    ]
    for line in wrap_phrases("", joined(header, " ·"), console.width):
        console.print(Text(line, style="bold"))
    shown = (
        "checkouts",
        "orders",
        "served_rate",
        "latency_p99_s",
        "oversold_units",
        "duplicate_charges",
    )
    for variant, group in frame.groupby("variant", sort=False):
        records = group.to_dict(orient="records")
        names = [" / ".join(f"{record[param]:g}" for param in params) for record in records]
        rows = []
        for key in shown:
            target = objective_target(key, objective) if key in FIGURES else None
            label = f"{key} {target}" if target else key
            values = format_row([record.get(key) for record in records], key)
            rows.append((label, [Cell(value) for value in values]))
        console.print(Text(f"{variant}:", style="bold"))
        for table in fit_tables("metric", names, rows, console.width):
            console.print(table)
    failure = result.scenario.base.objective.failure_rate
    console.print(
        f"objective: served_rate >= {percent(objective['served_rate'])} (failure_rate <= "
        f"{failure:g}), latency_p99_s <= {objective['latency_p99_s']:g} s",
        highlight=False,
    )
    for knee in result.knees:
        where = "" if knee["knee"] is None else f" at {knee['param']} = {knee['knee']:g}"
        extra = ", ".join(
            f"{k} = {v}" for k, v in knee.items() if k not in ("variant", "param", "knee", "reason")
        )
        label = f"{knee['variant']}" + (f" ({extra})" if extra else "")
        phrases = [f"{where.strip() or 'none'} —", str(knee["reason"])]
        for line in wrap_phrases(f"knee · {label}:", phrases, console.width):
            console.print(Text(line))
