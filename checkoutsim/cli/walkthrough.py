"""The ``checkoutsim walkthrough`` command: interview-prep topics, backed by live runs.

Kept apart from :mod:`checkoutsim.cli.main`, which calls :func:`register_walkthrough`
on its app. The CLI helpers are imported inside that function because
``checkoutsim.cli.main`` imports this module while it is still loading.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from checkoutsim.cli.app import check_output_folder, err, out
from checkoutsim.scenario.suggest import did_you_mean
from checkoutsim.walkthroughs import Evidence, WalkthroughError, load_topic, topic_names
from checkoutsim.walkthroughs.content import LEVELS
from checkoutsim.walkthroughs.evidence import available
from checkoutsim.walkthroughs.terminal import present


def parse_level(value: str) -> str:
    """An interview level in any case (``l5`` or ``L5``), as it is written: ``L5``."""
    level = value.strip().upper()
    if level not in LEVELS:
        raise typer.BadParameter(
            f"{value!r} is not one of {', '.join(LEVELS)}{did_you_mean(level, LEVELS)}"
        )
    return level


# Module-level, because typer resolves the command's (string) annotations in this
# module's globals, where a name defined inside register_walkthrough is not visible.
TopicArgument = Annotated[
    str | None,
    typer.Argument(
        metavar="TOPIC",
        help="Topic to walk through; leave out to list the topics.",
        autocompletion=lambda incomplete: [t for t in topic_names() if t.startswith(incomplete)],
    ),
]
LevelOption = Annotated[
    str,
    typer.Option(
        "--level", "-l", metavar="|".join(LEVELS), callback=parse_level, help="Interview level."
    ),
]
AllOption = Annotated[bool, typer.Option("--all", help="Every topic, in the listing order.")]
NoPauseOption = Annotated[
    bool, typer.Option("--no-pause", help="Print straight through (for scripts and CI).")
]
QuickOption = Annotated[
    bool, typer.Option("--quick", help="Run each scenario with its smallest settings.")
]
SeedOption = Annotated[int, typer.Option("--seed", min=0, help="Random seed of the runs.")]
ReportOption = Annotated[
    bool, typer.Option("--report", help="Also write the walkthrough as an HTML study guide.")
]
OutputOption = Annotated[
    Path, typer.Option("--output", "-o", help="Folder the --report study guide goes into.")
]


def topics_table() -> Table:
    """The topics, what each asks and which scenarios it runs."""
    table = Table(title="Walkthroughs (checkoutsim walkthrough TOPIC --level L5)")
    table.add_column("topic", style="bold", no_wrap=True)
    table.add_column("what it covers")
    table.add_column("runs")
    for name in topic_names():
        topic = load_topic(name)
        optional = [name for name in topic.optional_scenarios if available(name)]
        runs = [*topic.scenarios, *optional, *(f"capacity {volume}" for volume in topic.capacity)]
        table.add_row(name, topic.summary, ", ".join(runs))
    return table


def should_pause(no_pause: bool, console: Console) -> bool:
    """Page only for a person: stdin and the output both terminals, and no --no-pause."""
    return not no_pause and sys.stdin.isatty() and console.is_terminal


def run_notice(console: Console, quick: bool) -> Callable[[str], AbstractContextManager[None]]:
    """A spinner on stderr while a scenario runs (nothing when stderr is not a terminal)."""
    settings = "quick settings" if quick else "scenario settings"

    @contextmanager
    def notice(name: str) -> Iterator[None]:
        status = (
            console.status(f"running {name} live ({settings})...")
            if console.is_terminal
            else nullcontext()
        )
        with status:
            yield

    return notice


def register_walkthrough(app: typer.Typer) -> None:
    """Add the ``walkthrough`` command to ``app`` (once: a second call does nothing)."""
    from checkoutsim.cli.errors import UserError, user_errors

    if any(command.name == "walkthrough" for command in app.registered_commands):
        return

    @app.command("walkthrough")
    @user_errors
    def walkthrough(
        topic: TopicArgument = None,
        level: LevelOption = "L5",
        every: AllOption = False,
        no_pause: NoPauseOption = False,
        quick: QuickOption = False,
        seed: SeedOption = 1,
        report: ReportOption = False,
        output: OutputOption = Path("reports"),
    ) -> None:
        """Interview-prep walkthroughs by level, every number from a live run."""
        if topic is None and not every:
            out.print(topics_table())
            return
        if topic is not None and every:
            raise UserError("give a topic or --all, not both")
        if report:
            check_output_folder("--output", output)

        def wait(prompt: str) -> str:
            return out.input(f"[dim]{prompt}[/]")

        try:
            names = topic_names() if every else [load_topic(topic or "").name]
            # The guide's figures are drawn from the runs' frames, so keep them then.
            evidence = Evidence(
                seed=seed, quick=quick, keep_histories=report, notice=run_notice(err, quick)
            )
            pause = should_pause(no_pause, out)
            for name in names:
                if not present(load_topic(name), level, evidence, out, wait if pause else None):
                    break
            if report:
                write_study_guide(names, level, evidence, output)
        except WalkthroughError as error:
            raise UserError(str(error)) from None

    def write_study_guide(names: list[str], level: str, evidence: Evidence, output: Path) -> None:
        """Write the guide (runs already made are reused); report errors are user errors."""
        from checkoutsim.report.frames import ReportError
        from checkoutsim.walkthroughs.guide import write_guide

        try:
            path = write_guide(names, level, evidence, output)
        except ReportError as error:
            raise UserError(f"--report: {error}") from None
        err.print(f"study guide written to {path}", highlight=False)
