"""The ``checkoutsim report`` command: an HTML page with PNG figures, from a run or a result.

``checkoutsim report SCENARIO`` runs the scenario (keeping every frame) and
reports it; ``checkoutsim report RESULT.json`` reports a saved ``--json``
result of run, loadtest, compare, capacity or sweep. Kept apart from
:mod:`checkoutsim.cli.main`, which calls :func:`register_report` on its app. The
report layer (and matplotlib) is imported only when the command runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from checkoutsim.cli.app import check_output_folder, err, out, progress_bar

if TYPE_CHECKING:
    from checkoutsim.results.history import History

# Module-level, because typer resolves the command's (string) annotations in this
# module's globals, where a name imported inside register_report is not visible.
TargetArgument = Annotated[
    str, typer.Argument(help="Scenario name or .toml path (runs it), or a saved RESULT.json.")
]
OutOption = Annotated[
    Path | None,
    typer.Option("--out", help="Folder to write into (default: reports/SCENARIO-TIME/)."),
]
ReportSeedOption = Annotated[
    int | None, typer.Option("--seed", min=0, help="Random seed (scenarios only; default 1).")
]
ReportReplicationsOption = Annotated[
    int | None,
    typer.Option("--replications", "-r", min=1, help="Seeded runs (scenarios only; default 1)."),
]
ReportJobsOption = Annotated[int, typer.Option("--jobs", "-j", min=1, help="Worker processes.")]
ReportVariantOption = Annotated[
    list[str] | None,
    typer.Option("--variant", "-v", metavar="NAME", help="Only this variant (repeatable)."),
]
ReportSetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="SECTION.KEY=VALUE",
        help="Override a setting, e.g. load.rate_per_s=500 (repeatable).",
    ),
]


#: For ``--report`` on run, loadtest, compare, capacity and sweep (import into cli.py).
ReportFlag = Annotated[
    bool, typer.Option("--report", help="Also write an HTML report with PNG figures (see --out).")
]


def write_and_announce(
    result: Mapping[str, Any],
    histories: Mapping[str, Sequence[History]] | None = None,
    out_directory: Path | None = None,
    scenario: Any = None,
) -> Path:
    """``--report`` on another command: write the report and name it on stderr.

    stderr, because stdout may be carrying that command's ``--json``. A result the
    report cannot use becomes the CLI's one-line error. Returns the index.html path.
    """
    from checkoutsim.cli.errors import UserError
    from checkoutsim.report.build import write_report
    from checkoutsim.report.frames import ReportError

    try:
        with err.status("drawing the report..."):
            index = write_report(result, histories, out_directory, scenario)
    except ReportError as error:
        raise UserError(str(error)) from None
    err.print(f"report: {index}", markup=False, highlight=False)
    return index


def is_result_file(target: str) -> bool:
    """Whether ``target`` names a saved JSON result rather than a scenario.

    A ``.json`` name is a result; so is any other existing file that starts with
    ``{`` (a result saved as ``out.txt``), since TOML cannot start with a brace.
    """
    if target.lower().endswith(".json"):
        return True
    path = Path(target)
    if target.lower().endswith(".toml") or not path.is_file():
        return False
    try:
        with path.open("rb") as file:
            return file.read(64).lstrip().startswith(b"{")
    except OSError:
        return False


def register_report(app: typer.Typer) -> None:
    """Add the ``report`` command to ``app`` (once: a second call does nothing)."""
    from checkoutsim.cli.errors import UserError, user_errors

    if any(command.name == "report" for command in app.registered_commands):
        return

    @app.command("report")
    @user_errors
    def report(
        target: TargetArgument,
        out_directory: OutOption = None,
        seed: ReportSeedOption = None,
        replications: ReportReplicationsOption = None,
        jobs: ReportJobsOption = 1,
        variants: ReportVariantOption = None,
        overrides: ReportSetOption = None,
    ) -> None:
        """Write an HTML report with PNG figures and CSV data, from a scenario or a result."""
        from checkoutsim.experiments.runner import run_scenario
        from checkoutsim.report.build import histories_of, load_result, write_report
        from checkoutsim.report.frames import ReportError
        from checkoutsim.scenario import files as scenarios

        check_output_folder("--out", out_directory)
        try:
            if is_result_file(target):
                given = [
                    name
                    for name, value in (
                        ("--seed", seed),
                        ("--replications", replications),
                        ("--variant", variants),
                        ("--set", overrides),
                    )
                    if value
                ]
                if given:
                    raise UserError(f"{', '.join(given)}: only for a scenario, not a saved result")
                index = write_report(load_result(Path(target)), None, out_directory)
            else:
                loaded = scenarios.load(target, overrides or [], variants or [])
                with progress_bar(f"simulating {loaded.name}") as update:
                    result = run_scenario(
                        loaded,
                        seed if seed is not None else 1,
                        replications or 1,
                        jobs,
                        keep_histories=True,
                        progress=update,
                    )
                with err.status("drawing the report..."):
                    index = write_report(
                        result.to_json(), histories_of(result), out_directory, scenario=loaded
                    )
        except ReportError as error:
            raise UserError(str(error)) from None
        out.print(f"report: {index}", markup=False, highlight=False)
