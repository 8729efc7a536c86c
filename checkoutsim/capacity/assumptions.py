"""The capacity plan's inputs: named assumptions with units and sources, and their parsing.

Each default says where its value comes from (the common interview-prep scaling
table or a stated rule of thumb); overrides are checked against the kind of
number each one is, and a bad one is a one-line :class:`CapacityError`.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

#: The widely copied interview-prep table (10M orders/day: 1,000 orders/s at the peak,
#: 41 servers, 10 order shards, 10 Kafka partitions) the defaults are checked against.
MATERIAL = "the common interview-prep scaling table"
RULE = "engineering rule of thumb"
# Above this the O(servers) Erlang search gets slow, and no shop sells this much.
MAXIMUM_ORDERS_PER_DAY = 1e10
#: The most units (shards, partitions, accounts, Redis nodes) a tier may need: an
#: assumption past it (``--set inventory_db.writes_per_order=1e300``) is an
#: error, not a table of 300-digit counts.
MAXIMUM_UNITS = 10_000_000


class CapacityError(ValueError):
    """Bad input to a capacity plan: an unreadable amount or an unknown or invalid assumption."""


# kind -> (test, what the value must be), used to validate overrides.
_KINDS: dict[str, tuple[Callable[[float], bool], str]] = {
    "positive": (lambda value: value > 0, "a number > 0"),
    "fraction": (lambda value: 0 < value < 1, "a number between 0 and 1 (exclusive)"),
    "share": (lambda value: 0 < value <= 1, "a number in (0, 1]"),
    "count": (lambda value: value >= 1 and float(value).is_integer(), "a whole number >= 1"),
    "factor": (lambda value: value >= 1, "a number >= 1 (a peak is never below the average)"),
}


@dataclass(frozen=True)
class Assumption:
    """One named input to the plan, with its unit and where the value comes from."""

    name: str
    value: float
    unit: str
    source: str
    kind: str = "positive"

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: name, value, unit and source."""
        return {"name": self.name, "value": self.value, "unit": self.unit, "source": self.source}


# (name, value, unit, source[, kind]); a table reads better than one argument per line.
# fmt: off
_TABLE: tuple[tuple[Any, ...], ...] = (
    ("traffic.peak_factor", 8.64, "peak / average", f"{MATERIAL}: 1,000 orders/s peak at 10M "
       "orders/day, and 1,000 / (10,000,000 / 86,400) = 8.64", "factor"),
    ("app.requests_per_order", 5, "requests/order", f"{RULE}: cart, address, shipping "
       "quote, payment and confirmation calls; not stated in that scaling table"),
    ("app.service_time_s", 0.04, "s/request", f"{RULE}: 40 ms of server time per request; "
       "with the workers and target below it gives the scaling table's 41 servers"),
    ("app.workers_per_server", 8, "concurrent requests/server", f"{RULE}: one request "
       "at a time per core on an 8-core server", "count"),
    ("app.target_utilisation", 0.6, "fraction", f"{RULE}: 40% headroom, so losing one of "
       "three zones lifts the rest to 90%, not past saturation", "fraction"),
    ("app.max_mean_wait_s", 0.005, "s", f"{RULE}: queueing should add little to a 40 ms "
       "request"),
    ("inventory_db.writes_per_order", 2, "writes/order", f"{RULE}: a conditional stock "
       "decrement at reservation, then a commit or release"),
    ("inventory_db.write_capacity_per_s", 1000, "writes/s per primary", f"{RULE}: small "
       "durable transactions (fsync, synchronous replica) on a modest PostgreSQL primary; "
       "same budget as order_db"),
    ("inventory_db.target_utilisation", 0.5, "fraction", f"{RULE}: half a primary's "
       "ceiling, leaving room for vacuum, backups and a hot shard", "fraction"),
    ("inventory_db.max_mean_wait_s", 0.01, "s", f"{RULE}: a write should queue for no "
       "more than 10 ms on average"),
    ("inventory_db.row_lock_hold_s", 0.005, "s/update", f"{RULE}: a conditional UPDATE "
       "holds its row lock until commit, about 5 ms with a synchronous replica"),
    ("inventory_db.hot_sku_share", 0.1, "fraction of orders", "stated assumption: in a "
       "flash sale one SKU takes a tenth of the peak's orders", "share"),
    ("order_db.writes_per_order", 5, "writes/order", f"{RULE}: order header, order lines "
       "(one batched insert), payment record, outbox event, status update"),
    ("order_db.write_capacity_per_s", 1000, "writes/s per shard", f"{RULE}: as for "
       "inventory_db; with 5 writes/order at 50% it gives the scaling table's 10 shards (100 "
       "orders/s each) at 1,000 orders/s"),
    ("order_db.target_utilisation", 0.5, "fraction", f"{RULE}: as for inventory_db",
       "fraction"),
    ("order_db.max_mean_wait_s", 0.01, "s", f"{RULE}: as for inventory_db"),
    ("kafka.events_per_order", 4, "events/order", f"{RULE}: one event per saga step "
       "(order created, stock reserved, payment captured, order confirmed)"),
    ("kafka.producer_rate_per_partition", 5000, "events/s per partition", f"{RULE}: a few "
       "MB/s of ~1 KB events per partition; partitions = max(load/producer, load/consumer)"),
    ("kafka.consumer_rate_per_partition", 500, "events/s per partition", f"{RULE}: a "
       "consumer works through a partition in order, ~2 ms (one database write) per event"),
    ("kafka.target_utilisation", 0.8, "fraction", f"{RULE}: 20% spare so consumers catch "
       "up after a pause or a rebalance", "fraction"),
    ("kafka.max_mean_wait_s", 0.05, "s", f"{RULE}: consumer lag under 50 ms on average"),
    ("payment_gateway.calls_per_order", 2, "API calls/order", f"{RULE}: authorise, then "
       "capture; retries and refunds add more"),
    ("payment_gateway.rate_limit_per_account", 100, "operations/s per account", "Stripe's "
       "documented default rate limit in live mode (25/s in test mode)"),
    ("payment_gateway.target_utilisation", 0.8, "fraction", f"{RULE}: a fifth below the "
       "limit, so bursts inside a second are not throttled (HTTP 429)", "fraction"),
    ("payment_gateway.max_mean_wait_s", 0.1, "s", f"{RULE}: waiting for the rate limiter "
       "should stay small beside a gateway call"),
    ("payment_gateway.latency_s", 0.5, "s/call", f"{RULE}: an authorisation takes hundreds "
       "of ms (card networks give up around 10 s); used for calls in flight"),
)
# fmt: on
DEFAULTS: tuple[Assumption, ...] = tuple(Assumption(*row) for row in _TABLE)
_DEFAULTS_BY_NAME = {assumption.name: assumption for assumption in DEFAULTS}

