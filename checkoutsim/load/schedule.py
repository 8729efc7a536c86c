"""The open-model schedule of a load test: the model's own arrivals and clicks.

Intents are drawn exactly as the SimPy shoppers draw them (same streams, same
order of draws), so a load test and a simulation with the same seed see the
same arrival instants, SKUs, quantities and double clicks: common random
numbers across the two bodies. Times are model seconds; the load layer maps
them to wall time with the scenario's time scale.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from checkoutsim.scenario.settings import Settings
from checkoutsim.world.arrivals import arrival_times, streams


@dataclass(frozen=True, slots=True)
class PlannedIntent:
    """One shopper's checkout intent, as planned before the run."""

    intent_id: int
    at_s: float
    sku: int
    quantity: int
    #: Model seconds after the first click that the second comes; None for one click.
    second_click_s: float | None


def plan(settings: Settings, seed: int) -> list[PlannedIntent]:
    """Every intent of the run, in arrival order (``checkoutsim.sim.shoppers`` draws)."""
    rngs = streams(seed, 0)
    rng = rngs["shoppers"]
    catalog = settings.catalog
    shopper = settings.shopper
    hot = catalog.hot_share > 0 and catalog.hot_skus < catalog.skus
    planned = []
    for intent_id, when in enumerate(arrival_times(settings, rngs["arrivals"])):
        if hot and rng.random() < catalog.hot_share:
            sku = rng.randrange(catalog.hot_skus)
        else:
            sku = rng.randrange(catalog.skus)
        quantity = rng.randint(1, catalog.max_quantity) if catalog.max_quantity > 1 else 1
        double = rng.random() < shopper.double_click_probability
        gap = rng.expovariate(1.0 / shopper.double_click_gap_s) if shopper.double_click_gap_s else 0
        planned.append(PlannedIntent(intent_id, when, sku, quantity, gap if double else None))
    return planned


def for_run(
    settings: Settings, run_time_s: float | None = None, rate_per_s: float | None = None
) -> Settings:
    """A variant's settings stretched to a wall-clock run time and wall-clock rate.

    ``run_time_s`` (wall) becomes the arrival process's length in model seconds;
    ``rate_per_s`` (intents per wall second) replaces the scenario's rates.
    Everything else keeps its model-time meaning, compressed by the time scale.
    """
    scale = settings.real.time_scale
    load_update: dict[str, object] = {}
    if run_time_s is not None:
        load_update["duration_s"] = run_time_s / scale
    if rate_per_s is not None:
        load_update["rate_per_s"] = rate_per_s * scale
        load_update["piecewise"] = []
    if not load_update:
        return settings
    load = settings.load.model_copy(update=load_update)
    return settings.model_copy(update={"load": load})


def shoppers_needed(settings: Settings) -> int:
    """How many Locust users can carry the schedule without starting intents late.

    Little's law with a pessimistic time in system (every attempt running to the
    shopper's time-out), plus the opening burst, which arrives all at once.
    """
    load = settings.load
    shopper = settings.shopper
    peak = max([load.rate_per_s, *(rate for _, rate in load.piecewise)])
    time_in_system = shopper.timeout_s * (shopper.retries_on_timeout + 1)
    return math.ceil(peak * time_in_system) + load.burst_size
