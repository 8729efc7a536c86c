"""Figures drawn from the frames of a live run: latency, outcomes, breaker, queue, stock.

Each function returns a :class:`~checkoutsim.report.plotting.Chart`, or None when
the run has nothing for that figure (no breaker in any variant, say), so the
report shows only figures whose data exist.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from checkoutsim.report import frames
from checkoutsim.report.plotting import (
    OUTCOME_COLOURS,
    Chart,
    colour_for,
    duration_ticks,
    legend_below,
    line_style_for,
    new_figure,
    seconds_label,
    shade_faults,
    styled,
    thousands,
    time_label,
)

_BREAKER_STATES = {0: ("closed", "#009E73"), 1: ("half-open", "#E69F00"), 2: ("open", "#D55E00")}


def _first_of(runs: int) -> str:
    """Which replication a time series shows, for captions."""
    return "" if runs <= 1 else f" Replication 1 of {runs} shown."


def latency_chart(histories: frames.Histories) -> Chart | None:
    """The empirical CDF of checkout latency per variant, on a log time axis."""
    frame = frames.latency_frame(histories)
    if frame.empty:
        return None
    with styled():
        figure, axes = new_figure(5.2)
        axis = axes[0, 0]
        floor = 1e-4  # log axis: a zero latency is drawn at 0.1 ms (the CSV keeps the value)
        for index, (label, group) in enumerate(frame.groupby("variant", sort=False)):
            values = np.sort(group["latency_s"].to_numpy(dtype=float))
            fraction = np.arange(1, values.size + 1) / values.size
            p50, p99 = np.percentile(values, [50, 99])
            axis.step(
                np.maximum(values, floor),
                fraction,
                where="post",
                color=colour_for(index),
                linestyle=line_style_for(index),
                linewidth=2,
                label=f"{label}: p50 {seconds_label(p50)}, p99 {seconds_label(p99)} "
                f"(n = {values.size:,})",
            )
        for level, name in ((0.5, "p50"), (0.99, "p99")):
            axis.axhline(level, color="#777777", linestyle=":", linewidth=1)
            axis.annotate(
                name,
                (1, level),
                xycoords=("axes fraction", "data"),
                xytext=(-3, 2),
                textcoords="offset points",
                color="#555555",
                fontsize=9,
                ha="right",
            )
        axis.set_xscale("log")
        duration_ticks(axis)
        axis.set_ylim(0, 1.02)
        axis.set_xlabel("checkout latency, from first click to the answer (log scale)")
        axis.set_ylabel("fraction of answered checkouts")
        axis.set_title("Checkout latency: cumulative distribution per variant")
        axis.legend(loc="upper left", bbox_to_anchor=(0, -0.16), ncols=2)
    runs = max(len(runs) for runs in histories.values())
    pooled = " All replications pooled." if runs > 1 else ""
    caption = (
        "Share of answered checkouts that got their answer within a given time; the further "
        "left and steeper a curve, the faster. Variants that behave alike draw the same curve, "
        f"one dash pattern over another. Unanswered checkouts are left out.{pooled}"
    )
    return Chart("latency_cdf", "Latency CDF per variant", caption, frame, figure)


def outcome_chart(histories: frames.Histories, mode: str) -> Chart | None:
    """Answers per second by outcome, one panel per variant, fault windows shaded."""
    frame = frames.outcome_frame(histories)
    if frame.empty:
        return None
    labels = list(dict.fromkeys(frame["variant"]))
    present = [
        name
        for name in frame["outcome"].unique()
        if frame.loc[frame.outcome == name, "count"].any()
    ]
    order = [name for name in OUTCOME_COLOURS if name in present]
    order += sorted(set(present) - set(order))
    windows = frames.fault_windows(histories)
    width = float(frame["bin_s"].iloc[0])
    with styled():
        figure, axes = new_figure(
            1.2 + 1.55 * len(labels), rows=len(labels), sharex=True, sharey=True
        )
        for row, label in enumerate(labels):
            axis = axes[row, 0]
            mine = frame[frame.variant == label].pivot(
                index="time_s", columns="outcome", values="per_s"
            )
            mine = mine.reindex(columns=order, fill_value=0.0)
            times = mine.index.to_numpy(dtype=float) + width / 2
            colours = [OUTCOME_COLOURS.get(name, "#444444") for name in order]
            axis.stackplot(times, mine.to_numpy().T, labels=order, colors=colours, linewidth=0)
            shade_faults(axis, windows, label=row == 0)
            axis.set_title(label, loc="left", fontsize=10.5)
            axis.set_ylabel("answers/s")
            thousands(axis)
        axes[-1, 0].set_xlabel(time_label(mode))
        axes[0, 0].set_xlim(0, float(frame["time_s"].max()) + width)
        handles, names = axes[0, 0].get_legend_handles_labels()
        figure.legend(
            handles, [name.replace("_", " ") for name in names], loc="outside right upper"
        )
        figure.suptitle("What shoppers were told, per second")
    caption = (
        f"Checkouts answered in each {width:g} s bin, stacked by outcome (orders, sold out, "
        "rejected, payment failed, ...): the stack's height is the answer rate."
        + (" Shaded: fault windows." if windows else "")
        + _first_of(max(len(runs) for runs in histories.values()))
    )
    return Chart("outcomes", "Outcomes per second over time", caption, frame, figure)


def _enabled(parameters: Mapping[str, Any], label: str, dotted: str, values: pd.Series) -> bool:
    """Whether a series has a component switched on, or shows it working anyway.

    A series with no values at all (a real run's timeline has no breaker or
    queue columns, which show up as NaN beside a model's) has nothing to draw.
    """
    present = values.dropna()
    if present.empty:
        return False
    return bool(frames.setting(parameters, label, dotted)) or bool((present != 0).any())


def breaker_chart(
    histories: frames.Histories, parameters: Mapping[str, Any], mode: str
) -> Chart | None:
    """The gateway breaker's state over time, one band per variant that has a breaker."""
    timeline = frames.timeline_frame(histories)
    if timeline.empty or "breaker_state" not in timeline:
        return None
    labels = [
        label
        for label, group in timeline.groupby("variant", sort=False)
        if _enabled(parameters, label, "breakers.gateway.enabled", group["breaker_state"])
    ]
    if not labels:
        return None
    frame = timeline.loc[timeline.variant.isin(labels), ["variant", "time_s", "breaker_state"]]
    windows = frames.fault_windows(histories)
    with styled():
        figure, axes = new_figure(1.6 + 0.55 * len(labels))
        axis = axes[0, 0]
        for row, label in enumerate(labels):
            times = frame.loc[frame.variant == label, "time_s"].to_numpy(dtype=float)
            states = frame.loc[frame.variant == label, "breaker_state"].to_numpy(dtype=int)
            step = float(np.median(np.diff(times))) if times.size > 1 else 1.0
            starts = np.flatnonzero(np.diff(states, prepend=states[0] - 1))
            ends = np.append(starts[1:], states.size)
            for start, end in zip(starts, ends, strict=True):
                name, colour = _BREAKER_STATES.get(int(states[start]), ("?", "#444444"))
                span = (times[end - 1] + step) - times[start]
                axis.broken_barh([(times[start], span)], (row - 0.35, 0.7), color=colour)
        shade_faults(axis, windows, label=True)
        for name, colour in _BREAKER_STATES.values():
            axis.bar(0, 0, color=colour, label=name)  # legend entries only
        axis.set_yticks(range(len(labels)), labels)
        axis.set_ylim(len(labels) - 0.5, -0.5)
        axis.set_xlim(0, float(frame["time_s"].max()) + 1)
        axis.grid(axis="y", visible=False)
        axis.set_xlabel(time_label(mode))
        axis.set_title("Gateway circuit breaker: state over time")
        axis.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    caption = (
        "Green: closed (calls go through). Red: open (calls refused at once). Amber: "
        "half-open (a few trial calls decide). Only variants with a breaker are shown."
        + _first_of(max(len(runs) for runs in histories.values()))
    )
    return Chart("breaker", "Circuit-breaker state timeline", caption, frame, figure)


def queue_chart(
    histories: frames.Histories, parameters: Mapping[str, Any], mode: str
) -> Chart | None:
    """Depth of the payment retry queue over time, per variant that has a queue."""
    timeline = frames.timeline_frame(histories)
    if timeline.empty or "queue_depth" not in timeline:
        return None
    labels = [
        label
        for label, group in timeline.groupby("variant", sort=False)
        if _enabled(parameters, label, "queue.enabled", group["queue_depth"])
    ]
    if not labels:
        return None
    frame = timeline.loc[timeline.variant.isin(labels), ["variant", "time_s", "queue_depth"]]
    windows = frames.fault_windows(histories)
    all_labels = list(dict.fromkeys(timeline["variant"]))
    with styled():
        figure, axes = new_figure(4.4)
        axis = axes[0, 0]
        for label in labels:
            mine = frame[frame.variant == label]
            colour = colour_for(all_labels.index(label))
            deepest = int(mine["queue_depth"].max())
            axis.step(
                mine["time_s"],
                mine["queue_depth"],
                where="post",
                color=colour,
                linewidth=2,
                label=f"{label} (deepest {deepest:,})",
            )
        shade_faults(axis, windows, label=True)
        axis.set_xlim(0, float(frame["time_s"].max()) + 1)
        axis.set_ylim(bottom=0)
        axis.set_xlabel(time_label(mode))
        axis.set_ylabel("payments waiting")
        thousands(axis)
        axis.set_title("Payment retry queue: depth over time")
        axis.legend(loc="upper right")
    caption = (
        "Payments parked in the retry queue (with their idempotency key) and not yet "
        "settled, sampled every second. Only variants with a retry queue are shown."
        + _first_of(max(len(runs) for runs in histories.values()))
    )
    return Chart("retry_queue", "Retry-queue depth over time", caption, frame, figure)


def _active_until(timeline: pd.DataFrame, windows: list[tuple[str, float, float]]) -> float:
    """Last time stock, reservations or sales moved (or a fault ended), plus a margin."""
    last = 0.0
    for _, group in timeline.groupby("variant", sort=False):
        moving = group[["available", "reserved", "units_sold"]].diff().abs().sum(axis=1) > 0
        if moving.any():
            last = max(last, float(group.loc[moving, "time_s"].max()))
    last = max([last, *(end for _, _, end in windows)])
    end = float(timeline["time_s"].max()) + 1
    return min(end, max(10.0, last * 1.15 + 2))


def stock_chart(histories: frames.Histories, mode: str) -> Chart | None:
    """Available stock, reserved units and units sold over time, one panel per variant."""
    timeline = frames.timeline_frame(histories)
    if timeline.empty or "available" not in timeline:
        return None
    frame = timeline[["variant", "time_s", "available", "reserved", "units_sold", "stock"]]
    labels = list(dict.fromkeys(frame["variant"]))
    windows = frames.fault_windows(histories)
    until = _active_until(frame, windows)
    lines = (
        ("available", "available to sell", "#0072B2", "-"),
        ("reserved", "reserved (in checkouts)", "#E69F00", "-"),
        ("units_sold", "sold (in confirmed orders)", "#009E73", "-"),
        ("stock", "initial stock", "#000000", "--"),
    )
    columns = 1 if len(labels) < 4 else 2
    rows = -(-len(labels) // columns)
    with styled():
        figure, axes = new_figure(
            1.2 + 2.0 * rows, rows=rows, columns=columns, sharex=True, sharey=True
        )
        for index, label in enumerate(labels):
            axis = axes[index // columns, index % columns]
            mine = frame[frame.variant == label]
            for column, name, colour, style in lines:
                axis.step(
                    mine["time_s"],
                    mine[column],
                    where="post",
                    color=colour,
                    linestyle=style,
                    linewidth=1.8,
                    label=name,
                )
            shade_faults(axis, windows, label=index == 0)
            axis.set_title(label, loc="left", fontsize=10.5)
            axis.set_xlim(0, until)
            axis.set_ylim(bottom=0)
            thousands(axis)
        for index in range(len(labels), rows * columns):
            axes[index // columns, index % columns].set_visible(False)
        for column in range(min(columns, len(labels))):
            # The lowest panel drawn in each column carries the time axis.
            lowest = axes[max(r for r in range(rows) if r * columns + column < len(labels)), column]
            lowest.tick_params(labelbottom=True)
            lowest.set_xlabel(time_label(mode))
        for row in range(rows):
            axes[row, 0].set_ylabel("units")
        legend_below(figure, axes[0, 0])
        figure.suptitle("Stock and reservations over time")
    caption = (
        "Units available, units held by checkouts in progress, and units in confirmed "
        "orders, against the initial stock: a green line above the dashed one is "
        "overselling as it happens. The time axis stops shortly after the last change."
        + _first_of(max(len(runs) for runs in histories.values()))
    )
    return Chart("stock", "Stock and reservations over time", caption, frame, figure)
