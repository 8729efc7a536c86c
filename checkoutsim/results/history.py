"""What one run leaves behind, in the same shape for the model and the real thing.

A ``History`` holds tidy pandas frames: one row per checkout intent, per
order, per gateway capture, and per second of the timeline, plus the initial
stock and a few counters no table holds. Metrics, audits, reports and
comparisons are all computed from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

CHECKOUT_COLUMNS = (
    "intent_id",
    "arrival_s",
    "sku",
    "quantity",
    "clicks",
    "attempts",
    "told",
    "answered_s",
    "latency_s",
)
ORDER_COLUMNS = ("intent_id", "sku", "quantity", "time_s")
LEDGER_COLUMNS = ("capture_id", "intent_id", "amount", "time_s", "refunded_s")
#: One row per second; the breaker's state is 0 closed (or none), 1 half-open, 2 open.
TIMELINE_COLUMNS = (
    "time_s",
    "available",
    "reserved",
    "in_flight",
    "orders",
    "captures",
    "breaker_state",
    "queue_depth",
)
#: One row per product-page view (``checkoutsim.policy.stock_cache``): whether the
#: cache answered, and the units the page showed (-1: nothing shown).
PAGE_VIEW_COLUMNS = ("intent_id", "sku", "time_s", "hit", "shown")
#: One row per change of a SKU's available units in the store: a reservation
#: (negative) or units returned by a release or an expiry (positive).
STOCK_CHANGE_COLUMNS = ("sku", "time_s", "delta")


@dataclass(frozen=True)
class History:
    """Frames and counters of one run of one variant."""

    checkouts: pd.DataFrame
    orders: pd.DataFrame
    ledger: pd.DataFrame
    timeline: pd.DataFrame
    stock: tuple[int, ...]
    duration_s: float
    counters: dict[str, float] = field(default_factory=dict)
    #: Fault windows as ``(service, start_s, end_s)``, for throughput and shading.
    fault_windows: list[tuple[str, float, float]] = field(default_factory=list)
    #: Intents whose checkout had started and not finished when the run stopped
    #: (``checkoutsim.results.audit.unfinished_checkouts``); the model's runs leave it empty.
    unfinished: tuple[int, ...] = ()
    #: Product-page views (``PAGE_VIEW_COLUMNS``); None when shoppers view no page.
    page_views: pd.DataFrame | None = None
    #: The store's stock changes (``STOCK_CHANGE_COLUMNS``), kept beside page views.
    stock_changes: pd.DataFrame | None = None
