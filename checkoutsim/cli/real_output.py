"""What the real commands print: the live table, the result tables, the JSON document.

Terminal output lives here and in ``checkoutsim.cli.real``, never in the core.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Group
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from checkoutsim import __version__
from checkoutsim.cli.app import err, out
from checkoutsim.real.overload import summary, withheld_reason
from checkoutsim.real.service import store_parent
from checkoutsim.results.formatting import format_value
from checkoutsim.results.layout import fit_tables, wrap_phrases
from checkoutsim.results.metrics import aggregate, verdict
from checkoutsim.results.run_table import run_view
from checkoutsim.results.verdicts import Cell, Judged, joined
from checkoutsim.scenario import files as scenarios

if TYPE_CHECKING:
    from checkoutsim.load.options import LoadOptions, VariantRun


class LiveTable:
    """The live rich table of a load test: one row per variant, refreshed as it runs."""

    COLUMNS = ("variant", "phase", "time", "intents", "req/s", "p50", "p99", "orders", "fail")

    def __init__(self, live: Live | None) -> None:
        self.live = live
        self.rows: dict[str, tuple[str, ...]] = {}

    def update(self, snapshot: dict[str, Any]) -> None:
        """Take a progress snapshot from the load test and redraw."""
        p50, p99 = snapshot.get("p50_ms"), snapshot.get("p99_ms")
        self.rows[snapshot["variant"]] = (
            snapshot["variant"],
            snapshot["phase"],
            f"{snapshot['elapsed_s']:.1f}/{snapshot['run_time_s']:.0f} s",
            f"{snapshot['answered']:,}/{snapshot['planned']:,}",
            f"{snapshot['requests_per_s']:,.0f}",
            "-" if p50 is None else format_value(p50 / 1000, "latency_p50_s"),
            "-" if p99 is None else format_value(p99 / 1000, "latency_p99_s"),
            f"{snapshot['orders']:,}",
            f"{snapshot['failures']:,}",
        )
        if self.live is not None:
            self.live.update(self.render(), refresh=True)

    def render(self) -> Group:
        """The table as it stands: variants as columns, so that it fits a narrow terminal."""
        width = err.width if self.live is None else self.live.console.width
        names = [row[0] for row in self.rows.values()]
        rows = [
            (label, [Cell(row[index]) for row in self.rows.values()])
            for index, label in enumerate(self.COLUMNS[1:], start=1)
        ]
        title = Text("load test · latencies on the wall clock", style="bold")
        return Group(title, *fit_tables("", names, rows, width))


@contextmanager
def live_table(enabled: bool) -> Iterator[LiveTable]:
    """A live table on stderr, or a silent one (for --json)."""
    if not enabled:
        yield LiveTable(None)
        return
    with Live(console=err, auto_refresh=False, transient=False) as live:
        yield LiveTable(live)
    if not err.is_terminal:
        # Off a terminal, rich leaves the last line of the table open: the next
        # output would start on it.
        err.line()


def real_json(
    loaded: scenarios.Scenario, options: LoadOptions, runs: list[VariantRun]
) -> dict[str, Any]:
    """The ``--json`` document of a load test: the shape of ``run --json``, mode real."""
    from checkoutsim.load.options import run_settings, users_for

    parameters = loaded.parameters()
    first = run_settings(loaded.variants[0], options)
    parameters["real"] = {
        "run_time_s": first.load.duration_s * first.real.time_scale,
        "time_scale": first.real.time_scale,
        "rate_per_s": options.rate_per_s,
        "users": users_for(first, options),
        "workers": options.workers,
        "target": options.target,
        "model_duration_s": first.load.duration_s,
        "store_dir": str(store_parent(first)),
    }
    variants = []
    for run in runs:
        means, intervals = aggregate([run.metrics])
        variants.append(
            {
                "name": run.name,
                # recovery_s is null where the scenario has no fault window.
                "metrics": {**means, "recovery_s": means.get("recovery_s")},
                "ci95": {**intervals, "recovery_s": intervals.get("recovery_s", [None] * 2)},
                "verdict": run_verdict(run, loaded),
                "audit": [_check_json(check) for check in run.checks],
                "load": run.load,
            }
        )
    return {
        "scenario": loaded.name,
        "mode": "real",
        "seed": options.seed,
        "replications": 1,
        "version": __version__,
        "parameters": parameters,
        "variants": variants,
    }


def run_verdict(run: VariantRun, loaded: scenarios.Scenario | None = None) -> dict[str, Any]:
    """The verdict of one real run on both axes (the objective when ``loaded`` is given);
    withheld (``safe`` null) when the host was overloaded."""
    reason = withheld_reason(run.load.get("health"))
    if reason is not None:
        return {"safe": None, "violations": {}, "withheld": reason}
    return verdict(run.metrics, _objective(loaded, run.name))


def _objective(loaded: scenarios.Scenario | None, name: str) -> dict[str, Any] | None:
    """The variant's ``[objective]`` as a mapping, or None without a scenario."""
    if loaded is None:
        return None
    return loaded.variant(name).settings.objective.model_dump()


