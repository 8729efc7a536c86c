"""The limits on one run's simulated time and work, and the messages that state them.

A scenario's cost must grow with what it asks for (checkouts) and stay bounded
whatever it says: a simulated second costs a timeline sample, a reaper tick and
perhaps a sweeper pass even when nothing arrives, so a tiny rate over a huge
duration is as expensive as a flood. Each limit here is checked when settings
are validated (or, for replications and sweep points, when a command is
parsed), and each message names the setting and the limit so it can be fixed.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from checkoutsim.scenario.settings import Settings

#: Longest ``load.duration_s`` and, separately, ``load.drain_s`` (one simulated day).
MAX_SIMULATED_S = 86_400.0
#: Most checkouts one run may be expected to start (rate × duration, piecewise and bursts).
MAX_CHECKOUTS = 1_000_000
#: Most requests (clicks) one run may send: checkouts × (1 + double-click share) × (1 + retries).
MAX_REQUESTS = 10_000_000
#: Most ticks of the reservation reaper in one run (it ticks every min(1 s, TTL / 10)).
MAX_REAPER_TICKS = 1_000_000
#: Most captures the orphan sweeper may look at over a run (passes × checkouts).
MAX_SWEEPER_LOOKUPS = 20_000_000
#: Most customers simulated in one tier of a scale check.
MAX_TIER_CUSTOMERS = 2_000_000
#: Most independent seeded runs of one command.
MAX_REPLICATIONS = 1_000
#: Most points in a sweep's grid.
MAX_SWEEP_POINTS = 10_000
#: Most local worker processes one command may start.
MAX_JOBS = 256
#: Most simulated runs one sweep may make (points x variants x replications).
MAX_SWEEP_RUNS = 100_000


class LimitError(ValueError):
    """A request over one of the limits; ``str()`` is the one-line message."""


def _count(amount: float) -> str:
    """A count for a message: with thousands separators, or in powers of ten when absurd."""
    return f"{amount:,.0f}" if amount < 1e15 else f"{amount:.3g}"


def run_problems(settings: Settings) -> list[str]:
    """What in ``settings`` would make a run do more work than the limits allow."""
    load = settings.load
    saga = settings.saga
    shopper = settings.shopper
    problems = []
    end = load.duration_s + load.drain_s
    checkouts = load.expected_arrivals()
    requests = checkouts * (1 + shopper.double_click_probability) * (1 + shopper.retries_on_timeout)
    if requests > MAX_REQUESTS:
        problems.append(
            f"shopper.retries_on_timeout ({shopper.retries_on_timeout}) with about "
            f"{_count(checkouts)} checkouts could send {_count(requests)} requests, more than "
            f"{MAX_REQUESTS:,} (the limit)"
        )
    tick = min(1.0, saga.reservation_ttl_s / 10)
    if end / tick > MAX_REAPER_TICKS:
        problems.append(
            f"saga.reservation_ttl_s ({saga.reservation_ttl_s}) makes the reservation reaper "
            f"tick every {tick:g} s for {end:g} simulated s: {_count(end / tick)} ticks, more than "
            f"{MAX_REAPER_TICKS:,} (the limit)"
        )
    if saga.sweeper_interval_s > 0:
        passes = float(math.floor(end / saga.sweeper_interval_s))
        lookups = passes * max(checkouts, 1.0) * (1 + shopper.double_click_probability)
        if lookups > MAX_SWEEPER_LOOKUPS:
            problems.append(
                f"saga.sweeper_interval_s ({saga.sweeper_interval_s}) makes "
                f"{_count(passes)} sweeper passes over about {_count(checkouts)} checkouts: "
                f"{_count(lookups)} look-ups, more than {MAX_SWEEPER_LOOKUPS:,} (the limit); "
                "sweep less often"
            )
    return problems


def check_replications(replications: int) -> None:
    """Refuse more replications than ``MAX_REPLICATIONS``."""
    if not 1 <= replications <= MAX_REPLICATIONS:
        raise LimitError(
            f"--replications {replications}: must be from 1 to {MAX_REPLICATIONS:,} (the limit)"
        )


def check_jobs(jobs: int) -> None:
    """Refuse more local worker processes than ``MAX_JOBS``."""
    if not 1 <= jobs <= MAX_JOBS:
        raise LimitError(f"--jobs {jobs}: must be from 1 to {MAX_JOBS} (the limit)")


def check_sweep_points(points: int, replications: int = 1, variants: int = 1) -> None:
    """Refuse a sweep grid of more than ``MAX_SWEEP_POINTS`` points or ``MAX_SWEEP_RUNS`` runs."""
    if points > MAX_SWEEP_POINTS:
        raise LimitError(
            f"--param: the grid has {points:,} points, more than {MAX_SWEEP_POINTS:,} (the limit)"
        )
    check_replications(replications)
    runs = points * replications * variants
    if runs > MAX_SWEEP_RUNS:
        raise LimitError(
            f"sweep: {points:,} points x {variants} variants x {replications} replications is "
            f"{runs:,} runs, more than {MAX_SWEEP_RUNS:,} (the limit)"
        )
