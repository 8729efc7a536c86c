"""What a probe measured, in the metrics contract: answers, stock, oversell, latency.

The oversell comes from two witnesses that the target does not keep about
itself for us: the answers its shoppers got (units confirmed) against the stock
it had before the run, and its own stock after the run (negative stock, and
decrements it lost: units confirmed that its stock never went down by).
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import numpy as np

from checkoutsim.probe.outcome import ERROR, NOT_STARTED, ORDERED, SOLD_OUT, TIMED_OUT, Outcome


def _percentile(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def metrics(
    outcomes: list[Outcome],
    skus: list[str],
    before: list[int],
    after: list[int] | None,
    run_time_s: float,
) -> dict[str, Any]:
    """The probe's metrics; ``after`` is None when the target could not be read at the end."""
    told: dict[str, int] = defaultdict(int)
    sold: dict[str, int] = defaultdict(int)
    for outcome in outcomes:
        told[outcome.told] += 1
        if outcome.told == ORDERED:
            sold[outcome.sku] += outcome.quantity
    stock = dict(zip(skus, before, strict=True))
    units_sold = sum(sold.values())
    oversold = sum(max(0, sold[sku] - stock[sku]) for sku in skus)
    answered = [o.latency_s for o in outcomes if o.latency_s is not None and o.told != TIMED_OUT]
    result: dict[str, Any] = {
        "checkouts": sum(1 for o in outcomes if o.told != NOT_STARTED),
        "orders": told[ORDERED],
        "sold_out": told[SOLD_OUT],
        "errors": told[ERROR],
        "timed_out": told[TIMED_OUT],
        "not_started": told[NOT_STARTED],
        "stock": sum(before),
        "stock_after": sum(after) if after is not None else None,
        "units_sold": units_sold,
        "oversold_units": oversold,
        "negative_stock_units": sum(max(0, -left) for left in after) if after is not None else None,
        "lost_decrements": (
            max(0, units_sold - (sum(before) - sum(after))) if after is not None else None
        ),
        "latency_p50_s": _percentile(answered, 50),
        "latency_p95_s": _percentile(answered, 95),
        "latency_p99_s": _percentile(answered, 99),
        "latency_max_s": max(answered) if answered else None,
        "latency_ordered_p50_s": _percentile(_latencies(outcomes, ORDERED), 50),
        "latency_sold_out_p50_s": _percentile(_latencies(outcomes, SOLD_OUT), 50),
        "throughput_orders_per_s": told[ORDERED] / run_time_s if run_time_s > 0 else None,
        "oversell_rate": oversold / max(1, units_sold),
        "success_rate": told[ORDERED] / max(1, len(outcomes) - told[NOT_STARTED]),
        "start_lag_p99_s": _percentile([o.lag_s for o in outcomes if o.told != NOT_STARTED], 99),
    }
    return {key: _tidy(value) for key, value in result.items()}


def _latencies(outcomes: list[Outcome], told: str) -> list[float]:
    return [o.latency_s for o in outcomes if o.told == told and o.latency_s is not None]


def _tidy(value: Any) -> Any:
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return round(value, 6)
    return value


def verdict(result: dict[str, Any], complete: bool, healthy: bool) -> dict[str, Any]:
    """Unsafe when units were oversold; safe only from a complete run the host kept up with."""
    if result["oversold_units"] > 0:
        return {"safe": False, "violations": {"oversold_units": result["oversold_units"]}}
    if not complete or not healthy:
        return {"safe": None, "violations": {}}
    return {"safe": True, "violations": {}}
