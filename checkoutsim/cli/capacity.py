"""The ``checkoutsim capacity`` command: size a checkout for a daily order volume.

Kept apart from :mod:`checkoutsim.cli.main` so the analytic side can grow on its own;
``checkoutsim.cli.main`` calls :func:`register_capacity` on its app. The CLI helpers
are imported inside that function because ``checkoutsim.cli.main`` imports this
module while it is still loading.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from checkoutsim.capacity.cost import CostTable, dollars, share_text
from checkoutsim.capacity.plan import (
    CapacityError,
    CapacityPlan,
    parse_orders_per_day,
    plan,
    resolve_assumptions,
)
from checkoutsim.capacity.prices import load_prices
from checkoutsim.cli.app import check_output_folder, emit_json, out
from checkoutsim.cli.report import OutOption, ReportFlag

T = TypeVar("T")

# Module-level, because typer resolves the command's (string) annotations in this
# module's globals, where a name imported inside register_capacity is not visible.
OrdersOption = Annotated[
    str, typer.Option("--orders-per-day", help="Daily orders: 10M, 2.5M, 500k, 1e7 or 100000000.")
]
PeakFactorOption = Annotated[
    str | None,
    typer.Option("--peak-factor", help="Peak orders/s over the daily average (default 8.64)."),
]
AssumptionOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="NAME=VALUE",
        help="Override an assumption, e.g. app.service_time_s=0.04 (repeatable).",
    ),
]
PricesOption = Annotated[
    str | None,
    typer.Option(
        "--prices",
        metavar="FILE.toml",
        help="Replace prices of the shipped table (checkoutsim/capacity/prices.toml) by name.",
    ),
]
JsonOnlyOption = Annotated[
    bool, typer.Option("--json", help="Print JSON on stdout and nothing else.")
]


def parse_overrides(items: list[str]) -> dict[str, str]:
    """Split ``name=value`` strings (the ``--set`` option) into a mapping; values stay text."""
    overrides: dict[str, str] = {}
    for item in items:
        name, equals, value = item.partition("=")
        if not equals or not name.strip() or not value.strip():
            raise CapacityError(f"expected name=value (e.g. app.service_time_s=0.04), got {item!r}")
        overrides[name.strip()] = value.strip()
    return overrides


def parse_peak_factor(text: str | None) -> float | None:
    """Read the ``--peak-factor`` value; None when the option was not given."""
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise CapacityError(f"expected a number such as 8.64, got {text!r}")
    resolve_assumptions({"traffic.peak_factor": value})  # the same range check as --set
    return value


#: The narrowest console that shows each tier's reason in a column beside its figures.
WHY_BESIDE_WIDTH = 120


def _milliseconds(seconds: float) -> str:
    return f"{seconds * 1000:,.2f}"


def render_plan(result: CapacityPlan, console: Console) -> None:
    """Print the plan: a table of tiers, the assumptions with their sources, the findings."""
    console.print(
        f"[bold]Capacity for {result.orders_per_day:,.0f} orders/day[/]: "
        f"{result.average_orders_per_s:,.1f} orders/s on average, "
        f"{result.peak_orders_per_s:,.0f} at the peak (× {result.peak_factor:g})",
        highlight=False,
    )
    # The reasons are sentences: beside the figures only where a column can hold
    # them (at 80 columns one would be a word a line, its figures cut), else below.
    beside = console.width >= WHY_BESIDE_WIDTH
    tiers = Table(title="Tiers at the peak", title_justify="left")
    tiers.add_column("tier", style="bold", no_wrap=True)
    tiers.add_column("count", justify="right", no_wrap=True)
    tiers.add_column("unit", no_wrap=True)
    tiers.add_column("busy", justify="right", no_wrap=True)
    tiers.add_column("mean wait ms", justify="right")
    tiers.add_column("p99 wait ms", justify="right")
    if beside:
        tiers.add_column("why")
    for tier in result.tiers:
        tiers.add_row(
            tier.tier,
            f"{tier.count:,}",
            tier.unit,
            f"{tier.utilisation:.1%}",
            _milliseconds(tier.mean_wait_s),
            _milliseconds(tier.p99_wait_s),
            *([Text(tier.why)] if beside else []),
        )
    if result.cache is not None:
        cache = result.cache
        tiers.add_row(
            cache["tier"],
            f"{cache['count']:,}",
            cache["unit"],
            f"{cache['utilisation']:.1%}",
            _milliseconds(cache["mean_wait_s"]),
            _milliseconds(cache["p99_wait_s"]),
            *([Text(cache["why"])] if beside else []),
        )
    console.print(tiers)
    if not beside:
        console.print("[bold]Why[/]")
        for tier in result.tiers:
            console.print(Text.assemble((tier.tier, "bold"), f": {tier.why}"))
        if result.cache is not None:
            console.print(Text.assemble((result.cache["tier"], "bold"), f": {result.cache['why']}"))
    title = "Assumptions (override with --set name=value)"
    if not beside:
        # Narrow: each assumption on a line of its own, its source indented below.
        console.print(f"[italic]{title}[/]", highlight=False)
        for assumption in (*result.assumptions, *result.cache_assumptions):
            console.print(
                Text.assemble(
                    (assumption.name, "bold"), f" = {assumption.value:g} {assumption.unit}"
                )
            )
            console.print(Padding(Text(assumption.source), (0, 0, 0, 4)))
    else:
        assumptions = Table(title=title, title_justify="left")
        assumptions.add_column("name", no_wrap=True)
        assumptions.add_column("value", justify="right", no_wrap=True)
        assumptions.add_column("unit")
        assumptions.add_column("source")
        for assumption in (*result.assumptions, *result.cache_assumptions):
            assumptions.add_row(
                assumption.name, f"{assumption.value:g}", assumption.unit, Text(assumption.source)
            )
        console.print(assumptions)
    console.print("[bold]Findings[/]")
    for number, finding in enumerate(result.findings, start=1):
        console.print(Text(f"{number}. {finding}"))
    if result.cost is not None:
        render_cost(result.cost, console)


def render_cost(cost: CostTable, console: Console) -> None:
    """Print the cost table, how each line is counted, the prices with their sources, and
    where the money goes."""
    table = Table(
        title=f"Cost a month: {cost.orders_per_month:,.0f} orders, everything sized for the "
        "peak and billed all month at on-demand list prices",
        title_justify="left",
    )
    table.add_column("line", style="bold")
    for name in ("count", "$/month", "$/order", "share"):
        table.add_column(name, justify="right", no_wrap=True)
    for line in cost.lines:
        table.add_row(
            line.line,
            f"{line.count:,.0f}",
            f"${line.monthly_usd:,.0f}",
            dollars(line.per_order_usd),
            share_text(line.share),
        )
    table.add_section()
    whole = cost.total_monthly_usd
    table.add_row(
        "infrastructure",
        "",
        f"${cost.infrastructure_monthly_usd:,.0f}",
        dollars(cost.infrastructure_per_order_usd),
        share_text(cost.infrastructure_monthly_usd / whole) if whole else "-",
    )
    table.add_row("total", "", f"${whole:,.0f}", dollars(cost.total_per_order_usd), "")
    console.print(table)
    if cost.dominant is None:
        console.print("[bold]Dominant line: none[/] (every line costs $0 a month)", highlight=False)
    else:
        largest = cost.infrastructure_dominant or "none (infrastructure costs $0)"
        console.print(
            f"[bold]Dominant line: {cost.dominant}[/] ({share_text(cost.line(cost.dominant).share)}"
            f" of the total); largest infrastructure line: {largest}",
            highlight=False,
        )
    console.print("[bold]How each line is counted[/] (prices by name, sources below)")
    for line in cost.lines:
        console.print(
            Text(
                f"- {line.line}: {line.count:,.0f} {line.unit} at {line.unit_price}; "
                f"{line.why} [{', '.join(line.prices)}]"
            )
        )
    title = (
        "Prices: public list prices as of the date each source states, and rules of "
        "thumb; assumptions, override with --prices FILE.toml"
    )
    if console.width < WHY_BESIDE_WIDTH:
        # Narrow: a source column would be a word a line with long names cut, so
        # each price goes on a line of its own, its source indented below.
        console.print(f"[italic]{title}[/]", highlight=False)
        for price in cost.prices:
            console.print(Text.assemble((price.name, "bold"), f" = {price.value:g} {price.unit}"))
            console.print(Padding(Text(price.source), (0, 0, 0, 4)))
    else:
        prices = Table(title=title, title_justify="left")
        prices.add_column("name", no_wrap=True)
        prices.add_column("value", justify="right", no_wrap=True)
        prices.add_column("unit")
        prices.add_column("source")
        for price in cost.prices:
            prices.add_row(price.name, f"{price.value:g}", price.unit, Text(price.source))
        console.print(prices)
    console.print("[bold]Where the money goes[/]")
    for number, finding in enumerate(cost.findings, start=1):
        console.print(Text(f"{number}. {finding}"))


def register_capacity(app: typer.Typer) -> None:
    """Add the ``capacity`` command to ``app``."""
    from checkoutsim.cli.errors import UserError, user_errors
    from checkoutsim.cli.report import write_and_announce

    def checked(option: str, step: Callable[[], T]) -> T:
        """Run ``step``; a CapacityError becomes a one-line error naming ``option``."""
        try:
            return step()
        except CapacityError as error:
            raise UserError(f"{option}: {error}") from None

    @app.command("capacity")
    @user_errors
    def capacity(
        orders_per_day: OrdersOption,
        peak_factor: PeakFactorOption = None,
        overrides: AssumptionOption = None,
        prices_file: PricesOption = None,
        as_json: JsonOnlyOption = False,
        report: ReportFlag = False,
        out_directory: OutOption = None,
    ) -> None:
        """Size app servers, database shards, Kafka partitions and gateway accounts (Erlang C),
        and price them (a month and per order, from a prices table with sources)."""
        if report:
            check_output_folder("--out", out_directory)
        # Each option is checked on its own so the error names the option at fault.
        amount = checked("--orders-per-day", lambda: parse_orders_per_day(orders_per_day))
        factor = checked("--peak-factor", lambda: parse_peak_factor(peak_factor))
        settings = checked("--set", lambda: parse_overrides(overrides or []))
        prices = checked("--prices", lambda: load_prices(prices_file))
        result = checked("--set", lambda: plan(amount, factor, settings, prices))
        if report:
            write_and_announce(result.to_dict(), None, out_directory)
        if as_json:
            emit_json(result.to_dict())
            return
        render_plan(result, out)
