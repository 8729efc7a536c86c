"""Fill the SimPy model from what a probe knows of its target, and run it.

``model_settings`` is the one place where a target becomes model settings: the
strategy named in the adapter's ``[model]``, its workers, and the service time
measured at light load, spread over the operations the strategy makes. Strategies
the model does not implement yet get an ``Unsupported`` reason instead of a guess;
adding one means adding it to ``STRATEGY_MAP`` and ``QUERIES`` here.

How a service time is spread: the sold-out answer is the strategy's check alone,
so it prices one inventory query (or the strategy's share of one); what an order
takes beyond its queries goes to the payment gateway, which holds no worker and
no row, as the target's work after reserving (a card charge) holds neither.
What the probe's own HTTP client adds to each answer (timed at light load, see
``probe/calibrate.py``) holds nothing at the target: it is added to every
predicted latency rather than given to the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from checkoutsim.experiments.runner import simulate_once
from checkoutsim.probe.adapter import Model
from checkoutsim.probe.at_rate import AT_RATE_FROM
from checkoutsim.probe.calibrate import Calibration
from checkoutsim.scenario.settings import Latency, Settings

#: Adapter strategies the model can run, and the model strategy that stands for each.
#: A lock in one process around check-and-decrement is as safe as one conditional update.
STRATEGY_MAP = {
    "naive": "naive",
    "lock_ttl": "lock_ttl",
    "fenced": "fenced",
    "optimistic": "optimistic",
    "atomic": "atomic",
    # One serving process: an in-process lock serialises check and write, as atomic does.
    "mutex": "atomic",
    "check_then_decrement": "check_then_decrement",
    "decrement_then_check": "decrement_then_check",
    "select_for_update": "select_for_update",
    "queue_per_sku": "queue_per_sku",
}
#: Inventory queries on the (sold-out, ordered) path of each model strategy.
QUERIES = {
    "naive": (1, 2),
    "optimistic": (1, 2),
    "atomic": (1, 1),
    "lock_ttl": (3, 4),
    "fenced": (3, 4),
    "check_then_decrement": (1, 2),
    "decrement_then_check": (1, 1),
    "select_for_update": (2, 2),
    "queue_per_sku": (1, 1),
}
#: Strategies whose race window sits between a read and a write, given as the
#: model's pause after each inventory call (optimistic has no gap of its own).
WINDOWED = ("optimistic",)
#: Strategies that take the window as the model's own check gap
#: (inventory.costs.check_gap_s): paid once, between the read and the write, as the
#: target pays it. A pause after each call would charge an order (read and write)
#: the window twice: 405 ms predicted against 204 ms measured for the write-back
#: shops with a 200 ms window.
GAPPED = ("check_then_decrement", "naive")
#: Where the workers came from when the calibration's paced round set them.
PACED_ROUND = "the calibration's paced round"
#: ... and when the round at the probe's own rate set them (the target fell behind it).
AT_RATE_ROUND = "the calibration's round at the probe's own rate"
#: The shortest query the model is given (a zero query would make every race vanish).
MIN_QUERY_S = 0.0001


class Unsupported(Exception):
    """The model cannot stand for this target yet; ``str()`` says why, in one line."""


@dataclass(frozen=True)
class Filled:
    """The model's settings for a target, and the assumptions they rest on."""

    settings: Settings
    strategy: str
    query_s: float
    after_s: float
    assumptions: list[str]
    #: Seconds the probe's HTTP client adds to every answer (added to predicted latencies).
    client_s: float = 0.0
    #: Where the workers, the query and the client's seconds came from, in words
    #: (``workers``, ``query``, ``client``), so a message can say which timing to doubt.
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def places(self) -> int:
        """Checks the model serves at once: the door's places, or else the inventory's workers."""
        return self.settings.server.acceptors or self.settings.inventory.workers

    @property
    def check_s(self) -> float:
        """Seconds one check holds one of ``places``."""
        server = self.settings.server
        if server.acceptors:
            return server.accept_s
        return self.query_s * QUERIES[self.strategy][0]


def _constant(seconds: float) -> Latency:
    return Latency(distribution="constant", mean_s=max(0.0, seconds))


