"""Tidy frames behind the report's figures, from run histories and saved results.

Everything here is plain pandas: no drawing. Each figure draws one of these
frames and the report writes the same frame beside it as CSV, so every line
on a chart can be checked against a file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from checkoutsim.results.history import History
from checkoutsim.results.metrics import INVARIANTS
from checkoutsim.results.objective import number

#: Histories by series label (a variant's name, or e.g. "naive · real" in a comparison).
Histories = Mapping[str, Sequence[History]]

#: Bin widths for outcome rates, smallest first; the first giving at most ~150 bins wins.
_BIN_WIDTHS_S = (1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0)


class ReportError(ValueError):
    """A result that cannot be reported: not a checkoutsim result, or of an unknown kind."""


def bin_width(duration_s: float) -> float:
    """A round bin width giving about 150 bins or fewer over ``duration_s``."""
    for width in _BIN_WIDTHS_S:
        if duration_s / width <= 150:
            return width
    return _BIN_WIDTHS_S[-1]


def latency_frame(histories: Histories) -> pd.DataFrame:
    """Every answered checkout's latency: columns variant, replication, latency_s."""
    parts = []
    for label, runs in histories.items():
        for replication, history in enumerate(runs):
            latency = history.checkouts["latency_s"].dropna().to_numpy(dtype=float)
            parts.append(
                pd.DataFrame({"variant": label, "replication": replication, "latency_s": latency})
            )
    if not parts:
        return pd.DataFrame(columns=["variant", "replication", "latency_s"])
    return pd.concat(parts, ignore_index=True)


def outcome_frame(histories: Histories) -> pd.DataFrame:
    """Answers per second by what the shopper was told, in bins, first replication only.

    Columns: variant, time_s (bin start), bin_s, outcome, count, per_s. Checkouts
    never answered (still in flight at the end) have no time and are left out.
    """
    firsts = {label: runs[0] for label, runs in histories.items() if runs}
    if not firsts:
        return pd.DataFrame(columns=["variant", "time_s", "bin_s", "outcome", "count", "per_s"])
    width = bin_width(max(history.duration_s for history in firsts.values()))
    outcomes = sorted({str(told) for h in firsts.values() for told in h.checkouts["told"].unique()})
    parts = []
    for label, history in firsts.items():
        answered = history.checkouts.dropna(subset=["answered_s"])
        edges = np.arange(0.0, history.duration_s + width, width)
        starts = np.floor(answered["answered_s"].to_numpy(dtype=float) / width) * width
        counts = (
            pd.DataFrame({"time_s": starts, "outcome": answered["told"].astype(str)})
            .groupby(["time_s", "outcome"])
            .size()
        )
        grid = pd.MultiIndex.from_product([edges[:-1], outcomes], names=["time_s", "outcome"])
        counts = counts.reindex(grid, fill_value=0).rename("count").reset_index()
        counts.insert(0, "variant", label)
        counts.insert(2, "bin_s", width)
        counts["per_s"] = counts["count"] / width
        parts.append(counts)
    return pd.concat(parts, ignore_index=True)


def timeline_frame(histories: Histories) -> pd.DataFrame:
    """The sampled timeline of each series' first replication, plus units sold and stock.

    ``units_sold`` counts units in confirmed orders up to each sample; ``stock`` is
    the initial stock, so a ``units_sold`` above it is overselling, seen as it happens.
    """
    parts = []
    for label, runs in histories.items():
        if not runs:
            continue
        history = runs[0]
        timeline = history.timeline.copy()
        orders = history.orders.sort_values("time_s")
        sold = np.concatenate([[0], orders["quantity"].to_numpy(dtype=float).cumsum()])
        upto = np.searchsorted(orders["time_s"].to_numpy(dtype=float), timeline["time_s"], "right")
        timeline["units_sold"] = sold[upto].astype(int)
        timeline["stock"] = int(sum(history.stock))
        timeline.insert(0, "variant", label)
        parts.append(timeline)
    if not parts:
        return pd.DataFrame(columns=["variant", "time_s"])
    return pd.concat(parts, ignore_index=True)


def fault_windows(histories: Histories) -> list[tuple[str, float, float]]:
    """The fault windows of the first replication of the first series that has any.

    Faults are scenario settings, the same for every variant, so one list serves all panels.
    """
    for runs in histories.values():
        if runs and runs[0].fault_windows:
            return [(str(s), float(a), float(b)) for s, a, b in runs[0].fault_windows]
    return []


def setting(parameters: Mapping[str, Any], variant: str, dotted: str) -> Any:
    """A variant's resolved setting from a result's ``parameters``; None when unknown.

    Command-line overrides beat the variant's own ``set``, which beats the base.
    ``variant`` may be a series label such as "naive · real": its first part is the name.
    """
    overrides = parameters.get("overrides") or {}
    if dotted in overrides:
        return overrides[dotted]
    variants = parameters.get("variants") or {}
    entry = variants.get(variant) or variants.get(variant.split(" · ")[0]) or {}
    own = entry.get("set") or {}
    if dotted in own:
        return own[dotted]
    node: Any = parameters.get("base") or {}
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _metrics_and_interval(block: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A metrics block, either ``{"metrics": ..., "ci95": ...}`` or the metrics themselves."""
    if isinstance(block.get("metrics"), Mapping):
        return dict(block["metrics"]), dict(block.get("ci95") or {})
    return dict(block), {}


def series(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every (variant, source) of a run, load test or comparison, with metrics and intervals.

    Source is "model" for the simulation and "real" for the load-tested
    implementation. Each item: variant, source, metrics, ci95, and withheld
    (why a real run gave no verdict, e.g. an overloaded host; else None).
    """
    mode = result.get("mode")
    items = []
    for variant in result.get("variants") or []:
        name = str(variant.get("name", "?"))
        if mode == "compare":
            for key, source in (("sim", "model"), ("real", "real")):
                if isinstance(variant.get(key), Mapping):
                    metrics, ci95 = _metrics_and_interval(variant[key])
                    withheld = variant.get("withheld") if source == "real" else None
                    items.append(
                        {
                            "variant": name,
                            "source": source,
                            "metrics": metrics,
                            "ci95": ci95,
                            "withheld": withheld,
                        }
                    )
        else:
            metrics, ci95 = _metrics_and_interval(variant)
            source = "real" if mode == "real" else "model"
            judged = variant.get("verdict")
            withheld = judged.get("withheld") if isinstance(judged, Mapping) else None
            items.append(
                {
                    "variant": name,
                    "source": source,
                    "metrics": metrics,
                    "ci95": ci95,
                    "withheld": withheld,
                }
            )
    return items


def invariant_frame(
    result: Mapping[str, Any], names: Sequence[str] = tuple(INVARIANTS)
) -> pd.DataFrame:
    """Invariant counts per variant and source with their 95% intervals (NaN when absent).

    Columns: variant, source, metric, value, low, high.
    """
    rows = []
    for item in series(result):
        for name in names:
            interval = item["ci95"].get(name) or [None, None]
            rows.append(
                {
                    "variant": item["variant"],
                    "source": item["source"],
                    "metric": name,
                    "value": number(item["metrics"].get(name)),
                    "low": number(interval[0]),
                    "high": number(interval[1]),
                }
            )
    return pd.DataFrame(rows, columns=["variant", "source", "metric", "value", "low", "high"])
