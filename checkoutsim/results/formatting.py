"""How a metric is written for a reader, and the metrics table every view shares (the
terminal, the report, the walkthroughs).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from rich.markup import escape
from rich.table import Table

from checkoutsim.results.metrics import CONTRACT, INVARIANTS, verdict_text

#: Metrics shown in the terminal table, in order; the JSON has them all.
TABLE_METRICS = tuple(
    key
    for key in CONTRACT
    if key
    not in ("stock", "latency_p95_s", "oversell_rate", "duplicate_charge_rate", "success_rate")
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


def format_value(value: Any, name: str = "") -> str:
    """A metric as a short string: integers plain, seconds with sensible precision."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float) and math.isinf(value):
        return "∞"
    seconds = name.endswith("_s") and not name.endswith("_per_s")
    if name.endswith("_rate"):
        # A rate of exactly 0 or 1 is still a rate: 100.00%, not "1".
        return f"{value:.2%}"
    whole = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if whole and not seconds:
        return f"{int(value):,}"
    if seconds:
        if value < 1:
            return f"{value * 1000:.1f} ms"
        return f"{value:.2f} s"
    return f"{value:,.2f}"


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
        if key not in ALWAYS_SHOWN and all(not value for value in values):
            continue  # an all-zero row says nothing in this scenario
        cells = []
        for (_, _, ci95), value, reason in zip(variants, values, reasons, strict=True):
            cell = format_value(value, key)
            interval = (ci95 or {}).get(key)
            if interval and interval[0] is not None and interval[0] != interval[1]:
                half = (interval[1] - interval[0]) / 2
                cell += f" ±{format_value(half, key)}"
            if key in VIOLATIONS and value and reason is None:
                cell = f"[red]{cell}[/]"
            cells.append(cell)
        table.add_row(key, *cells)
    return table
