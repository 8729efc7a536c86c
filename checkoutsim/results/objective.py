"""The second axis of a verdict: did a variant meet the scenario's objective?

Safety (the invariants, ``checkoutsim.results.metrics.verdict``) says whether
the books are right; the objective says whether shoppers were served: the
share of checkouts that ordered or were told sold out (``served_rate``), the
99th percentile of their waits, and, where the scenario has a fault window,
how soon after it new shoppers were served again (``recovery_s``). The
objective is taken as a plain mapping (a scenario's ``[objective]`` section,
dumped), so the same judgement runs on a live result and on a saved JSON file.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

#: The objective's figures: metric, whether the objective is a floor or a ceiling.
FIGURES = {
    "served_rate": "at_least",
    "latency_p99_s": "at_most",
    "recovery_s": "at_most",
}


def number(value: Any) -> float:
    """A metric as a float; NaN for missing, null or not a number."""
    if value is None or isinstance(value, bool):
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def had_fault_window(metrics: Mapping[str, Any]) -> bool:
    """Whether recovery from a fault window was measured (or found never to happen)."""
    return not math.isnan(number(metrics.get("recovery_s"))) or bool(
        number(metrics.get("fault_windows_unrecovered")) > 0
    )


def judge(metrics: Mapping[str, Any], objective: Mapping[str, Any]) -> dict[str, Any]:
    """Each figure of the objective against the run: value, objective, met.

    A figure the objective leaves unset (``recovery_s`` by default) or the run
    cannot measure (recovery without a fault window) is left out. A figure
    with no value where one was due (no shopper got an answer, no shopper was
    served after a fault window) is missed.
    """
    figures: dict[str, dict[str, Any]] = {}
    for key, sense in FIGURES.items():
        target = number(objective.get(key))
        if math.isnan(target):
            continue
        if key == "recovery_s" and not had_fault_window(metrics):
            continue
        value = number(metrics.get(key))
        if math.isnan(value):
            met = False
        elif sense == "at_least":
            met = value >= target
        else:
            met = value <= target
        figures[key] = {"value": None if math.isnan(value) else value, "objective": target}
        figures[key]["met"] = met
    return {"met": all(figure["met"] for figure in figures.values()), "figures": figures}


def percent(value: float, against: float | None = None) -> str:
    """A share as a percentage, e.g. ``59.5%``, ``100%``; never printed equal to ``against``
    unless it is (98.96% against 99% shows as ``98.96%``, not ``99%``)."""
    for digits in (1, 2, 3, 4):
        text = f"{value * 100:.{digits}f}".rstrip("0").rstrip(".") + "%"
        if against is None or value == against or text != percent(against):
            return text
    return text


def seconds(value: float, against: float | None = None) -> str:
    """A duration in s or ms by size with three significant figures, e.g. ``30.6 s``,
    ``242 ms``; never printed equal to ``against`` unless it is."""
    for digits in (3, 4, 5, 6):
        text = f"{value * 1000:.{digits}g} ms" if value < 1 else f"{value:.{digits}g} s"
        if against is None or value == against or text != seconds(against):
            return text
    return text


def _figure_text(key: str, figure: Mapping[str, Any], with_objective: bool) -> str:
    """One figure for a verdict, e.g. ``p99 30.6 s (objective 15 s)``."""
    value, target = figure["value"], figure["objective"]
    shown_target = percent(target) if key == "served_rate" else seconds(target)
    objective = f" (objective {shown_target})" if with_objective else ""
    if key == "served_rate":
        return f"{percent(value, target)} served{objective}"
    if key == "latency_p99_s":
        return "nobody answered" if value is None else f"p99 {seconds(value, target)}{objective}"
    if value is None:
        return "no new shopper served after the fault"
    return f"served again {seconds(value, target)} after the fault{objective}"


def objective_phrases(judgement: Mapping[str, Any]) -> list[str]:
    """The objective's half of a verdict as phrases, e.g. ``["missed objective: 59.5% served
    (objective 99%)", "p99 30.6 s (objective 15 s)"]``; empty when nothing was judged."""
    figures = judgement.get("figures") or {}
    if not figures:
        return []
    if judgement.get("met"):
        texts = [_figure_text(key, figure, False) for key, figure in figures.items()]
        head = "met objective"
    else:
        texts = [
            _figure_text(key, figure, True) for key, figure in figures.items() if not figure["met"]
        ]
        head = "missed objective"
    return [f"{head}: {texts[0]}", *texts[1:]]


def objective_target(key: str, objective: Mapping[str, Any]) -> str | None:
    """A figure's objective as a reader writes it, e.g. ``≥ 99%``, ``≤ 15 s``; None if unset."""
    target = number(objective.get(key))
    if math.isnan(target):
        return None
    if FIGURES[key] == "at_least":
        return f"≥ {percent(target)}"
    return f"≤ {seconds(target)}"
