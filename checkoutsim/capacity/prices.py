"""The prices a capacity plan is costed with: the shipped table and a user's overrides.

The shipped table, ``prices.toml`` beside this module, holds public on-demand
list prices, each with its source (the page and the date it states) and a few
rules of thumb that turn the plan's counts into machines. A user's file has
the same shape and replaces the entries it names; anything wrong in it is a
one-line :class:`~checkoutsim.capacity.assumptions.CapacityError` naming the
file, the entry and the value.
"""

from __future__ import annotations

import difflib
import math
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from checkoutsim.capacity.assumptions import CapacityError

#: The largest figure a prices file may give: far above any real price or count, and
#: low enough that a month of the largest plan stays a finite number (a price of
#: 1e308 would print "$inf" and "nan%").
_CEILING = 1e9

#: What each price may be: the check and the words an error uses.
_KINDS: dict[str, tuple[Callable[[float], bool], str]] = {
    "price": (lambda value: 0 <= value <= _CEILING, f"a number from 0 to {_CEILING:.0e}"),
    "positive": (lambda value: 0 < value <= _CEILING, f"a number above 0, at most {_CEILING:.0e}"),
    "count": (
        lambda value: 1 <= value <= _CEILING and float(value).is_integer(),
        f"a whole number from 1 to {_CEILING:.0e}",
    ),
    "replicas": (
        lambda value: 0 <= value <= _CEILING and float(value).is_integer(),
        f"a whole number from 0 to {_CEILING:.0e}",
    ),
    "percent": (lambda value: 0 <= value < 100, "a percentage from 0 to below 100"),
    "hours": (lambda value: 0 < value <= 744, "a number of hours in (0, 744]"),
}

#: Every price the cost table uses, and its kind. The shipped file must hold exactly these.
KINDS: dict[str, str] = {
    "hours_per_month": "hours",
    "app_server": "price",
    "database_primary": "price",
    "database_replica": "price",
    "replicas_per_primary": "replicas",
    "kafka_broker": "price",
    "kafka_minimum_brokers": "count",
    "kafka_replication_factor": "count",
    "kafka_partitions_per_broker": "count",
    "redis_node": "price",
    "gateway_percent": "percent",
    "gateway_fixed": "price",
    "gateway_account_monthly": "price",
    "order_value": "positive",
    "egress_per_gb": "price",
    "bytes_per_order": "price",
}
_FIELDS = ("value", "unit", "source")


@dataclass(frozen=True)
class Price:
    """One figure of the prices table: its value, unit and where it comes from."""

    name: str
    value: float
    unit: str
    source: str

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: name, value, unit and source."""
        return {"name": self.name, "value": self.value, "unit": self.unit, "source": self.source}


Prices = Mapping[str, Price]


def _number(where: str, name: str, raw: Any) -> float:
    """``raw`` checked against the kind of price ``name`` is."""
    test, wanted = _KINDS[KINDS[name]]
    is_number = isinstance(raw, int | float) and not isinstance(raw, bool)
    if not is_number or not math.isfinite(raw) or not test(raw):
        raise CapacityError(f"{where}: {name}.value must be {wanted}, got {raw!r}")
    return float(raw)


def _entry(where: str, name: str, raw: Any, default: Price | None) -> Price:
    """One entry of a prices file: a table with a value (and a source), or a bare number."""
    if name not in KINDS:
        close = difflib.get_close_matches(name, list(KINDS), n=1)
        # Not the whole list: it would not fit the one error line (every name is in the output).
        hint = (
            f"; did you mean {close[0]!r}?"
            if close
            else f"; none close among the {len(KINDS)} that checkoutsim capacity prints"
        )
        raise CapacityError(f"{where}: unknown price {name!r} (given {raw!r}){hint}")
    table = raw if isinstance(raw, dict) else {"value": raw}
    # An override changes a figure and says where it came from; the unit is what the
    # cost table computes with, so it stays the shipped one.
    fields = _FIELDS if default is None else ("value", "source")
    for field in table:
        if field not in fields:
            raise CapacityError(
                f"{where}: {name}.{field} is not a field a prices file may set (given "
                f"{table[field]!r}); it may set {', '.join(fields)}"
            )
    if "value" not in table:
        raise CapacityError(f"{where}: {name} has no value (given {raw!r})")
    value = _number(where, name, table["value"])
    for field in ("unit", "source"):
        given = table.get(field)  # absent (None) in an override: the default's stays
        if given is not None and (not isinstance(given, str) or not given.strip()):
            raise CapacityError(f"{where}: {name}.{field} must be non-empty text, got {given!r}")
    if default is None:  # the shipped file: every field is required
        missing = [field for field in _FIELDS if field not in table]
        if missing:
            raise CapacityError(f"{where}: {name} has no {missing[0]}")
        return Price(name, value, str(table["unit"]), str(table["source"]))
    source = table.get("source") or f"set in {where} (default {default.value:g}: {default.source})"
    return Price(name, value, default.unit, str(source))


def _read(path: Path | str, text: str, defaults: Prices | None) -> dict[str, Price]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise CapacityError(f"{path}: not valid TOML: {error}") from None
    where = str(path)
    return {
        name: _entry(where, name, raw, None if defaults is None else defaults.get(name))
        for name, raw in data.items()
    }


@lru_cache(maxsize=1)
def default_prices() -> Prices:
    """The shipped prices table (``checkoutsim/capacity/prices.toml``)."""
    shipped = resources.files("checkoutsim.capacity") / "prices.toml"
    prices = _read("prices.toml", shipped.read_text(encoding="utf-8"), None)
    missing = [name for name in KINDS if name not in prices]
    if missing:
        raise CapacityError(f"prices.toml: no price {missing[0]!r}")
    return {name: prices[name] for name in KINDS}


def load_prices(path: Path | str | None) -> Prices:
    """The shipped prices with the entries of the TOML file at ``path`` replacing theirs."""
    prices = dict(default_prices())
    if path is None:
        return prices
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or type(error).__name__
        raise CapacityError(f"{path}: cannot read the prices file: {reason}") from None
    prices.update(_read(path, text, prices))
    return prices
