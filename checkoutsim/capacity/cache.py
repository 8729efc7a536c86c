"""The stock cache's nodes (Redis), sized from the page-read rate, the hit rate and a
node's throughput, each a named assumption with its source.

Every product-page view is one cache look-up (``GET``); each miss also reads
the inventory store and fills the entry (``SET``). So the cache takes
``reads × (2 − hit rate)`` operations per second, and the store is left with
``reads × (1 − hit rate)`` reads. A Redis node runs commands on one thread and
keys are routed to one node (hash slots), so each node is its own M/M/1 queue,
sized like the other keyed tiers (``queueing.partitions_needed``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from checkoutsim.capacity import queueing
from checkoutsim.capacity.assumptions import (
    MAXIMUM_UNITS,
    RULE,
    Assumption,
    CapacityError,
    resolve_assumptions,
)

#: Prefix of the cache's assumptions (``--set stock_cache.hit_rate=0.9``).
PREFIX = "stock_cache."
#: The Redis documentation's benchmark page (redis 2.2, doc/Benchmarks.html).
REDIS_BENCHMARKS = (
    "Redis documentation, 'How fast is Redis?' (redis-benchmark, 50 clients, no "
    "pipelining, 256-byte values, one 2.5 GHz Xeon X3320 over loopback): about 110,000 "
    "SETs/s and 81,000 GETs/s per instance; the GET figure, rounded down"
)

# fmt: off
_TABLE: tuple[tuple[Any, ...], ...] = (
    ("stock_cache.page_views_per_order", 20, "page views/order", f"{RULE}: a 5% "
       "product-page-view-to-order conversion; every view reads the SKU's stock"),
    ("stock_cache.hit_rate", 0.95, "fraction of views", "measured: `checkoutsim run "
       "cached-stock --seed 1`, ttl_1s variant, 94.87% at 20 views/s on the key, and "
       "rT / (1 + rT) = 20 / 21 = 95.2% for Poisson views at r = 20/s, TTL T = 1 s",
       "fraction"),
    ("stock_cache.node_ops_per_s", 80_000, "operations/s per node", REDIS_BENCHMARKS),
    ("stock_cache.target_utilisation", 0.5, "fraction", f"{RULE}: half a node's ceiling, "
       "so a node's share of a hot SKU's views, or a failover, does not saturate it",
       "fraction"),
    ("stock_cache.max_mean_wait_s", 0.001, "s", f"{RULE}: a cache look-up should queue "
       "well under a millisecond, or it is no faster than the store"),
)
# fmt: on
DEFAULTS: tuple[Assumption, ...] = tuple(Assumption(*row) for row in _TABLE)


def split_overrides(
    overrides: Mapping[str, float | str],
) -> tuple[dict[str, float | str], dict[str, float | str]]:
    """The overrides of the other tiers, and the cache's (named ``stock_cache.*``)."""
    rest = {name: value for name, value in overrides.items() if not name.startswith(PREFIX)}
    cache = {name: value for name, value in overrides.items() if name.startswith(PREFIX)}
    return rest, cache


def resolve_cache_assumptions(overrides: Mapping[str, float | str]) -> tuple[Assumption, ...]:
    """The cache's assumptions with ``overrides`` applied (CapacityError on a bad one)."""
    return tuple(resolve_assumptions(overrides, DEFAULTS))


def cache_figures(peak_orders_per_s: float, assumptions: tuple[Assumption, ...]) -> dict[str, Any]:
    """The cache tier at the peak: nodes, how busy, waits, and the store reads it saves."""
    given = {assumption.name.removeprefix(PREFIX): assumption.value for assumption in assumptions}
    reads = peak_orders_per_s * given["page_views_per_order"]
    hit_rate = given["hit_rate"]
    operations = reads * (2 - hit_rate)
    rate = given["node_ops_per_s"]
    if operations / rate / given["target_utilisation"] > MAXIMUM_UNITS:
        raise CapacityError(f"the stock_cache tier would need over {MAXIMUM_UNITS:,} Redis nodes")
    nodes = queueing.partitions_needed(
        operations, rate, given["target_utilisation"], given["max_mean_wait_s"]
    )
    share = operations / nodes
    store_reads = reads * (1 - hit_rate)
    why = (
        f"{reads:,.0f} page views/s, {hit_rate:.0%} hits: {reads:,.0f} GETs + "
        f"{store_reads:,.0f} SETs (one per miss) = {operations:,.0f} operations/s; one node "
        f"takes {rate:,.0f}/s; {nodes:,} × {share:,.0f}/s = {share / rate:.0%} busy, each its "
        f"own M/M/1 queue; the store is left {store_reads:,.0f} reads/s of {reads:,.0f}"
    )
    return {
        "tier": "stock_cache",
        "count": nodes,
        "unit": "Redis nodes",
        "utilisation": share / rate,
        "mean_wait_s": queueing.mean_wait(share, rate, 1),
        "p99_wait_s": queueing.waiting_time_quantile(share, rate, 1, 0.99),
        "demand_per_s": operations,
        "why": why,
        "page_views_per_s": reads,
        "store_reads_per_s": store_reads,
        "store_reads_saved_per_s": reads - store_reads,
    }
