"""The metrics contract: one flat dict per run, computed from a ``History``.

The model and the real implementation both report exactly these keys (see the
README), so their numbers can be put side by side. Invariant counts come from
the audit's checkers, not from counters the code under test kept about itself.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from checkoutsim.results import audit
from checkoutsim.results.cache_metrics import cache_metrics
from checkoutsim.results.history import History
from checkoutsim.results.objective import judge
from checkoutsim.results.stats import mean_ci95

#: Keys of the metrics contract, in display order.
CONTRACT = (
    "checkouts",
    "orders",
    "sold_out",
    "rejected",
    "payment_failed",
    "order_failed",
    "processing",
    "timed_out",
    "payment_queued",
    "queued_recovered",
    "stock",
    "units_sold",
    "oversold_units",
    "captures",
    "refunds",
    "duplicate_charges",
    "orphan_payments",
    "unpaid_orders",
    "compensations",
    "latency_p50_s",
    "latency_p95_s",
    "latency_p99_s",
    "latency_max_s",
    "throughput_orders_per_s",
    "breaker_open_s",
    "breaker_rejections",
    "retry_queue_max_depth",
    "oversell_rate",
    "duplicate_charge_rate",
    "success_rate",
    "served_rate",
    # The stock cache (``checkoutsim.results.cache_metrics``): only in runs whose
    # shoppers view the product page before checkout.
    "page_views",
    "store_reads_saved",
    "cache_hit_rate",
    "failed_after_in_stock",
    "sold_out_shown_after_s",
)

#: The invariants that decide whether a variant is safe, and their metric.
INVARIANTS = {
    "oversold_units": "oversold",
    "duplicate_charges": "charged twice",
    "orphan_payments": "orphan payments",
    "unpaid_orders": "unpaid orders",
}

#: Counters passed through to the metrics when a run has them.
DIAGNOSTICS = (
    "lock_expirations",
    "fence_rejections",
    "reservations_expired",
    "lock_timeouts",
    "lock_hold_mean_s",
    "blocked_transactions",
    "stalled_by_coordinator",
    "rate_limited",
    "sweeper_refunds",
    "queued_settled",
    "dead_lettered",
    "retry_queue_depth_at_end",
    "row_capacity_per_s",
    "stock_at_end",
    "stock_min",
    "false_sold_outs",
    "stock_constraint_errors",
)


#: Metrics a run's JSON always has, null where they do not apply: ``recovery_s``
#: without a fault window, ``row_capacity_per_s`` where nothing held a row.
NULL_WHERE_ABSENT = ("recovery_s", "row_capacity_per_s")


def compensations(history: History) -> int:
    """Compensations completed: reservations returned to stock plus captures refunded.

    One definition for both bodies, read from the records: the store's
    reservations in state ``released`` (``reservations_released``: released by a
    saga's or a two-phase transaction's compensation, or a parked payment given
    up; not expired by the reaper) and the gateway ledger's refunds, whoever
    made them (the saga, the orphan sweeper, crash recovery). Attempts that
    failed (a refund in a gateway outage, a release of a reservation that had
    already expired) are not compensations: nothing was given back.
    """
    refunds = int(history.ledger["refunded_s"].notna().sum())
    return int(history.counters.get("reservations_released", 0)) + refunds


_TOLD = ("sold_out", "rejected", "payment_failed", "order_failed", "processing", "timed_out")


def summarise(history: History, load_duration_s: float) -> dict[str, float]:
    """Compute the metrics contract (plus diagnostics) for one run."""
    checkouts = history.checkouts
    orders = history.orders
    ledger = history.ledger
    ordered = checkouts["intent_id"].isin(orders["intent_id"])
    told = checkouts.loc[~ordered, "told"].value_counts()
    latency = checkouts["latency_s"].dropna().to_numpy()
    checks = {check.invariant: check for check in audit.audit(history)}
    n_checkouts = len(checkouts)
    n_orders = len(orders)
    units_sold = int(orders["quantity"].sum()) if n_orders else 0
    last_order = float(orders["time_s"].max()) if n_orders else 0.0
    counters = history.counters
    metrics: dict[str, float] = {
        "checkouts": n_checkouts,
        "orders": n_orders,
        **{name: int(told.get(name, 0)) for name in _TOLD},
        "payment_queued": counters.get("payment_queued", 0),
        "queued_recovered": counters.get("queued_recovered", 0),
        "stock": int(sum(history.stock)),
        "units_sold": units_sold,
        "oversold_units": checks["no_oversell"].count,
        "captures": len(ledger),
        "refunds": int(ledger["refunded_s"].notna().sum()),
        "duplicate_charges": checks["one_capture_per_intent"].count,
        "orphan_payments": checks["capture_has_order_or_refund"].count,
        "unpaid_orders": checks["order_is_paid"].count,
        "compensations": compensations(history),
        **_percentiles(latency),
        "throughput_orders_per_s": n_orders / max(load_duration_s, last_order, 1e-9),
        "breaker_open_s": counters.get("breaker_open_s", 0.0),
        "breaker_rejections": counters.get("breaker_rejections", 0),
        "retry_queue_max_depth": counters.get("retry_queue_max_depth", 0),
    }
    if "one_provider_per_intent" in checks:
        # Several gateways: payments captured at two providers (from their ledgers).
        metrics["charged_at_two_providers"] = checks["one_provider_per_intent"].count
    metrics["in_flight"] = int(told.get("in_flight", 0))
    metrics["oversell_rate"] = metrics["oversold_units"] / max(1, units_sold)
    metrics["duplicate_charge_rate"] = metrics["duplicate_charges"] / max(1, n_checkouts)
    metrics["success_rate"] = n_orders / max(1, n_checkouts)
    metrics["served_rate"] = (n_orders + int(told.get("sold_out", 0))) / max(1, n_checkouts)
    if history.fault_windows:
        # Only with a fault window (JSON gives null without one): a NaN in every run
        # would make equal runs compare unequal.
        metrics["recovery_s"], unrecovered = recovery(checkouts, orders, history.fault_windows)
        if unrecovered:
            metrics["fault_windows_unrecovered"] = unrecovered
    for name in DIAGNOSTICS:
        if name in counters:
            metrics[name] = counters[name]
    metrics.update(cache_metrics(history))
    if history.fault_windows:
        metrics["throughput_during_faults_per_s"] = _throughput_in(orders, history.fault_windows)
    if counters.get("inventory_calls"):
        workers = counters["inventory_workers"]
        metrics["inventory_utilisation"] = counters["inventory_busy_s"] / (
            workers * history.duration_s
        )
        metrics["inventory_wait_mean_s"] = (
            counters["inventory_wait_s"] / counters["inventory_calls"]
        )
    return metrics


def _merged(windows: Sequence[tuple[str, float, float]]) -> list[tuple[float, float]]:
    """Fault windows as time spans, overlapping ones merged into their union."""
    spans: list[tuple[float, float]] = []
    for _, start, end in sorted(windows, key=lambda window: window[1]):
        if spans and start <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], end))
        else:
            spans.append((start, end))
    return spans


def recovery(
    checkouts: pd.DataFrame,
    orders: pd.DataFrame,
    windows: Sequence[tuple[str, float, float]],
) -> tuple[float, int]:
    """How soon after a fault window ends the shop serves new shoppers again.

    For each fault window (overlapping ones merged): of the checkouts that
    arrived at or after its end, the earliest moment one of them was served
    (its order confirmed, or it was told sold out), minus the window's end.
    Only checkouts that arrived after the end count, so a backlog drained from
    before the fault (a retry queue's late captures) does not pass for
    recovery. The result is the slowest window's time (NaN with no window, or
    when no checkout arrived after any window's end), and how many windows had
    new checkouts and served none of them (never recovered within the run).
    """
    slowest = math.nan
    unrecovered = 0
    if not windows:
        return slowest, unrecovered
    order_time = orders.groupby("intent_id")["time_s"].min()
    for _, end in _merged(windows):
        fresh = checkouts[checkouts["arrival_s"] >= end]
        if fresh.empty:
            continue  # nobody came after this window: its recovery was not tested
        served_at = fresh["intent_id"].map(order_time)
        sold_out = fresh["told"] == "sold_out"
        served_at = served_at.where(served_at.notna(), fresh["answered_s"].where(sold_out))
        if served_at.notna().any():
            took = float(served_at.min()) - end
            slowest = took if math.isnan(slowest) else max(slowest, took)
        else:
            unrecovered += 1
    return slowest, unrecovered


def _throughput_in(orders: pd.DataFrame, windows: list[tuple[str, float, float]]) -> float:
    """Orders per second inside the fault windows (their union, if they overlap)."""
    spans = _merged(windows)
    times = orders["time_s"].to_numpy()
    inside = sum(int(((times >= start) & (times < end)).sum()) for start, end in spans)
    length = sum(end - start for start, end in spans)
    return inside / length if length > 0 else 0.0


def _percentiles(latency: np.ndarray) -> dict[str, float]:
    """Latency percentiles in seconds (NaN when nobody got an answer)."""
    if latency.size == 0:
        nan = math.nan
        return {
            "latency_p50_s": nan,
            "latency_p95_s": nan,
            "latency_p99_s": nan,
            "latency_max_s": nan,
        }
    p50, p95, p99 = np.percentile(latency, [50, 95, 99])
    return {
        "latency_p50_s": float(p50),
        "latency_p95_s": float(p95),
        "latency_p99_s": float(p99),
        "latency_max_s": float(latency.max()),
    }


def aggregate(runs: Sequence[dict[str, float]]) -> tuple[dict[str, float], dict[str, list[float]]]:
    """Mean of each metric over replications, and its 95% confidence interval."""
    # Every key any replication has: a diagnostic can be missing from one run.
    keys = list(dict.fromkeys(key for run in runs for key in run))
    means: dict[str, float] = {}
    intervals: dict[str, list[float]] = {}
    for key in keys:
        mean, low, high = mean_ci95([float(run.get(key, math.nan)) for run in runs])
        means[key] = _tidy(mean)
        intervals[key] = [_tidy(low), _tidy(high)]
    return means, intervals


def _tidy(value: float) -> float:
    """Whole numbers as ints, everything else rounded for readable JSON."""
    if math.isnan(value):
        return value
    if float(value).is_integer():
        return int(value)
    return round(float(value), 6)


def verdict(
    metrics: Mapping[str, Any], objective: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Safe, or unsafe on which invariants and by how much; with ``objective`` (a
    scenario's ``[objective]`` section as a mapping), whether it was met, figure by figure.
    """
    broken = {key: metrics[key] for key in INVARIANTS if metrics.get(key, 0) > 0}
    result: dict[str, Any] = {"safe": not broken, "violations": broken}
    if objective is not None:
        judgement = judge(metrics, objective)
        result["objective_met"] = judgement["met"]
        result["objective"] = judgement
    return result


def verdict_text(metrics: Mapping[str, Any]) -> str:
    """A short human verdict, e.g. ``unsafe: oversold 37``."""
    result = verdict(metrics)
    if result["safe"]:
        return "safe"
    parts = [f"{INVARIANTS[key]} {_number(value)}" for key, value in result["violations"].items()]
    return "unsafe: " + ", ".join(parts)


def _number(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)
