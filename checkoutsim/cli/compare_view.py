"""``compare``'s rows and what it prints: per variant, each metric judged by its kind.

The judging is ``checkoutsim.results.agreement``'s; this module lays it out
(one table per variant, readable at 80 columns) and says which streams the
real body played and how long the model ran.
"""

from __future__ import annotations

import re
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from checkoutsim.cli.app import out
from checkoutsim.real.overload import (
    race_rule_status,
    race_withheld_reason,
    summary,
    withheld_reason,
)
from checkoutsim.results.agreement import (
    RULES,
    disagreements,
    host_lateness,
    judge,
    judge_with_spread,
)
from checkoutsim.results.formatting import format_value
from checkoutsim.results.layout import wrap_phrases
from checkoutsim.scenario import files as scenarios

#: Diagnostics left out of the terminal table even when non-zero (the JSON has them).
_QUIET = frozenset({"stock", "latency_p95_s"})


def compare_row(
    name: str,
    sim: dict[str, Any],
    real: dict[str, Any],
    load: dict[str, Any],
    time_scale: float,
    model_runs: list[dict[str, Any]] | None = None,
    race_window_s: float | None = None,
) -> dict[str, Any]:
    """One variant of ``compare --json``: both metric sets and every metric judged.

    With ``model_runs`` (several seeded model runs, the first on the real body's
    streams) the invariants are judged against their spread (``judge_with_spread``).
    ``race_window_s`` is given for a strategy with a read-to-write window
    (``has_race_window``): a run whose host was too slow for it gives no
    verdict on the invariants (``race_withheld_reason``, in ``invariants_withheld``);
    its rates and latencies are still judged (latency allows for the host's
    lateness). An overloaded run (``withheld``) gives no verdict at all.
    """
    agree: bool | None
    health = load.get("health")
    lateness = host_lateness(health)
    if model_runs:
        agree, lines = judge_with_spread(model_runs, real, time_scale, lateness)
    else:
        agree, lines = judge(sim, real, time_scale, lateness)
    evidence = [line.as_json() for line in lines]
    withheld = withheld_reason(health)
    race = None
    if withheld is None and race_window_s is not None:
        race = race_withheld_reason(health, race_window_s)
    disagree = [line.metric for line in disagreements(lines)]
    if withheld is not None:
        # An overloaded host's figures say nothing about the design: no
        # agreement and no disagreement.
        agree = None
        evidence = [{**line, "agree": None} for line in evidence]
        disagree = []
    elif race is not None:
        # Only the race's counts are the host's; the rest still speaks.
        evidence = [
            {**line, "agree": None} if line["kind"] == "invariant" else line for line in evidence
        ]
        agree = all(line["agree"] is not False for line in evidence)
        disagree = [line["metric"] for line in evidence if line["agree"] is False]
    return {
        "name": name,
        "sim": sim,
        "real": real,
        "agree": agree,
        "disagree": disagree,
        "withheld": withheld,
        "invariants_withheld": race,
        "race_rule": race_rule_status(health, race_window_s),
        "health": health,
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


def render_compare(
    loaded: scenarios.Scenario, document: dict[str, Any], console: Console | None = None
) -> None:
    """Per variant: the judged metrics, whether each agrees and by how much; diagnostics."""
    console = console or out
    console.print(f"[bold]{escape(loaded.title)}[/]: model vs real", highlight=False)
    if "streams" in document:
        console.print(streams_text(document["streams"]), highlight=False)
        console.print(model_text(document["model"]), highlight=False)
    for kind in ("invariant", "rate", "latency"):
        console.print(f"[italic]{kind}:[/] {RULES[kind]}", highlight=False)
    for row in document.get("variants", []):
        console.print(_variant_table(row, console.width))
        if row.get("health"):
            _print_phrases(console, f"{row['name']}: host:", summary(row["health"]))
        if row.get("withheld"):
            _print_phrases(console, f"{row['name']}: no verdict:", row["withheld"], "yellow")
        if row.get("invariants_withheld"):
            _print_phrases(
                console,
                f"{row['name']}: no verdict on the invariants:",
                row["invariants_withheld"],
                "yellow",
            )
        if row.get("race_rule"):
            _print_phrases(console, f"{row['name']}:", row["race_rule"], "yellow")


def _print_phrases(console: Console, prefix: str, text: str, style: str = "") -> None:
    """``prefix`` and ``text``, broken only after a ``;`` or ``,`` (never inside a figure)."""
    phrases = re.split(r"(?<=[;,]) ", text)
    for line in wrap_phrases(prefix, phrases, console.width):
        console.print(line, style=style, highlight=False, markup=False, soft_wrap=True)


def _variant_table(row: dict[str, Any], width: int) -> Table:
    """One variant: its verdict in the title, then a line per shown metric.

    The judged cell is a verdict and a difference, then its tolerance in brackets:
    when the table would not fit ``width`` with each on one line, the bracket goes
    on a line of its own, so no phrase is ever broken.
    """
    name = escape(row["name"])
    if row["agree"] is None:
        title = f"{name}: [yellow]no verdict[/]"
    elif row["agree"]:
        title = f"{name}: [green]agree[/] on every judged metric"
    else:
        title = f"{name}: [red]DISAGREE[/] on " + ", ".join(row["disagree"])
    judged = []
    diagnostics = []
    for line in row["evidence"]:
        if line["judged"]:
            judged.append(_cells(line))
        elif line["metric"] not in _QUIET and (line["sim"] or line["real"]):
            diagnostics.append(_cells(line))
    shown = judged + diagnostics
    columns = ("metric", "model", "real", "judged")
    widths = [
        max([len(columns[index]), *(len(cells[index]) for cells in shown)]) for index in range(3)
    ]
    # A table's outline: one border at the left, then per column its width, two
    # spaces of padding and one border.
    room = width - 1 - sum(column + 3 for column in widths) - 3
    one_line = max(
        [len(columns[3]), *(Text.from_markup(" ".join(cells[3])).cell_len for cells in shown)]
    )
    joiner = " " if one_line <= room else "\n"
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(
            column,
            justify="right" if column in ("model", "real") else "left",
            no_wrap=column != "judged",
        )
    for cells in judged:
        table.add_row(*cells[:3], joiner.join(cells[3]))
    if diagnostics:
        table.add_section()
        for cells in diagnostics:
            table.add_row(*cells[:3], joiner.join(cells[3]))
    return table


def _cells(line: dict[str, Any]) -> tuple[str, str, str, list[str]]:
    """A metric's cells: its name, the two figures, and the judgement as phrases."""
    metric = line["metric"]
    if not line["judged"]:
        phrases = ["[dim]shown, not judged[/]"]
    elif line["agree"] is None:
        phrases = ["[yellow]withheld[/]"]
    else:
        mark = "[green]agree[/]" if line["agree"] else "[red]DISAGREE[/]"
        # "x1.70 (floor 40 ms)": the figure stays with the verdict, the bracket apart.
        head, bracket, rest = str(line["difference"]).partition(" (")
        phrases = [f"{mark} {escape(head)}", *([escape(f"({rest}")] if bracket else [])]
    return metric, format_value(line["sim"], metric), format_value(line["real"], metric), phrases
