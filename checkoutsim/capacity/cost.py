"""What a capacity plan costs a month and per order, line by line, from a prices table.

Each line is a count times a price: the plan's counts (servers, primaries and
shards, Kafka partitions, Redis nodes, gateway accounts) turned into machines by the rules
of thumb in the prices table, billed for the whole month. Everything is sized
for the peak and runs all month, as on-demand list prices with no autoscaling
or commitment would bill it; the payment fee is per order. Computation only:
``checkoutsim.cli.capacity`` prints it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from checkoutsim.capacity.prices import Price, Prices

#: The lines that are machines and traffic (the rest are the payment provider's fees).
INFRASTRUCTURE = "infrastructure"
PAYMENTS = "payments"


@dataclass(frozen=True)
class CostLine:
    """One line of the cost table: how many of what, at which price, for a month."""

    line: str
    kind: str  # INFRASTRUCTURE or PAYMENTS
    count: float
    unit: str
    unit_price: str  # the price as the table shows it, e.g. "$0.384/hour"
    monthly_usd: float
    per_order_usd: float
    share: float  # of the total
    prices: tuple[str, ...]  # the names of the prices-table entries it uses
    why: str

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {**self.__dict__, "prices": list(self.prices)}


@dataclass(frozen=True)
class CostTable:
    """Every line, the totals, the dominant line, and the prices it used."""

    orders_per_month: float
    lines: tuple[CostLine, ...]
    total_monthly_usd: float
    total_per_order_usd: float
    #: The costliest line; None when every line costs nothing (a prices file of zeros).
    dominant: str | None
    infrastructure_monthly_usd: float
    infrastructure_per_order_usd: float
    infrastructure_dominant: str | None
    prices: tuple[Price, ...]  # in the prices table's order
    findings: tuple[str, ...]

    def line(self, name: str) -> CostLine:
        """The line called ``name``."""
        return next(line for line in self.lines if line.line == name)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (part of ``capacity --json``)."""
        data = dict(self.__dict__)
        data["lines"] = [line.to_dict() for line in self.lines]
        data["prices"] = [price.to_dict() for price in self.prices]
        data["findings"] = list(self.findings)
        return data


def _significant(value: float, digits: int) -> int:
    """Decimals that show ``digits`` significant digits of a positive ``value`` below 1."""
    return max(0, digits - 1 - math.floor(math.log10(value)))


def dollars(value: float) -> str:
    """An amount as the cost table shows it: to the cent from a cent up, else 3 digits."""
    if value == 0 or abs(value) >= 0.01:
        return f"${value:,.2f}"
    return f"${value:,.{_significant(abs(value), 3)}f}"


def share_text(value: float) -> str:
    """A share of the total: one decimal, or enough for two digits near 0 or 100%."""
    if 0 < value < 0.001:
        return f"{value:.{_significant(value * 100, 2)}%}"
    return f"{value:.4%}" if 0.999 < value < 1 else f"{value:.1%}"


def _hourly(count: float, hourly: float, hours: float) -> float:
    return count * hourly * hours


