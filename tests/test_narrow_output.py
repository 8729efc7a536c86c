"""Every named scenario's run output at 80 columns (what a pipe gets): nothing cut or broken.

Each scenario is run short (the same variants, the same kinds of verdict) and
rendered as ``checkoutsim run`` renders it on an 80-column console. No line
may be wider than 80, no cell may end in an ellipsis, every variant's name
must stand whole in a table header, and every phrase of every verdict line
and of "What it shows" must sit on one line.
"""

from __future__ import annotations

import functools
import io
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from checkoutsim.cli.compare_view import compare_row, render_compare
from checkoutsim.cli.render import judged_variants, render_run
from checkoutsim.experiments.runner import RunResult, run_scenario
from checkoutsim.results.layout import fit_tables, wrap_phrases
from checkoutsim.results.run_table import run_view
from checkoutsim.results.verdicts import Cell, Judged, verdict_phrases, what_it_shows
from checkoutsim.scenario import files as scenarios

NAMED = sorted(scenarios.available())
WIDTH = 80


def short(name: str) -> list[str]:
    """Overrides that make a scenario quick and keep its variants and fault windows."""
    loaded = scenarios.load(name)
    overrides = ["load.drain_s=15"]
    if loaded.base.load.burst_size:
        overrides.append("load.burst_at_s=1")
    if loaded.base.scale.orders_per_day:
        overrides.append("scale.customers_per_tier=1000")
    # Keep the first fault window inside the run, so recovery is measured.
    ends = [outage.end_s for outage in loaded.base.faults.outages]
    duration = min(loaded.base.load.duration_s, max([20.0, *(end + 10 for end in ends[:1])]))
    overrides.append(f"load.duration_s={duration:g}")
    return overrides


@functools.cache
def short_run(name: str) -> RunResult:
    return run_scenario(scenarios.load(name, short(name)), seed=1)


def rendered(result: RunResult, width: int = WIDTH) -> str:
    console = Console(file=io.StringIO(), width=width, color_system=None, force_terminal=False)
    render_run(console, result)
    return console.file.getvalue()  # type: ignore[attr-defined]


def assert_fits(text: str, items: list[Judged], width: int = WIDTH) -> None:
    lines = text.splitlines()
    assert all(len(line) <= width for line in lines), [line for line in lines if len(line) > width]
    assert "…" not in text, "a cell was cut"
    headers = [line for line in lines if line.startswith("┃")]
    for item in items:
        pattern = re.compile(rf"[┃ ]{re.escape(item.name)}[ ┃]")
        assert any(pattern.search(line) for line in headers), f"{item.name} not whole"
        for phrase in verdict_phrases(item):
            assert any(phrase in line for line in lines), f"verdict phrase broken: {phrase}"
    for phrase in what_it_shows(items):
        assert any(phrase in line for line in lines), f"'what it shows' phrase broken: {phrase}"


@pytest.mark.parametrize("name", NAMED)
def test_named_scenario_fits_80_columns(name: str) -> None:
    result = short_run(name)
    assert_fits(rendered(result), judged_variants(result))


def test_unsafe_verdict_breaks_between_phrases_in_a_narrow_column() -> None:
    result = short_run("flash-sale")
    text = rendered(result)
    naive = next(item for item in judged_variants(result) if item.name == "naive")
    assert not naive.verdict["safe"]
    # The cell breaks as "unsafe:" over "oversold N", never inside "oversold N".
    oversold = f"oversold {naive.metrics['oversold_units']:,}"
    rows = [line for line in text.splitlines() if line.startswith("│")]
    assert any("unsafe:" in line and "oversold" not in line for line in rows)
    assert any(oversold in line for line in rows)


def test_columns_split_into_tables_that_fit_rather_than_squeeze() -> None:
    names = [f"variant_with_a_long_name_{index}" for index in range(6)]
    rows = [("metric", [Cell("1,234.56 ms") for _ in names])]
    tables = fit_tables("metric", names, rows, 80)
    assert len(tables) > 1
    console = Console(file=io.StringIO(), width=80, color_system=None)
    for table in tables:
        console.print(table)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "…" not in text and all(name in text for name in names)
    assert max(len(line) for line in text.splitlines()) <= 80


def test_withheld_verdict_fits_too() -> None:
    result = short_run("double-click")
    items = judged_variants(result)
    items[0] = Judged(
        items[0].name, items[0].metrics, items[0].objective, withheld="host overloaded"
    )
    console = Console(file=io.StringIO(), width=WIDTH, color_system=None)
    for part in run_view(["double-click", "real", "latencies in model seconds"], items, WIDTH):
        console.print(part)
    assert_fits(console.file.getvalue(), items)  # type: ignore[attr-defined]


def test_wrap_phrases_breaks_only_between_phrases() -> None:
    phrases = [
        "safe ·",
        "missed objective: 59.5% served (objective 99%),",
        "p99 30.6 s (objective 15 s)",
    ]
    assert wrap_phrases("no_breaker:", phrases, 60) == [
        "no_breaker: safe ·",
        "    missed objective: 59.5% served (objective 99%),",
        "    p99 30.6 s (objective 15 s)",
    ]
    assert wrap_phrases("no_breaker:", phrases, 200) == ["no_breaker: " + " ".join(phrases)]


