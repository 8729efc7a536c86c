"""At the target's measured capacity, the p50 is given as a range, not one number.

The model serves sold-out checks at ``workers / (a check's time)`` a second: the
fastest rate the calibration's paced rounds saw (or the adapter's workers at the
light-load time). That rate is a lower bound of what the target can serve (a
round with too few in flight, or a moment when another process had the cores,
only lowers it), not an estimate within a few percent: three calibrations of
the same Flask shop minutes apart found 1,261, 1,212 and 1,027 answers a second,
and a round of 40 in flight 1,497. Near capacity a queue's wait grows as
utilisation / (1 - utilisation): at 0.85, a capacity 15% higher halves it, and
at 1 any error decides between a queue that keeps up and one that grows for the
whole run. So from ``EDGE`` on, the probe's p50 is not predictable within 2x
from the calibration, and ``--predict`` says so: its p50 verdict is
``AT_CAPACITY`` (never counted as within 2x), and it prints the range from the
model with capacity to spare (every check served at once: no queue) to the
model at the measured capacity. The point prediction and its own 2x verdict stay
in the JSON beside the range.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from checkoutsim.probe.model import QUERIES, Filled
from checkoutsim.probe.options import highest_rate

#: Utilisation (the probe's arrival rate over the model's rate of checks) from
#: which the p50 is given as a range rather than judged within 2x.
EDGE = 0.85
#: The p50 verdict at or past ``EDGE``: not a "within" verdict, whatever the numbers.
AT_CAPACITY = "at capacity: not predictable within 2x"


@dataclass(frozen=True)
class Utilisation:
    """The probe's arrivals against the checks the model serves, both per second."""

    offered_per_s: float
    capacity_per_s: float

    @property
    def ratio(self) -> float:
        """Arrivals over capacity (1 or more: the model's queue grows for the whole run)."""
        return self.offered_per_s / self.capacity_per_s

    @property
    def at_edge(self) -> bool:
        """Whether the p50 is given as a range (``EDGE`` or more)."""
        return self.ratio >= EDGE


def utilisation(filled: Filled, orders: float | None = None) -> Utilisation:
    """The highest arrival rate of the probe's schedule against the model's checks a second.

    A sold-out answer is the strategy's check: ``QUERIES[strategy][0]`` queries,
    each holding one of ``workers`` for ``query_s``. The schedule's opening burst,
    if any, is a moment, not a rate, and is left out. ``orders``: the checkouts the
    model predicts will find stock, oversold ones included (without it, the stock):
    each holds a request thread through its order, and the door again at its answer.
    """
    offered = highest_rate(filled.settings)
    check_s = filled.query_s * QUERIES[filled.strategy][0]
    capacity = filled.settings.inventory.workers / check_s
    settings = filled.settings
    # The share of the run's checkouts that find stock (on average).
    if orders is None:
        orders = settings.catalog.stock_per_sku * settings.catalog.skus
    share = min(1.0, orders / max(1.0, settings.load.expected_arrivals()))
    server = settings.server
    if server.acceptors and server.accept_s > 0:
        # A line at the door: every request goes through it on the way in, and
        # the ones that find stock take it again at their answer.
        door_s = server.accept_s + share * server.respond_s
        capacity = min(capacity, server.acceptors / door_s)
    threads = server.threads
    if threads:
        # A request thread is held for its check, a pause after every inventory
        # call (a race window given as one), and, by the requests that find
        # stock, the gap before the write and the rest of the order.
        pause = settings.faults.pause.mean_s if settings.faults.pause_probability else 0.0
        ordering = settings.inventory.costs.check_gap_s + filled.after_s
        capacity = min(capacity, threads / (check_s + pause + share * ordering))
    return Utilisation(offered, capacity)


def with_capacity_to_spare(filled: Filled) -> Filled:
    """The same model with a worker for every checkout the schedule can start: no queue."""
    load = filled.settings.load
    every = math.ceil(load.expected_arrivals() * 1.2) + 1
    workers = max(filled.settings.inventory.workers, min(every, 100_000))
    inventory = filled.settings.inventory.model_copy(update={"workers": workers})
    # And no line for a request thread or at the door either, or the low end still
    # queues (the door's seconds stay: every request still pays them).
    acceptors = max(filled.settings.server.acceptors and workers, 0)
    server = filled.settings.server.model_copy(update={"threads": 0, "acceptors": acceptors})
    settings = filled.settings.model_copy(update={"inventory": inventory, "server": server})
    return Filled(
        settings,
        filled.strategy,
        filled.query_s,
        filled.after_s,
        filled.assumptions,
        filled.client_s,
        filled.sources,
    )


def at_capacity(
    share: Utilisation,
    measured_p50: float | None,
    point_p50: float | None,
    spare_p50: float | None,
    point_verdict: str,
) -> dict[str, Any]:
    """The JSON of a p50 given as a range, and the line that says why."""
    low, high = _ordered(spare_p50, point_p50)
    inside = None
    if measured_p50 is not None and low is not None and high is not None:
        inside = low <= measured_p50 <= high
    where = {True: "inside", False: "outside", None: "not comparable"}[inside]
    line = (
        f"at capacity: the probe's {share.offered_per_s:,.0f} checkouts a second are "
        f"{share.ratio:.2f} of the {share.capacity_per_s:,.0f} checks a second the model serves "
        f"({EDGE:g} or more), and that capacity is a lower bound from the calibration, so the "
        f"p50 is not predictable within 2x: {_ms(low)} (capacity to spare, no queue) to "
        f"{_ms(high)} (the measured capacity); measured {_ms(measured_p50)}, {where} the range"
    )
    return {
        "utilisation": round(share.ratio, 4),
        "offered_per_s": round(share.offered_per_s, 3),
        "capacity_per_s": round(share.capacity_per_s, 3),
        "threshold": EDGE,
        "p50_range_s": [_rounded(low), _rounded(high)],
        "measured_inside": inside,
        "point_verdict": point_verdict,
        "line": line,
    }


def _ordered(spare: float | None, point: float | None) -> tuple[float | None, float | None]:
    """The range's ends, low first (more capacity never queues longer, but say so plainly)."""
    if spare is None or point is None:
        return spare, point
    return min(spare, point), max(spare, point)


def _rounded(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 6)


def _ms(seconds: float | None) -> str:
    return "unknown" if seconds is None else f"{seconds * 1000:.1f} ms"
