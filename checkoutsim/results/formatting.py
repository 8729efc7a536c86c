"""How a metric is written for a reader, and the metrics table every view shares (the
terminal, the report, the walkthroughs).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from rich.markup import escape
from rich.table import Table

from checkoutsim.capacity.cost import dollars
from checkoutsim.results.metrics import CONTRACT, INVARIANTS, verdict_text

#: The stock a wild inventory strategy left (``policy.inventory.WILD_STRATEGIES``):
#: what its false sold-outs and its stock driven below zero are read from. Only
#: those strategies report them, and there a zero is a finding, so their rows are
#: shown whenever some variant reports them (:func:`shows_row`).
STOCK_FIGURES = ("stock_at_end", "stock_min", "false_sold_outs")
#: Metrics shown in the terminal table, in order; the JSON has them all.
#: What the failures cost (results.money) closes the table.
TABLE_METRICS = (
    *(
        figure
        for key in CONTRACT
        if key
        not in ("stock", "latency_p95_s", "oversell_rate", "duplicate_charge_rate", "success_rate")
        for figure in ((key, *STOCK_FIGURES) if key == "units_sold" else (key,))
    ),
    "lost_orders",
    "lost_revenue_usd",
    # Fees the run's captures paid, where the scenario gives its gateways fees.
    "gateway_fees_usd",
    # What the variant's deployment costs per order (results.stage_cost), where priced.
    "cost_per_order_usd",
    "infrastructure_per_million_usd",
)
#: Rows a table always has; other rows are left out when every variant has zero.
ALWAYS_SHOWN = frozenset(
    {
        "checkouts",
        "orders",
        "oversold_units",
        "duplicate_charges",
        "orphan_payments",
        "latency_p50_s",
        "latency_p99_s",
    }
)
#: Rows whose non-zero values are invariant violations (highlighted).
VIOLATIONS = frozenset(INVARIANTS)


def shows_row(key: str, values: Sequence[Any]) -> bool:
    """Whether a table has a row for ``key``, given every variant's value.

    A row that is zero, missing or NaN for every variant says nothing in this
    scenario and is left out, except the rows always shown and the stock figures,
    which are shown as soon as one variant reports them (zero included).
    """
    if key in ALWAYS_SHOWN:
        return True
    if key in STOCK_FIGURES:
        return any(value is not None for value in values)
    return any(value and value == value for value in values)


def metric_kind(name: str) -> str:
    """What a metric measures, from its name, which decides how it is written.

    ``duration`` (``_s``), ``per_second`` (``_per_s``), ``ratio`` (``_rate``,
    ``_utilisation``), ``money`` (``_usd``), ``count`` (a named metric otherwise) or
    ``number`` (no name).
    """
    if name.endswith("_usd"):
        return "money"
    if name.endswith("_per_s"):
        return "per_second"
    if name.endswith("_s"):
        return "duration"
    if name.endswith(("_rate", "_utilisation")):
        return "ratio"
    return "count" if name else "number"


def format_duration(seconds: float) -> str:
    """Seconds in s or ms by size: ``0 s``, ``3.0 ms``, ``136.6 ms``, ``30.60 s``.

    Exactly zero (a breaker that never opened) is ``0 s``; a non-zero time too short
    for a tenth of a millisecond is ``<0.1 ms``, not a zero it is not.
    """
    if seconds == 0:
        return "0 s"
    milliseconds = seconds * 1000
    if abs(milliseconds) < 0.05:
        return "<0.1 ms"
    if round(abs(milliseconds), 1) < 1000:
        return f"{milliseconds:.1f} ms"
    return f"{seconds:,.2f} s"


def format_value(value: Any, name: str = "") -> str:
    """A metric as a short string, by one rule per kind of metric (:func:`metric_kind`).

    Durations in s or ms by size (:func:`format_duration`); per-second figures with two
    decimals, whole or not (``10.00`` beside ``43.70``); ratios as percentages with two
    decimals (``100.00%``, not ``1``); money in whole dollars (``$1,260``); counts whole,
    or to one decimal when a mean over replications is not whole. No value is ``-``, infinity ``∞``.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float) and math.isinf(value):
        return "∞" if value > 0 else "-∞"
    kind = metric_kind(name)
    if kind == "duration":
        return format_duration(value)
    if kind == "per_second":
        return f"{value:,.2f}"
    if kind == "ratio":
        return f"{value:.2%}"
    if kind == "money" and name.endswith(("per_order_usd", "per_million_usd")):
        return dollars(value)  # as the capacity cost table writes it: cents or 3 digits
    if kind == "money":
        # Whole dollars: cents say nothing beside revenue lost by the order.
        return f"${value:,.0f}"
    if isinstance(value, int) or float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.1f}" if kind == "count" else f"{value:,.2f}"


def format_row(values: Sequence[Any], name: str) -> list[str]:
    """One metric across variants, every cell to the same rule.

    Counts are whole in a single run; a mean over replications can be fractional
    in one column and whole in the next, so then every cell gets one decimal.
    """
    if metric_kind(name) == "count" and any(
        isinstance(value, float) and math.isfinite(value) and not value.is_integer()
        for value in values
    ):
        return [
            format_value(value, name)
            if value is None or (isinstance(value, float) and not math.isfinite(value))
            else f"{value:,.1f}"
            for value in values
        ]
    return [format_value(value, name) for value in values]


def metrics_table(
    title: str,
    variants: Sequence[tuple[str, dict[str, Any], dict[str, list[float]] | None]],
    withheld: Sequence[str | None] = (),
) -> Table:
    """Variants as columns, metrics as rows, verdicts on top.

    ``withheld`` (one per variant, None where the verdict stands) replaces a
    verdict the run cannot support, e.g. from an overloaded host.
    """
    table = Table(title=title, title_justify="left", show_lines=False)
    table.add_column("metric", style="bold", no_wrap=True)
    for name, _, _ in variants:
        table.add_column(name, justify="right")
    verdicts = []
    reasons = list(withheld) or [None] * len(variants)
    for (_, metrics, _), reason in zip(variants, reasons, strict=True):
        if reason is not None:
            verdicts.append(f"[yellow]no verdict: {escape(reason)}[/]")
            continue
        text = verdict_text(metrics)
        verdicts.append(f"[green]{text}[/]" if text == "safe" else f"[red]{text}[/]")
    table.add_row("verdict", *verdicts, end_section=True)
    for key in TABLE_METRICS:
        values = [metrics.get(key) for _, metrics, _ in variants]
        if not shows_row(key, values):
            continue
        cells = []
        for (_, _, ci95), value, reason, cell in zip(
            variants, values, reasons, format_row(values, key), strict=True
        ):
            interval = (ci95 or {}).get(key)
            if interval and interval[0] is not None and interval[0] != interval[1]:
                half = (interval[1] - interval[0]) / 2
                cell += f" ±{format_value(half, key)}"
            if key in VIOLATIONS and value and reason is None:
                cell = f"[red]{cell}[/]"
            cells.append(cell)
        table.add_row(key, *cells)
    return table