def model_settings(
    schedule: Settings, model: Model | None, calibration: Calibration, stock: list[int], skus: int
) -> Filled:
    """The probe's schedule as model settings for this target, or ``Unsupported``."""
    if model is None:
        raise Unsupported("the adapter has no [model] section (strategy, workers)")
    strategy = STRATEGY_MAP.get(model.strategy)
    if strategy is None:
        raise Unsupported(f"strategy {model.strategy} needs model support not present yet")
    if calibration.ordered_s is None:
        raise Unsupported("no checkout was ordered at light load, so there is no service time")
    if schedule.catalog.skus > skus:
        raise Unsupported(
            f"the scenario has {schedule.catalog.skus} SKUs and the adapter {skus}: "
            "the model cannot share one SKU's stock between several"
        )
    sold_out_queries, ordered_queries = QUERIES[strategy]
    check = calibration.sold_out_s
    priced = "the sold-out answer"
    if check is None and calibration.stock_read_s is not None:
        check, priced = calibration.stock_read_s, "the stock call (sold out not timed)"
    if check is None:
        check, priced = calibration.ordered_s * sold_out_queries / ordered_queries, "the order"
    workers = model.workers
    served_at_once = ""
    sources = {"workers": "the adapter's [model].workers"}
    overhead = calibration.client_overhead_s
    client = overhead or 0.0
    light_check, paced = check, None
    if overhead is not None:
        sources["client"] = "timed at light load through the run's client"
    if calibration.concurrency is not None and calibration.burst is not None:
        # The target's own limit: a worker of the model is one check it serves at once.
        workers = max(1, min(model.workers, round(calibration.concurrency)))
        answers, seconds = calibration.burst
        # Kept busy, the target answered at answers / seconds: the model's workers
        # must serve at that rate, so each check holds one for workers / rate. Below
        # one at a time, or rounded, that differs from the light-load time: the part
        # of a light-load answer that is not the check stays the client's.
        paced = workers * seconds / answers
        client = max(0.0, check + client - paced)
        at_rate = calibration.at_rate if calibration.pace_from == AT_RATE_FROM else None
        crowd = "at the probe's own rate" if at_rate is not None else "with a few in flight"
        check, priced = paced, f"the rate of sold-out answers {crowd}"
        sources["workers"] = AT_RATE_ROUND if at_rate is not None else PACED_ROUND
        sources["client"] = (
            "the light-load check less the paced rate's check"
            if overhead is None
            else sources["client"] + ", plus the light-load check less the paced rate's check"
        )
        served_at_once = (
            f" (the adapter says {model.workers}; with a few sold-out checkouts in"
            f" flight the target answered up to {answers / seconds:.0f} a second:"
            f" {calibration.concurrency:.1f} light-load checks at a time)"
        )
        if at_rate is not None:
            served_at_once = (
                f" (the adapter says {model.workers}; with the opening of this probe's"
                f" schedule, {at_rate.offered_per_s:,.0f} a second, played against it sold"
                " out, the target"
                f" served {answers / seconds:.0f} checks a second:"
                f" {calibration.concurrency:.1f} light-load checks at a time)"
            )
    if overhead is None and client == 0.0:
        sources.pop("client", None)  # nothing measured, nothing added
    paced_priced = priced
    order_share = calibration.ordered_s / ordered_queries
    query = max(MIN_QUERY_S, min(check / sold_out_queries, order_share))
    if query == MIN_QUERY_S:
        priced = "the model's shortest query (the timed ones were shorter)"
    elif order_share < check / sold_out_queries:
        priced = "the order, its share per query being shorter than the check's"
    # Where the crowd waits (the adapter's [model].queue): at the door, the paced
    # check is the server's own work on the way in, one of ``workers`` at a
    # time, in line, and the inventory then queues nothing: a write after a
    # pause is not put in line behind the crowd's checks, as a pool of
    # connections would put it. An order's answer (its write and its reply)
    # takes the door again for as long, ahead of the line.
    # A read-then-write strategy with no stated window has only its query for a
    # window: that stays as the crowd's pool had it, or the race would vanish.
    unwindowed = strategy in GAPPED + WINDOWED and not model.race_window_s
    door = paced is not None and model.queue == "door" and not unwindowed
    acceptors, accept_s, inventory_workers = 0, 0.0, workers
    if door:
        acceptors, accept_s, inventory_workers = workers, check, model.workers
        sources["door"] = paced_priced
        query, priced = MIN_QUERY_S, "the model's shortest query (the check's time is the door's)"
    sources["query"] = priced
    # A known race window between the read and the write of a read-then-write
    # strategy: the model's pause after each inventory call (held by no worker
    # and no row), so the window does not also hold the row, as a query would.
    window = model.race_window_s if strategy in WINDOWED and model.race_window_s else 0.0
    gap = model.race_window_s if strategy in GAPPED and model.race_window_s else 0.0
    beyond = calibration.ordered_s - accept_s - ordered_queries * (query + window) - gap
    # An order's answer takes the door again for as long as a check, but never
    # for more than the light-load order leaves.
    respond_s = min(accept_s, max(0.0, beyond))
    after = max(0.0, beyond - respond_s)
    served = f"{workers} worker{'s' if workers != 1 else ''}{served_at_once}"
    if door:
        served = (
            f"{workers} at the door{served_at_once}, each held {accept_s * 1000:.2f} ms by"
            f" a request on its way in, in line, and {respond_s * 1000:.2f} ms by an order's"
            ' answer, ahead of the line ([model].queue = "door": a write after the window'
            f" does not wait behind the crowd); {inventory_workers} inventory workers (the"
            " adapter's [model].workers)"
        )
    elif paced is not None and model.queue == "door":
        served += (
            " (the crowd waits for them, not at the door: with no [model].race_window_s"
            " the race window is one query)"
        )
    assumptions = [
        f"{model.strategy} as the model's {strategy}",
        served,
        f"one inventory query {query * 1000:.2f} ms, priced from {priced} "
        "(it holds a worker; a conditional write holds the row too)",
        f"after reserving, {after * 1000:.2f} ms holding "
        + ("its request thread only" if model.request_threads else "nothing"),
    ]
    if model.request_threads:
        assumptions.append(
            f"{model.request_threads} request thread{'s' if model.request_threads != 1 else ''}"
            " (the adapter's [model].request_threads), each held by a request from its"
            " start to its answer: requests beyond them wait before their check"
        )
    if window:
        assumptions.append(
            f"a {window * 1000:g} ms pause after each inventory call stands for the race "
            "window (so sold-out answers are predicted that much slower)"
        )
    if gap:
        assumptions.append(f"a {gap * 1000:g} ms gap between the check and its write")
    client_line = _client_line(client, overhead, light_check, paced)
    if client_line:
        assumptions.append(client_line)
    if len(set(stock)) > 1:
        assumptions.append(f"every SKU starts with {stock[0]} units (the target's: {stock})")
    update: dict[str, Any] = {
        "inventory": schedule.inventory.model_copy(
            update={
                "strategy": strategy,
                "workers": inventory_workers,
                "query": _constant(query),
                "timeout_s": schedule.shopper.timeout_s,
                # Every operation at the one measured query cost; the gap as the user gave it.
                "costs": schedule.inventory.costs.model_copy(
                    update={
                        "read": None,
                        "write": None,
                        "conditional_write": None,
                        "lock": None,
                        "queue": None,
                        "check_gap_s": gap,
                    }
                ),
            }
        ),
        "catalog": schedule.catalog.model_copy(update={"stock_per_sku": stock[0]}),
        "shopper": schedule.shopper.model_copy(
            update={"double_click_probability": 0.0, "retries_on_timeout": 0}
        ),
        "payment": schedule.payment.model_copy(update={"query": _constant(0.0), "retries": 0}),
        "gateway": schedule.gateway.model_copy(
            update={
                "latency": _constant(after),
                "decline_rate": 0.0,
                "error_rate": 0.0,
                "lost_response_rate": 0.0,
                "timeout_s": schedule.shopper.timeout_s,
            }
        ),
        "order": schedule.order.model_copy(update={"latency": _constant(0.0), "failure_rate": 0.0}),
        "load": schedule.load.model_copy(update={"drain_s": schedule.shopper.timeout_s}),
        "server": schedule.server.model_copy(
            update={
                "threads": model.request_threads or 0,
                "acceptors": acceptors,
                "accept_s": accept_s,
                "respond_s": respond_s,
            }
        ),
        "faults": schedule.faults.model_copy(
            update={
                "pause_probability": 1.0 if window else 0.0,
                "pause": _constant(window),
            }
        ),
    }
    settings = schedule.model_copy(update=update)
    return Filled(settings, strategy, query, after, assumptions, client, sources)


