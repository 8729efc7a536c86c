"""Commands that run experiments over the model: sweep and bench."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from checkoutsim.cli.app import (
    ClusterOption,
    JsonOption,
    ScenarioArgument,
    SeedOption,
    SetOption,
    VariantOption,
    app,
    check_output_folder,
    emit_json,
    err,
    executor_or_exit,
    out,
    progress_bar,
)
from checkoutsim.cli.errors import UserError, user_errors
from checkoutsim.cli.render import render_sweep
from checkoutsim.cli.report import OutOption, ReportFlag, write_and_announce


@app.command()
@user_errors
def sweep(
    scenario: ScenarioArgument,
    params: Annotated[
        list[str],
        typer.Option(
            "--param",
            metavar="KEY=START:STOP:STEPS",
            help="A setting to sweep, e.g. load.rate_per_s=50:500:10 (repeatable: a grid).",
        ),
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
    from checkoutsim.experiments.sweep import parse_axis, run_sweep

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
        typer.Option("--store", help="With --real: postgresql://HOST/DB to measure."),
    ] = None,
    http: Annotated[
        bool,
        typer.Option("--http", help="With --real: serve over HTTP against a bare WSGI app."),
    ] = False,
) -> None:
    """Measure speed and memory; every figure comes from this run (see the README).

    It takes minutes: about two on a 2-core machine, with --real about one and a
    half (docs/performance.md).
    """
    from checkoutsim.experiments.bench import bench_all

    if (http or store is not None) and not real:
        raise UserError("--http and --store measure the real implementation: add --real")
    if http and store is not None:
        raise UserError("--http and --store cannot be combined (the HTTP bench serves SQLite)")
    with err.status("benchmarking (a few minutes)...") if not as_json else _nothing():
        if http:
            from checkoutsim.load.bench_http import http_bench

            try:
                figures = http_bench()
            except RuntimeError as error:
                raise UserError(str(error).splitlines()[0]) from None
        elif real and store is not None and not store.startswith("sqlite:"):
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
            # With the host's cores and load: a two-core speed-up is the
            # code's only when the run had the cores to itself.
            figures = bench_all(seed)
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