def test_a_phrase_longer_than_a_line_breaks_before_its_bracket_or_between_figures() -> None:
    long = "lowest p99: primary_only_with_retry_queue 5.14 s (primary_only next, 5.15 s);"
    assert wrap_phrases("What it shows:", [long], 60) == [
        "What it shows:",
        "    lowest p99: primary_only_with_retry_queue 5.14 s",
        "    (primary_only next, 5.15 s);",
    ]
    # No bracket to break at: words break, but never a figure from its unit.
    words = "served " + " ".join(f"{number}.5 ms" for number in range(12))
    for line in wrap_phrases("x:", [words], 30):
        assert len(line) <= 30 and not line.rstrip().endswith(tuple("0123456789")), line


def test_replications_fit_80_columns_too() -> None:
    loaded = scenarios.load("flash-sale", short("flash-sale"))
    result = run_scenario(loaded, seed=1, replications=2)
    assert_fits(rendered(result), judged_variants(result))


def test_a_scale_runs_row_capacity_lines_break_between_phrases() -> None:
    result = short_run("scale-10m")
    lines = rendered(result).splitlines()
    capacities = {v.name: v.metrics.get("row_capacity_per_s", 0) for v in result.variants}
    assert any(capacities.values())
    for name, capacity in capacities.items():
        if capacity:
            head = f"{name}: {capacity:,.0f} reservations per second of exclusive row time"
            assert any(line.startswith(head) for line in lines), name
    # The bracket's phrase stands on one line (it used to break after "(the").
    held = [line for line in lines if "if that held at any load;" in line]
    assert held and all("(the whole shop at " in line for line in held), held


names = st.text(alphabet="abcdefghij_", min_size=1, max_size=20)
cells = st.text(alphabet="0123456789., ms%±", min_size=1, max_size=14)


@given(
    columns=st.lists(names, min_size=1, max_size=12, unique=True),
    values=st.lists(cells, min_size=1, max_size=12),
    width=st.integers(min_value=30, max_value=200),
)
def test_any_grid_fits_without_cutting(columns: list[str], values: list[str], width: int) -> None:
    rows = [("a_metric_label", [Cell(values[i % len(values)]) for i in range(len(columns))])]
    console = Console(file=io.StringIO(), width=width, color_system=None)
    for table in fit_tables("metric", columns, rows, width):
        console.print(table)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= width
    # A column that fits beside the labels at all keeps its name whole on one line;
    # one that cannot is folded, its every character still there.
    room = width - 1 - (len("a_metric_label") + 3)
    headers = [line for line in text.splitlines() if line.startswith("┃")]
    for column in columns:
        if max(len(column), len(values[0]), *(len(value) for value in values)) + 3 <= room:
            assert any(f" {column} " in line for line in headers), column
        else:
            assert all(character in text for character in column)


def compared(name: str, factor: float) -> dict[str, Any]:
    """A ``compare`` document built from the model's short run: the "real" figures are the
    model's with every latency times ``factor`` and every rate halved; the first variant's
    host was overloaded (its verdict withheld)."""
    result = short_run(name)
    rows = []
    for index, variant in enumerate(result.variants):
        real = {
            key: value * factor
            if key.startswith("latency_")
            else value / 2
            if key.endswith("_rate")
            else value
            for key, value in variant.metrics.items()
        }
        health = {
            "schedule_lag": {"p50_s": 0.0012, "p99_s": 0.0401, "max_s": 1.2345},
            "step_overrun": {"p50_s": 0.0003, "p99_s": 0.0123, "max_s": 0.4567},
            "steps": 123_456,
            "lag_limit_s": 1.0,
            "overrun_limit_s": 1.0,
            "overloaded": index == 0,
            "reason": "schedule lag p99 40.1 ms past its limit of 1 s" if index == 0 else None,
        }
        rows.append(compare_row(variant.name, variant.metrics, real, {"health": health}, 0.25))
    return {
        "streams": {"mode": "common", "model_seed": 1, "real_seed": 1},
        "model": {
            "duration_s": 40,
            "run_time_s": 10,
            "time_scale": 0.25,
            "scenario_duration_s": 60,
        },
        "variants": rows,
    }


@pytest.mark.parametrize("factor", [1.0, 12.345])
@pytest.mark.parametrize("name", NAMED)
def test_compare_fits_80_columns(name: str, factor: float) -> None:
    document = compared(name, factor)
    console = Console(file=io.StringIO(), width=WIDTH, color_system=None, force_terminal=False)
    render_compare(scenarios.load(name), document, console)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    lines = text.splitlines()
    assert all(len(line) <= WIDTH for line in lines), [line for line in lines if len(line) > 80]
    assert "…" not in text, "a cell was cut"
    for row in document["variants"]:
        assert any(line.startswith(f"{row['name']}: ") for line in lines), row["name"]
        for line in row["evidence"]:
            if line["judged"] and line["agree"] is not None:
                head, _, bracket = line["difference"].partition(" (")
                verdict = "agree" if line["agree"] else "DISAGREE"
                assert any(f"{verdict} {head}" in text_line for text_line in lines), line
                if bracket:
                    assert any(f"({bracket}" in text_line for text_line in lines), line
    # The host's figures and the withheld reason break only between phrases.
    for phrase in ("schedule lag p50 1.2 ms,", "(123,456 steps);", "past its limit of 1 s"):
        assert any(phrase in line for line in lines), phrase


