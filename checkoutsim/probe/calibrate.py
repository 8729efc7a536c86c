"""The target at light load: a few checkouts one at a time, timed per kind of answer.

Nothing else runs meanwhile, so each time is the target's service time with no
queueing: what the model needs to cost one checkout. A few orders first; then,
if the adapter can reset the target and the stock is small enough, checkouts
until it sells out and a few more, to time the sold-out answer too (the target
is reset again before the run). Bounded in requests and in seconds.

Those checkouts are timed with a plain client, one connection each; the run's
shoppers use Locust's client, whose own work (its connection, its bookkeeping,
its event loop waking it at the intended instant) a target's answer never
shows. So, once sold out, a few more sold-out checkouts go through the run's
own client and schedule, and the difference of the two is the probe client's
overhead, which ``--predict`` adds to every predicted latency. Last, sold-out
checkouts are played a few in flight at once (the next sent as soon as one is
answered), each on its own connection as in a run: the rate of their answers is
how fast the target, with the run's client beside it on this host, serves a crowd.
A one-process Python server, whatever its threads, answers them nearly one after
another (the GIL), and the queue that forms at higher rates is the target's own.

A crowd of 40 is not the run's crowd, though: at the probe's own rate a target
past its capacity holds hundreds of connections, overflows its listen backlog
and fails requests of its own, and serves fewer checks a second than with 40
in flight. So, last, the steady opening of the probe's own schedule is played
against the sold-out target (``probe/at_rate.py``): when the target fell behind
it, the rate of checks it served there is the one the model is given.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from checkoutsim.probe import target
from checkoutsim.probe.adapter import Adapter
from checkoutsim.probe.at_rate import RateRound, chosen_pace
from checkoutsim.probe.outcome import ERROR, SOLD_OUT, TIMED_OUT

#: Orders timed, and sold-out answers timed.
ORDERS_TIMED = 21
SOLD_OUT_TIMED = 21
#: Orders timed when the target cannot be reset (each one sells a unit for good).
ORDERS_WITHOUT_RESET = 5
#: Stock calls timed.
STOCK_READS = 11
#: Sold-out checkouts a calibration keeps in flight at once, round after round, to
#: see how fast the target answers a crowd. Every round's rate is at most what the
#: target can serve (fewer in flight than it serves at once, or a moment when another
#: process has the cores, only lower it), so the highest is kept. The first round
#: stays within the smallest listen backlog a tutorial server keeps (the standard
#: library's: 5); the rounds stop at the first answer that waited for a TCP connect
#: retry (``CONNECT_RETRY_S``): past it, a round times the backlog, not the target,
#: and that round is not kept. 40 in flight: the Flask shop answered up to 1,497 a
#: second with 40, where 20 had given 1,027 (docs/probe.md).
IN_FLIGHT = (5, 10, 20, 40)
#: Sold-out checkouts a paced round plays: enough answers that the target's pace,
#: not the first connections' set-up, decides their rate. A round with more in
#: flight plays ``PACED_PER_IN_FLIGHT`` times that many, so that twice its
#: in-flight count of answers are timed with the pipeline full, not draining.
PACED = 60
PACED_PER_IN_FLIGHT = 3
#: Linux's first TCP connect retry: a connection the target's full listen backlog
#: dropped is answered this much later, at the earliest.
CONNECT_RETRY_S = 1.0
#: The most checkouts a calibration sends, and its longest wall time.
MAX_REQUESTS = 400
MAX_SECONDS = 30.0


@dataclass
class Calibration:
    """Light-load service time per kind of answer, its median (None if not seen)."""

    ordered_s: float | None
    sold_out_s: float | None
    #: Median time of the stock call: a stand-in for the check when sold out is not timed.
    stock_read_s: float | None = None
    #: Seconds the probe's own HTTP client adds to an answer (None if not measured).
    client_overhead_s: float | None = None
    #: Sold-out checkouts the target served at once when kept busy (None if not measured):
    #: its rate of answers times one answer's light-load service time.
    concurrency: float | None = None
    #: Sold-out answers, and the seconds they took, with a few always in flight.
    burst: tuple[int, float] | None = None
    #: Every paced round played: (in flight, answers, seconds, slowest answer's seconds).
    rounds: list[tuple[int, int, float, float]] = field(default_factory=list)
    #: The round at the probe's own rate (None if not played or too few answers).
    at_rate: RateRound | None = None
    #: Where ``burst`` came from: ``PACED`` or ``AT_RATE`` (None without one).
    pace_from: str | None = None
    samples: dict[str, list[float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        """Plain data for the prediction's JSON."""
        return {
            "ordered_s": self.ordered_s,
            "sold_out_s": self.sold_out_s,
            "stock_read_s": self.stock_read_s,
            "client_overhead_s": self.client_overhead_s,
            "concurrency": self.concurrency,
            "burst": list(self.burst) if self.burst else None,
            "paced_rounds": [
                {
                    "in_flight": in_flight,
                    "answers": answers,
                    "seconds": round(seconds, 6),
                    "per_s": round(answers / seconds, 1) if seconds > 0 else None,
                    "slowest_s": round(slowest, 6),
                    "kept": slowest < CONNECT_RETRY_S,
                }
                for in_flight, answers, seconds, slowest in self.rounds
            ],
            "at_rate": self.at_rate.as_json() if self.at_rate else None,
            "pace_from": self.pace_from,
            "requests": {kind: len(times) for kind, times in self.samples.items()},
            "notes": self.notes,
        }


