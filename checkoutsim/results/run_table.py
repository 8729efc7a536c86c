"""A run's table as a reader sees it: header, the verdict and metrics in tables that fit,
each variant's verdict line, and what the run shows.

The pieces are rich renderables and plain lines; the caller prints them (only
``cli/`` talks to the terminal). The simulated run, the load test and
``--replications`` all go through here, so they look alike.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import RenderableType
from rich.text import Text

from checkoutsim.results.formatting import TABLE_METRICS, shows_row
from checkoutsim.results.layout import fit_tables, wrap_phrases
from checkoutsim.results.verdicts import (
    Judged,
    joined,
    metric_cell,
    verdict_fields,
    verdict_pieces,
    what_it_shows,
)


def table_rows(items: Sequence[Judged]) -> tuple[list[tuple[str, list]], int]:
    """The verdict fields, then every other table metric some variant has; and the index
    of the last verdict row (a rule is drawn under it)."""
    fields = verdict_fields(items)
    rows = [(field.label, list(field.cells)) for field in fields]
    shown = {field.key for field in fields}
    for key in TABLE_METRICS:
        if key in shown:
            continue
        if not shows_row(key, [item.metrics.get(key) for item in items]):
            continue  # e.g. an all-zero row says nothing in this scenario
        rows.append((key, [metric_cell(item, key) for item in items]))
    return rows, len(fields) - 1


def run_view(header: Sequence[str], items: Sequence[Judged], width: int) -> list[RenderableType]:
    """Everything under a run's title: the header line (phrases, e.g. the scenario, the
    seed, the clock), the tables, a verdict line per variant, what it shows."""
    parts: list[RenderableType] = [
        Text(line, style="bold") for line in wrap_phrases("", joined(header, " ·"), width)
    ]
    rows, last_verdict_row = table_rows(items)
    parts += fit_tables(
        "metric", [item.name for item in items], rows, width, sections=(1, last_verdict_row)
    )
    for item in items:
        parts.extend(
            Text(line) for line in wrap_phrases(f"{item.name}:", verdict_pieces(item), width)
        )
    shows = wrap_phrases("What it shows:", joined(what_it_shows(items), ";"), width)
    parts.extend(Text(line) for line in shows)
    return parts
