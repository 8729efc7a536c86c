"""How numbers are written: one rule per kind of metric, the same in every column."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from checkoutsim.results.formatting import format_duration, format_row, format_value

seconds = st.floats(min_value=0, max_value=1e6, allow_nan=False)


def decimals(text: str) -> int:
    """How many digits follow the decimal point in ``text`` (0 when there is none)."""
    match = re.search(r"\.(\d+)", text)
    return len(match.group(1)) if match else 0


def test_a_breaker_that_never_opened_is_zero_seconds() -> None:
    assert format_value(0.0, "breaker_open_s") == "0 s"
    assert format_value(0, "breaker_open_s") == "0 s"
    assert format_value(0.003, "latency_p50_s") == "3.0 ms"
    assert format_value(0.1366, "latency_p50_s") == "136.6 ms"
    assert format_value(30.6, "latency_p99_s") == "30.60 s"
    assert format_value(0.99996, "latency_p99_s") == "1.00 s"  # never "1000.0 ms"
    assert format_value(1e-6, "latency_p50_s") == "<0.1 ms"  # not a zero it is not


@given(seconds)
def test_durations_are_in_s_or_ms_by_size_and_read_back(value: float) -> None:
    text = format_duration(value)
    assert text not in ("0.0 ms", "0.00 s")
    number, unit = text.lstrip("<").replace(",", "").split(" ")
    assert unit in ("s", "ms")
    if value == 0:
        assert text == "0 s"
    elif unit == "ms":
        assert value < 1 and float(number) < 1000 and decimals(text) == 1
        assert abs(float(number) - value * 1000) <= 0.05 or text == "<0.1 ms"
    else:
        assert value >= 0.99995 and decimals(text) == 2
        assert abs(float(number) - value) <= 0.005


def test_per_second_figures_keep_two_decimals_when_whole() -> None:
    # The slip this fixes: "throughput_orders_per_s 43.70 | 10" (10.0 stored as 10).
    assert format_row([43.7, 10, 10.0], "throughput_orders_per_s") == ["43.70", "10.00", "10.00"]


@given(st.lists(st.one_of(st.integers(0, 10**7), st.floats(0, 1e7, allow_nan=False)), min_size=1))
def test_every_cell_of_a_row_has_the_same_decimals(values: list[float]) -> None:
    for name in ("orders", "throughput_orders_per_s", "success_rate"):
        cells = format_row(values, name)
        assert len({decimals(cell) for cell in cells}) == 1, (name, cells)


def test_counts_are_whole_unless_a_mean_is_not() -> None:
    assert format_row([674, 0], "oversold_units") == ["674", "0"]
    assert format_row([674.5, 674], "oversold_units") == ["674.5", "674.0"]
    assert format_value(1194000, "checkouts") == "1,194,000"


def test_ratios_are_percentages_and_missing_values_a_dash() -> None:
    assert format_value(1, "success_rate") == "100.00%"
    assert format_value(0.5912, "success_rate") == "59.12%"
    assert format_value(None, "latency_p99_s") == "-"
    assert format_value(float("nan"), "orders") == "-"
    assert format_value(float("inf"), "latency_p99_s") == "∞"
