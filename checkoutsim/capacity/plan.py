"""Capacity planning from orders per day: servers, shards, partitions and gateway accounts.

Every number in a plan comes from a named assumption (with a unit and a source)
and the formulas in :mod:`checkoutsim.capacity.queueing`. The defaults reproduce the
common interview-prep scaling table (10M orders/day on 41 servers and 10 shards) so
that its figures can be checked, and the plan's findings say where that table does not add up.
The plan is then priced (:mod:`checkoutsim.capacity.cost`) from a prices table.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd

from checkoutsim.capacity import queueing
from checkoutsim.capacity.assumptions import (
    DEFAULTS,
    MAXIMUM_ORDERS_PER_DAY,
    MAXIMUM_UNITS,
    Assumption,
    CapacityError,
    parse_orders_per_day,
    resolve_assumptions,
)
from checkoutsim.capacity.cache import cache_figures, resolve_cache_assumptions, split_overrides
from checkoutsim.capacity.cost import CostTable, price_plan
from checkoutsim.capacity.prices import Prices, default_prices

__all__ = [
    "DEFAULTS",
    "MAXIMUM_ORDERS_PER_DAY",
    "Assumption",
    "CapacityError",
    "CapacityPlan",
    "Tier",
    "findings",
    "parse_orders_per_day",
    "plan",
    "resolve_assumptions",
]

SECONDS_PER_DAY = 86_400
MAXIMUM_WORKERS = 10_000_000


# The interview-prep scaling table:
# orders/day -> (peak orders/s, servers, order shards, partitions).
_MATERIAL_TABLE = {10_000_000: (1_000, 41, 10, 10), 100_000_000: (None, 400, 100, 100)}


@dataclass(frozen=True)
class Tier:
    """What one tier needs at the peak: how many units, how busy, how long work queues."""

    tier: str
    count: int
    unit: str
    utilisation: float
    mean_wait_s: float
    p99_wait_s: float
    demand_per_s: float
    why: str


@dataclass(frozen=True)
class CapacityPlan:
    """The resolved assumptions, each tier's needs and the findings, for one daily volume."""

    orders_per_day: float
    average_orders_per_s: float
    peak_orders_per_s: float
    peak_factor: float
    tiers: tuple[Tier, ...]
    assumptions: tuple[Assumption, ...]
    findings: tuple[str, ...] = ()
    #: The stock cache's nodes (``checkoutsim.capacity.cache``), as a tier's fields plus
    #: the page views and store reads behind them; its own assumptions beside.
    cache: dict[str, Any] | None = None
    cache_assumptions: tuple[Assumption, ...] = ()
    #: What the plan costs a month and per order (capacity.cost), at the prices used.
    cost: CostTable | None = None

    def tier(self, name: str) -> Tier:
        """The tier called ``name`` (app, inventory_db, order_db, kafka, payment_gateway)."""
        return next(tier for tier in self.tiers if tier.tier == name)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the ``capacity --json`` output)."""
        data: dict[str, Any] = {"mode": "capacity", **self.__dict__}
        # Every count keeps its tier below saturation, so no wait is infinite here.
        data["tiers"] = [dict(tier.__dict__) for tier in self.tiers]
        data["assumptions"] = [assumption.to_dict() for assumption in self.assumptions]
        data["findings"] = list(self.findings)
        data["cache_assumptions"] = [assumption.to_dict() for assumption in self.cache_assumptions]
        data["cost"] = None if self.cost is None else self.cost.to_dict()
        return data

    def to_frame(self) -> pd.DataFrame:
        """One row per tier."""
        return pd.DataFrame([tier.__dict__ for tier in self.tiers])


Sections = Mapping[str, Mapping[str, float]]


def _sections(assumptions: tuple[Assumption, ...]) -> dict[str, dict[str, float]]:
    """Assumption values grouped by tier: ``sections["app"]["service_time_s"]``."""
    sections: dict[str, dict[str, float]] = {}
    for assumption in assumptions:
        tier, _, key = assumption.name.partition(".")
        sections.setdefault(tier, {})[key] = assumption.value
    return sections


def _keyed_tier(
    given: Mapping[str, float], name: str, unit: str, demand: float, rate: float, why: str
) -> Tier:
    """A tier of separate M/M/1 queues (shards, partitions, accounts) sized for ``demand``/s."""
    if demand / rate / given["target_utilisation"] > MAXIMUM_UNITS:
        raise CapacityError(f"the {name} tier would need over {MAXIMUM_UNITS:,} {unit}")
    count = queueing.partitions_needed(
        demand, rate, given["target_utilisation"], given["max_mean_wait_s"]
    )
    share = demand / count
    mean = queueing.mean_wait(share, rate, 1)
    p99 = queueing.waiting_time_quantile(share, rate, 1, 0.99)
    why = f"{why}; {count:,} × {share:,.0f}/s = {share / rate:.0%} busy, each its own M/M/1 queue"
    return Tier(name, count, unit, share / rate, mean, p99, demand, why)


def _app_tier(peak: float, app: Mapping[str, float]) -> Tier:
    """App servers: one pooled M/M/c queue of workers behind a load balancer (Erlang C)."""
    demand, target = peak * app["requests_per_order"], app["target_utilisation"]
    rate, per_server = 1 / app["service_time_s"], int(app["workers_per_server"])
    if demand / rate / target > MAXIMUM_WORKERS:
        raise CapacityError(f"the app tier would need over {MAXIMUM_WORKERS:,} workers")
    workers = queueing.servers_needed(demand, rate, target, app["max_mean_wait_s"])
    servers = math.ceil(workers / per_server)
    pool = servers * per_server
    inside = queueing.items_in_system(demand, queueing.mean_response_time(demand, rate, pool))
    why = (
        f"{demand:,.0f} requests/s × {1000 / rate:g} ms = {demand / rate:,.0f} busy workers; "
        f"at most {target:.0%} busy needs {workers:,} workers = {servers:,} servers × "
        f"{per_server}; Erlang C P(wait) = {queueing.erlang_c(pool, demand / rate):.3f}; "
        f"{inside:,.0f} requests inside at once (Little's law)"
    )
    mean = queueing.mean_wait(demand, rate, pool)
    p99 = queueing.waiting_time_quantile(demand, rate, pool, 0.99)
    return Tier("app", servers, "servers", demand / rate / pool, mean, p99, demand, why)


def _tiers(peak: float, sections: Sections) -> tuple[Tier, ...]:
    """Every tier at ``peak`` orders/s."""
    tiers = [_app_tier(peak, sections["app"])]
    for name, unit, one in (
        ("inventory_db", "primaries", "primary"),
        ("order_db", "shards", "shard"),
    ):
        given = sections[name]
        rate, demand = given["write_capacity_per_s"], peak * given["writes_per_order"]
        why = f"{demand:,.0f} writes/s; one {one} takes {rate:,.0f} writes/s"
        tiers.append(_keyed_tier(given, name, unit, demand, rate, why))
    kafka = sections["kafka"]
    events = peak * kafka["events_per_order"]
    producer, consumer = kafka["producer_rate_per_partition"], kafka["consumer_rate_per_partition"]
    # A partition must keep up on both sides, so the slower side sets its rate.
    why = f"{events:,.0f} events/s; a partition takes {producer:,.0f}/s in, {consumer:,.0f}/s out"
    why += f" ({'consumers' if consumer < producer else 'producers'} set the count)"
    tiers.append(_keyed_tier(kafka, "kafka", "partitions", events, min(producer, consumer), why))
    gateway = sections["payment_gateway"]
    calls, limit = peak * gateway["calls_per_order"], gateway["rate_limit_per_account"]
    in_flight = queueing.items_in_system(calls, gateway["latency_s"])
    why = f"{calls:,.0f} calls/s against {limit:,.0f} operations/s per account; "
    why += f"{in_flight:,.0f} calls in flight (Little's law)"
    tiers.append(_keyed_tier(gateway, "payment_gateway", "accounts", calls, limit, why))
    return tuple(tiers)


def _gateway_finding(plan: CapacityPlan, sections: Sections) -> str:
    """A gateway account's rate limit against the peak's calls."""
    given, tier = sections["payment_gateway"], plan.tier("payment_gateway")
    limit, per_order = given["rate_limit_per_account"], given["calls_per_order"]
    calls, average_calls = tier.demand_per_s, plan.average_orders_per_s * per_order
    if tier.count == 1:
        return f"Payment gateway: one account ({limit:,.0f}/s) carries {calls:,.0f} calls/s."
    drains = (
        f"never drains: even the daily average, {average_calls:,.0f} calls/s, is over the limit"
        if average_calls > limit
        else f"drains only when demand falls below {limit:,.0f} calls/s"
    )
    return (
        f"Payment gateway rate limit: one account at {limit:,.0f} operations/s carries at most "
        f"{limit / per_order:,.0f} orders/s ({per_order:g} calls each); the "
        f"{plan.peak_orders_per_s:,.0f} orders/s peak makes {calls:,.0f} calls/s, "
        f"{calls / limit:,.1f}× that limit: it takes {tier.count:,} accounts at "
        f"{given['target_utilisation']:.0%} (or a negotiated limit), which 'multiple payment "
        "gateways' must add up to. 'Queue payments for peak handling' on one account builds a "
        f"backlog of {(calls - limit) * 60:,.0f} calls a minute at the peak and {drains}."
    )


def _primary_finding(plan: CapacityPlan, sections: Sections) -> str:
    """The scaling table's single primary beside its sharded orders table."""
    orders, inventory = plan.tier("order_db"), plan.tier("inventory_db")
    writes = orders.demand_per_s + inventory.demand_per_s
    target = sections["order_db"]["target_utilisation"]
    budget = sections["order_db"]["write_capacity_per_s"] * target
    return (
        "One primary beside N shards: the common interview-prep scaling table runs 10M "
        "orders/day on 'PostgreSQL single primary' yet shards the orders table 10 ways at "
        "that volume; both cannot hold. At "
        f"{plan.peak_orders_per_s:,.0f} orders/s the order and inventory databases take "
        f"{writes:,.0f} writes/s, {writes / budget:,.1f}× one primary's {budget:,.0f} writes/s "
        f"budget: {orders.count:,} order shards plus {inventory.count:,} inventory primaries. A "
        f"single primary would need a ceiling of {writes / target:,.0f} writes/s. Orders shard "
        "by user and stock by SKU, so no checkout commits in one transaction (hence the saga)."
    )


