"""The walkthroughs at 80 columns (what a pipe gets): no table cell cut to an ellipsis.

The capacity, cost and scale tables have six or seven columns; at 80 columns rich
used to squeeze them to ``inventor…``, ``$0.384/ho…`` and ``$620,500,…``. A table
that does not fit is now transposed and split into tables that do, so every name
and figure must stand whole on one line.
"""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from checkoutsim.walkthroughs import Evidence, load_topic
from checkoutsim.walkthroughs.tables import (
    TableData,
    capacity_table_data,
    cost_table_data,
    scale_table_data,
)
from checkoutsim.walkthroughs.terminal import fitted_tables, natural_width, present

WIDTH = 80


@pytest.fixture(scope="module")
def evidence() -> Evidence:
    """Quick runs, seed 1, shared by the topics below."""
    return Evidence(seed=1, quick=True)


def shown(topic: str, level: str, evidence: Evidence, width: int = WIDTH) -> str:
    console = Console(file=io.StringIO(), width=width, color_system=None, force_terminal=False)
    assert present(load_topic(topic), level, evidence, console)
    return console.file.getvalue()  # type: ignore[attr-defined]


def tables_of(evidence: Evidence) -> list[TableData]:
    """Every wide table the scale and cost topics show."""
    data = [cost_table_data(volume, evidence.plan(volume)) for volume in ("10M", "100M")]
    data += [capacity_table_data(volume, evidence.plan(volume)) for volume in ("10M", "100M")]
    scale = scale_table_data(evidence.runs["scale-10m"]) if "scale-10m" in evidence.runs else None
    return data + ([scale] if scale is not None else [])


@pytest.mark.parametrize("level", ["L5", "L6"])
@pytest.mark.parametrize("topic", ["scale", "cost"])
def test_wide_tables_fit_80_columns_with_every_cell_whole(
    topic: str, level: str, evidence: Evidence
) -> None:
    text = shown(topic, level, evidence)
    lines = text.splitlines()
    assert all(len(line) <= WIDTH for line in lines), [line for line in lines if len(line) > WIDTH]
    assert "…" not in text, [line for line in lines if "…" in line]
    cells = {cell for data in tables_of(evidence) for row in data.rows for cell in row if cell}
    shown_cells = [cell for cell in cells if cell in text]
    # The topic shows some of these tables; each cell it shows stands whole on a line.
    assert shown_cells
    for cell in shown_cells:
        if ": " in cell:  # "dominant: gateway fees" may break after its colon
            head, _, tail = cell.partition(": ")
            assert any(head + ":" in line for line in lines) and any(tail in line for line in lines)
        else:
            assert any(cell in line for line in lines), cell


def test_a_table_that_fits_keeps_its_shape_and_one_that_does_not_is_transposed(
    evidence: Evidence,
) -> None:
    cost = cost_table_data("10M", evidence.plan("10M"))
    assert natural_width(cost) > WIDTH  # the case the transposition exists for
    wide = fitted_tables(cost, 200)
    assert len(wide) == 1  # as it was: one table, lines as rows
    narrow = fitted_tables(cost, WIDTH)
    assert len(narrow) > 2  # a title, then several tables of whole columns
    console = Console(file=io.StringIO(), width=WIDTH, color_system=None, force_terminal=False)
    for part in narrow:
        console.print(part)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    for row in cost.rows:
        assert any(f" {row[0]} " in line for line in text.splitlines() if "┃" in line), row[0]
