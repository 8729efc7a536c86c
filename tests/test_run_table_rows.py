"""Which rows a run's table has: the stock figures of the wild inventory strategies
(``stock_at_end``, ``stock_min``, ``false_sold_outs``) appear whenever a variant
reports them, zeros included, and never in a run whose variants do not."""

from __future__ import annotations

from checkoutsim.results.formatting import STOCK_FIGURES
from checkoutsim.results.run_table import table_rows
from checkoutsim.results.verdicts import Judged

BASE = {"checkouts": 100, "orders": 50, "latency_p50_s": 0.01, "latency_p99_s": 0.1}


def rows_of(*items: Judged) -> dict[str, list[str]]:
    rows, _ = table_rows(items)
    return {label: [cell.text for cell in cells] for label, cells in rows}


def test_stock_figures_are_rows_when_a_variant_reports_them_even_at_zero() -> None:
    wild = Judged("check_then_decrement", {**BASE, "stock_at_end": -3, "stock_min": -5,
                                           "false_sold_outs": 0})  # fmt: skip
    plain = Judged("atomic", dict(BASE))
    rows = rows_of(wild, plain)
    assert rows["stock_at_end"] == ["-3", "-"]
    assert rows["stock_min"] == ["-5", "-"]
    # No false sold-out is a finding for a wild strategy, so the zero row stays.
    assert rows["false_sold_outs"] == ["0", "-"]


def test_no_stock_rows_where_no_variant_reports_them() -> None:
    rows = rows_of(Judged("a", dict(BASE)), Judged("b", {**BASE, "rejected": 0}))
    assert not set(STOCK_FIGURES) & set(rows)
    assert "rejected" not in rows  # an all-zero row is still left out
