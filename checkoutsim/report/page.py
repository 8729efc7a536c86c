"""The report's HTML page: the numbers a template needs, and the Jinja2 rendering.

Autoescaping is always on: titles, questions, descriptions and variant names
come from scenario files and results, and must show as text, never run as markup.
"""

from __future__ import annotations

import importlib.metadata
import json
import platform
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from checkoutsim import __version__
from checkoutsim.real.overload import WITHHELD
from checkoutsim.report import frames
from checkoutsim.report.plotting import Chart
from checkoutsim.results.formatting import format_value
from checkoutsim.results.metrics import CONTRACT, verdict, verdict_text
from checkoutsim.results.verdicts import Judged, verdict_fields, verdict_pieces, what_it_shows

#: Packages whose versions the page lists beside checkoutsim's.
DEPENDENCIES = ("simpy", "numpy", "pandas", "matplotlib", "jinja2", "pydantic", "typer", "locust")
KIND_NAMES = {
    "sim": "simulation run (SimPy model)",
    "real": "load test (real implementation under Locust)",
    "compare": "model versus real",
    "capacity": "capacity plan (analytic)",
    "sweep": "parameter sweep (SimPy model)",
}


@dataclass(frozen=True)
class ScenarioText:
    """The words of a scenario: what the page says above the numbers."""

    name: str
    title: str
    question: str
    description: str
    source: str = ""


def _interval_text(value: Any, interval: Sequence[Any] | None, name: str) -> str:
    """A metric with its 95% interval when it has width, e.g. ``37 (95% CI 30.1–43.9)``."""
    text = format_value(value, name)
    if interval and len(interval) == 2 and None not in interval and interval[0] != interval[1]:
        low, high = (format_value(bound, name) for bound in interval)
        text += f" (95% CI {low}–{high})"
    return text


def _objective(result: Mapping[str, Any], name: str) -> dict[str, Any]:
    """A variant's ``[objective]`` from the result's parameters (base, its changes, --set)."""
    parameters = result.get("parameters") or {}
    objective = dict((parameters.get("base") or {}).get("objective") or {})
    entry = (parameters.get("variants") or {}).get(name) or {}
    changes = [entry.get("set") or {}, parameters.get("overrides") or {}]
    for change in changes:
        for key, value in change.items():
            if key == "objective" and isinstance(value, Mapping):
                objective.update(value)
            elif str(key).startswith("objective."):
                objective[str(key).partition(".")[2]] = value
    return objective


def judged_items(result: Mapping[str, Any]) -> list[Judged]:
    """Every (variant, source) of a result with its metrics and objective, for the verdicts."""
    items = []
    for item in frames.series(result):
        metrics = dict(item["metrics"])
        if "served_rate" not in metrics and metrics.get("checkouts"):
            # A result saved before served_rate was a metric: the same definition.
            served = frames.number(metrics.get("orders")) + frames.number(metrics.get("sold_out"))
            metrics["served_rate"] = served / frames.number(metrics["checkouts"])
        items.append(
            Judged(
                item["variant"],
                metrics,
                _objective(result, item["variant"]),
                item["ci95"],
                WITHHELD if item.get("withheld") else None,
                item["source"],
            )
        )
    return items


def verdict_rows(result: Mapping[str, Any]) -> dict[str, Any]:
    """The verdict table: a header and one row per variant (and source), both built from
    the terminal's verdict fields, so that every row has a cell under every header."""
    parameters = result.get("parameters") or {}
    descriptions = {
        name: str(entry.get("description", ""))
        for name, entry in (parameters.get("variants") or {}).items()
        if isinstance(entry, Mapping)
    }
    items = judged_items(result)
    if not items:
        return {"header": [], "rows": []}
    fields = verdict_fields(items)
    compare = result.get("mode") == "compare"
    header = ["variant", *(["measured by"] if compare else []), "what it does"]
    header += [field.label for field in fields]
    rows = []
    for index, item in enumerate(items):
        cells = [{"text": item.name, "kind": "name", "tone": ""}]
        if compare:
            cells.append({"text": item.source, "kind": "text", "tone": ""})
        cells.append({"text": descriptions.get(item.name, ""), "kind": "text", "tone": ""})
        for field in fields:
            cell = field.cells[index]
            kind = "verdict" if field.key in ("safety", "objective") else "number"
            cells.append({"text": cell.text, "kind": kind, "tone": cell.tone})
        rows.append({"cells": cells, "line": " ".join(verdict_pieces(item))})
    return {"header": header, "rows": rows, "shows": "; ".join(what_it_shows(items))}


