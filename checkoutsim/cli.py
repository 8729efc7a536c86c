"""The ``checkoutsim`` command line: parse, call the core, render with rich.

Only this layer talks to the terminal. Errors a user can cause (bad scenario
files, bad overrides, bad options) are one line on stderr and exit code 2.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from checkoutsim import scenario as scenarios
from checkoutsim.cli_report import OutOption, ReportFlag, write_and_announce
from checkoutsim.runner import Progress as ProgressCallback
from checkoutsim.runner import RunResult, json_safe, run_scenario

app = typer.Typer(
    help="Simulate and load-test an e-commerce checkout; measure what breaks.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
out = Console()
err = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])


class UserError(Exception):
    """A problem with what the user asked for; shown as one line, exit code 2."""


def user_errors(function: F) -> F:
    """Turn scenario and usage errors into one line on stderr and exit code 2."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except (scenarios.ScenarioError, UserError) as error:
            err.print(f"checkoutsim: error: {error}", markup=False, highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a setting: section.key=value (repeatable)."),
]
VariantOption = Annotated[
    list[str] | None, typer.Option("--variant", "-v", help="Run only this variant (repeatable).")
]
SeedOption = Annotated[int, typer.Option("--seed", help="Random seed.", min=0)]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON on stdout and nothing else.")]
ClusterOption = Annotated[
    str | None,
    typer.Option("--cluster", help="Run tasks on a Dask scheduler, e.g. tcp://127.0.0.1:8786."),
]


@contextmanager
def executor_or_exit(jobs: int, cluster: str | None) -> Iterator[Executor | None]:
    """The executor for ``--jobs``/``--cluster``, with its errors as user errors."""
    from checkoutsim.executors import ExecutorError, executor_for

    try:
        with executor_for(jobs, cluster) as executor:
            yield executor
    except ExecutorError as error:
        raise UserError(str(error)) from None


def check_output_folder(option: str, folder: Path | None) -> None:
    """Refuse, before any work, a folder that exists as a file or cannot be made."""
    if folder is None:
        return
    if folder.exists() and not folder.is_dir():
        raise UserError(f"{option} {folder}: exists and is not a folder")
    parent = next((p for p in [folder, *folder.parents] if p.exists()), Path("."))
    if not os.access(parent, os.W_OK):
        raise UserError(f"{option} {folder}: cannot write under {parent}")


def emit_json(data: Any) -> None:
    """Print JSON (NaN-free) on stdout."""
    sys.stdout.write(json.dumps(json_safe(data), indent=2, allow_nan=False) + "\n")


@contextmanager
def progress_bar(description: str) -> Iterator[ProgressCallback]:
    """A progress callback that shows a bar on stderr once work takes over a second."""
    started = time.monotonic()
    bar: Progress | None = None
    task = None

    def update(done: int, total: int) -> None:
        nonlocal bar, task
        if bar is None:
            if time.monotonic() - started < 1.0 or done >= total:
                return
            bar = Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=err,
                transient=True,
            )
            bar.start()
            task = bar.add_task(description, total=total)
        assert task is not None
        bar.update(task, completed=done)

    try:
        yield update
    finally:
        if bar is not None:
            bar.stop()


@app.command("list")
@user_errors
def list_scenarios() -> None:
    """List the named scenarios and the interview question each answers."""
    table = Table(title="Scenarios", title_justify="left")
    table.add_column("name", style="bold")
    table.add_column("title")
    table.add_column("question it answers")
    for name, path in scenarios.available().items():
        try:
            loaded = scenarios.load(str(path))
            table.add_row(name, loaded.title, loaded.question)
        except scenarios.ScenarioError as error:
            table.add_row(name, f"[red]invalid: {error}[/]", "")
    out.print(table)


