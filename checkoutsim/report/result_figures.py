"""Figures a saved result supports on its own: invariants per variant, model versus real.

These need only the numbers in a ``--json`` result (metrics and their 95%
intervals), so ``checkoutsim report RESULT.json`` can draw them without a run.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from checkoutsim.report import frames
from checkoutsim.report.plotting import (
    SAFE_COLOUR,
    UNSAFE_COLOUR,
    Chart,
    new_figure,
    note_empty,
    seconds_label,
    styled,
)
from checkoutsim.results.metrics import INVARIANTS

SOURCE_COLOURS = {"model": "#0072B2", "real": "#E69F00"}
_TITLES = {key: key.replace("_", " ") for key in INVARIANTS}
#: Metrics set side by side in the model-versus-real figure: (key, title, kind).
_COMPARED = (
    ("success_rate", "success rate (orders / checkouts)", "percent"),
    ("throughput_orders_per_s", "throughput (orders/s)", "number"),
    ("latency_p50_s", "p50 checkout latency (s)", "seconds"),
    ("latency_p99_s", "p99 checkout latency (s)", "seconds"),
    ("orders", "confirmed orders", "number"),
    ("captures", "captures in the gateway's ledger", "number"),
)


def _format(value: float, kind: str = "number") -> str:
    """A bar's label."""
    if math.isnan(value):
        return "n/a"
    if kind == "percent":
        return f"{value:.1%}"
    if kind == "seconds":
        return seconds_label(value)
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.3g}"


def _grouped_bars(
    axis: Any,
    rows: pd.DataFrame,
    variants: list[str],
    sources: list[str],
    colour: Any,
    kind: str = "number",
) -> None:
    """Horizontal bars, one group per variant and one bar per source, labelled with values.

    ``rows`` has columns variant, source, value and optionally low and high (the 95%
    interval, drawn as an error bar when it has width). ``colour(source, value)``
    picks each bar's colour.
    """
    height = 0.8 / len(sources)
    top = 0.0
    for position, source in enumerate(sources):
        mine = rows[rows.source == source].set_index("variant").reindex(variants)
        centres = np.arange(len(variants)) + (position - (len(sources) - 1) / 2) * height
        values = mine["value"].to_numpy(dtype=float)
        low = mine["low"].to_numpy(dtype=float) if "low" in mine else values
        high = mine["high"].to_numpy(dtype=float) if "high" in mine else values
        colours = [colour(source, value) for value in values]
        axis.barh(centres, np.nan_to_num(values), height=height * 0.88, color=colours, label=source)
        wide = np.isfinite(low) & np.isfinite(high) & (high > low)
        if wide.any():
            axis.errorbar(
                values[wide],
                centres[wide],
                fmt="none",
                ecolor="#222222",
                capsize=4,
                xerr=[values[wide] - low[wide], high[wide] - values[wide]],
            )
        for centre, value, lower, upper, has_interval in zip(
            centres, values, low, high, wide, strict=True
        ):
            text = _format(value, kind)
            if has_interval:
                text += f"  (95% CI {_format(lower, kind)}–{_format(upper, kind)})"
            end = upper if has_interval else np.nan_to_num(value)
            shade = colour(source, value) if len(sources) == 1 else "#222222"
            axis.annotate(
                text,
                (end, centre),
                xytext=(4, 0),
                textcoords="offset points",
                va="center",
                fontsize=9.5,
                color=shade,
                fontweight="bold",
            )
            top = max(top, float(np.nan_to_num(end)))
    # Room on the right for the labels; a panel of zeros still gets a visible scale.
    axis.set_xlim(0, top * 1.6 if top > 0 else 1)
    if kind == "percent":
        from matplotlib.ticker import PercentFormatter

        axis.xaxis.set_major_formatter(PercentFormatter(1.0))
    axis.set_yticks(range(len(variants)), variants)
    axis.set_ylim(len(variants) - 0.5, -0.5)
    axis.grid(axis="y", visible=False)


def invariant_chart(result: Mapping[str, Any]) -> Chart | None:
    """Oversold units, duplicate charges and orphan payments per variant, with 95% CIs."""
    frame = frames.invariant_frame(result)
    if frame.empty or frame["value"].isna().all():
        return None
    variants = list(dict.fromkeys(frame["variant"]))
    sources = list(dict.fromkeys(frame["source"]))
    replications = result.get("replications")
    height = max(3.0, 1.5 + 0.38 * len(variants) * len(sources))

    def colour(source: str, value: float) -> str:
        """Model and real apart when both are shown; otherwise red for broken, green for 0."""
        if len(sources) > 1:
            return SOURCE_COLOURS.get(source, "#444444")
        return UNSAFE_COLOUR if value > 0 else SAFE_COLOUR

    with styled():
        figure, axes = new_figure(height, columns=len(INVARIANTS), sharey=True)
        for column, name in enumerate(INVARIANTS):
            axis = axes[0, column]
            _grouped_bars(axis, frame[frame.metric == name], variants, sources, colour)
            axis.set_title(_TITLES[name])
            axis.xaxis.get_major_locator().set_params(integer=True)
        if len(sources) > 1:
            axes[0, -1].legend(loc="lower right")
        if isinstance(replications, int) and replications > 1:
            over = f"mean over {replications} replications; "
        else:
            over = "one replication; " if replications == 1 else ""
        figure.suptitle(f"Safety invariants per variant ({over}0 is safe)")
    if (frame["high"] > frame["low"]).any():
        spread = "Error bars: 95% confidence interval of the mean (Student's t)."
    elif replications == 1:
        spread = "One replication, so no interval: rerun with --replications N for 95% CIs."
    else:
        spread = "The result holds no intervals with any width, so none is drawn."
    caption = (
        "Units sold beyond stock, captures beyond the first per checkout, and captured "
        f"money with neither an order nor a refund, counted by the audit. {spread}"
    )
    return Chart(
        "invariants", "Oversold units, duplicate charges and orphans", caption, frame, figure
    )


