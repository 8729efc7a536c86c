"""Showing a walkthrough in the terminal with rich, a page at a time.

Pausing is the caller's decision (stdin a TTY and no ``--no-pause``); here the
pause is an injected ``wait`` function, so tests page through without a TTY.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Console, Group, RenderableType
from rich.markdown import Markdown
from rich.table import Table
from rich.text import Text

from checkoutsim.results.layout import fit_tables, wrap_phrases
from checkoutsim.results.run_table import run_view
from checkoutsim.results.verdicts import Cell, joined
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


def natural_width(data: TableData) -> int:
    """The width the table takes with no cell squeezed: each column its widest cell or
    header, two spaces of padding and a border, and the border at the left."""
    widths = [
        max([len(column), *(len(row[index]) for row in data.rows)])
        for index, column in enumerate(data.columns)
    ]
    return 1 + sum(width + 3 for width in widths)


def fitted_tables(data: TableData, width: int) -> list[RenderableType]:
    """The table as it is where it fits ``width``; else transposed (its rows' first cells
    as columns, split into tables that fit), so that no name or figure is cut to ``…``."""
    if natural_width(data) <= width:
        return [rich_table(data)]
    title = Text("\n".join(wrap_phrases("", joined(data.title.split(" · "), " ·"), width)))
    names = [row[0] for row in data.rows]
    rows = [
        (column, [_cell(row[index]) for row in data.rows])
        for index, column in enumerate(data.columns)
        if index > 0
    ]
    return [title, *fit_tables(data.columns[0], names, rows, width)]


def _cell(text: str) -> Cell:
    # A long cell ("dominant: gateway fees") may break after its colon, never elsewhere.
    head, sep, tail = text.partition(": ")
    return Cell(text, "", (head + ":", tail) if sep else ())


def block_renderables(block: Block, evidence: Evidence, width: int = 80) -> list[RenderableType]:
    """What rich prints for one block, laid out for a console ``width`` wide."""
    if block.kind == "run":
        result = evidence.runs[block.content]  # table() ran it when the page was rendered
        tiers = scale_table_data(result)
        # The run's own view (tables, verdict lines, what it shows) as `run` prints it.
        header = [run_title(result), "latencies in simulated seconds"]
        return [
            f"[bold]{result.scenario.title}[/] [dim]({settings_note(result)})[/]",
            *(fitted_tables(tiers, width) if tiers is not None else []),
            Group(*run_view(header, result.judged(), width)),
        ]
    if block.kind == "capacity":
        plan = evidence.plan(block.content)
        return fitted_tables(capacity_table_data(block.content, plan), width)
    if block.kind == "cost":
        plan = evidence.plan(block.content)
        return fitted_tables(cost_table_data(block.content, plan), width)
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