@app.command()
@user_errors
def show(
    scenario: Annotated[str, typer.Argument(help="Scenario name or path.")],
    overrides: SetOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show a scenario's resolved parameters, per variant."""
    loaded = scenarios.load(scenario, overrides or [])
    data = {
        "name": loaded.name,
        "title": loaded.title,
        "question": loaded.question,
        "description": loaded.description.strip(),
        "path": str(loaded.path),
        "overrides": dict(loaded.overrides),
        "variants": {
            variant.name: {
                "description": variant.description,
                "set": dict(variant.overrides),
                "settings": variant.settings.model_dump(mode="json"),
            }
            for variant in loaded.variants
        },
    }
    if as_json:
        emit_json(data)
        return
    out.print(f"[bold]{loaded.name}[/]: {loaded.title}", highlight=False)
    out.print(f"[italic]{loaded.question}[/]", highlight=False)
    out.print(loaded.description.strip(), markup=False, highlight=False)
    out.print_json(json.dumps(loaded.base.model_dump(mode="json")))
    for variant in loaded.variants:
        changes = ", ".join(f"{k} = {v!r}" for k, v in variant.overrides.items()) or "(base)"
        out.print(f"[bold]{variant.name}[/]: {changes}  [dim]{variant.description}[/]")


@app.command()
def validate(
    paths: Annotated[list[str], typer.Argument(help="Scenario files or names.")],
) -> None:
    """Validate scenario files; exit 2 if any is invalid."""
    failed = False
    for path in paths:
        try:
            loaded = scenarios.load(path)
            out.print(
                f"ok: {path} ({loaded.name}, {len(loaded.variants)} variants)",
                highlight=False,
                markup=False,
            )
        except scenarios.ScenarioError as error:
            err.print(f"checkoutsim: error: {error}", markup=False, highlight=False, soft_wrap=True)
            failed = True
    if failed:
        raise typer.Exit(2)


@app.command()
@user_errors
def run(
    scenario: Annotated[str, typer.Argument(help="Scenario name or path.")],
    seed: SeedOption = 1,
    replications: Annotated[
        int, typer.Option("--replications", "-r", min=1, help="Independent seeded runs.")
    ] = 1,
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, help="Worker processes.")] = 1,
    variants: VariantOption = None,
    overrides: SetOption = None,
    as_json: JsonOption = False,
    csv: Annotated[
        Path | None, typer.Option("--csv", help="Write the frames as CSV into this folder.")
    ] = None,
    cluster: ClusterOption = None,
    report: ReportFlag = False,
    out_directory: OutOption = None,
) -> None:
    """Run a named scenario through the SimPy model and compare its variants."""
    loaded = scenarios.load(scenario, overrides or [], variants or [])
    check_output_folder("--csv", csv)
    check_output_folder("--out", out_directory)
    with (
        executor_or_exit(jobs, cluster) as executor,
        progress_bar(f"simulating {loaded.name}") as update,
    ):
        result = run_scenario(
            loaded,
            seed,
            replications,
            jobs,
            keep_histories=csv is not None or report,
            progress=update,
            executor=executor,
        )
    if report:
        from checkoutsim.report.build import histories_of

        write_and_announce(result.to_json(), histories_of(result), out_directory, loaded)
    if csv is not None:
        from checkoutsim.report.files import write_run_frames

        write_run_frames(result, csv)
    if as_json:
        emit_json(result.to_json())
        return
    render_run(result)
    if csv is not None:
        err.print(f"frames written to {csv}", highlight=False)


def render_run(result: RunResult) -> None:
    """Print a run's variants side by side with their verdicts."""
    from checkoutsim.render import metrics_table

    loaded = result.scenario
    out.print(f"[bold]{loaded.title}[/]", highlight=False)
    out.print(f"[italic]Question:[/] {loaded.question}", highlight=False)
    reps = (
        f"{result.replications} replications, mean ±95% CI"
        if result.replications > 1
        else ("1 replication")
    )
    title = f"{loaded.name} · seed {result.seed} · {reps} · simulated"
    if result.scale is not None:
        render_scale(result.scale)
        title += f" · hot SKU row at {result.scale.hot_sku_orders_per_s:,.0f} orders/s"
    out.print(metrics_table(title, [(v.name, v.metrics, v.ci95) for v in result.variants]))
    if result.scale is not None:
        share = result.scale.hot_sku_orders_per_s / result.scale.plan.peak_orders_per_s
        for variant in result.variants:
            capacity = variant.metrics.get("row_capacity_per_s", 0)
            if capacity:
                out.print(
                    f"{variant.name}: {capacity:,.0f} reservations per second of exclusive row "
                    f"time at this load (the whole shop at {capacity / share:,.0f} orders/s if "
                    "that held at any load; sweep the rate to find where it saturates)",
                    highlight=False,
                )


def render_scale(report: Any) -> None:
    """The tier check of a scale scenario: model versus simulation, and the bottleneck."""
    from checkoutsim.render import format_value

    plan = report.plan
    out.print(
        f"{plan.orders_per_day:,.0f} orders/day: {plan.average_orders_per_s:,.1f} orders/s on "
        f"average, {plan.peak_orders_per_s:,.0f} at the peak (× {plan.peak_factor:g}); "
        "tier counts from the capacity model (checkoutsim capacity shows every assumption)",
        highlight=False,
    )
    table = Table(
        title="tiers at the peak: capacity model vs simulated queue", title_justify="left"
    )
    for column in (
        "tier",
        "n",
        "simulated",
        "ρ model",
        "ρ sim",
        "Wq model",
        "Wq sim",
        "ok",
    ):
        table.add_column(
            column, justify="left" if column in ("tier", "simulated") else "right", no_wrap=True
        )
    for tier in report.tiers:
        table.add_row(
            tier.tier,
            f"{tier.count:,}",
            tier.simulated,
            f"{tier.model_utilisation:.1%}",
            f"{tier.sim_utilisation:.1%}",
            format_value(tier.model_mean_wait_s, "wait_s"),
            format_value(tier.sim_mean_wait_s, "wait_s"),
            "sat." if tier.saturated else "[green]✓[/]" if tier.agree else "[red]✗[/]",
        )
    out.print(table)
    out.print(
        "ρ: utilisation; Wq: mean wait in queue; ✓: simulated within 5% of the model; "
        "sat.: offered more than it can serve, so there is no steady state to simulate",
        highlight=False,
    )
    out.print(f"[bold]first bottleneck:[/] {report.bottleneck}", highlight=False)