def test_loadtest_audit_and_examples_fit_80_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    from types import SimpleNamespace

    from checkoutsim.cli import real_output
    from checkoutsim.results.audit import Check

    result = short_run("double-click")
    example = {"intent_id": 123_456, "captures": 2, "payment_id": 987_654, "gateway_key": "k" * 20}
    checks = [
        Check("no_oversell", "valid", 0),
        Check("one_capture_per_intent", "invalid", 576, example),
    ]
    health = {
        "schedule_lag": {"p50_s": 0.0012, "p99_s": 0.0401, "max_s": 1.2345},
        "step_overrun": {"p50_s": 0.0003, "p99_s": 0.0123, "max_s": 0.4567},
        "steps": 123_456,
        "lag_limit_s": 1.0,
        "overrun_limit_s": 1.0,
        "overloaded": False,
        "reason": None,
    }
    runs = [
        SimpleNamespace(
            name=variant.name,
            metrics={**variant.metrics, "unfinished_checkouts": 12, "unfinished_payments": 3},
            checks=checks,
            load={"health": health},
        )
        for variant in result.variants
    ]
    console = Console(file=io.StringIO(), width=WIDTH, color_system=None, force_terminal=False)
    monkeypatch.setattr(real_output, "out", console)
    # The clock header reads the load options, whose module imports Locust, which
    # would monkey-patch this whole test session with gevent: a stand-in instead.
    header = "model length 40 s at time scale 0.25 (10 s of wall clock)"
    monkeypatch.setattr(real_output, "clock_header", lambda loaded, options: header)
    options = SimpleNamespace(target=None, workers=0, seed=1)
    loaded = scenarios.load("double-click", short("double-click"))
    real_output.render_real(loaded, runs, options)  # type: ignore[arg-type]
    text = console.file.getvalue()  # type: ignore[attr-defined]
    lines = text.splitlines()
    assert all(len(line) <= WIDTH for line in lines), [line for line in lines if len(line) > 80]
    assert "…" not in text
    for run in runs:
        # Each figure of the first example stands whole on one line.
        assert any(f"{run.name}: one_capture_per_intent: first example:" in line for line in lines)
        for key, value in example.items():
            assert any(f"{key} {value}" in line for line in lines), key
    assert any("12 checkouts," in line for line in lines)


@pytest.mark.parametrize("orders", [10_000_000, 100_000_000])
@pytest.mark.parametrize("width", [WIDTH, 160])
def test_capacity_plan_fits_without_cutting(orders: int, width: int) -> None:
    from checkoutsim.capacity.plan import plan
    from checkoutsim.cli.capacity import render_plan

    result = plan(orders, None, {})
    console = Console(file=io.StringIO(), width=width, color_system=None, force_terminal=False)
    render_plan(result, console)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= width
    flat = " ".join(text.split())
    for tier in result.tiers:
        assert f"{tier.count:,}" in text and tier.unit in text
        if width == WIDTH:  # the reason below the table, whole
            assert " ".join(tier.why.split()) in flat, tier.tier


def test_chaos_audit_examples_keep_each_figure_whole() -> None:
    from checkoutsim.cli.chaos import _audit_table

    example = {"intent_id": 123_456, "captures": 2, "gateway_key": "k" * 20}
    checks = [
        {
            "invariant": "one_capture_per_intent",
            "status": "invalid",
            "count": 3,
            "example": example,
        },
        {"invariant": "no_oversell", "status": "valid", "count": 0, "example": None},
    ]
    console = Console(file=io.StringIO(), width=WIDTH, color_system=None)
    console.print(_audit_table("chaos · saga", checks, {"orders": 10}))
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "…" not in text and max(len(line) for line in text.splitlines()) <= WIDTH
    for key, value in example.items():
        assert f"{key} {value}" in text, key


def test_probe_verdict_lines_break_only_between_phrases(monkeypatch: pytest.MonkeyPatch) -> None:
    from checkoutsim.cli import probe

    console = Console(file=io.StringIO(), width=WIDTH, color_system=None)
    monkeypatch.setattr(probe, "out", console)
    line = (
        "prediction: oversold 53 against 53 measured: within 2x; latency p50: under by 2.0x;"
        " likely cause: a busy host: load average 12.9 on 2 cores, so answers waited"
    )
    probe._print_phrases("", line)
    lines = console.file.getvalue().splitlines()  # type: ignore[attr-defined]
    assert len(lines) > 1 and all(len(text) <= WIDTH for text in lines)
    for phrase in ("under by 2.0x;", "load average 12.9 on 2 cores,", "oversold 53 against 53"):
        assert any(phrase in text for text in lines), phrase