def _hot_row_finding(plan: CapacityPlan, sections: Sections) -> str:
    """A flash-sale SKU's single row, which no amount of sharding splits."""
    given = sections["inventory_db"]
    share, hold, target = (
        given["hot_sku_share"],
        given["row_lock_hold_s"],
        given["target_utilisation"],
    )
    rate = plan.peak_orders_per_s * share
    busy = rate * hold
    buckets = math.ceil(busy / target - 1e-9)  # the slack keeps 0.5000000001 at one bucket
    text = (
        f"Inventory lock contention: a SKU taking {share:.0%} of the peak gets {rate:,.0f} "
        f"reservations/s; its row lock, held {hold * 1000:g} ms, allows at most {1 / hold:,.0f}/s, "
        f"so the row is {busy:.0%} busy"
    )
    if busy < 1:
        wait = queueing.mean_wait(rate, 1 / hold, 1)
        text += f" and a reservation queues {wait * 1000:,.1f} ms on average (M/M/1)."
    else:
        text += ": it cannot keep up, however many shards (a row lives on one shard)."
    if buckets > 1:
        text += (
            f" Split the SKU's stock into at least {buckets:,} rows (buckets) at {target:.0%} "
            "each or admit buyers through a queue; optimistic locking keeps the "
            "one-writer-at-a-time ceiling and turns waits into retries."
        )
    return text


