"""What a stock cache buys and what it costs at sell-out, computed from a run's records.

Read from the ``History``'s page views (one row per product page a shopper
viewed) and the store's stock changes (one row per reservation, release or
expiry), the same way for the model and the real body:

- ``page_views``: pages viewed; ``store_reads_saved``: those the cache answered
  (each a store read not made); ``cache_hit_rate``: their share.
- ``failed_after_in_stock``: shoppers whose page showed enough units who were
  then told "sold out" by the reservation: what a stale page costs.
- ``sold_out_shown_after_s``: for each SKU that sold out in the store, the time
  from its sell-out (the first moment its units reached zero) to the first page
  view at or after it showing it sold out; the slowest SKU's. Absent when no
  SKU sold out, or none was viewed after it did (``sold_out_never_shown`` counts
  SKUs viewed after their sell-out and never shown sold out).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from checkoutsim.results.history import History


def cache_metrics(history: History) -> dict[str, float]:
    """The cache's figures for one run; empty when shoppers viewed no page."""
    views = history.page_views
    if views is None:
        return {}
    hits = int(views["hit"].astype(bool).sum())
    metrics: dict[str, float] = {
        "page_views": len(views),
        "store_reads_saved": hits,
        "cache_hit_rate": hits / max(1, len(views)),
        "failed_after_in_stock": failed_after_in_stock(history.checkouts, history.orders, views),
    }
    changes = history.stock_changes
    if changes is not None:
        slowest, never = sold_out_shown_after(views, changes, history.stock)
        if not math.isnan(slowest):
            metrics["sold_out_shown_after_s"] = slowest
        if never:
            metrics["sold_out_never_shown"] = never
    return metrics


def failed_after_in_stock(
    checkouts: pd.DataFrame, orders: pd.DataFrame, views: pd.DataFrame
) -> int:
    """Shoppers shown enough units by a page who were then told "sold out" without an order."""
    if views.empty or checkouts.empty:
        return 0
    most_shown = views.groupby("intent_id")["shown"].max()
    shown = checkouts["intent_id"].map(most_shown)
    in_stock = shown.notna() & (shown >= checkouts["quantity"])
    failed = (checkouts["told"] == "sold_out") & ~checkouts["intent_id"].isin(orders["intent_id"])
    return int((in_stock & failed).sum())


def sell_out_times(changes: pd.DataFrame, stock: tuple[int, ...]) -> dict[int, float]:
    """Each SKU's first moment with no units left in the store, from its stock changes.

    A SKU that started with none sold out at time 0. Changes at the same moment
    are applied in the order they were recorded.
    """
    times = {sku: 0.0 for sku, units in enumerate(stock) if units <= 0}
    if changes.empty:
        return times
    ordered = changes.sort_values("time_s", kind="stable")
    for sku, rows in ordered.groupby("sku", sort=True):
        sku = int(sku)
        if sku in times or sku >= len(stock):
            continue
        level = stock[sku] + np.cumsum(rows["delta"].to_numpy())
        empty = np.flatnonzero(level <= 0)
        if empty.size:
            times[sku] = float(rows["time_s"].to_numpy()[empty[0]])
    return times


def sold_out_shown_after(
    views: pd.DataFrame, changes: pd.DataFrame, stock: tuple[int, ...]
) -> tuple[float, int]:
    """The slowest SKU's time from store sell-out to a page first showing it, and how many
    SKUs were viewed after their sell-out and never shown sold out (NaN, 0 without any)."""
    slowest = math.nan
    never = 0
    for sku, sold_out_s in sell_out_times(changes, stock).items():
        after = views[(views["sku"] == sku) & (views["time_s"] >= sold_out_s)]
        if after.empty:
            continue
        showing = after[(after["shown"] >= 0) & (after["shown"] < 1)]
        if showing.empty:
            never += 1
            continue
        took = float(showing["time_s"].min()) - sold_out_s
        slowest = took if math.isnan(slowest) else max(slowest, took)
    return slowest, never