@app.command()
@user_errors
def sweep(
    scenario: Annotated[str, typer.Argument(help="Scenario name or path.")],
    params: Annotated[
        list[str],
        typer.Option("--param", help="section.key=START:STOP:STEPS (repeatable: a grid)."),
    ],
    seed: SeedOption = 1,
    replications: Annotated[int, typer.Option("--replications", "-r", min=1)] = 1,
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, help="Worker processes.")] = 1,
    variants: VariantOption = None,
    overrides: SetOption = None,
    as_json: JsonOption = False,
    csv: Annotated[
        Path | None, typer.Option("--csv", help="Write the sweep frame as CSV into this folder.")
    ] = None,
    cluster: ClusterOption = None,
    report: ReportFlag = False,
    out_directory: OutOption = None,
) -> None:
    """Sweep settings over a grid and find each variant's knee against the objective."""
    from checkoutsim.sweep import parse_axis, run_sweep

    axes = [parse_axis(text) for text in params]
    check_output_folder("--csv", csv)
    check_output_folder("--out", out_directory)
    with (
        executor_or_exit(jobs, cluster) as executor,
        progress_bar(f"sweeping {scenario}") as update,
    ):
        result = run_sweep(
            scenario,
            axes,
            overrides or [],
            variants or [],
            seed,
            replications,
            jobs,
            executor,
            update,
        )
    if csv is not None:
        from checkoutsim.report.files import staged_directory

        with staged_directory(csv) as staging:
            result.frame.to_csv(staging / "sweep.csv", index=False)
    if report:
        write_and_announce(result.to_json(), None, out_directory, result.scenario)
    if as_json:
        emit_json(result.to_json())
        return
    render_sweep(result)


def render_sweep(result: Any) -> None:
    """Print the sweep's key figures per point, then each variant's knee."""
    from checkoutsim.render import format_value

    frame = result.frame
    params = [axis.param for axis in result.axes]
    table = Table(title=f"sweep {result.scenario.name} · seed {result.seed}", title_justify="left")
    columns = [
        "variant",
        *params,
        "checkouts",
        "orders",
        "latency_p99_s",
        "failure_rate",
        "oversold_units",
        "duplicate_charges",
    ]
    for column in columns:
        table.add_column(column, justify="left" if column == "variant" else "right")
    for row in frame.to_dict(orient="records"):
        table.add_row(
            *(
                format_value(row.get(column), column) if column != "variant" else row["variant"]
                for column in columns
            )
        )
    out.print(table)
    objective = result.scenario.base.objective
    out.print(
        f"objective: latency_p99_s <= {objective.latency_p99_s:g} s, "
        f"failure_rate <= {objective.failure_rate:g}",
        highlight=False,
    )
    for knee in result.knees:
        where = "" if knee["knee"] is None else f" at {knee['param']} = {knee['knee']:g}"
        extra = ", ".join(
            f"{k} = {v}" for k, v in knee.items() if k not in ("variant", "param", "knee", "reason")
        )
        label = f"{knee['variant']}" + (f" ({extra})" if extra else "")
        out.print(f"knee · {label}:{where or ' none'} — {knee['reason']}", highlight=False)


@app.command()
@user_errors
def bench(
    as_json: JsonOption = False,
    seed: SeedOption = 1,
    real: Annotated[
        bool,
        typer.Option("--real", help="Measure the real implementation under Locust instead."),
    ] = False,
    store: Annotated[
        str | None,
        typer.Option("--store", help="With --real: postgresql://HOST/DATABASE to measure."),
    ] = None,
) -> None:
    """Measure speed and memory; every figure comes from this run (see the README)."""
    from checkoutsim.bench import scale_bench, simulation_bench

    with err.status("benchmarking (a few minutes)...") if not as_json else _nothing():
        if real and store is not None and not store.startswith("sqlite:"):
            from checkoutsim.load.bench_server import server_bench

            try:
                figures = server_bench(store)
            except RuntimeError as error:
                raise UserError(str(error).splitlines()[0]) from None
        elif real:
            from checkoutsim.load.bench import real_bench

            try:
                figures = real_bench()
            except RuntimeError as error:
                raise UserError(str(error).splitlines()[0]) from None
        else:
            figures = simulation_bench(seed)
            figures.update(scale_bench(seed))
    if as_json:
        emit_json(figures)
        return
    table = Table(title="checkoutsim bench", title_justify="left")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for section, values in figures.items():
        for key, value in values.items():
            table.add_row(
                f"{section}.{key}", f"{value:,.3f}" if isinstance(value, float) else str(value)
            )
    out.print(table)


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def main() -> None:
    """Console-script entry point."""
    app()


def _register_commands() -> None:
    """Add the commands that live in their own modules."""
    from checkoutsim.cli_capacity import register_capacity
    from checkoutsim.cli_real import register_real
    from checkoutsim.cli_remote import register_remote
    from checkoutsim.cli_report import register_report
    from checkoutsim.cli_walkthrough import register_walkthrough

    register_real(app)
    register_remote(app)
    register_capacity(app)
    register_report(app)
    register_walkthrough(app)


_register_commands()