def _app_finding(plan: CapacityPlan, sections: Sections) -> str:
    """Whether the utilisation target or the latency bound sets the server count."""
    given, app = sections["app"], plan.tier("app")
    rate, per_server = 1 / given["service_time_s"], int(given["workers_per_server"])
    bound = given["max_mean_wait_s"]
    servers = math.ceil(queueing.servers_needed(app.demand_per_s, rate, 1.0, bound) / per_server)
    if servers >= app.count:
        return f"App servers: the {bound * 1000:g} ms mean-wait bound sets the count."
    busy = app.demand_per_s / (servers * per_server * rate)
    return (
        f"App servers: headroom, not queueing, sets the count. Erlang C meets the "
        f"{bound * 1000:g} ms mean-wait bound with {servers:,} servers ({busy:.1%} busy); the "
        f"{given['target_utilisation']:.0%} target needs {app.count:,}. A count set by a "
        "utilisation target grows in step with load: 10× the orders needs 10× the servers."
    )


def _scaling_table_finding(plan: CapacityPlan) -> str | None:
    """This plan beside the interview-prep scaling table, at the two volumes it states."""
    row = _MATERIAL_TABLE.get(round(plan.orders_per_day))
    if row is None:
        return None
    peak, servers, shards, partitions = row

    def versus(tier: str, theirs: int) -> str:
        mine = plan.tier(tier).count
        return f"{mine:,}" + ("" if mine == theirs else f" ({mine / theirs - 1:+.1%})")

    stated = f"{peak:,} orders/s peak, " if peak else ""
    text = (
        "Against the common interview-prep scaling table at "
        f"{plan.orders_per_day / 1e6:g}M orders/day ({stated}{servers} "
        f"servers, {shards} order shards, {partitions} Kafka partitions): this plan gives "
        f"{plan.peak_orders_per_s:,.0f} orders/s, {versus('app', servers)} servers, "
        f"{versus('order_db', shards)} shards, {versus('kafka', partitions)} partitions."
    )
    if peak is None:  # the 100M row: the table calls 41 -> 400 servers "10x"
        text += f" Its 41 → {servers} servers is {servers / 41:.2g}×, not the 10× it states."
    return text