def paced_checkouts(in_flight: int) -> int:
    """Sold-out checkouts a paced round with ``in_flight`` at once plays."""
    return max(PACED, PACED_PER_IN_FLIGHT * in_flight)


def typical(times: list[float]) -> float | None:
    """The median of ``times`` (None if empty).

    The median, not a lower quartile: the run's answers are timed on the same
    host, with whatever else runs there, and the figure predicted is their
    median. A lower quartile kept the lucky requests and predicted every p50 low
    (the Redis shop's sold-out answers on a quiet host: 1.34 ms lower quartile
    against 1.47 ms median, 3.43 against 3.76 ms through the run's client).
    """
    if not times:
        return None
    return statistics.median(times)


def calibrate(
    base: str,
    adapter: Adapter,
    through_client: Callable[[str, Adapter], list[float]] | None = None,
    paced: Callable[[str, Adapter, int], tuple[int, float, float] | None] | None = None,
    at_rate: Callable[[str, Adapter], RateRound | None] | None = None,
) -> Calibration:
    """Time checkouts one at a time on the first SKU; resets the target before and after.

    ``through_client(base, adapter)`` times sold-out checkouts as the run's client
    sends them (``probe.drive.sold_out_through_client``; passed in, so this module
    needs no Locust); without it the client's overhead is not measured. ``paced``
    plays sold-out checkouts that many in flight at once and returns how many answers
    came in how many seconds, and the slowest answer (``probe.drive.sold_out_paced``).
    ``at_rate(base, adapter)`` plays the opening of the probe's own schedule against
    the sold-out target (``probe.drive.sold_out_at_rate``); see ``chosen_pace``.
    """
    sku = adapter.catalog.skus[0]
    samples: dict[str, list[float]] = {"ordered": [], "sold_out": [], "error": []}
    notes = []
    target.reset(base, adapter)
    can_sell_out = adapter.reset is not None and target.read_stock(base, adapter, sku) <= (
        MAX_REQUESTS - SOLD_OUT_TIMED - ORDERS_TIMED
    )
    reads = []
    for _ in range(STOCK_READS):
        started = time.perf_counter()
        target.read_stock(base, adapter, sku)
        reads.append(time.perf_counter() - started)
    orders_wanted = ORDERS_TIMED if adapter.reset is not None else ORDERS_WITHOUT_RESET
    started = time.monotonic()
    for number in range(MAX_REQUESTS):
        if time.monotonic() - started > MAX_SECONDS:
            notes.append(f"calibration stopped after {MAX_SECONDS:g} s")
            break
        told, seconds = target.checkout_once(base, adapter, sku, f"calibrate-{number}")
        samples[told].append(seconds)
        enough_orders = len(samples["ordered"]) >= orders_wanted
        if len(samples["sold_out"]) >= SOLD_OUT_TIMED or (enough_orders and not can_sell_out):
            break
        if len(samples["error"]) >= orders_wanted and not samples["ordered"]:
            break
    if not can_sell_out:
        notes.append(
            "sold-out answers not timed (no [reset], or too much stock to sell out): "
            "the stock call's time stands in for the check"
        )
    if adapter.reset is None:
        notes.append(f"no [reset]: calibration sold {len(samples['ordered'])} units for good")
    sold_out_s = typical(samples["sold_out"])
    overhead = None
    sold_out_enough = len(samples["sold_out"]) >= SOLD_OUT_TIMED
    if through_client is not None and sold_out_s is not None and sold_out_enough:
        timed = through_client(base, adapter)
        samples["sold_out_through_client"] = timed
        if len(timed) >= SOLD_OUT_TIMED // 2:
            overhead = max(0.0, (typical(timed) or 0.0) - sold_out_s)
    concurrency = None
    timed_burst: tuple[int, float] | None = None
    played: list[tuple[int, int, float, float]] = []
    if paced is not None and sold_out_s is not None and sold_out_enough:
        rounds = []
        for in_flight in IN_FLIGHT:
            kept = paced(base, adapter, in_flight)
            if kept is not None:
                played.append((in_flight, *kept))
            if kept is None or kept[2] >= CONNECT_RETRY_S:
                break
            rounds.append(kept[:2])
        if rounds:
            timed_burst = max(rounds, key=lambda kept: kept[0] / kept[1])
    at_rate_round = None
    if at_rate is not None and sold_out_s is not None and sold_out_enough:
        at_rate_round = at_rate(base, adapter)
        alone = typical(samples.get("sold_out_through_client", []))
        if at_rate_round is not None and alone is not None:
            at_rate_round = replace(at_rate_round, alone_s=alone)
    timed_burst, pace_from = chosen_pace(timed_burst, at_rate_round)
    if timed_burst is not None and sold_out_s is not None:
        answers, seconds = timed_burst
        # Alone, each answer is sold_out_s of the target's work (the model's query);
        # kept busy, it gave answers in seconds: that many at a time.
        concurrency = answers * sold_out_s / seconds
    if overhead is None:
        notes.append("the probe client's own overhead not measured (the target did not sell out)")
    target.reset(base, adapter)
    return Calibration(
        ordered_s=typical(samples["ordered"]),
        sold_out_s=sold_out_s,
        stock_read_s=typical(reads),
        client_overhead_s=overhead,
        concurrency=concurrency,
        burst=timed_burst,
        rounds=played,
        at_rate=at_rate_round,
        pace_from=pace_from,
        samples=samples,
        notes=notes,
    )


def paced_round(
    told: list[str], answered_at: list[float], latencies: list[float], count: int, in_flight: int
) -> tuple[int, float, float] | None:
    """A paced round's (answers, seconds, slowest answer's seconds), or None if not kept.

    ``told``: each of the round's ``count`` checkouts' outcome; ``answered_at``:
    the answers' instants, in order. Kept only when at least half were answered
    sold out, none was an error or timed out, and the pipeline filled: the rate
    is then taken once ``in_flight`` answers were in.
    """
    # A refusal or a reset is answered fast without serving a check: a round with
    # any would count it as served and overstate the pace, so it is not kept.
    if ERROR in told or TIMED_OUT in told:
        return None
    if told.count(SOLD_OUT) < count // 2 or len(answered_at) <= in_flight:
        return None
    slowest = max(latencies, default=0.0)
    return len(answered_at) - in_flight, answered_at[-1] - answered_at[in_flight - 1], slowest
