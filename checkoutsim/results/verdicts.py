"""The verdict table every view shares, the verdict lines, and what a run shows.

One list of fields (``verdict_fields``) is the terminal's first rows (variants
as columns) and the HTML report's verdict columns (variants as rows): both
iterate the same list, so a header and its cells cannot disagree. Each field
holds one cell per variant; text only, with a tone a view may colour.
``what_it_shows`` compares the variants on each axis from the figures.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from checkoutsim.results.formatting import format_value
from checkoutsim.results.metrics import INVARIANTS, verdict, verdict_text
from checkoutsim.results.objective import (
    FIGURES,
    had_fault_window,
    objective_phrases,
    objective_target,
    percent,
    seconds,
)

#: Metrics of the verdict fields after the objective's figures (shown when any is non-zero,
#: except these, always shown).
COUNTED = (*INVARIANTS, "orders")
ALWAYS = frozenset({"oversold_units", "duplicate_charges", "orphan_payments", "orders"})


@dataclass(frozen=True)
class Judged:
    """One variant (from one source) with its metrics and both axes of its verdict."""

    name: str
    metrics: Mapping[str, Any]
    objective: Mapping[str, Any] = field(default_factory=dict)
    ci95: Mapping[str, Any] = field(default_factory=dict)
    #: Why no verdict stands (an overloaded host), else None.
    withheld: str | None = None
    source: str = ""

    @property
    def verdict(self) -> dict[str, Any]:
        """Safety and, when the objective is known, whether it was met."""
        return verdict(self.metrics, self.objective or None)


@dataclass(frozen=True)
class Cell:
    """A cell's text, its tone (good, bad, withheld or none), and the pieces it may be
    broken into, one per line, where a column is narrow (never mid-phrase)."""

    text: str
    tone: str = ""
    pieces: tuple[str, ...] = ()

    @property
    def lines(self) -> tuple[str, ...]:
        """The cell as its narrowest lines."""
        return self.pieces or (self.text,)


@dataclass(frozen=True)
class Field:
    """One row of the terminal's table, one column of the report's: a label, a cell each."""

    key: str
    label: str
    cells: tuple[Cell, ...]


def joined(phrases: Sequence[str], separator: str) -> list[str]:
    """Phrases with ``separator`` (``","``, ``";"``, ``" ·"``) after every one but the last."""
    last = len(phrases) - 1
    return [phrase + (separator if index < last else "") for index, phrase in enumerate(phrases)]


def safety_cell(item: Judged) -> Cell:
    """``safe``, ``unsafe: oversold 674``, or ``no verdict: ...``."""
    if item.withheld is not None:
        return Cell(f"no verdict: {item.withheld}", "withheld", ("no verdict:", item.withheld))
    text = verdict_text(item.metrics)
    if text == "safe":
        return Cell(text, "good")
    head, rest = text.split(": ", 1)
    return Cell(text, "bad", (f"{head}:", *joined(rest.split(", "), ",")))


def objective_cell(item: Judged) -> Cell:
    """``met``, ``missed``, or ``-`` when nothing was judged (or the verdict is withheld)."""
    judged = item.verdict.get("objective")
    if item.withheld is not None or not judged or not judged["figures"]:
        return Cell("-", "withheld" if item.withheld is not None else "")
    return Cell("met", "good") if judged["met"] else Cell("missed", "bad")


def metric_cell(item: Judged, key: str) -> Cell:
    """A metric with its 95% half-width when replications give it one."""
    value = item.metrics.get(key)
    text = format_value(value, key)
    interval = item.ci95.get(key)
    if interval and None not in interval and interval[0] != interval[1]:
        text += f" ±{format_value((interval[1] - interval[0]) / 2, key)}"
    tone = ""
    if item.withheld is None:
        if key in INVARIANTS and value:
            tone = "bad"
        figure = ((item.verdict.get("objective") or {}).get("figures") or {}).get(key)
        if figure is not None:
            tone = "good" if figure["met"] else "bad"
    return Cell(text, tone)


def _label(key: str, items: Sequence[Judged]) -> str:
    """A metric's label, with its objective when every variant has the same one."""
    targets = {objective_target(key, item.objective) for item in items}
    if len(targets) == 1 and None not in targets:
        return f"{key} {targets.pop()}"
    return key