def findings(plan: CapacityPlan) -> list[str]:
    """What the arithmetic says about the plan and about the scaling table's figures."""
    sections = _sections(plan.assumptions)
    found = [
        _gateway_finding(plan, sections),
        _primary_finding(plan, sections),
        _hot_row_finding(plan, sections),
        _app_finding(plan, sections),
        _scaling_table_finding(plan),
    ]
    return [finding for finding in found if finding]


def plan(
    orders_per_day: float | str,
    peak_factor: float | None = None,
    assumptions: Mapping[str, float | str] | None = None,
    prices: Prices | None = None,
) -> CapacityPlan:
    """Size every tier for ``orders_per_day`` at its peak, and cost it; see the module docstring.

    ``peak_factor`` is a shorthand for the ``traffic.peak_factor`` assumption;
    ``assumptions`` overrides defaults by name (e.g. ``{"app.service_time_s": 0.04}``);
    ``prices`` replaces the shipped prices table (``capacity.prices.load_prices``).
    """
    overrides = dict(assumptions or {})
    if peak_factor is not None:
        given = overrides.get("traffic.peak_factor")
        if given is not None and float(given) != float(peak_factor):
            raise CapacityError(
                f"peak factor given twice: {peak_factor!r} and traffic.peak_factor={given!r}"
            )
        overrides["traffic.peak_factor"] = peak_factor
    overrides, cache_overrides = split_overrides(overrides)
    resolved = tuple(resolve_assumptions(overrides))
    cache_assumptions = resolve_cache_assumptions(cache_overrides)
    sections = _sections(resolved)
    amount = parse_orders_per_day(orders_per_day)
    average, factor = amount / SECONDS_PER_DAY, sections["traffic"]["peak_factor"]
    tiers = _tiers(average * factor, sections)
    draft = CapacityPlan(amount, average, average * factor, factor, tiers, resolved)
    cache = cache_figures(average * factor, cache_assumptions)
    # The cost table prices the Redis nodes sized here (the stock cache is the only
    # Redis tier), so there is one Redis sizing, not a second rule of thumb.
    counts = {tier.tier: tier.count for tier in tiers} | {"redis": cache["count"]}
    cost = price_plan(counts, amount, prices or default_prices())
    return replace(
        draft,
        findings=tuple(findings(draft)),
        cache=cache,
        cache_assumptions=cache_assumptions,
        cost=cost,
    )
