"""Commands over the scenario files: list, show, validate, run."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
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
from checkoutsim.cli.errors import print_error, user_errors
from checkoutsim.cli.render import render_run
from checkoutsim.cli.report import OutOption, ReportFlag, write_and_announce
from checkoutsim.experiments.runner import run_scenario
from checkoutsim.scenario import files as scenarios
from checkoutsim.scenario.toml_text import readable, to_toml

#: Most problems ``validate`` lists for one file; the rest are counted.
MAX_PROBLEMS_LISTED = 50


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
    scenario: ScenarioArgument,
    overrides: SetOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show a scenario's resolved settings as TOML, and what each variant changes."""
    loaded = scenarios.load(scenario, overrides or [])
    if as_json:
        emit_json(
            {
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
        )
        return
    # Plain text, not the console's: rich would wrap long lines and break the TOML.
    sys.stdout.write(show_text(loaded))


def show_text(loaded: scenarios.Scenario) -> str:
    """The scenario as a scenario file with every setting resolved (loadable again)."""
    given = ", ".join(f"{key}={value!r}" for key, value in loaded.overrides.items())
    header = [
        f"# {loaded.name}: every setting resolved, from",
        f"#   {loaded.path}",
        "# Latencies show their distribution's own figures (lognormal: p50_s and p99_s;",
        "# exponential and constant: mean_s). Each [[variants]] entry's set is what it",
        "# changes from the settings above.",
    ]
    if given:
        header.append(f"# --set {given} is applied above and over every variant's set.")
    document: dict[str, Any] = {
        "name": loaded.name,
        "title": loaded.title,
        "question": loaded.question,
        "description": loaded.description.strip() + "\n",
        **readable(loaded.base),
        "variants": [
            {
                "name": variant.name,
                "description": variant.description,
                # What --set overrides, the variant no longer changes.
                "set": {k: v for k, v in variant.overrides.items() if k not in loaded.overrides},
            }
            for variant in loaded.variants
        ],
    }
    return "\n".join(header) + "\n\n" + to_toml(document)


@app.command()
def validate(
    paths: Annotated[
        list[str],
        typer.Argument(metavar="SCENARIO", help="Scenario files or names."),
    ],
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
            # Listing problems is this command's job: each on its own line, not a
            # count; up to a bound, as a 1 MB file can hold thousands of them.
            for problem in error.problems[:MAX_PROBLEMS_LISTED]:
                print_error(problem)
            more = len(error.problems) - MAX_PROBLEMS_LISTED
            if more > 0:
                print_error(f"{path}: and {more:,} more problems")
            failed = True
    if failed:
        raise typer.Exit(2)


@app.command()
@user_errors
def run(
    scenario: ScenarioArgument,
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