def clock_header(loaded: scenarios.Scenario, options: LoadOptions) -> str:
    """The model length and time scale of a load test, e.g. ``model length 40 s at time
    scale 0.25 (10 s of wall clock)``: the clock its final table's latencies are on."""
    from checkoutsim.load.options import run_settings

    first = run_settings(loaded.variants[0], options)
    scale = first.real.time_scale
    return (
        f"model length {first.load.duration_s:g} s at time scale {scale:g}"
        f" ({first.load.duration_s * scale:g} s of wall clock)"
    )


def _check_json(check: Any) -> dict[str, Any]:
    from checkoutsim.real.records import check_json

    return check_json(check)


def render_real(loaded: scenarios.Scenario, runs: list[VariantRun], options: LoadOptions) -> None:
    """Print a load test's variants side by side, then each audit's verdicts."""
    # Scenario files are user text: escape it, or "[/x]" in a title is a markup error.
    out.print(f"[bold]{escape(loaded.title)}[/]", highlight=False)
    out.print(f"[italic]Question:[/] {escape(loaded.question)}", highlight=False)
    where = options.target or (f"{options.workers} workers" if options.workers else "in process")
    header = [
        loaded.name,
        f"seed {options.seed}",
        f"real ({where}), audited",
        clock_header(loaded, options),
        "latencies in model seconds (wall clock ÷ time scale)",
    ]
    withheld = [withheld_reason(run.load.get("health")) for run in runs]
    items = [
        Judged(run.name, run.metrics, _objective(loaded, run.name) or {}, withheld=reason)
        for run, reason in zip(runs, withheld, strict=True)
    ]
    for part in run_view(header, items, out.width):
        out.print(part, highlight=False)
    out.print("audit (Jepsen-style checkers)", style="bold", highlight=False)
    rows = []
    for index, name in enumerate(check.invariant for check in runs[0].checks):
        cells = []
        for run, reason in zip(runs, withheld, strict=True):
            check = run.checks[index]
            status = check.status
            if reason is not None and status == "invalid":
                status = "withheld"  # an overloaded host's count is no violation
            tone = {"valid": "good", "invalid": "bad"}.get(status, "withheld")
            cells.append(Cell(f"{status} {check.count}", tone))
        rows.append((name, cells))
    for table in fit_tables("invariant", [run.name for run in runs], rows, out.width):
        out.print(table)
    render_health(runs)
    for run, reason in zip(runs, withheld, strict=True):
        for check in run.checks:
            if reason is None and check.status == "invalid" and check.example:
                print_phrases(
                    f"{run.name}: {check.invariant}: first example:", example_phrases(check.example)
                )


def example_phrases(example: Any) -> list[str]:
    """An invariant's first example as phrases (``intent_id 12,`` ``captures 2``)."""
    if not isinstance(example, dict):
        return [str(example)]
    return joined([f"{key} {value}" for key, value in example.items()], ",")


