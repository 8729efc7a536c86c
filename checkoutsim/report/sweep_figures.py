"""Sweep figures: measured p99 and utilisation against the swept setting, knees marked.

A sweep result holds one row of metric means per variant and point of the
swept axes. The first axis is the x axis; any further axes split the lines
(``naive, catalog.skus=10``). Knees are the sweep's own, drawn as it found them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from checkoutsim.report.frames import ReportError, number
from checkoutsim.report.plotting import (
    Chart,
    colour_for,
    legend_below,
    line_style_for,
    new_figure,
    note_empty,
    styled,
)
from checkoutsim.results.metrics import INVARIANTS

_INVARIANT_TITLES = {key: key.replace("_", " ") for key in INVARIANTS}


def axes_of(result: Mapping[str, Any]) -> list[str]:
    """The swept parameters, first (the x axis) first."""
    params = [str(axis["param"]) for axis in result.get("axes") or [] if "param" in axis]
    if not params:
        raise ReportError("sweep result has no axes")
    return params


def sweep_frame(result: Mapping[str, Any]) -> pd.DataFrame:
    """The sweep's rows as a frame, with a ``series`` column naming each line."""
    rows = result.get("rows")
    if not isinstance(rows, list) or not rows:
        raise ReportError("sweep result has no rows")
    frame = pd.DataFrame(rows)
    params = axes_of(result)
    if params[0] not in frame:
        raise ReportError(f"sweep rows have no column for the axis {params[0]!r}")
    if "variant" not in frame:
        frame["variant"] = "default"
    labels = frame["variant"].astype(str)
    for param in params[1:]:
        if param in frame:
            labels = labels + ", " + param + "=" + frame[param].astype(str)
    frame.insert(0, "series", labels)
    if not (frame.groupby("series")[params[0]].nunique() == frame.groupby("series").size()).all():
        raise ReportError("sweep rows repeat a point of the first axis within one line")
    # Lines in the order the sweep lists them (its variant order), points along x.
    order = pd.Categorical(frame["series"], categories=list(dict.fromkeys(labels)), ordered=True)
    frame = frame.assign(_order=order).sort_values(["_order", params[0]], kind="stable")
    return frame.drop(columns="_order").reset_index(drop=True)


def knee_label(knee: Mapping[str, Any], params: list[str]) -> str:
    """The line a knee belongs to, named as :func:`sweep_frame` names lines."""
    label = str(knee.get("variant", "default"))
    for param in params[1:]:
        if param in knee:
            label += f", {param}={knee[param]}"
    return label


def _lines(axis: Any, frame: pd.DataFrame, x: str, column: str, scale: float = 1.0) -> None:
    """One line with markers per series."""
    for index, (label, group) in enumerate(frame.groupby("series", sort=False)):
        values = group[column].map(number) * scale
        axis.plot(
            group[x],
            values,
            marker="o",
            color=colour_for(index),
            linewidth=2,
            linestyle=line_style_for(index),
            markersize=5,
            label=label,
        )


def capacity_chart(result: Mapping[str, Any]) -> Chart:
    """Measured p99 and utilisation against the first swept setting, with the knees."""
    frame = sweep_frame(result)
    x = axes_of(result)[0]
    utilisations = [column for column in frame.columns if column.endswith("_utilisation")]
    objective = number((result.get("objective") or {}).get("latency_p99_s"))
    knees = [
        knee
        for knee in result.get("knees") or []
        if knee.get("param") == x and number(knee.get("knee")) == number(knee.get("knee"))
    ]
    series_of = {str(label): index for index, label in enumerate(dict.fromkeys(frame["series"]))}
    with styled():
        figure, axes = new_figure(7.2, rows=2, sharex=True)
        top, bottom = axes[0, 0], axes[1, 0]
        if "latency_p99_s" in frame:
            _lines(top, frame, x, "latency_p99_s")
        else:
            note_empty(top, "no p99 latency in this sweep")
        if objective == objective:
            top.axhline(
                objective,
                color="#D55E00",
                linestyle="--",
                linewidth=1.2,
                label=f"objective: p99 ≤ {objective:g} s",
            )
        for order, knee in enumerate(knees):
            label = knee_label(knee, axes_of(result))
            colour = colour_for(series_of[label]) if label in series_of else "#333333"
            value = number(knee["knee"])
            for axis in (top, bottom):
                axis.axvline(value, color=colour, linestyle=":", linewidth=1.6)
            mine = frame[(frame.series == label) & (frame[x] == knee["knee"])]
            if "latency_p99_s" in frame and not mine.empty:
                top.plot(
                    [value],
                    [number(mine["latency_p99_s"].iloc[0])],
                    "D",
                    color=colour,
                    markersize=9,
                    markeredgecolor="black",
                    zorder=5,
                )
            bottom.annotate(
                f"knee, {label}: {value:g}",
                (value, 1),
                xycoords=("data", "axes fraction"),
                xytext=(3, -12 - 13 * order),
                textcoords="offset points",
                color=colour,
                fontsize=9,
            )
        if "latency_p99_s" in frame and (frame["latency_p99_s"].map(number) > 0).all():
            values = frame["latency_p99_s"].map(number)
            if values.max() / values.min() > 50:
                top.set_yscale("log")
            else:
                top.set_ylim(bottom=0)
        top.set_ylabel("p99 checkout latency (s)")
        top.set_title(f"Measured p99 latency and utilisation as {x} rises")
        legend_below(figure, top)
        if utilisations:
            for column in utilisations:
                _lines(bottom, frame, x, column, scale=100)
            bottom.set_ylim(0, 105)
            bottom.set_ylabel("utilisation (%)")
            names = ", ".join(column.removesuffix("_utilisation") for column in utilisations)
            bottom.set_title(f"utilisation of: {names}", loc="left", fontsize=10)
        else:
            note_empty(bottom, "no utilisation was measured in this sweep")
        bottom.set_xlabel(x)
    caption = (
        "Each point is the mean over the sweep's replications at one setting. Dotted "
        "vertical lines mark the knees the sweep found (see the knee table for how)."
        + (" The dashed line is the scenario's p99 objective." if objective == objective else "")
    )
    return Chart(
        "sweep_capacity", "p99 and utilisation versus load, knee marked", caption, frame, figure
    )


