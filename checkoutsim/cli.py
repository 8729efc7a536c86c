"""The ``checkoutsim`` command line: parse, call the core, render with rich.

Only this layer talks to the terminal. Errors a user can cause (bad scenario
files, bad overrides, bad options) are one line on stderr and exit code 2.
"""

from __future__ import annotations

import gc
import json
import sys
import time
from collections.abc import Iterator
from concurrent.futures import Executor
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from checkoutsim import scenario as scenarios
from checkoutsim.cli_errors import OneLineErrorGroup, UserError, print_error, user_errors
from checkoutsim.cli_report import OutOption, ReportFlag, write_and_announce
from checkoutsim.render import render_run, render_sweep
from checkoutsim.runner import Progress as ProgressCallback
from checkoutsim.runner import json_safe, run_scenario

app = typer.Typer(
    cls=OneLineErrorGroup,
    help="Simulate and load-test an e-commerce checkout; measure what breaks.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
out = Console()
err = Console(stderr=True)

# UserError and user_errors live in checkoutsim.cli_errors; the command modules
# import them from here too.


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
    from checkoutsim.limits import check_jobs

    check_jobs(jobs)
    try:
        with executor_for(jobs, cluster) as executor:
            yield executor
    except ExecutorError as error:
        raise UserError(str(error)) from None


def check_output_folder(option: str, folder: Path | None) -> None:
    """Refuse, before any work, a folder that exists as a file or cannot be made."""
    if folder is None:
        return
    from checkoutsim.report.files import folder_problem

    problem = folder_problem(folder)
    if problem is not None:
        raise UserError(f"{option} {folder}: {problem}")


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
            table.add_row(name, escape(loaded.title), escape(loaded.question))
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
    # Scenario text is data: escaped, so a "[" in a title is shown, not parsed.
    out.print(f"[bold]{loaded.name}[/]: {escape(loaded.title)}", highlight=False)
    out.print(f"[italic]{escape(loaded.question)}[/]", highlight=False)
    out.print(loaded.description.strip(), markup=False, highlight=False)
    out.print_json(json.dumps(loaded.base.model_dump(mode="json")))
    for variant in loaded.variants:
        changes = ", ".join(f"{k} = {v!r}" for k, v in variant.overrides.items()) or "(base)"
        out.print(
            f"[bold]{variant.name}[/]: {escape(changes)}  [dim]{escape(variant.description)}[/]"
        )


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
            print_error(error)
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
    render_run(out, result)
    if csv is not None:
        err.print(f"frames written to {csv}", highlight=False)


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
    render_sweep(out, result)


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
    # What is imported by now lives as long as the process: freezing it keeps
    # the garbage collector from walking it again in every full collection,
    # which a simulation's millions of short-lived events set off often
    # (about 6% of a flash-sale run's instructions).
    gc.freeze()
    app()


def _register_commands() -> None:
    """Add the commands that live in their own modules."""
    from checkoutsim.cli_capacity import register_capacity
    from checkoutsim.cli_chaos import register_chaos
    from checkoutsim.cli_real import register_real
    from checkoutsim.cli_report import register_report
    from checkoutsim.cli_walkthrough import register_walkthrough

    register_real(app)
    register_capacity(app)
    register_chaos(app)
    register_report(app)
    register_walkthrough(app)


_register_commands()