_AMOUNT = re.compile(r"((?:\d+(?:_\d+)*(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?)\s*([kmb]?)", re.I)
_MULTIPLIERS = {"": 1.0, "k": 1e3, "m": 1e6, "b": 1e9}


def parse_orders_per_day(text: str | float) -> float:
    """Read an amount such as "10M", "2.5M", "500k", "1e7", "100000000" or "10,000,000"."""
    cleaned = str(text).strip()
    if re.fullmatch(r"\d{1,3}(,\d{3})+(\.\d*)?[kmb]?", cleaned, re.IGNORECASE):
        cleaned = cleaned.replace(",", "")  # thousands separators only: "2,5M" is not 25M
    match = _AMOUNT.fullmatch(cleaned)
    amount = float(match[1]) * _MULTIPLIERS[match[2].lower()] if match else math.nan
    if not 0 < amount <= MAXIMUM_ORDERS_PER_DAY:  # also false for NaN
        raise CapacityError(
            f"cannot read {text!r} as orders per day: expected an amount above 0 and up to "
            f"{MAXIMUM_ORDERS_PER_DAY:.0e}, such as 10M, 2.5M, 500k, 1e7 or 100000000"
        )
    return amount


def resolve_assumptions(
    overrides: Mapping[str, float | str] | None = None,
    defaults: tuple[Assumption, ...] | None = None,
) -> list[Assumption]:
    """The defaults (``DEFAULTS``, or ``defaults``) with ``overrides`` applied; unknown
    names and bad values raise CapacityError."""
    resolved = (
        dict(_DEFAULTS_BY_NAME)
        if defaults is None
        else {assumption.name: assumption for assumption in defaults}
    )
    for name, raw in (overrides or {}).items():
        if name not in resolved:
            close = difflib.get_close_matches(name, list(resolved), n=1)
            # Not the whole list: it would not fit the one error line (every name is in the output).
            hint = (
                f"; did you mean {close[0]!r}?"
                if close
                else f"; none close among the {len(resolved)} that checkoutsim capacity prints"
            )
            raise CapacityError(f"unknown assumption {name!r} (given {raw!r}){hint}")
        default = resolved[name]
        try:
            value = float(raw)
        except (TypeError, ValueError):
            value = math.nan
        test, wanted = _KINDS[default.kind]
        if not math.isfinite(value) or not test(value):
            raise CapacityError(f"assumption {name!r} must be {wanted}, got {raw!r}")
        if default.kind == "count":
            value = int(value)
        if value != default.value:
            source = f"set by the user (default {default.value:g}: {default.source})"
            resolved[name] = replace(default, value=value, source=source)
    return list(resolved.values())
