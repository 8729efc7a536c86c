"""Capacity-plan figures: what each tier needs as volume grows, and where latency bends.

Both figures are analytic, like the plan they draw: counts come from
:func:`checkoutsim.capacity.plan.plan` run over a range of daily volumes with the
result's own assumptions, and the load curves from the queueing formulas
(Erlang C for the pooled app servers, M/M/1 for each shard, partition and
gateway account) with the plan's counts held fixed.

The knee is defined as the load at which a tier's p99 time (queueing plus
service) reaches twice its value with no load: for an M/M/1 queue that is 50%
busy, for a big pool of servers much later.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from checkoutsim.capacity import plan as capacity
from checkoutsim.capacity import queueing
from checkoutsim.report.frames import ReportError
from checkoutsim.report.plotting import (
    Chart,
    colour_for,
    legend_below,
    line_style_for,
    new_figure,
    short_ticks,
    styled,
    thousands,
)

_NAMES = {
    "app": "app servers",
    "inventory_db": "inventory primaries",
    "order_db": "order-database shards",
    "kafka": "Kafka partitions",
    "payment_gateway": "gateway accounts",
}
#: How far either side of the plan's volume the counts figure reaches (a factor).
_SPAN = 100.0
_POINTS = 41
#: Utilisation at which a curve stops: beyond it the p99 runs off to infinity.
_LAST_UTILISATION = 0.985


def _assumptions(result: Mapping[str, Any]) -> dict[str, float]:
    """The plan's assumptions by name (defaults and user overrides alike)."""
    return {item["name"]: float(item["value"]) for item in result.get("assumptions") or []}