def print_phrases(prefix: str, phrases: list[str], style: str = "") -> None:
    """``prefix`` and ``phrases`` on lines of the console's width, broken only between phrases."""
    for line in wrap_phrases(prefix, phrases, out.width):
        out.print(Text(line, style=style))


def render_health(runs: list[VariantRun]) -> None:
    """Per run: did the host keep up, and what was still unfinished when it stopped."""
    for run in runs:
        health = run.load.get("health")
        if health:
            phrases = joined(summary(health).split("; "), ";")
            for line in wrap_phrases(f"{run.name}: host:", phrases, out.width):
                out.print(Text(line))
        reason = withheld_reason(health)
        if reason is not None:
            print_phrases(f"{run.name}: no verdict:", re.split(r"(?<=[;,]) ", reason), "yellow")
        checkouts = int(run.metrics.get("unfinished_checkouts", 0))
        payments = int(run.metrics.get("unfinished_payments", 0))
        if checkouts or payments:
            print_phrases(
                f"{run.name}: unfinished when the run stopped:",
                [
                    f"{checkouts:,} checkouts,",
                    f"{payments:,} captured payments",
                    "(counted apart,",
                    "not as orphans)",
                ],
            )


def render_grid(scenario: str, count: int, summary: list[dict[str, Any]]) -> None:
    """``compare --grid``: per variant, how many points agree, and the worst one.

    Columns: every judged metric agreeing (of the points with a verdict); every
    invariant agreeing against the model's spread (of the points whose
    invariants were judged); zero versus non-zero by that spread; within 2x of
    the model's mean alone (of the points where both sides broke an
    invariant); zero versus non-zero between the model's first run and the real
    run alone; points with no verdict, whole or on the invariants.
    """
    # No vertical rules and two-line headers: the longest variant name and six
    # counts fit 80 columns whole.
    table = Table(
        title=f"{scenario} · compare at {count} random points",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
    )
    table.add_column("variant", no_wrap=True)
    headers = (
        "all\nagree",
        "invar-\niants",
        "zero vs\nnon-zero",
        "within\n2x",
        "one\nrun",
        "no\nverdict",
    )
    for column in headers:
        table.add_column(column, justify="right", no_wrap=True)
    for item in summary:
        judged = item.get("invariant_points", item["points"])
        table.add_row(
            item["name"],
            f"{item['agree']}/{item['points']}",
            f"{item['invariants_agree']}/{judged}",
            f"{item['zero_agree']}/{judged}",
            f"{item.get('within_2x', 0)}/{item.get('both_non_zero', 0)}",
            str(item["zero_agree_one_run"]),
            str(item["withheld"] + item.get("invariants_withheld", 0)),
        )
    out.print(table)
    out.print(
        "invariants: against the spread of the model's runs at each point; zero vs"
        " non-zero: by that spread; within 2x: the real count within 2x of the model's"
        " mean, of the points where both broke an invariant (the 2x test alone); one"
        " run: the model's first run (the real body's streams) against the real run"
        " alone; no verdict: the host was too slow (for the run, or for the race)",
        highlight=False,
    )
    for item in summary:
        for withheld in item.get("withheld_points", []):
            what = "invariants unjudged" if withheld.get("invariants_only") else "unjudged"
            out.print(
                f"{item['name']}: point {withheld['point'] + 1} {what}: {withheld['reason']}",
                highlight=False,
            )
    for item in summary:
        worst = item["worst"]
        if worst is None:
            continue
        figures = ", ".join(
            f"{line['metric']} {format_value(line['sim'], line['metric'])}"
            f" / {format_value(line['real'], line['metric'])}"
            for line in worst["evidence"]
            if line["kind"] == "invariant" or line["agree"] is False
        )
        rerun = " ".join(f"--set '{value}'" for value in worst["set"])
        out.print(
            f"{item['name']}: worst point {worst['point'] + 1} (model / real, the model's"
            f" invariants its mean: {figures});"
            f" rerun: checkoutsim compare {scenario} -v {item['name']} {rerun}",
            highlight=False,
        )
