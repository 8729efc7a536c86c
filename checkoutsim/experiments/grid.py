"""Model against real body over a grid of seeded random parameter points, not tuned ones.

``compare --grid N`` draws N points within ``RANGES`` (arrival rate and burst,
stock, database workers, the store's round trip and the gap between a check and
its write), runs every variant of the scenario in both bodies at each point,
and counts, per variant, the points where they agree by
``checkoutsim.results.agreement.judge`` (every judged metric: invariants,
rates and latencies, each by its kind) and the points where they agree
on zero versus non-zero at least. The worst point of each variant is kept with
the ``--set`` arguments that rerun it.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

#: What a grid varies, and within which bounds (inclusive).
RANGES: dict[str, tuple[float, float]] = {
    "load.rate_per_s": (40.0, 240.0),
    "load.burst_size": (0, 150),
    "catalog.stock_per_sku": (20, 150),
    "inventory.workers": (4, 32),
    "round_trip_s": (0.0005, 0.004),
    "inventory.costs.check_gap_s": (0.0, 0.005),
}
#: Most points a grid may have (each runs every variant in the real body).
MAX_POINTS = 100
#: Seeded model runs per point and variant; the first plays the real body's streams.
#: Where a race breaks an invariant by chance (a mean of about one unit oversold),
#: one run is zero or not by chance, so the model's answer is what its runs show.
MODEL_RUNS = 20


@dataclass(frozen=True)
class GridPoint:
    """One point: its number and the ``--set`` overrides that reproduce it."""

    index: int
    overrides: tuple[str, ...]


def grid_points(count: int, seed: int) -> list[GridPoint]:
    """``count`` points drawn from ``RANGES`` with a generator seeded by ``seed``."""
    if not 1 <= count <= MAX_POINTS:
        raise ValueError(f"--grid {count}: expected 1 to {MAX_POINTS} points")
    rng = random.Random(f"grid-{seed}")
    points = []
    for index in range(count):
        low, high = RANGES["load.rate_per_s"]
        rate = round(rng.uniform(low, high), 1)
        burst = rng.randint(*(int(bound) for bound in RANGES["load.burst_size"]))
        stock = rng.randint(*(int(bound) for bound in RANGES["catalog.stock_per_sku"]))
        workers = rng.randint(*(int(bound) for bound in RANGES["inventory.workers"]))
        trip = round(rng.uniform(*RANGES["round_trip_s"]), 5)
        gap = round(rng.uniform(*RANGES["inventory.costs.check_gap_s"]), 5)
        # The model's costs describe the real store: one round trip per call,
        # with the tail a remote database has.
        latency = f'{{distribution="lognormal",p50_s={trip},p99_s={round(trip * 5, 5)}}}'
        overrides = (
            f"load.rate_per_s={rate}",
            f"load.burst_size={burst}",
            f"catalog.stock_per_sku={stock}",
            f"inventory.workers={workers}",
            f"inventory.query={latency}",
            f"inventory.costs.read={latency}",
            f"inventory.costs.write={latency}",
            f"inventory.costs.conditional_write={latency}",
            f"inventory.costs.check_gap_s={gap}",
            f"real.store_round_trip_s={trip}",
        )
        points.append(GridPoint(index, overrides))
    return points


def invariant_lines(evidence: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The judged invariant counts and rates of one variant's evidence, with both values."""
    return [
        line
        for line in evidence
        if line["kind"] == "invariant" and line["sim"] is not None and line["real"] is not None
    ]


def distance(evidence: list[dict[str, Any]]) -> float:
    """How far apart two bodies are at a point on the invariants: 0 when equal, inf on zero
    versus non-zero, else the largest |log| of a ratio.

    A line judged against the model's spread says itself whether the signs agree
    (``sign_agree``); the model's side is then its mean over its runs.
    """
    worst = 0.0
    for line in invariant_lines(evidence):
        if not _sign_agrees(line):
            return math.inf
        if line["sim"] > 0 and line["real"] > 0:
            worst = max(worst, abs(math.log(line["sim"] / line["real"])))
    return worst


def _sign_agrees(line: dict[str, Any]) -> bool:
    """Whether one invariant line agrees on zero versus non-zero."""
    sign = line.get("sign_agree")
    if sign is not None:
        return bool(sign)
    return (line["sim"] > 0) == (line["real"] > 0)


def _invariants_agree(row: dict[str, Any]) -> bool:
    """Whether every judged invariant of a row agrees (sign, then size)."""
    return all(line["agree"] is not False for line in invariant_lines(row["evidence"]))


def _one_run_signs_agree(row: dict[str, Any]) -> bool:
    """Zero versus non-zero between the model's first run and the real run alone."""
    pairs = (row.get("first_run") or {}).values()
    return all(((model or 0) > 0) == ((real or 0) > 0) for model, real in pairs)


def _within_factor(row: dict[str, Any]) -> bool | None:
    """Whether every invariant of a row that both sides broke is within 2x of the
    model's mean (``within_factor``); None where no invariant has both sides non-zero."""
    flags = [
        line.get("within_factor")
        for line in invariant_lines(row["evidence"])
        if line.get("within_factor") is not None
    ]
    return all(flags) if flags else None


def summarise_grid(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per variant: points agreeing, on the invariants, on zero versus non-zero; the worst.

    ``rows`` are ``{"point", "overrides", "name", "agree", "withheld", "evidence"}``
    (and ``first_run``: per invariant, the model's first run and the real run;
    ``invariants_withheld``: why the invariants alone were not judged). A point
    whose real run withheld its verdict (host overloaded) counts for nothing; one
    whose host was too slow for the race counts for "all judged" (its rates and
    latencies) and not for the invariant columns; both are listed with the reason.
    ``within_2x`` counts the points where every invariant both sides broke is
    within 2x of the model's mean, of ``both_non_zero`` such points: that test
    alone, apart from count noise and the spread.
    """
    names = list(dict.fromkeys(row["name"] for row in rows))
    summary = []
    for name in names:
        everything = [row for row in rows if row["name"] == name]
        mine = [row for row in everything if not row["withheld"]]
        judged = [row for row in mine if not row.get("invariants_withheld")]
        signs = [
            row
            for row in judged
            if all(_sign_agrees(line) for line in invariant_lines(row["evidence"]))
        ]
        factors = [flag for flag in map(_within_factor, judged) if flag is not None]
        # Disagreeing points first, then by how far apart.
        worst = max(
            judged,
            key=lambda row: (not _invariants_agree(row), distance(row["evidence"])),
            default=None,
        )
        summary.append(
            {
                "name": name,
                "points": len(mine),
                "invariant_points": len(judged),
                "withheld": len(everything) - len(mine),
                "invariants_withheld": len(mine) - len(judged),
                "withheld_points": [
                    {
                        "point": row["point"],
                        "reason": row["withheld"] or row.get("invariants_withheld"),
                        "invariants_only": not row["withheld"],
                    }
                    for row in everything
                    if row["withheld"] or row.get("invariants_withheld")
                ],
                "agree": sum(1 for row in mine if row["agree"]),
                "invariants_agree": sum(1 for row in judged if _invariants_agree(row)),
                "zero_agree": len(signs),
                "zero_agree_one_run": sum(
                    1 for row in judged if "first_run" in row and _one_run_signs_agree(row)
                ),
                "within_2x": sum(factors),
                "both_non_zero": len(factors),
                "worst": None
                if worst is None
                else {
                    "point": worst["point"],
                    "set": list(worst["overrides"]),
                    "evidence": worst["evidence"],
                },
            }
        )
    return summary
