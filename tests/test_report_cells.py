"""The report's verdict table: a header cell over every cell of every row (no browser needed).

The page is rendered from run results of several shapes (a simulated run, one
with replications, a load test with a withheld verdict, a comparison) and the
table is parsed as HTML: each body row must have exactly as many cells as the
header, and the header must name the terminal's verdict fields in order.
"""

from __future__ import annotations

import functools
from html.parser import HTMLParser
from typing import Any

import pytest

from checkoutsim.experiments.runner import run_scenario
from checkoutsim.report.page import page_context, render_page
from checkoutsim.results.encoding import json_safe
from checkoutsim.scenario import files as scenarios

SHORT = ["load.duration_s=4", "load.drain_s=4", "load.burst_size=0"]


class CellCounts(HTMLParser):
    """Header cells and each body row's cells (``th`` and ``td``) of one table, by id."""

    def __init__(self, table_id: str) -> None:
        super().__init__()
        self.table_id = table_id
        self.inside = False
        self.part = ""
        self.header: list[str] = []
        self.rows: list[list[str]] = []
        self._text: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table" and ("id", self.table_id) in attrs:
            self.inside = True
        elif self.inside and tag in ("thead", "tbody"):
            self.part = tag
        elif self.inside and self.part == "tbody" and tag == "tr":
            self.rows.append([])
        elif self.inside and tag in ("th", "td"):
            cells = self.header if self.part == "thead" else self.rows[-1]
            cells.append("")
            self._text = cells

    def handle_endtag(self, tag: str) -> None:
        if tag == "table" and self.inside:
            self.inside = False
        elif tag in ("th", "td"):
            self._text = None

    def handle_data(self, data: str) -> None:
        if self.inside and self._text is not None:
            self._text[-1] += data.strip()


def verdict_table(result: dict[str, Any]) -> CellCounts:
    """Render the report page for ``result`` and parse its verdict table."""
    page = render_page(page_context(json_safe(result), [], [], None))
    parser = CellCounts("verdicts")
    parser.feed(page)
    assert parser.header, "the page has no verdict table"
    return parser


@functools.cache
def flash_run(replications: int) -> dict[str, Any]:
    """A short flash sale, an unsafe variant beside safe ones."""
    loaded = scenarios.load("flash-sale", SHORT, ["naive", "optimistic", "atomic"])
    return run_scenario(loaded, seed=1, replications=replications).to_json()


def results() -> list[tuple[str, dict[str, Any]]]:
    """Results of each shape the verdict table is drawn from."""
    single, repeated = flash_run(1), flash_run(3)
    real = {**single, "mode": "real"}
    real["variants"] = [
        {**variant, "verdict": {"safe": None, "violations": {}, "withheld": "host overloaded"}}
        if index == 0
        else variant
        for index, variant in enumerate(single["variants"])
    ]
    compare = {
        **single,
        "mode": "compare",
        "variants": [
            {"name": one["name"], "sim": one["metrics"], "real": two["metrics"], "agree": True}
            for one, two in zip(single["variants"], repeated["variants"], strict=True)
        ],
    }
    return [("sim", single), ("replications", repeated), ("real", real), ("compare", compare)]


@pytest.mark.parametrize("shape", ["sim", "replications", "real", "compare"])
def test_every_row_has_as_many_cells_as_the_header(shape: str) -> None:
    result = dict(results())[shape]
    parsed = verdict_table(result)
    assert parsed.rows
    for row in parsed.rows:
        assert len(row) == len(parsed.header), (parsed.header, row)


def test_the_header_names_the_terminals_verdict_fields_in_order() -> None:
    from checkoutsim.report.page import judged_items
    from checkoutsim.results.verdicts import verdict_fields

    result = flash_run(1)
    parsed = verdict_table(result)
    labels = [field.label for field in verdict_fields(judged_items(result))]
    assert parsed.header[-len(labels) :] == labels
    # Each figure sits under its own header: the order count under "orders", the
    # safety verdict under "safety".
    orders = parsed.header.index("orders")
    safety = parsed.header.index("safety")
    for row, variant in zip(parsed.rows, result["variants"], strict=True):
        assert row[orders] == f"{variant['metrics']['orders']:,}"
        assert row[safety].startswith("safe" if variant["verdict"]["safe"] else "unsafe")
