"""What a variant's deployment costs per order at the load its run carried.

A scenario whose ``[money]`` section sets ``price_deployment = true`` (the
evolution stages) has each variant priced by the capacity cost table
(:func:`checkoutsim.capacity.cost.price_plan`, the same prices table as
``checkoutsim capacity``) from what the variant runs, not from a capacity plan:

- app instances: ``transaction.coordinators``;
- database primaries: one when the reservation and the order share one database
  (``transaction.protocol = "local_transaction"``), else two, the inventory
  service's and the order service's (the capacity plan's two database tiers),
  each with the prices table's replicas;
- Kafka: ``queue.partitions`` when the retry queue is on, else none (no brokers);
- Redis: the stock cache's nodes (``capacity.cache``) when shoppers read stock
  through a cache, else none;
- gateway accounts: ``faults.gateway_accounts``; the fee: one charge per order,
  on the scenario's ``money.order_value``.

The load is the one the run carried (``throughput_orders_per_s``), held all
day and all month (the machines are billed for the month whatever the load).
Computation only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from checkoutsim.capacity.cache import cache_figures, resolve_cache_assumptions
from checkoutsim.capacity.cost import CostTable, price_plan
from checkoutsim.capacity.prices import Price, Prices, default_prices
from checkoutsim.scenario.settings import Settings

SECONDS_PER_DAY = 86_400


def deployment_counts(settings: Settings, orders_per_s: float) -> dict[str, int]:
    """What a variant runs, keyed as the cost table's counts (see the module)."""
    split = settings.transaction.protocol != "local_transaction"
    cached = settings.cache.page_view and settings.cache.mode != "none"
    redis = 0
    if cached:
        redis = cache_figures(orders_per_s, resolve_cache_assumptions({}))["count"]
    return {
        "app": settings.transaction.coordinators,
        "inventory_db": 1,
        "order_db": 1 if split else 0,
        "kafka": settings.queue.partitions if settings.queue.enabled else 0,
        "redis": redis,
        "payment_gateway": settings.faults.gateway_accounts,
    }


def deployment_cost(
    settings: Settings, orders_per_s: float, prices: Prices | None = None
) -> CostTable:
    """The cost table of what ``settings`` runs, at ``orders_per_s`` all month."""
    table = dict(prices or default_prices())
    unit = table["order_value"].unit
    table["order_value"] = Price(
        "order_value", settings.money.order_value, unit, "the scenario's money.order_value"
    )
    counts = deployment_counts(settings, orders_per_s)
    return price_plan(counts, orders_per_s * SECONDS_PER_DAY, table)


def priced_deployment(settings: Settings, metrics: Mapping[str, float]) -> dict[str, float]:
    """``cost_per_order_usd`` (everything), ``infrastructure_per_million_usd``
    (machines and traffic) and ``infrastructure_monthly_usd`` at the orders the run
    carried; NaN when it carried none."""
    # The run's own carried rate (results.metrics), else orders over the arrival window.
    orders_per_s = metrics.get(
        "throughput_orders_per_s", metrics.get("orders", 0) / settings.load.duration_s
    )
    if not orders_per_s > 0:
        return dict.fromkeys(
            (
                "cost_per_order_usd",
                "infrastructure_per_million_usd",
                "infrastructure_monthly_usd",
            ),
            math.nan,
        )
    cost = deployment_cost(settings, orders_per_s)
    return {
        "cost_per_order_usd": cost.total_per_order_usd,
        # Per million orders: a run's JSON keeps six decimals, too few for a fraction of a cent.
        "infrastructure_per_million_usd": cost.infrastructure_per_order_usd * 1e6,
        "infrastructure_monthly_usd": cost.infrastructure_monthly_usd,
    }
