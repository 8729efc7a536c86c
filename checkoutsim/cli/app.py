"""The typer application, its consoles and the options and error handling every command
shares.

Only this layer talks to the terminal. Errors a user can cause (bad scenario files, bad
overrides, bad options) are one line on stderr and exit code 2. Command modules import
from here; only the entry point (``cli/main.py``) imports the command modules.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from concurrent.futures import Executor
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

from checkoutsim import __version__
from checkoutsim.cli.errors import OneLineErrorGroup, UserError
from checkoutsim.experiments.runner import Progress as ProgressCallback
from checkoutsim.results.encoding import json_safe

app = typer.Typer(
    cls=OneLineErrorGroup,
    help="Simulate and load-test an e-commerce checkout; measure what breaks.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
)


def no_color() -> bool:
    """Whether the user asked for plain text: ``NO_COLOR`` set and not empty (no-color.org)."""
    return bool(os.environ.get("NO_COLOR"))


def make_consoles() -> tuple[Console, Console]:
    """The stdout and stderr consoles; under ``NO_COLOR`` they write no escape code at all.

    ``color_system=None`` drops every style (bold and dim too, not only colours). The
    stderr console also stops counting as a terminal, which turns off its spinners,
    progress bars and live tables (they move the cursor with escape codes); stdout
    stays a terminal so the walkthrough still pages and tables keep the window's width.
    """
    if not no_color():
        return Console(), Console(stderr=True)
    import typer.rich_utils

    typer.rich_utils.COLOR_SYSTEM = None  # --help and typer's own messages
    return Console(color_system=None), Console(stderr=True, color_system=None, force_terminal=False)


out, err = make_consoles()


def show_version(value: bool) -> None:
    """``--version``: print the version and stop."""
    if value:
        sys.stdout.write(f"checkoutsim {__version__}\n")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=show_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Simulate and load-test an e-commerce checkout; measure what breaks."""


def complete_scenario(incomplete: str) -> list[str]:
    """Shell completion of a scenario argument: the named scenarios (paths by the shell)."""
    from checkoutsim.scenario.files import available

    return [name for name in available() if name.startswith(incomplete)]


def complete_variant(ctx: typer.Context, incomplete: str) -> list[str]:
    """Shell completion of ``--variant``: the variants of the scenario already typed.

    While completing, click leaves the scenario argument among the unparsed words.
    """
    from checkoutsim.scenario.files import ScenarioError, available, load

    names = available()
    words = [ctx.params.get("scenario"), *ctx.args]
    typed = next(
        (word for word in words if word and (word in names or word.endswith(".toml"))), None
    )
    if typed is None:
        return []
    try:
        loaded = load(typed)
    except ScenarioError:
        return []
    return [variant.name for variant in loaded.variants if variant.name.startswith(incomplete)]


ScenarioArgument = Annotated[
    str,
    typer.Argument(
        metavar="SCENARIO", help="Scenario name or path.", autocompletion=complete_scenario
    ),
]
SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="SECTION.KEY=VALUE",
        help="Override a setting, e.g. load.rate_per_s=500 (repeatable).",
    ),
]
VariantOption = Annotated[
    list[str] | None,
    typer.Option(
        "--variant",
        "-v",
        metavar="NAME",
        autocompletion=complete_variant,
        help="Run only this variant (repeatable).",
    ),
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
    from checkoutsim.experiments.executors import ExecutorError, executor_for
    from checkoutsim.scenario.limits import check_jobs

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