def outcome_chart(result: Mapping[str, Any]) -> Chart | None:
    """Success rate and throughput against the first swept setting."""
    frame = sweep_frame(result)
    x = axes_of(result)[0]
    wanted = ("success_rate", "failure_rate", "throughput_orders_per_s")
    columns = [column for column in wanted if column in frame]
    if not columns:
        return None
    titles = {
        "success_rate": "success rate (%)",
        "failure_rate": "failure rate (%, selling out is not a failure)",
        "throughput_orders_per_s": "orders per second",
    }
    limit = number((result.get("objective") or {}).get("failure_rate"))
    with styled():
        figure, axes = new_figure(4.4, columns=len(columns), sharex=True)
        for index, column in enumerate(columns):
            axis = axes[0, index]
            _lines(axis, frame, x, column, scale=1 if column.startswith("throughput") else 100)
            if column == "failure_rate" and limit == limit:
                axis.axhline(limit * 100, color="#D55E00", linestyle="--", linewidth=1.2)
                axis.annotate(
                    f"objective ≤ {limit:.1%}",
                    (0, limit * 100),
                    xycoords=("axes fraction", "data"),
                    xytext=(4, 3),
                    textcoords="offset points",
                    color="#D55E00",
                    fontsize=9,
                )
            axis.set_title(titles[column])
            axis.set_xlabel(x)
            axis.set_ylim(bottom=0)
        legend_below(figure, axes[0, 0])
        figure.suptitle(f"Orders as {x} rises")
    caption = (
        "Share of checkouts that became orders, share that failed for reasons other than "
        "selling out (rejected, payment or order failed, timed out), and orders per second, "
        "at each setting; means over the sweep's replications."
    )
    return Chart(
        "sweep_outcomes",
        "Success rate and throughput versus the swept setting",
        caption,
        frame[["series", x, *columns]],
        figure,
    )


def invariant_chart(result: Mapping[str, Any]) -> Chart | None:
    """Oversold units, duplicate charges and orphans against the first swept setting."""
    frame = sweep_frame(result)
    x = axes_of(result)[0]
    names = [name for name in INVARIANTS if name in frame]
    if not names:
        return None
    with styled():
        figure, axes = new_figure(4.0, columns=len(names), sharex=True)
        for index, name in enumerate(names):
            axis = axes[0, index]
            _lines(axis, frame, x, name)
            axis.set_title(_INVARIANT_TITLES[name])
            axis.set_xlabel(x)
            top = float(np.nanmax(frame[name].map(number).to_numpy(dtype=float)))
            top = top if top > 0 else 1.0
            # A little room below zero, so a line of zeros is not hidden in the axis.
            axis.set_ylim(-0.04 * top, top * 1.1)
            axis.yaxis.get_major_locator().set_params(integer=True)
        legend_below(figure, axes[0, 0])
        figure.suptitle(f"Safety invariants as {x} rises (mean per setting; 0 is safe)")
    caption = "Means over the sweep's replications at each setting; the audit's counts."
    return Chart(
        "sweep_invariants",
        "Invariants versus the swept setting",
        caption,
        frame[["series", x, *names]],
        figure,
    )
