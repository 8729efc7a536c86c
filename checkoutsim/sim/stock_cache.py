"""The model's stock cache: the policy core's ``CacheTable`` in simulated time.

A cache look-up or fill costs no simulated time (an in-process dictionary, or
a Redis round trip well under the store's query); the store read behind a
miss is an ordinary ``ReadStock`` query, costed by the engine like any other.
Every change of a SKU's available units is recorded (the store's stock
changes, for the time to show "sold out") and, under ``write_invalidated``,
deletes the SKU's entry.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from checkoutsim.policy import ops
from checkoutsim.policy.inventory import InventoryPolicy
from checkoutsim.policy.stock_cache import (
    CacheTable,
    FillCache,
    ReadCache,
    RecordPageView,
)
from checkoutsim.results.history import PAGE_VIEW_COLUMNS, STOCK_CHANGE_COLUMNS
from checkoutsim.scenario.settings import Settings
from checkoutsim.sim import SimStep
from checkoutsim.sim.engine import Engine
from checkoutsim.sim.shoppers import expire_due


class CacheModel:
    """One run's cache table, its page-view records and the store's stock changes."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.env = engine.env
        self.table = CacheTable(settings.cache.policy())
        self.page_views: list[tuple[int, int, float, bool, int]] = []
        self.stock_changes: list[tuple[int, float, int]] = []
        engine.handlers.update(
            {
                ReadCache: self._read,
                FillCache: self._fill,
                RecordPageView: self._record,
            }
        )
        self._watch_stock_writes()

    # --- the operations ------------------------------------------------------------

    def _read(self, op: ReadCache) -> SimStep:
        return self.table.read(op.sku, self.env.now)
        yield  # a generator that takes no time

    def _fill(self, op: FillCache) -> SimStep:
        return self.table.fill(op.sku, op.available, op.read_started_s, self.env.now)
        yield

    def _record(self, op: RecordPageView) -> SimStep:
        self.page_views.append((op.intent_id, op.sku, self.env.now, op.hit, op.shown))
        return None
        yield

    # --- the store's writes -------------------------------------------------------------

    def _watch_stock_writes(self) -> None:
        """Wrap each stock-changing operation's apply step to see what it changed.

        Compares the SKU's available units before and after, so every strategy's
        writes are seen alike, and a write that changed nothing is not one.
        """
        operations = self.engine.inventory_operations
        for kind, (locks_row, apply, cost) in list(operations.items()):
            if kind in (ops.ReadStock, ops.AcquireLock, ops.ReleaseLock):
                continue
            operations[kind] = (locks_row, self._watched(apply), cost)

    def reaper(self, tick_s: float, guard: InventoryPolicy | None = None) -> SimStep:
        """``sim.shoppers.reservation_reaper``, recording the units each expiry returns.

        An expiry under the strategy's lock is an operation, recorded as it lands.
        """
        env, shop = self.env, self.engine.shop
        while True:
            yield env.timeout(tick_s)
            before = list(shop.available)
            if expire_due(self.engine, guard):
                self._record_changes(before)

    def _watched(self, apply: Any) -> Any:
        shop = self.engine.shop

        def watched(operation: Any) -> Any:
            before = list(shop.available)
            result = apply(operation)
            self._record_changes(before)
            return result

        return watched

    def _record_changes(self, before: list[int]) -> None:
        now = self.env.now
        for sku, (old, new) in enumerate(zip(before, self.engine.shop.available, strict=True)):
            if new != old:
                self.stock_changes.append((sku, now, new - old))
                self.table.on_stock_write(sku, now)

    # --- records ------------------------------------------------------------------------

    def page_view_frame(self) -> pd.DataFrame:
        """The page views as the ``History`` holds them."""
        return pd.DataFrame(self.page_views, columns=list(PAGE_VIEW_COLUMNS))

    def stock_change_frame(self) -> pd.DataFrame:
        """The store's stock changes as the ``History`` holds them."""
        return pd.DataFrame(self.stock_changes, columns=list(STOCK_CHANGE_COLUMNS))
