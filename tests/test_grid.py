"""``compare --grid``: its seeded points and its tally (the runs are the load tests')."""

from __future__ import annotations

import math

import pytest

from checkoutsim.experiments.grid import RANGES, distance, grid_points, summarise_grid
from checkoutsim.scenario import files as scenarios


def test_points_are_seeded_within_their_ranges_and_load_as_overrides() -> None:
    points = grid_points(20, 7)
    assert points == grid_points(20, 7)
    assert points != grid_points(20, 8)
    for point in points:
        values = dict(override.split("=", 1) for override in point.overrides)
        low, high = RANGES["load.rate_per_s"]
        assert low <= float(values["load.rate_per_s"]) <= high
        low, high = RANGES["catalog.stock_per_sku"]
        assert low <= int(values["catalog.stock_per_sku"]) <= high
    loaded = scenarios.load("flash-sale-wild", list(points[0].overrides), ["atomic"])
    assert loaded.variants[0].settings.real.store_round_trip_s > 0


@pytest.mark.parametrize("count", [0, 101])
def test_a_grid_has_at_least_one_point_and_a_bound(count: int) -> None:
    with pytest.raises(ValueError, match="--grid"):
        grid_points(count, 1)


def line(sim: float, real: float, ratio: float | None) -> dict[str, object]:
    """One evidence line as ``compare`` writes it (``ratio`` is for the reader only)."""
    return {"metric": "oversold_units", "kind": "invariant", "sim": sim, "real": real,
            "agree": None, "ratio": ratio}  # fmt: skip


def test_the_tally_counts_agreement_signs_and_the_worst_point() -> None:
    rows = [
        {"point": 0, "overrides": ["a=1"], "name": "x", "agree": True, "withheld": None,
         "evidence": [line(10, 12, 1.2)]},
        {"point": 1, "overrides": ["a=2"], "name": "x", "agree": False, "withheld": None,
         "evidence": [line(10, 30, 3.0)]},
        {"point": 2, "overrides": ["a=3"], "name": "x", "agree": False, "withheld": None,
         "evidence": [line(0, 4, None)]},
        {"point": 3, "overrides": ["a=4"], "name": "x", "agree": None, "withheld": "host",
         "evidence": [line(0, 0, None)]},
    ]  # fmt: skip
    (tally,) = summarise_grid(rows)
    assert (tally["points"], tally["agree"], tally["zero_agree"], tally["withheld"]) == (3, 1, 2, 1)
    assert tally["worst"]["point"] == 2
    assert distance(rows[2]["evidence"]) == math.inf
    assert distance(rows[1]["evidence"]) == pytest.approx(math.log(3.0))


def spread_line(
    sim: float, real: float, agree: bool, sign: bool, within: bool | None = None
) -> dict[str, object]:
    """An invariant line judged against the model's spread (``sim`` its mean)."""
    return {"metric": "oversold_units", "kind": "invariant", "sim": sim, "real": real,
            "agree": agree, "sign_agree": sign, "within_factor": within}  # fmt: skip


def test_the_tally_takes_the_spreads_signs_and_lists_unjudged_points_with_reasons() -> None:
    rows = [
        # The model oversold in some runs (mean 0.6), the real run not: agreement.
        {"point": 0, "overrides": [], "name": "x", "agree": True, "withheld": None,
         "evidence": [spread_line(0.6, 0, True, True)], "first_run": {"oversold_units": [1, 0]}},
        # Both non-zero, far apart: the signs agree, the size does not.
        {"point": 1, "overrides": [], "name": "x", "agree": False, "withheld": None,
         "evidence": [spread_line(80, 10, False, True)], "first_run": {"oversold_units": [0, 10]}},
        {"point": 2, "overrides": [], "name": "x", "agree": True, "withheld": None,
         "evidence": [spread_line(0, 0, True, True)], "first_run": {"oversold_units": [0, 0]}},
        {"point": 3, "overrides": [], "name": "x", "agree": None, "withheld": "host too slow",
         "evidence": [spread_line(0, 40, False, False)], "first_run": {"oversold_units": [0, 40]}},
    ]  # fmt: skip
    (tally,) = summarise_grid(rows)
    assert tally["points"] == 3
    counts = (tally["invariants_agree"], tally["zero_agree"], tally["zero_agree_one_run"])
    assert counts == (2, 3, 1)
    assert tally["withheld_points"] == [
        {"point": 3, "reason": "host too slow", "invariants_only": False}
    ]
    assert tally["worst"]["point"] == 1
    assert distance(rows[0]["evidence"]) == 0.0


def test_the_grid_table_fits_80_columns_without_cutting(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from rich.console import Console

    from checkoutsim.cli import real_output

    console = Console(file=io.StringIO(), width=80, color_system=None, force_terminal=False)
    monkeypatch.setattr(real_output, "out", console)
    rows = [
        {"point": index, "overrides": ["load.rate_per_s=100"], "name": name, "agree": True,
         "withheld": "host too slow for the race: timers' p50 lateness 3.5 ms" if index == 2
         else None, "evidence": [spread_line(1, 1, True, True)],
         "first_run": {"oversold_units": [1, 1]}}
        for index in range(3)
        for name in ("check_then_decrement_checked", "mutex_two_processes")
    ]  # fmt: skip
    real_output.render_grid("flash-sale-wild", 3, summarise_grid(rows))
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert all(len(line) <= 80 for line in text.splitlines())
    assert "…" not in text
    assert "check_then_decrement_checked" in text and "point 3 unjudged" in text


def test_within_2x_is_counted_apart_from_noise_and_spread() -> None:
    rows = [
        # Within 2x; by count noise only (x3); both zero (no 2x to judge).
        {"point": 0, "overrides": [], "name": "x", "agree": True, "withheld": None,
         "evidence": [spread_line(10, 12, True, True, True)]},
        {"point": 1, "overrides": [], "name": "x", "agree": True, "withheld": None,
         "evidence": [spread_line(1, 3, True, True, False)]},
        {"point": 2, "overrides": [], "name": "x", "agree": True, "withheld": None,
         "evidence": [spread_line(0, 0, True, True)]},
    ]  # fmt: skip
    (tally,) = summarise_grid(rows)
    assert tally["invariants_agree"] == 3
    assert (tally["within_2x"], tally["both_non_zero"]) == (1, 2)


def test_a_race_too_fast_for_the_host_withholds_the_invariants_only() -> None:
    rows = [
        {"point": 0, "overrides": [], "name": "x", "agree": True, "withheld": None,
         "invariants_withheld": "host too slow for the race",
         "evidence": [spread_line(0, 40, None, False)]},  # type: ignore[arg-type]
        {"point": 1, "overrides": [], "name": "x", "agree": True, "withheld": None,
         "evidence": [spread_line(0, 0, True, True)]},
    ]  # fmt: skip
    (tally,) = summarise_grid(rows)
    assert (tally["points"], tally["agree"], tally["invariant_points"]) == (2, 2, 1)
    assert (tally["zero_agree"], tally["invariants_withheld"], tally["withheld"]) == (1, 1, 0)
    assert tally["withheld_points"][0]["invariants_only"] is True