def model_real_frame(result: Mapping[str, Any]) -> pd.DataFrame:
    """The compared metrics, model and real, per variant: variant, source, metric, value."""
    rows = []
    for item in frames.series(result):
        for key, _, _ in _COMPARED:
            value = frames.number(item["metrics"].get(key))
            rows.append(
                {
                    "variant": item["variant"],
                    "source": item["source"],
                    "metric": key,
                    "value": value,
                }
            )
    return pd.DataFrame(rows, columns=["variant", "source", "metric", "value"])


def _bar_panels(
    axes: Any,
    frame: pd.DataFrame,
    panels: Sequence[tuple[str, str, str]],
    variants: list[str],
    sources: list[str],
    colours: Mapping[str, str],
    y_ticks: bool = True,
) -> None:
    """One panel per ``(metric, title, kind)``, left to right: grouped bars of ``frame``'s
    rows for that metric, one colour per source, or a note when it has no value."""
    columns = axes.shape[1]
    for index, (key, title, kind) in enumerate(panels):
        axis = axes[index // columns, index % columns]
        mine = frame[frame.metric == key]
        if mine["value"].isna().all():
            note_empty(axis, "not in this result")
        else:
            _grouped_bars(
                axis, mine, variants, sources, lambda source, _value: colours[source], kind
            )
        axis.set_title(title)
        if not y_ticks:
            axis.set_yticks([])


def model_real_chart(result: Mapping[str, Any]) -> Chart | None:
    """Model against real for each variant, metric by metric (comparisons only)."""
    frame = model_real_frame(result)
    if frame.empty or set(frame["source"]) != {"model", "real"}:
        return None
    variants = list(dict.fromkeys(frame["variant"]))
    sources = ["model", "real"]
    columns = 3
    rows = -(-len(_COMPARED) // columns)
    with styled():
        figure, axes = new_figure(
            1.2 + rows * (1.0 + 0.55 * len(variants)), rows=rows, columns=columns, sharey=True
        )
        _bar_panels(axes, frame, _COMPARED, variants, sources, SOURCE_COLOURS)
        handles, names = axes[0, 0].get_legend_handles_labels()
        figure.legend(
            handles,
            ["model (SimPy)", "real (SQLite + Locust)"][: len(names)],
            loc="outside lower center",
            ncols=2,
        )
        figure.suptitle("Model versus real, per variant")
    caption = (
        "The same scenario through the SimPy model and through the real implementation "
        "under Locust. Where the bars differ, the model's assumption does not hold."
    )
    return Chart("model_vs_real", "Model versus real per variant", caption, frame, figure)


#: Figures of a probe set side by side with the model's prediction: (key, title, kind).
_PROBED = (
    ("oversold_units", "oversold units", "number"),
    ("orders", "confirmed orders", "number"),
    ("sold_out", "sold-out answers", "number"),
    ("latency_p50_s", "p50 checkout latency (s)", "seconds"),
    ("latency_p99_s", "p99 checkout latency (s)", "seconds"),
    ("checkouts", "checkouts sent", "number"),
)
_PROBE_COLOURS = {"predicted": SOURCE_COLOURS["model"], "measured": SOURCE_COLOURS["real"]}


def probe_chart(result: Mapping[str, Any]) -> Chart | None:
    """A probe's measurement against the model's prediction, figure by figure."""
    prediction = result.get("prediction") or {}
    predicted = prediction.get("metrics")
    variants = result.get("variants") or []
    if not predicted or not variants:
        return None
    measured = variants[0].get("metrics") or {}
    rows = [
        {
            "variant": "probe",
            "source": source,
            "metric": key,
            "value": frames.number(values.get(key)),
        }
        for key, _, _ in _PROBED
        for source, values in (("measured", measured), ("predicted", predicted))
    ]
    frame = pd.DataFrame(rows, columns=["variant", "source", "metric", "value"])
    columns = 3
    with styled():
        figure, axes = new_figure(3.6, rows=2, columns=columns)
        _bar_panels(
            axes, frame, _PROBED, ["probe"], ["measured", "predicted"], _PROBE_COLOURS, False
        )
        handles, names = axes[0, 0].get_legend_handles_labels()
        figure.legend(handles, names, loc="outside lower center", ncols=2)
        figure.suptitle("Probe: measured against predicted")
    verdicts = prediction.get("verdicts") or {}
    caption = (
        "What the probe measured on the target, and what the model predicted for the same "
        f"arrivals from a light-load calibration. Oversell: {verdicts.get('oversold_units', '-')}; "
        f"p50 latency: {verdicts.get('latency_p50_s', '-')}."
    )
    edge = prediction.get("at_capacity")
    if edge:
        caption += f" {edge['line'][0].upper()}{edge['line'][1:]}."
    return Chart("probe_vs_model", "Measured against predicted", caption, frame, figure)
