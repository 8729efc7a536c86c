"""What the real commands print: the live table, the result tables, the JSON document.

Terminal output lives here and in ``checkoutsim.cli.real``, never in the core.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from rich.live import Live
from rich.markup import escape
from rich.table import Table

from checkoutsim import __version__
from checkoutsim.cli.app import err, out
from checkoutsim.real.overload import summary, withheld_reason
from checkoutsim.real.service import store_parent
from checkoutsim.results.formatting import format_value, metrics_table
from checkoutsim.results.metrics import aggregate, verdict
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
            "-" if p50 is None else f"{p50:.1f} ms",
            "-" if p99 is None else f"{p99:.1f} ms",
            f"{snapshot['orders']:,}",
            f"{snapshot['failures']:,}",
        )
        if self.live is not None:
            self.live.update(self.render(), refresh=True)

    def render(self) -> Table:
        """The table as it stands."""
        table = Table(title="load test (wall clock)", title_justify="left")
        for column in self.COLUMNS:
            table.add_column(column, justify="left" if column in ("variant", "phase") else "right")
        for row in self.rows.values():
            table.add_row(*row)
        return table


@contextmanager
def live_table(enabled: bool) -> Iterator[LiveTable]:
    """A live table on stderr, or a silent one (for --json)."""
    if not enabled:
        yield LiveTable(None)
        return
    with Live(console=err, auto_refresh=False, transient=False) as live:
        yield LiveTable(live)


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
                "metrics": means,
                "ci95": intervals,
                "verdict": run_verdict(run),
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


def run_verdict(run: VariantRun) -> dict[str, Any]:
    """The verdict of one real run; withheld (``safe`` null) when the host was overloaded."""
    reason = withheld_reason(run.load.get("health"))
    if reason is not None:
        return {"safe": None, "violations": {}, "withheld": reason}
    return verdict(run.metrics)


def _check_json(check: Any) -> dict[str, Any]:
    from checkoutsim.real.records import check_json

    return check_json(check)


def render_real(loaded: scenarios.Scenario, runs: list[VariantRun], options: LoadOptions) -> None:
    """Print a load test's variants side by side, then each audit's verdicts."""
    # Scenario files are user text: escape it, or "[/x]" in a title is a markup error.
    out.print(f"[bold]{escape(loaded.title)}[/]", highlight=False)
    out.print(f"[italic]Question:[/] {escape(loaded.question)}", highlight=False)
    where = options.target or (f"{options.workers} workers" if options.workers else "in process")
    title = f"{loaded.name} · seed {options.seed} · real ({where}), audited"
    withheld = [withheld_reason(run.load.get("health")) for run in runs]
    out.print(metrics_table(title, [(run.name, run.metrics, None) for run in runs], withheld))
    audit = Table(title="audit (Jepsen-style checkers)", title_justify="left")
    audit.add_column("invariant", style="bold")
    for run in runs:
        audit.add_column(run.name, justify="right")
    names = [check.invariant for check in runs[0].checks]
    for index, name in enumerate(names):
        cells = []
        for run, reason in zip(runs, withheld, strict=True):
            check = run.checks[index]
            status = check.status
            if reason is not None and status == "invalid":
                status = "withheld"  # an overloaded host's count is no violation
            colour = {"valid": "green", "invalid": "red"}.get(status, "yellow")
            cells.append(f"[{colour}]{status}[/] {check.count}")
        audit.add_row(name, *cells)
    out.print(audit)
    render_health(runs)
    for run, reason in zip(runs, withheld, strict=True):
        for check in run.checks:
            if reason is None and check.status == "invalid" and check.example:
                out.print(
                    f"{run.name}: {check.invariant}: first example {check.example}", highlight=False
                )


def render_health(runs: list[VariantRun]) -> None:
    """Per run: did the host keep up, and what was still unfinished when it stopped."""
    for run in runs:
        health = run.load.get("health")
        if health:
            out.print(f"{run.name}: host: {summary(health)}", highlight=False, soft_wrap=True)
        reason = withheld_reason(health)
        if reason is not None:
            out.print(f"[yellow]{run.name}: no verdict: {escape(reason)}[/]", soft_wrap=True)
        checkouts = int(run.metrics.get("unfinished_checkouts", 0))
        payments = int(run.metrics.get("unfinished_payments", 0))
        if checkouts or payments:
            out.print(
                f"{run.name}: unfinished when the run stopped: {checkouts:,} checkouts,"
                f" {payments:,} captured payments (counted apart, not as orphans)",
                highlight=False,
                soft_wrap=True,
            )


def render_compare(loaded: scenarios.Scenario, rows: list[dict[str, Any]]) -> None:
    """Per variant: model and real rates side by side, disagreements flagged."""
    out.print(f"[bold]{escape(loaded.title)}[/]: model vs real", highlight=False)
    table = Table(title=f"{loaded.name} · compare", title_justify="left")
    for column in ("variant", "metric", "model", "real", "model rate", "real rate", "ratio", ""):
        table.add_column(column, justify="left" if column in ("variant", "metric", "") else "right")
    for row in rows:
        for line in row["evidence"]:
            ratio = line["ratio"]
            mark = "[green]agree[/]" if line["agree"] else "[red]DISAGREE[/]"
            if line["agree"] is None:
                mark = "[yellow]withheld[/]"
            elif line["agree"] and not line["within_target"]:
                mark = "[yellow]agree (outside 30%)[/]"
            table.add_row(
                row["name"],
                line["metric"],
                format_value(line["sim"]),
                format_value(line["real"]),
                f"{line['sim_rate']:.2%}",
                f"{line['real_rate']:.2%}",
                "-" if ratio is None else f"{ratio:.2f}",
                mark,
            )
        table.add_section()
    out.print(table)
    for row in rows:
        if row.get("health"):
            out.print(f"{row['name']}: host: {summary(row['health'])}", highlight=False)
        if row.get("withheld"):
            out.print(
                f"[yellow]{row['name']}: no verdict: {escape(row['withheld'])}[/]", soft_wrap=True
            )
    for key in ("success_rate", "latency_p50_s", "latency_p99_s"):
        cells = [
            f"{row['name']}: model {format_value(row['sim'].get(key), key)}"
            f" / real {format_value(row['real'].get(key), key)}"
            for row in rows
        ]
        out.print(f"{key}: " + "; ".join(cells), highlight=False)


def render_grid(scenario: str, count: int, summary: list[dict[str, Any]]) -> None:
    """``compare --grid``: per variant, how many points agree, and the worst one."""
    table = Table(title=f"{scenario} · compare at {count} random points", title_justify="left")
    for column in ("variant", "points", "within 2x", "zero vs non-zero", "withheld"):
        table.add_column(column, justify="left" if column == "variant" else "right")
    for item in summary:
        table.add_row(
            item["name"],
            str(item["points"]),
            str(item["agree"]),
            str(item["zero_agree"]),
            str(item["withheld"]),
        )
    out.print(table)
    for item in summary:
        worst = item["worst"]
        if worst is None:
            continue
        figures = ", ".join(
            f"{line['metric']} {format_value(line['sim'])} / {format_value(line['real'])}"
            for line in worst["evidence"]
        )
        rerun = " ".join(f"--set '{value}'" for value in worst["set"])
        out.print(
            f"{item['name']}: worst point {worst['point'] + 1} (model / real: {figures});"
            f" rerun: checkoutsim compare {scenario} -v {item['name']} {rerun}",
            highlight=False,
        )
