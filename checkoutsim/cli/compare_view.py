"""``compare``'s rows and what it prints: per variant, each metric judged by its kind.

The judging is ``checkoutsim.results.agreement``'s; this module lays it out
(one table per variant, readable at 80 columns) and says which streams the
real body played and how long the model ran.
"""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.table import Table

from checkoutsim.cli.app import out
from checkoutsim.real.overload import summary, withheld_reason
from checkoutsim.results.agreement import RULES, disagreements, host_lateness, judge
from checkoutsim.results.formatting import format_value
from checkoutsim.scenario import files as scenarios

#: Diagnostics left out of the terminal table even when non-zero (the JSON has them).
_QUIET = frozenset({"stock", "latency_p95_s"})


def compare_row(
    name: str, sim: dict[str, Any], real: dict[str, Any], load: dict[str, Any], time_scale: float
) -> dict[str, Any]:
    """One variant of ``compare --json``: both metric sets and every metric judged."""
    agree: bool | None
    agree, lines = judge(sim, real, time_scale, host_lateness(load.get("health")))
    evidence = [line.as_json() for line in lines]
    withheld = withheld_reason(load.get("health"))
    if withheld is not None:
        # An overloaded host's figures say nothing about the design: no
        # agreement and no disagreement.
        agree = None
        evidence = [{**line, "agree": None} for line in evidence]
    return {
        "name": name,
        "sim": sim,
        "real": real,
        "agree": agree,
        "disagree": [] if withheld else [line.metric for line in disagreements(lines)],
        "withheld": withheld,
        "health": load.get("health"),
        "evidence": evidence,
    }


def streams_text(streams: dict[str, Any]) -> str:
    """One line: which random numbers the real body played."""
    if streams["mode"] == "independent":
        return (
            f"streams: independent (model seed {streams['model_seed']}, real seed"
            f" {streams['real_seed']}: its own arrivals, latencies and faults)"
        )
    return (
        f"streams: common random numbers (both bodies play seed {streams['model_seed']}:"
        " the same arrivals and clicks, so equal counts are built in, not evidence"
        " of prediction; --independent gives the real body its own seeds)"
    )


def model_text(model: dict[str, Any]) -> str:
    """One line: how long the model ran and why that is not ``run``'s length."""
    return (
        f"model: {model['duration_s']:g} s of model time, the real run's"
        f" {model['run_time_s']:g} s of wall time at time scale {model['time_scale']:g}"
        f" (`run` simulates the scenario's {model['scenario_duration_s']:g} s, so its"
        " figures can differ)"
    )


def render_compare(loaded: scenarios.Scenario, document: dict[str, Any]) -> None:
    """Per variant: the judged metrics, whether each agrees and by how much; diagnostics."""
    out.print(f"[bold]{escape(loaded.title)}[/]: model vs real", highlight=False)
    if "streams" in document:
        out.print(streams_text(document["streams"]), highlight=False)
        out.print(model_text(document["model"]), highlight=False)
    for kind in ("invariant", "rate", "latency"):
        out.print(f"[italic]{kind}:[/] {RULES[kind]}", highlight=False)
    for row in document.get("variants", []):
        out.print(_variant_table(row))
        if row.get("health"):
            out.print(f"{row['name']}: host: {summary(row['health'])}", highlight=False)
        if row.get("withheld"):
            out.print(
                f"[yellow]{row['name']}: no verdict: {escape(row['withheld'])}[/]", soft_wrap=True
            )


def _variant_table(row: dict[str, Any]) -> Table:
    """One variant: its verdict in the title, then a line per shown metric."""
    name = escape(row["name"])
    if row["agree"] is None:
        title = f"{name}: [yellow]no verdict[/]"
    elif row["agree"]:
        title = f"{name}: [green]agree[/] on every judged metric"
    else:
        title = f"{name}: [red]DISAGREE[/] on " + ", ".join(row["disagree"])
    table = Table(title=title, title_justify="left")
    for column in ("metric", "model", "real", "judged"):
        table.add_column(column, justify="right" if column in ("model", "real") else "left")
    diagnostics = []
    for line in row["evidence"]:
        if not line["judged"]:
            if line["metric"] not in _QUIET and (line["sim"] or line["real"]):
                diagnostics.append(line)
            continue
        table.add_row(*_cells(line))
    if diagnostics:
        table.add_section()
        for line in diagnostics:
            table.add_row(*_cells(line))
    return table


def _cells(line: dict[str, Any]) -> tuple[str, str, str, str]:
    metric = line["metric"]
    if not line["judged"]:
        mark = "[dim]shown, not judged[/]"
    elif line["agree"] is None:
        mark = "[yellow]withheld[/]"
    elif line["agree"]:
        mark = f"[green]agree[/] {line['difference']}"
    else:
        mark = f"[red]DISAGREE[/] {line['difference']}"
    return metric, format_value(line["sim"], metric), format_value(line["real"], metric), mark
