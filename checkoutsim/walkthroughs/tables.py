"""The tables a walkthrough shows, as plain rows, for the terminal and the HTML guide alike.

Every cell is a formatted string taken from a run's metrics (as
:func:`checkoutsim.results.formatting.format_value` shows them), a capacity plan or a
scale check (as :class:`~checkoutsim.walkthroughs.values.Computed` shows them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from checkoutsim.capacity.plan import CapacityPlan
from checkoutsim.experiments.runner import RunResult
from checkoutsim.results.formatting import TABLE_METRICS, VIOLATIONS, format_row, shows_row
from checkoutsim.results.metrics import verdict_text
from checkoutsim.walkthroughs.values import Computed


@dataclass(frozen=True)
class TableData:
    """A table as text: title, column names, which columns are numeric, and rows of cells."""

    title: str
    columns: tuple[str, ...]
    numeric: tuple[bool, ...]
    rows: tuple[tuple[str, ...], ...]
    #: (row, column) cells that show a broken invariant.
    flagged: frozenset[tuple[int, int]] = frozenset()


def run_title(result: RunResult) -> str:
    """What ran and how: scenario, seed, whose settings."""
    how = "changed settings" if result.scenario.overrides else "scenario settings"
    return f"{result.scenario.name} · seed {result.seed} · {how} · simulated"


def settings_note(result: RunResult) -> str:
    """Which settings differ from the scenario file, listed as name = value."""
    if not result.scenario.overrides:
        return "the scenario's own settings"
    changed = ", ".join(f"{key} = {value}" for key, value in result.scenario.overrides.items())
    return f"settings changed: {changed}"


def run_table_data(result: RunResult) -> TableData:
    """A run's metrics, variants as columns, the verdict first (as the terminal shows it)."""
    names = [variant.name for variant in result.variants]
    rows = [("verdict", *(verdict_text(variant.metrics) for variant in result.variants))]
    flagged = {(0, column + 1) for column, variant in enumerate(result.variants)
               if verdict_text(variant.metrics) != "safe"}  # fmt: skip
    for key in TABLE_METRICS:
        values = [variant.metrics.get(key) for variant in result.variants]
        if not shows_row(key, values):
            continue  # e.g. an all-zero row says nothing in this scenario
        if key in VIOLATIONS:
            flagged |= {(len(rows), index + 1) for index, value in enumerate(values) if value}
        rows.append((key, *format_row(values, key)))
    return TableData(
        run_title(result),
        ("metric", *names),
        (False, *(True for _ in names)),
        tuple(rows),
        frozenset(flagged),
    )


def capacity_table_data(volume: str, plan: CapacityPlan) -> TableData:
    """A capacity plan's tiers at the peak, labelled as computed."""
    rows = tuple(
        (
            tier.tier,
            str(Computed(tier.count, "count")),
            tier.unit,
            str(Computed(tier.utilisation, "share")),
        )
        for tier in plan.tiers
    )
    return TableData(
        f"{volume} orders/day · computed from stated assumptions, not measured",
        ("tier", "count", "unit", "busy at the peak"),
        (False, True, False, True),
        rows,
    )


def cost_table_data(volume: str, plan: CapacityPlan) -> TableData:
    """A capacity plan's cost a month and per order, line by line, labelled as computed."""
    cost = plan.cost
    if cost is None:
        raise ValueError(f"the {volume} plan has no cost table")
    rows = [
        (
            line.line,
            str(Computed(line.count, "count")),
            line.unit_price,
            str(Computed(line.monthly_usd, "dollars")),
            str(Computed(line.per_order_usd, "per_order")),
            str(Computed(line.share, "cost_share")),
        )
        for line in cost.lines
    ]
    rows.append(
        ("infrastructure", "", "", str(Computed(cost.infrastructure_monthly_usd, "dollars")),
         str(Computed(cost.infrastructure_per_order_usd, "per_order")), "")
    )  # fmt: skip
    rows.append(
        ("total", "", "", str(Computed(cost.total_monthly_usd, "dollars")),
         str(Computed(cost.total_per_order_usd, "per_order")), f"dominant: {cost.dominant}")
    )  # fmt: skip
    return TableData(
        f"{volume} orders/day · cost a month at on-demand list prices (checkoutsim capacity) "
        "· computed from stated prices, not measured",
        ("line", "count", "unit price", "$/month", "$/order", "share"),
        (False, True, True, True, True, True),
        tuple(rows),
    )


def _computed_or_dash(value: float, kind: str) -> str:
    return str(Computed(value, kind)) if math.isfinite(value) else "-"


def scale_table_data(result: RunResult) -> TableData | None:
    """A scale scenario's tiers: the model's figures beside the simulated queue's."""
    report = getattr(result, "scale", None)
    if report is None:
        return None
    rows = tuple(
        (
            tier.tier,
            str(Computed(tier.count, "count")),
            tier.unit,
            _computed_or_dash(tier.model_utilisation, "share"),
            _computed_or_dash(tier.sim_utilisation, "share"),
            _computed_or_dash(tier.model_mean_wait_s, "milliseconds"),
            _computed_or_dash(tier.sim_mean_wait_s, "milliseconds"),
        )
        for tier in report.tiers
    )
    return TableData(
        f"{result.scenario.name} · tiers at the peak · counts and model computed, queues simulated",
        (
            "tier",
            "count",
            "unit",
            "busy (model)",
            "busy (simulated)",
            "mean wait ms (model)",
            "mean wait ms (simulated)",
        ),
        (False, True, False, True, True, True, True),
        rows,
    )
