"""Scale scenarios: size the tiers with the capacity model, then simulate each tier's queue.

For every tier the capacity model's queue is simulated at the peak rate (the
pooled app workers whole; one shard's, partition's or gateway account's share
where units are independent, which is exact for a random split of Poisson
traffic) and its utilisation and mean wait are compared with the analytic
figures. The hot SKU's row is one more queue: it cannot be split by adding
shards. The first bottleneck is the queue with the least headroom.
"""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from checkoutsim.capacity import plan as capacity
from checkoutsim.capacity import queueing
from checkoutsim.scenario.limits import MAX_TIER_CUSTOMERS
from checkoutsim.scenario.settings import Scale, Settings
from checkoutsim.sim.tiers import simulate_station

#: Relative agreement required between simulated and analytic figures.
TOLERANCE = 0.05
#: Waits below this are treated as zero: relative error means nothing there.
WAIT_FLOOR_S = 1e-4


@dataclass(frozen=True)
class TierCheck:
    """One tier: the station simulated, the model's figures and the simulation's."""

    tier: str
    count: int
    unit: str
    simulated: str
    arrival_rate_per_s: float
    service_rate_per_s: float
    servers: int
    model_utilisation: float
    model_mean_wait_s: float
    sim_utilisation: float
    sim_mean_wait_s: float
    sim_p99_wait_s: float
    saturates_at_orders_per_s: float
    agree: bool
    #: Offered more than it can serve: no steady state, so nothing is simulated.
    saturated: bool = False


@dataclass(frozen=True)
class ScaleReport:
    """The capacity plan, the per-tier check, and the first bottleneck."""

    plan: capacity.CapacityPlan
    tiers: list[TierCheck]
    bottleneck: str
    hot_sku_orders_per_s: float

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form, for ``run --json`` of a scale scenario."""
        return {
            "orders_per_day": self.plan.orders_per_day,
            "peak_orders_per_s": self.plan.peak_orders_per_s,
            "hot_sku_orders_per_s": self.hot_sku_orders_per_s,
            "tiers": [asdict(tier) for tier in self.tiers],
            "bottleneck": self.bottleneck,
            "findings": list(self.plan.findings),
            "assumptions": [a.to_dict() for a in self.plan.assumptions],
        }


def _stations(plan: capacity.CapacityPlan) -> list[tuple[str, str, int, float, float, int, str]]:
    """(tier, unit, count, arrival rate, service rate, servers, what is simulated) per queue."""
    given = {a.name: a.value for a in plan.assumptions}
    peak = plan.peak_orders_per_s
    app = plan.tier("app")
    workers = app.count * int(given["app.workers_per_server"])
    stations = [
        (
            "app",
            app.unit,
            app.count,
            app.demand_per_s,
            1 / given["app.service_time_s"],
            workers,
            f"all {workers:,} workers",
        ),
    ]
    rates = {
        "inventory_db": given["inventory_db.write_capacity_per_s"],
        "order_db": given["order_db.write_capacity_per_s"],
        "kafka": min(
            given["kafka.producer_rate_per_partition"], given["kafka.consumer_rate_per_partition"]
        ),
        "payment_gateway": given["payment_gateway.rate_limit_per_account"],
    }
    singular = {
        "primaries": "primary",
        "shards": "shard",
        "partitions": "partition",
        "accounts": "account",
    }
    for name, rate in rates.items():
        tier = plan.tier(name)
        one = singular.get(tier.unit, tier.unit)
        stations.append(
            (
                name,
                tier.unit,
                tier.count,
                tier.demand_per_s / tier.count,
                rate,
                1,
                f"1 {one} of {tier.count:,}",
            )
        )
    hot = peak * given["inventory_db.hot_sku_share"]
    stations.append(
        (
            "hot_sku_row",
            "rows",
            1,
            hot,
            1 / given["inventory_db.row_lock_hold_s"],
            1,
            "the one row",
        )
    )
    return stations


def check(settings: Scale, seed: int) -> ScaleReport:
    """Plan the tiers for the scenario's volume and simulate every tier's queue."""
    plan = capacity.plan(settings.orders_per_day, settings.peak_factor, settings.assumptions)
    children = np.random.SeedSequence([seed, 6]).spawn(len(_stations(plan)))
    checks = []
    for (name, unit, count, arrival, service, servers, what), child in zip(
        _stations(plan), children, strict=True
    ):
        rng = random.Random(int(child.generate_state(1)[0]))
        offered = arrival / (service * servers)
        model_wait = queueing.mean_wait(arrival, service, servers) if offered < 1 else math.inf
        if offered >= 1:
            # An overloaded queue has no steady state to simulate: say so.
            simulated = (offered, math.inf, math.inf)
        else:
            # A busier queue's mean wait converges more slowly (its waits are
            # more correlated), so it gets more customers: about (1 - rho)^-2.
            # (Capped, so that a tier near saturation cannot make the run unbounded.)
            customers = int(
                min(settings.customers_per_tier * 0.25 / (1 - offered) ** 2, MAX_TIER_CUSTOMERS)
            )
            customers = max(customers, settings.customers_per_tier)
            measured = simulate_station(arrival, service, servers, customers, rng)
            simulated = (measured.utilisation, measured.mean_wait_s, measured.p99_wait_s)
        saturated = offered >= 1
        checks.append(
            TierCheck(
                name,
                count,
                unit,
                what,
                arrival,
                service,
                servers,
                offered,
                model_wait,
                *simulated,
                saturates_at_orders_per_s=plan.peak_orders_per_s / offered,
                agree=not saturated
                and _close(simulated[0], offered)
                and _close(simulated[1], model_wait),
                saturated=saturated,
            )
        )
    worst = max(checks, key=lambda tier: tier.model_utilisation)
    verb = "is past saturation" if worst.model_utilisation >= 1 else "has the least headroom"
    bottleneck = (
        f"{worst.tier} {verb}: {worst.model_utilisation:.0%} busy at the peak, "
        f"saturating at {worst.saturates_at_orders_per_s:,.0f} orders/s"
    )
    hot = next(tier.arrival_rate_per_s for tier in checks if tier.tier == "hot_sku_row")
    return ScaleReport(plan, checks, bottleneck, hot)


def _close(simulated: float, model: float) -> bool:
    """Within the tolerance, relatively, or both negligible."""
    if abs(simulated) < WAIT_FLOOR_S and abs(model) < WAIT_FLOOR_S:
        return True
    return abs(simulated - model) <= TOLERANCE * abs(model)


def hot_sku_rate(settings: Scale) -> float:
    """The hot SKU's share of the peak, in orders per second (from the capacity plan)."""
    plan = capacity.plan(settings.orders_per_day, settings.peak_factor, settings.assumptions)
    share = next(a.value for a in plan.assumptions if a.name == "inventory_db.hot_sku_share")
    return plan.peak_orders_per_s * share


def hot_sku_settings(settings: Settings, hot_orders_per_s: float) -> Settings:
    """A variant's settings for the checkout model of the hot SKU's row.

    The checkout model runs the hot SKU's share of the peak against one row
    with stock that does not run out, so the inventory strategies are compared
    on contention alone.
    """
    return settings.model_copy(
        update={
            "load": settings.load.model_copy(update={"rate_per_s": hot_orders_per_s}),
            "catalog": settings.catalog.model_copy(
                update={"skus": 1, "stock_per_sku": 10**9, "hot_share": 0.0}
            ),
        }
    )