def verdict_fields(items: Sequence[Judged]) -> list[Field]:
    """The verdict's fields, in order: safety, objective, the objective's figures, the
    invariant counts and orders. Recovery only where a fault window was measured; an
    all-zero count (other than the always-shown ones) is left out."""
    fields = [
        Field("safety", "safety", tuple(safety_cell(item) for item in items)),
        Field("objective", "objective", tuple(objective_cell(item) for item in items)),
    ]
    figures = ["served_rate", "latency_p99_s"]
    if any(had_fault_window(item.metrics) for item in items):
        figures.append("recovery_s")
    for key in (*figures, *COUNTED):
        if key in COUNTED and key not in ALWAYS and not any(i.metrics.get(key) for i in items):
            continue
        cells = tuple(metric_cell(item, key) for item in items)
        label = _label(key, items)
        if label == key and key in FIGURES:
            # Variants with different objectives: each cell says its own.
            cells = tuple(
                Cell(f"{cell.text} ({target})", cell.tone, (cell.text, f"({target})"))
                if (target := objective_target(key, item.objective))
                else cell
                for cell, item in zip(cells, items, strict=True)
            )
        fields.append(Field(key, label, cells))
    return fields


def verdict_phrases(item: Judged) -> list[str]:
    """A variant's whole verdict as phrases: safety first, then the objective."""
    if item.withheld is not None:
        return [f"no verdict: {item.withheld}"]
    return [verdict_text(item.metrics), *objective_phrases(item.verdict.get("objective") or {})]


def verdict_pieces(item: Judged) -> list[str]:
    """The verdict line's pieces, punctuated: ``safe ·``, ``missed objective: ...,``, ``p99 ...``
    (a line may break between pieces, never inside one)."""
    phrases = verdict_phrases(item)
    return [phrases[0] + (" ·" if len(phrases) > 1 else ""), *joined(phrases[1:], ",")]


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


#: A phrase longer than this is said by its complement or its count, so that it fits
#: one line of an 80-column terminal and never breaks mid-phrase.
LONGEST_PHRASE = 72


def _names(items: Sequence[Judged]) -> str:
    return ", ".join(item.name for item in items)


def _group(prefix: str, chosen: Sequence[Judged], everyone: Sequence[Judged]) -> str:
    """``safe: a, b``; when too long ``safe: all but c``; else ``safe: 7 of 10``."""
    others = [item for item in everyone if item not in chosen]
    named = f"{prefix}{_names(chosen)}"
    if len(named) > LONGEST_PHRASE and others and len(others) < len(chosen):
        named = f"{prefix}all but {_names(others)}"
    return named if len(named) <= LONGEST_PHRASE else f"{prefix}{len(chosen)} of {len(everyone)}"