def _draft_lines(
    counts: Mapping[str, int], orders_per_day: float, prices: Prices
) -> list[tuple[str, str, float, str, str, float, tuple[str, ...], str]]:
    """(line, kind, count, unit, unit price, $/month, prices used, why) for every line."""
    value = {name: price.value for name, price in prices.items()}
    hours = value["hours_per_month"]
    orders_per_month = orders_per_day * hours / 24
    lines = []
    servers = counts["app"]
    lines.append(
        ("app servers", INFRASTRUCTURE, servers, "servers", f"${value['app_server']:g}/hour",
         _hourly(servers, value["app_server"], hours), ("app_server", "hours_per_month"),
         f"{servers:,} servers × {hours:g} hours")
    )  # fmt: skip
    primaries = counts["inventory_db"] + counts["order_db"]
    lines.append(
        ("database primaries", INFRASTRUCTURE, primaries, "primaries",
         f"${value['database_primary']:g}/hour",
         _hourly(primaries, value["database_primary"], hours),
         ("database_primary", "hours_per_month"),
         f"{counts['order_db']:,} order shards + {counts['inventory_db']:,} inventory primaries")
    )  # fmt: skip
    replicas = primaries * int(value["replicas_per_primary"])
    lines.append(
        ("database replicas", INFRASTRUCTURE, replicas, "replicas",
         f"${value['database_replica']:g}/hour",
         _hourly(replicas, value["database_replica"], hours),
         ("database_replica", "replicas_per_primary", "hours_per_month"),
         f"{value['replicas_per_primary']:g} per primary × {primaries:,} primaries")
    )  # fmt: skip
    partitions = counts["kafka"]
    copies = partitions * value["kafka_replication_factor"]
    by_partitions = math.ceil(copies / value["kafka_partitions_per_broker"])
    # No queue, no cluster: the minimum applies only to a stage that runs Kafka.
    brokers = max(int(value["kafka_minimum_brokers"]), by_partitions) if partitions else 0
    lines.append(
        ("Kafka brokers", INFRASTRUCTURE, brokers, "brokers", f"${value['kafka_broker']:g}/hour",
         _hourly(brokers, value["kafka_broker"], hours),
         ("kafka_broker", "kafka_minimum_brokers", "kafka_replication_factor",
          "kafka_partitions_per_broker", "hours_per_month"),
         f"{partitions:,} partitions × {value['kafka_replication_factor']:g} copies = "
         f"{copies:,.0f} partition replicas at {value['kafka_partitions_per_broker']:,.0f} per "
         f"broker need {by_partitions:,}; the minimum is {value['kafka_minimum_brokers']:g}")
    )  # fmt: skip
    # One Redis sizing: the nodes the plan sized (capacity.cache, from the read rate,
    # hit rate and a node's throughput), not a second rule of thumb here.
    nodes = counts.get("redis", 0)
    lines.append(
        ("Redis nodes", INFRASTRUCTURE, nodes, "nodes", f"${value['redis_node']:g}/hour",
         _hourly(nodes, value["redis_node"], hours), ("redis_node", "hours_per_month"),
         "the plan's stock_cache tier (page views × (2 − hit rate) against a node's "
         "throughput), the only Redis it sizes")
    )  # fmt: skip
    gigabytes = orders_per_month * value["bytes_per_order"] / 1e9
    lines.append(
        ("egress traffic", INFRASTRUCTURE, gigabytes, "GB", f"${value['egress_per_gb']:g}/GB",
         gigabytes * value["egress_per_gb"], ("egress_per_gb", "bytes_per_order"),
         f"{orders_per_month:,.0f} orders × {value['bytes_per_order']:,.0f} bytes")
    )  # fmt: skip
    fee = value["order_value"] * value["gateway_percent"] / 100 + value["gateway_fixed"]
    lines.append(
        ("gateway fees", PAYMENTS, orders_per_month, "charges",
         f"{value['gateway_percent']:g}% + ${value['gateway_fixed']:.2f}",
         orders_per_month * fee, ("gateway_percent", "gateway_fixed", "order_value"),
         f"one charge per order: {value['gateway_percent']:g}% of "
         f"${value['order_value']:,.2f} + ${value['gateway_fixed']:.2f} = ${fee:,.4g} a charge")
    )  # fmt: skip
    accounts = counts["payment_gateway"]
    lines.append(
        ("gateway accounts", PAYMENTS, accounts, "accounts",
         f"${value['gateway_account_monthly']:g}/month",
         accounts * value["gateway_account_monthly"], ("gateway_account_monthly",),
         f"{accounts:,} accounts for the rate limit; the fee above is per charge, so "
         "spreading charges over more accounts does not add to it")
    )  # fmt: skip
    return lines


