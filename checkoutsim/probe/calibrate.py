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
overhead, which ``--predict`` adds to every predicted latency. Last, a burst
of sold-out checkouts sent at one instant shows how many the target serves at
once: a one-process Python server, whatever its threads, answers them nearly
one after another (the GIL), and the queue that forms is the target's own.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from checkoutsim.probe import target
from checkoutsim.probe.adapter import Adapter

#: Orders timed, and sold-out answers timed.
ORDERS_TIMED = 21
SOLD_OUT_TIMED = 21
#: Orders timed when the target cannot be reset (each one sells a unit for good).
ORDERS_WITHOUT_RESET = 5
#: Stock calls timed.
STOCK_READS = 11
#: The most checkouts a calibration sends, and its longest wall time.
MAX_REQUESTS = 400
MAX_SECONDS = 30.0


@dataclass
class Calibration:
    """Light-load service time per kind of answer, its lower quartile (None if not seen)."""

    ordered_s: float | None
    sold_out_s: float | None
    #: Median time of the stock call: a stand-in for the check when sold out is not timed.
    stock_read_s: float | None = None
    #: Seconds the probe's own HTTP client adds to an answer (None if not measured).
    client_overhead_s: float | None = None
    #: Sold-out checkouts the target served at once in a burst (None if not measured).
    concurrency: float | None = None
    #: The burst's size and the seconds until its last answer.
    burst: tuple[int, float] | None = None
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
            "requests": {kind: len(times) for kind, times in self.samples.items()},
            "notes": self.notes,
        }


def lower_quartile(times: list[float]) -> float | None:
    """The 25th percentile of ``times`` (None if empty).

    A busy host only ever adds time to a request, never takes it away, so the
    lower quartile is nearer the target's own service time than the median,
    and still not one lucky request.
    """
    if not times:
        return None
    if len(times) < 4:
        return statistics.median(times)
    return statistics.quantiles(times, n=4)[0]


def calibrate(
    base: str,
    adapter: Adapter,
    through_client: Callable[[str, Adapter], list[float]] | None = None,
    burst: tuple[int, Callable[[str, Adapter], float | None]] | None = None,
) -> Calibration:
    """Time checkouts one at a time on the first SKU; resets the target before and after.

    ``through_client(base, adapter)`` times sold-out checkouts as the run's client
    sends them (``probe.drive.sold_out_through_client``; passed in, so this module
    needs no Locust); without it the client's overhead is not measured. ``burst``
    is a size and the function that sends that many sold-out checkouts at once
    and returns the seconds to the last answer (``probe.drive.sold_out_burst``).
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
    sold_out_s = lower_quartile(samples["sold_out"])
    overhead = None
    sold_out_enough = len(samples["sold_out"]) >= SOLD_OUT_TIMED
    if through_client is not None and sold_out_s is not None and sold_out_enough:
        timed = through_client(base, adapter)
        samples["sold_out_through_client"] = timed
        if len(timed) >= SOLD_OUT_TIMED // 2:
            overhead = max(0.0, (lower_quartile(timed) or 0.0) - sold_out_s)
    concurrency, timed_burst = None, None
    if burst is not None and sold_out_s is not None and sold_out_enough:
        size, send = burst
        makespan = send(base, adapter)
        if makespan:
            timed_burst = (size, makespan)
            # Alone, each answer is sold_out_s of the target's work (the model's query);
            # it served size of them in makespan seconds: that many at a time.
            concurrency = size * sold_out_s / makespan
    if overhead is None:
        notes.append("the probe client's own overhead not measured (the target did not sell out)")
    target.reset(base, adapter)
    return Calibration(
        ordered_s=lower_quartile(samples["ordered"]),
        sold_out_s=sold_out_s,
        stock_read_s=lower_quartile(reads),
        client_overhead_s=overhead,
        concurrency=concurrency,
        burst=timed_burst,
        samples=samples,
        notes=notes,
    )
