"""Rich rendering of results for the terminal (the CLI's side, never the core's)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from checkoutsim.results.formatting import format_row, format_value, metrics_table

if TYPE_CHECKING:
    from checkoutsim.experiments.runner import RunResult
    from checkoutsim.experiments.scale import ScaleReport
    from checkoutsim.experiments.sweep import SweepResult


def render_run(console: Console, result: RunResult) -> None:
    """Print a run's variants side by side with their verdicts."""
    loaded = result.scenario
    console.print(f"[bold]{escape(loaded.title)}[/]", highlight=False)
    console.print(f"[italic]Question:[/] {escape(loaded.question)}", highlight=False)
    reps = (
        f"{result.replications} replications, mean ±95% CI"
        if result.replications > 1
        else ("1 replication")
    )
    title = f"{loaded.name} · seed {result.seed} · {reps} · simulated"
    if result.scale is not None:
        render_scale(console, result.scale)
        title += f" · hot SKU row at {result.scale.hot_sku_orders_per_s:,.0f} orders/s"
    console.print(metrics_table(title, [(v.name, v.metrics, v.ci95) for v in result.variants]))
    if result.scale is not None:
        share = result.scale.hot_sku_orders_per_s / result.scale.plan.peak_orders_per_s
        for variant in result.variants:
            capacity = variant.metrics.get("row_capacity_per_s", 0)
            if capacity:
                console.print(
                    f"{variant.name}: {capacity:,.0f} reservations per second of exclusive row "
                    f"time at this load (the whole shop at {capacity / share:,.0f} orders/s if "
                    "that held at any load; sweep the rate to find where it saturates)",
                    highlight=False,
                )


def render_scale(console: Console, report: ScaleReport) -> None:
    """The tier check of a scale scenario: model versus simulation, and the bottleneck."""
    plan = report.plan
    console.print(
        f"{plan.orders_per_day:,.0f} orders/day: {plan.average_orders_per_s:,.1f} orders/s on "
        f"average, {plan.peak_orders_per_s:,.0f} at the peak (× {plan.peak_factor:g}); "
        "tier counts from the capacity model (checkoutsim capacity shows every assumption)",
        highlight=False,
    )
    table = Table(
        title="tiers at the peak: capacity model vs simulated queue", title_justify="left"
    )
    for column in (
        "tier",
        "n",
        "simulated",
        "ρ model",
        "ρ sim",
        "Wq model",
        "Wq sim",
        "ok",
    ):
        table.add_column(
            column, justify="left" if column in ("tier", "simulated") else "right", no_wrap=True
        )
    for tier in report.tiers:
        table.add_row(
            tier.tier,
            f"{tier.count:,}",
            tier.simulated,
            f"{tier.model_utilisation:.1%}",
            f"{tier.sim_utilisation:.1%}",
            format_value(tier.model_mean_wait_s, "wait_s"),
            format_value(tier.sim_mean_wait_s, "wait_s"),
            "sat." if tier.saturated else "[green]✓[/]" if tier.agree else "[red]✗[/]",
        )
    console.print(table)
    console.print(
        "ρ: utilisation; Wq: mean wait in queue; ✓: simulated within 5% of the model; "
        "sat.: offered more than it can serve, so there is no steady state to simulate",
        highlight=False,
    )
    console.print(f"[bold]first bottleneck:[/] {report.bottleneck}", highlight=False)


def render_sweep(console: Console, result: SweepResult) -> None:
    """Print the sweep's key figures per point, then each variant's knee."""
    frame = result.frame
    params = [axis.param for axis in result.axes]
    table = Table(title=f"sweep {result.scenario.name} · seed {result.seed}", title_justify="left")
    columns = [
        "variant",
        *params,
        "checkouts",
        "orders",
        "latency_p99_s",
        "failure_rate",
        "oversold_units",
        "duplicate_charges",
    ]
    for column in columns:
        table.add_column(column, justify="left" if column == "variant" else "right")
    records = frame.to_dict(orient="records")
    # Formatted a column at a time, so that every cell of a column has one precision.
    cells = {
        column: [str(row["variant"]) for row in records]
        if column == "variant"
        else format_row([row.get(column) for row in records], column)
        for column in columns
    }
    for index in range(len(records)):
        table.add_row(*(cells[column][index] for column in columns))
    console.print(table)
    objective = result.scenario.base.objective
    console.print(
        f"objective: latency_p99_s <= {objective.latency_p99_s:g} s, "
        f"failure_rate <= {objective.failure_rate:g}",
        highlight=False,
    )
    for knee in result.knees:
        where = "" if knee["knee"] is None else f" at {knee['param']} = {knee['knee']:g}"
        extra = ", ".join(
            f"{k} = {v}" for k, v in knee.items() if k not in ("variant", "param", "knee", "reason")
        )
        label = f"{knee['variant']}" + (f" ({extra})" if extra else "")
        console.print(f"knee · {label}:{where or ' none'} — {knee['reason']}", highlight=False)