def _findings(table: CostTable) -> tuple[str, ...]:
    """Where the money goes, in words."""
    if table.dominant is None:
        return ("Every line costs $0 a month at these prices: no line dominates.",)
    top = table.line(table.dominant)
    total = table.total_monthly_usd
    if table.infrastructure_dominant is None:
        return (
            f"Dominant line: {top.line}, ${top.monthly_usd:,.0f} a month "
            f"({share_text(top.share)} of ${total:,.0f}); infrastructure costs $0 a month "
            "at these prices.",
        )
    infrastructure = table.line(table.infrastructure_dominant)
    infrastructure_share = table.infrastructure_monthly_usd / total if total else 0.0
    found = [
        f"Dominant line: {top.line}, ${top.monthly_usd:,.0f} a month ({share_text(top.share)} "
        f"of ${total:,.0f}), {dollars(top.per_order_usd)} per order.",
        f"Infrastructure (machines and traffic) is ${table.infrastructure_monthly_usd:,.0f} a "
        f"month, {share_text(infrastructure_share)} of the total or "
        f"{dollars(table.infrastructure_per_order_usd)} per order; its largest line is "
        f"{infrastructure.line} (${infrastructure.monthly_usd:,.0f} a month).",
    ]
    fees = table.line("gateway fees")
    percent = next(price for price in table.prices if price.name == "gateway_percent")
    if percent.value >= 0.1 and table.infrastructure_monthly_usd > 0:
        # The percentage part of the fee is value × rate, so a tenth of a point off the
        # rate saves a tenth of a point of the month's order value.
        value = next(price for price in table.prices if price.name == "order_value").value
        saved = table.orders_per_month * value * 0.001
        found.append(
            f"A rate {percent.value:g}% → {percent.value - 0.1:g}% (0.1 percentage point off "
            f"the gateway fee) saves ${saved:,.0f} a month, "
            f"{saved / table.infrastructure_monthly_usd:,.1f}× all infrastructure: at this "
            f"volume the fee ({fees.unit_price}) is the line to negotiate."
        )
    accounts = table.line("gateway accounts")
    found.append(
        f"Gateway accounts: {accounts.count:,.0f} at {accounts.unit_price} each cost "
        f"${accounts.monthly_usd:,.0f} a month; one more account adds {accounts.unit_price} "
        "and moves charges rather than adding them, so its fees are the same per order."
    )
    return tuple(found)


def price_plan(counts: Mapping[str, int], orders_per_day: float, prices: Prices) -> CostTable:
    """The cost of a plan whose tier counts are ``counts`` (keyed by tier name: app,
    inventory_db, order_db, kafka, payment_gateway, and redis, the Redis nodes it runs)."""
    hours = prices["hours_per_month"].value
    orders_per_month = orders_per_day * hours / 24
    drafts = _draft_lines(counts, orders_per_day, prices)
    total = sum(draft[5] for draft in drafts)
    lines = tuple(
        CostLine(
            line,
            kind,
            count,
            unit,
            unit_price,
            monthly,
            monthly / orders_per_month,
            monthly / total if total else 0.0,
            used,
            why,
        )
        for line, kind, count, unit, unit_price, monthly, used, why in drafts
    )
    infrastructure = [line for line in lines if line.kind == INFRASTRUCTURE]
    infrastructure_total = sum(line.monthly_usd for line in infrastructure)
    draft = CostTable(
        orders_per_month=orders_per_month,
        lines=lines,
        total_monthly_usd=total,
        total_per_order_usd=total / orders_per_month,
        dominant=max(lines, key=lambda line: line.monthly_usd).line if total else None,
        infrastructure_monthly_usd=infrastructure_total,
        infrastructure_per_order_usd=infrastructure_total / orders_per_month,
        infrastructure_dominant=(
            max(infrastructure, key=lambda line: line.monthly_usd).line
            if infrastructure_total
            else None
        ),
        prices=tuple(prices.values()),
        findings=(),
    )
    return CostTable(**{**draft.__dict__, "findings": _findings(draft)})
