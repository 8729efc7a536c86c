"""Showing a walkthrough in the terminal with rich, a page at a time.

Pausing is the caller's decision (stdin a TTY and no ``--no-pause``); here the
pause is an injected ``wait`` function, so tests page through without a TTY.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Console, Group, RenderableType
from rich.markdown import Markdown
from rich.table import Table

from checkoutsim.results.run_table import run_view
from checkoutsim.walkthroughs.compose import Block, Page, iter_pages
from checkoutsim.walkthroughs.content import Topic
from checkoutsim.walkthroughs.evidence import Evidence
from checkoutsim.walkthroughs.tables import (
    TableData,
    capacity_table_data,
    cost_table_data,
    run_title,
    scale_table_data,
    settings_note,
)

PROMPT = "Enter to go on, q and Enter to stop: "


def rich_table(data: TableData) -> Table:
    """A rich table from plain rows (capacity plans and scale checks)."""
    table = Table(title=data.title, title_justify="left")
    for column, numeric in zip(data.columns, data.numeric, strict=True):
        table.add_column(column, justify="right" if numeric else "left")
    for row in data.rows:
        table.add_row(*row)
    return table


def block_renderables(block: Block, evidence: Evidence, width: int = 80) -> list[RenderableType]:
    """What rich prints for one block, laid out for a console ``width`` wide."""
    if block.kind == "run":
        result = evidence.runs[block.content]  # table() ran it when the page was rendered
        tiers = scale_table_data(result)
        # The run's own view (tables, verdict lines, what it shows) as `run` prints it.
        header = [run_title(result), "latencies in simulated seconds"]
        return [
            f"[bold]{result.scenario.title}[/] [dim]({settings_note(result)})[/]",
            *([rich_table(tiers)] if tiers is not None else []),
            Group(*run_view(header, result.judged(), width)),
        ]
    if block.kind == "capacity":
        return [rich_table(capacity_table_data(block.content, evidence.plan(block.content)))]
    if block.kind == "cost":
        return [rich_table(cost_table_data(block.content, evidence.plan(block.content)))]
    return [Markdown(block.content)]


def print_page(page: Page, evidence: Evidence, console: Console) -> None:
    """Print one page: its heading, then its blocks."""
    console.print()
    console.rule(f"[bold]{page.heading}[/]", align="left")
    for block in page.blocks:
        for renderable in block_renderables(block, evidence, console.width):
            console.print(renderable, highlight=False)
            console.print()


def present(
    topic: Topic,
    level: str,
    evidence: Evidence,
    console: Console,
    wait: Callable[[str], str] | None = None,
) -> bool:
    """Show a topic page by page; with ``wait``, pause after each page.

    Returns False when the reader stopped early (``q``, or end of input).
    """
    console.rule(f"[bold]{topic.title}[/] · {level}", characters="=")
    console.print(topic.summary, highlight=False, style="italic")
    pages = iter_pages(topic, level, evidence)
    page = next(pages, None)
    while page is not None:
        print_page(page, evidence, console)
        page = next(pages, None)
        if page is not None and wait is not None:
            try:
                answer = wait(PROMPT)
            except EOFError:
                return False
            if answer.strip().lower() in ("q", "quit"):
                return False
    return True