def agreement_rows(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """For a comparison: each variant's model and real verdicts, and whether they agree."""
    rows = []
    for variant in result.get("variants") or []:
        model = frames.series({"mode": "compare", "variants": [variant]})
        texts = {
            item["source"]: f"no verdict: {WITHHELD}"
            if item.get("withheld")
            else verdict_text(item["metrics"])
            for item in model
        }
        rows.append(
            {
                "variant": variant.get("name"),
                "model": texts.get("model", "-"),
                "real": texts.get("real", "-"),
                "agree": variant.get("agree"),
                "withheld": variant.get("withheld"),
                "evidence": [
                    _evidence(line)
                    for line in variant.get("evidence") or []
                    if line.get("judged", True)
                ],
            }
        )
    return rows


def _evidence(line: Mapping[str, Any]) -> dict[str, Any]:
    """One metric of a comparison's agreement check, formatted (judged metrics only)."""
    metric = str(line.get("metric", ""))
    return {
        "metric": metric,
        "kind": str(line.get("kind", "")),
        "model": format_value(line.get("sim"), metric),
        "real": format_value(line.get("real"), metric),
        "difference": str(line.get("difference") or "-"),
        "agree": line.get("agree"),
    }


def metrics_table(result: Mapping[str, Any]) -> dict[str, Any]:
    """Every metric (rows) of every variant and source (columns), formatted."""
    items = frames.series(result)
    sources = {item["source"] for item in items}
    headers = [
        item["variant"] if len(sources) == 1 else f"{item['variant']} ({item['source']})"
        for item in items
    ]
    keys = [key for key in CONTRACT if any(key in item["metrics"] for item in items)]
    extra = sorted({key for item in items for key in item["metrics"]} - set(keys))
    rows = [
        {
            "name": key,
            "cells": [
                _interval_text(item["metrics"].get(key), item["ci95"].get(key), key)
                for item in items
            ],
        }
        for key in keys + extra
    ]
    return {"headers": headers, "rows": rows}


def flatten(node: Any, prefix: str = "") -> list[tuple[str, str]]:
    """Nested settings as ``(dotted.name, value)`` pairs, in order."""
    if isinstance(node, Mapping):
        pairs: list[tuple[str, str]] = []
        for key, value in node.items():
            pairs += flatten(value, f"{prefix}.{key}" if prefix else str(key))
        return pairs
    if isinstance(node, str):
        return [(prefix, node)]
    return [(prefix, json.dumps(node))]


def parameter_sections(result: Mapping[str, Any]) -> dict[str, Any]:
    """The resolved parameters: base settings by section, overrides, each variant's changes."""
    parameters = result.get("parameters") or {}
    base: dict[str, list[tuple[str, str]]] = {}
    for key, value in flatten(parameters.get("base") or {}):
        section, _, rest = key.partition(".")
        base.setdefault(section, []).append((rest or section, value))
    variants = [
        {
            "name": name,
            "description": str(entry.get("description", "")),
            "changes": flatten(entry.get("set") or {}),
        }
        for name, entry in (parameters.get("variants") or {}).items()
        if isinstance(entry, Mapping)
    ]
    known = {"base", "overrides", "variants"}
    other = flatten({key: value for key, value in parameters.items() if key not in known})
    return {
        "base": base,
        "overrides": flatten(parameters.get("overrides") or {}),
        "variants": variants,
        "other": other,
    }


def versions(result: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Versions of checkoutsim (the result's and the report's) and its main dependencies."""
    found = [
        ("checkoutsim (made the result)", str(result.get("version", "not recorded"))),
        ("checkoutsim (made this report)", __version__),
        ("python", platform.python_version()),
    ]
    for package in DEPENDENCIES:
        try:
            found.append((package, importlib.metadata.version(package)))
        except importlib.metadata.PackageNotFoundError:
            found.append((package, "not installed"))
    return found


def _capacity_context(result: Mapping[str, Any]) -> dict[str, Any]:
    """Tiers, findings and assumptions of a capacity plan, formatted."""
    tiers = [
        {
            "tier": tier.get("tier"),
            "count": f"{int(tier.get('count', 0)):,}",
            "unit": tier.get("unit"),
            "busy": f"{frames.number(tier.get('utilisation')):.1%}",
            "mean_wait": format_value(frames.number(tier.get("mean_wait_s")), "mean_wait_s"),
            "p99_wait": format_value(frames.number(tier.get("p99_wait_s")), "p99_wait_s"),
            "why": tier.get("why", ""),
        }
        for tier in result.get("tiers") or []
    ]
    return {
        "tiers": tiers,
        "findings": [str(finding) for finding in result.get("findings") or []],
        "assumptions": result.get("assumptions") or [],
        "volume": f"{frames.number(result.get('orders_per_day')):,.0f}",
        "average": f"{frames.number(result.get('average_orders_per_s')):,.1f}",
        "peak": f"{frames.number(result.get('peak_orders_per_s')):,.0f}",
        "peak_factor": f"{frames.number(result.get('peak_factor')):g}",
    }


def _sweep_context(result: Mapping[str, Any]) -> dict[str, Any]:
    """A sweep's axes, objective, knees, and a verdict per row."""
    rows = []
    params = [str(axis.get("param")) for axis in result.get("axes") or []]
    for row in result.get("rows") or []:
        setting = ", ".join(f"{param} = {row.get(param)}" for param in params)
        rows.append(
            {
                "variant": row.get("variant", ""),
                "setting": setting,
                "safe": verdict(row)["safe"],
                "verdict": verdict_text(row),
            }
        )
    fixed = ("variant", "param", "knee", "reason")
    knees = [
        {
            "variant": " ".join(
                [str(knee.get("variant", ""))]
                + [f"({key} = {value})" for key, value in knee.items() if key not in fixed]
            ),
            "param": knee.get("param"),
            "knee": "none found" if knee.get("knee") is None else knee.get("knee"),
            "reason": knee.get("reason", ""),
        }
        for knee in result.get("knees") or []
    ]
    axes = [
        {"param": axis.get("param"), "points": ", ".join(str(v) for v in axis.get("values", []))}
        for axis in result.get("axes") or []
    ]
    objective = flatten(result.get("objective") or {})
    return {"rows": rows, "knees": knees, "axes": axes, "objective": objective}


def page_context(
    result: Mapping[str, Any],
    charts: Sequence[Chart],
    missing: Sequence[str],
    text: ScenarioText | None,
) -> dict[str, Any]:
    """Everything the template shows, already formatted; the template only lays it out."""
    mode = str(result.get("mode"))
    name = str(result.get("scenario") or ("capacity" if mode == "capacity" else "result"))
    if text is not None:
        title = text.title
    elif mode == "capacity":
        title = f"Capacity plan for {frames.number(result.get('orders_per_day')):,.0f} orders/day"
    else:
        title = name
    paragraphs = [
        " ".join(part.split()) for part in (text.description if text else "").split("\n\n")
    ]
    figures = []
    for chart in charts:
        width, height = chart.pixel_size()
        figures.append(
            {
                "file": f"{chart.name}.png",
                "csv": f"{chart.name}.csv",
                "title": chart.title,
                "caption": chart.caption,
                "width": width,
                "height": height,
            }
        )
    replications = result.get("replications")
    return {
        "title": title,
        "name": name,
        "mode": mode,
        "kind": KIND_NAMES.get(mode, mode),
        "text": text,
        "paragraphs": [paragraph for paragraph in paragraphs if paragraph],
        "seed": result.get("seed"),
        "replications": replications,
        "verdicts": verdict_rows(result) if mode in ("sim", "real", "compare") else None,
        "agreement": agreement_rows(result) if mode == "compare" else [],
        "metrics": metrics_table(result) if mode in ("sim", "real", "compare") else None,
        "capacity": _capacity_context(result) if mode == "capacity" else None,
        "sweep": _sweep_context(result) if mode == "sweep" else None,
        "figures": figures,
        "missing": list(missing),
        "parameters": parameter_sections(result),
        "versions": versions(result),
    }


def render_page(context: Mapping[str, Any]) -> str:
    """Render ``report.html.j2`` with ``context``; autoescaped, undefined names are errors."""
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("checkoutsim.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return environment.get_template("report.html.j2").render(**context)