def _tiers(result: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    tiers = result.get("tiers")
    if not isinstance(tiers, list) or not tiers:
        raise ReportError("capacity result has no tiers")
    return tiers


def counts_frame(result: Mapping[str, Any]) -> pd.DataFrame:
    """Each tier's count over a range of orders/day: orders_per_day, tier, count, unit."""
    volume = float(result["orders_per_day"])
    overrides = _assumptions(result)
    low = max(1e3, volume / _SPAN)
    high = min(capacity.MAXIMUM_ORDERS_PER_DAY, volume * _SPAN)
    volumes = sorted({*np.geomspace(low, high, _POINTS).tolist(), volume})
    rows = []
    for amount in volumes:
        try:
            planned = capacity.plan(amount, assumptions=overrides)
        except capacity.CapacityError:
            continue  # past what the planner sizes (e.g. ten million app workers)
        for tier in planned.tiers:
            rows.append(
                {
                    "orders_per_day": amount,
                    "tier": tier.tier,
                    "count": tier.count,
                    "unit": tier.unit,
                }
            )
    return pd.DataFrame(rows, columns=["orders_per_day", "tier", "count", "unit"])


def counts_chart(result: Mapping[str, Any]) -> Chart:
    """Servers, shards, partitions and gateway accounts against orders per day (log-log)."""
    frame = counts_frame(result)
    volume = float(result["orders_per_day"])
    planned = {tier["tier"]: int(tier["count"]) for tier in _tiers(result)}
    with styled():
        figure, axes = new_figure(5.6)
        axis = axes[0, 0]
        for index, (tier, group) in enumerate(frame.groupby("tier", sort=False)):
            colour = colour_for(index)
            count = planned.get(str(tier))
            label = _NAMES.get(str(tier), str(tier))
            label += f": {count:,} at the plan's volume" if count is not None else ""
            axis.step(
                group["orders_per_day"],
                group["count"],
                where="post",
                color=colour,
                linestyle=line_style_for(index),
                linewidth=2,
                label=label,
            )
            if count is not None:
                axis.plot([volume], [count], "o", color=colour, markersize=7, zorder=5)
        axis.axvline(volume, color="#555555", linestyle="--", linewidth=1)
        axis.annotate(
            f"the plan: {volume:,.0f} orders/day",
            (volume, 1),
            xytext=(5, 5),
            textcoords="offset points",
            color="#333333",
            fontsize=9,
        )
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_ylim(bottom=0.8)
        short_ticks(axis, "x")
        short_ticks(axis, "y")
        axis.set_xlabel("orders per day (log scale)")
        axis.set_ylabel("units needed at the peak (log scale)")
        axis.set_title("What each tier needs as orders per day grow")
        axis.legend(loc="upper left", handlelength=3)
    caption = (
        "Counts from the capacity planner at each volume, with this plan's assumptions "
        f"(peak factor {result.get('peak_factor', float('nan')):g}). Analytic, not measured: "
        "Erlang C for the app servers' pooled workers, one M/M/1 queue per shard, "
        "partition and gateway account, each kept under its target utilisation."
    )
    return Chart(
        "capacity_counts",
        "Servers, shards, partitions and accounts versus orders/day",
        caption,
        frame,
        figure,
    )


def _queue_model(
    tier: Mapping[str, Any], peak: float, assumptions: Mapping[str, float]
) -> tuple[float, float, int]:
    """(work per order, service rate per server, servers per queue) of one tier.

    Read back from the plan itself: demand / peak is the work per order, and
    demand / (queues × servers × utilisation) the rate of one server. The app tier
    pools every worker of every server into one queue; the others are one queue each.
    """
    per_order = float(tier["demand_per_s"]) / peak
    if tier["tier"] == "app":
        servers = int(tier["count"]) * int(assumptions.get("app.workers_per_server", 1))
    else:
        servers = 1
    queues = 1 if tier["tier"] == "app" else int(tier["count"])
    rate = float(tier["demand_per_s"]) / (queues * servers * float(tier["utilisation"]))
    return per_order / queues, rate, servers


def _p99(arrivals: float, rate: float, servers: int) -> float:
    if arrivals / (servers * rate) >= 1:
        return math.inf
    return queueing.response_time_quantile(max(arrivals, 1e-12), rate, servers, 0.99)


def _knee(per_order: float, rate: float, servers: int) -> float:
    """Orders/s at which the tier's p99 time is twice its no-load value (bisection)."""
    idle = _p99(0.0, rate, servers)
    low, high = 0.0, servers * rate / per_order
    for _ in range(40):  # 2^-40 of the range: far finer than any axis shows
        middle = (low + high) / 2
        if _p99(middle * per_order, rate, servers) < 2 * idle:
            low = middle
        else:
            high = middle
    return high


def load_frame(result: Mapping[str, Any]) -> pd.DataFrame:
    """p99 time and utilisation of each tier as orders/s rise, the plan's counts fixed.

    Columns: tier, orders_per_s, utilisation, p99_s, knee_orders_per_s.
    """
    peak = float(result["peak_orders_per_s"])
    assumptions = _assumptions(result)
    models = {str(tier["tier"]): _queue_model(tier, peak, assumptions) for tier in _tiers(result)}
    saturation = min(servers * rate / per_order for per_order, rate, servers in models.values())
    loads = np.linspace(saturation / 200, saturation * 1.1, 160)
    rows = []
    for tier, (per_order, rate, servers) in models.items():
        knee = _knee(per_order, rate, servers)
        for load in loads:
            busy = load * per_order / (servers * rate)
            if busy > _LAST_UTILISATION:
                break
            rows.append(
                {
                    "tier": tier,
                    "orders_per_s": float(load),
                    "utilisation": busy,
                    "p99_s": _p99(load * per_order, rate, servers),
                    "knee_orders_per_s": knee,
                }
            )
    return pd.DataFrame(
        rows, columns=["tier", "orders_per_s", "utilisation", "p99_s", "knee_orders_per_s"]
    )


def load_chart(result: Mapping[str, Any]) -> Chart:
    """p99 and utilisation of each tier against load, with each tier's knee marked."""
    frame = load_frame(result)
    peak = float(result["peak_orders_per_s"])
    knees = frame.groupby("tier", sort=False)["knee_orders_per_s"].first()
    first = str(knees.idxmin())
    # Tiers whose knee is within 0.5% of the first share it (the plan often sizes two alike).
    tied = [
        str(tier) for tier, knee in knees.items() if tier != first and knee <= knees[first] * 1.005
    ]
    also = "".join(f" and {_NAMES.get(tier, tier)}" for tier in tied)
    with styled():
        figure, axes = new_figure(7.8, rows=2, sharex=True)
        top, bottom = axes[0, 0], axes[1, 0]
        for index, (tier, group) in enumerate(frame.groupby("tier", sort=False)):
            colour = colour_for(index)
            knee = float(knees[tier])
            label = f"{_NAMES.get(str(tier), tier)} (knee {knee:,.0f} orders/s)"
            style = line_style_for(index)
            top.plot(
                group["orders_per_s"],
                group["p99_s"] * 1000,
                color=colour,
                linewidth=2,
                linestyle=style,
                label=label,
            )
            bottom.plot(
                group["orders_per_s"],
                group["utilisation"] * 100,
                color=colour,
                linestyle=style,
                linewidth=2,
            )
            at_knee = group.iloc[int(np.argmin(np.abs(group["orders_per_s"] - knee)))]
            if (
                abs(float(at_knee["orders_per_s"]) - knee)
                < float(frame["orders_per_s"].max()) / 100
            ):
                top.plot(
                    [knee],
                    [at_knee["p99_s"] * 1000],
                    "D",
                    color=colour,
                    markersize=7,
                    markeredgecolor="black",
                    zorder=5,
                )
        for axis in (top, bottom):
            axis.axvline(peak, color="#555555", linestyle="--", linewidth=1)
            axis.axvline(float(knees[first]), color="#D55E00", linestyle=":", linewidth=1.5)
        bottom.annotate(
            f"planned peak {peak:,.0f}/s",
            (peak, 0),
            xycoords=("data", "axes fraction"),
            xytext=(4, 6),
            textcoords="offset points",
            fontsize=9,
        )
        bottom.annotate(
            f"first knee\n{_NAMES.get(first, first)}{also}\n{knees[first]:,.0f}/s",
            (float(knees[first]), 1),
            xycoords=("data", "axes fraction"),
            xytext=(-4, -40),
            textcoords="offset points",
            fontsize=9,
            ha="right",
            color="#D55E00",
        )
        top.set_yscale("log")
        top.set_ylabel("p99 time in tier (ms, log)")
        top.set_title("p99 time in each tier as load rises (the plan's counts fixed)")
        legend_below(figure, top)
        bottom.set_ylim(0, 100)
        bottom.set_ylabel("utilisation (%)")
        bottom.set_xlabel("peak load (orders/s)")
        bottom.set_xlim(0, float(frame["orders_per_s"].max()))
        thousands(bottom, "x")
    caption = (
        "Analytic: each tier's p99 time (queueing plus service; M/M/c for the pooled app "
        "workers, M/M/1 per shard, partition and account) and its utilisation, with the "
        "plan's counts held fixed. Diamonds mark each tier's knee, where the p99 doubles "
        "from its no-load value; the dashed line is the planned peak, the dotted one the "
        "first knee. A tier planned past its knee runs with a long tail at the peak."
    )
    return Chart(
        "capacity_load", "p99 and utilisation versus load, knee marked", caption, frame, figure
    )