def _best(items: Sequence[Judged], key: str, higher: bool, shown: Any, what: str) -> list[str]:
    """``most served: a 100% (b next, 59.5%)``: the best variant on one figure, and the next.

    Every form names the runner-up: where the names are too long for one phrase,
    several tied variants are counted, and failing that the runner-up gets a
    phrase of its own (``next lowest p99: b 597 ms``), so that each fits a line.
    """
    valued = [
        (value, item) for item in items if (value := _finite(item.metrics.get(key))) is not None
    ]
    if len(valued) < 2:
        return []
    values = sorted({value for value, _ in valued}, reverse=higher)
    if len(values) == 1:
        return [f"{what}: all {shown(values[0])}"]
    best = [item for value, item in valued if value == values[0]]
    runner = [item for value, item in valued if value == values[1]]
    # Best and runner-up printed precisely enough to differ from each other.
    top, next_value = shown(values[0], values[1]), shown(values[1], values[0])
    # Too many tied to name on one line: count them instead.
    first = _names(best) if len(best) == 1 else f"{len(best)} variants"
    second = _names(runner) if len(runner) == 1 else f"{len(runner)} variants"
    for leader, follower in ((_names(best), _names(runner)), (first, second)):
        phrase = f"{what}: {leader} {top} ({follower} next, {next_value})"
        if len(phrase) <= LONGEST_PHRASE:
            return [phrase]
    # Two long names: the runner-up in a phrase of its own.
    apart = [f"{what}: {first} {top}", f"next {what}: {second} {next_value}"]
    if all(len(phrase) <= LONGEST_PHRASE for phrase in apart):
        return apart
    # Names too long for a line even alone: the runner-up's figure, which the phrase weighs.
    return [f"{what}: {first} {top} (next: {next_value})"]


def what_it_shows(items: Sequence[Judged]) -> list[str]:
    """What the run shows, as phrases computed from the figures: who was safe, who met
    the objective, and who was best on each of its figures and by how much."""
    judged = [item for item in items if item.withheld is None]
    if not judged:
        return ["no verdict stands"]
    safe = [item for item in judged if item.verdict["safe"]]
    unsafe = [item for item in judged if not item.verdict["safe"]]
    if not unsafe:
        everyone = {1: f"{judged[0].name} safe", 2: "both safe"}
        phrases = [everyone.get(len(judged), f"all {len(judged)} safe")]
    elif not safe:
        phrases = ["none safe"]
    else:
        phrases = [_group("safe: ", safe, judged)]
    phrases += [f"{item.name} {verdict_text(item.metrics)}" for item in unsafe]
    assessed = [item for item in judged if (item.verdict.get("objective") or {}).get("figures")]
    if assessed:
        met = [item for item in assessed if item.verdict["objective"]["met"]]
        if len(met) == len(assessed):
            phrases.append("objective met by all" if len(met) > 1 else "objective met")
        elif not met:
            phrases.append("objective met by none")
        else:
            missed = [item for item in assessed if item not in met]
            fewer = f"objective missed by {_names(missed)} only"
            listed = f"objective met by {_names(met)} only"
            if len(listed) <= LONGEST_PHRASE:
                phrases.append(listed)
            elif len(fewer) <= LONGEST_PHRASE:
                phrases.append(fewer)
            else:
                phrases.append(f"objective met by {len(met)} of {len(assessed)}")
        if safe and met:
            both = [item for item in met if item in safe]
            phrases.append(_group("safe and met: ", both, judged) if both else "safe and met: none")
    ranked = [
        *_best(judged, "served_rate", True, percent, "most served"),
        *_best(judged, "latency_p99_s", False, seconds, "lowest p99"),
    ]
    if any(had_fault_window(item.metrics) for item in judged):
        ranked.extend(_best(judged, "recovery_s", False, seconds, "fastest recovery"))
        # What the fault cost each design (results.money), when it cost anything.
        if any(_finite(item.metrics.get("lost_revenue_usd")) for item in judged):
            ranked.extend(_best(judged, "lost_revenue_usd", False, _dollars, "least revenue lost"))
    if any("cache_hit_rate" in item.metrics for item in judged):
        # A stock cache's gain and its cost at sell-out (``results.cache_metrics``).
        ranked.extend(_best(judged, "cache_hit_rate", True, percent, "most cache hits"))
        ranked.extend(
            _best(judged, "failed_after_in_stock", False, _count, "fewest failed after in stock")
        )
    return phrases + ranked


def _count(value: float, _other: float | None = None) -> str:
    """A count of shoppers, whole (a mean over replications to one decimal)."""
    return format_value(value, "count")


def _dollars(value: float, _other: float | None = None) -> str:
    """Lost revenue as the run table shows it (whole dollars)."""
    return format_value(value, "lost_revenue_usd")