def _client_line(
    client: float, overhead: float | None, light_check: float, paced: float | None
) -> str | None:
    """The assumption naming the seconds added to every predicted latency, and each part.

    Only measured parts are named; with neither measured nothing is added, so no line.
    """
    if paced is None:
        if overhead is None:
            return None
        return (
            f"the probe's HTTP client adds {client * 1000:.2f} ms to every answer "
            "(timed at light load through the run's client; added to each predicted latency)"
        )
    # The part of a light-load answer the paced rate does not give the check.
    rest = (
        f"the light-load check's {light_check * 1000:.2f} ms less the paced rate's"
        f" {paced * 1000:.2f} ms"
    )
    floored = ", floored at 0" if light_check + (overhead or 0.0) < paced else ""
    if overhead is None:
        if client == 0.0:
            return None
        return (
            f"{client * 1000:.2f} ms added to each predicted latency as the probe client's:"
            f" {rest} (the client's own overhead not measured)"
        )
    return (
        f"the probe's HTTP client adds {client * 1000:.2f} ms to every answer"
        f" ({overhead * 1000:.2f} ms timed at light load through the run's client, plus"
        f" {rest}{floored}; added to each predicted latency)"
    )


def predict_metrics(filled: Filled, seed: int) -> dict[str, float]:
    """Run the model once on the filled settings (same seed: the probe's own arrivals)."""
    metrics, _ = simulate_once(filled.settings, seed, 0, False)
    # The client's overhead is part of every measured latency, and of none the model sees.
    return {
        key: value + filled.client_s
        if key.startswith("latency_") and isinstance(value, float) and value == value
        else value
        for key, value in metrics.items()
    }
