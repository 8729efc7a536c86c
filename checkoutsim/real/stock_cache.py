"""The real service's stock cache: the policy core's ``CacheTable``, in process or in Redis.

By default an in-process TTL cache in front of the store (SQLite, or a server
store), one per service process, behind a lock because the executor runs
operations on a pool of threads. Under ``write_invalidated`` each of this
process's stock writes deletes the entry; a ``--workers N`` run has N caches,
and a write in one process does not reach the others'. A run that keeps its
leases in Redis (``--locks redis://``) keeps the cache there too
(``checkoutsim.real.redis_cache``), one cache shared by every process.

Each page view is recorded in memory and written to the shop database's
``page_views`` table when the service saves its counters, so the audit reads
page views as it reads every other record.
"""

from __future__ import annotations

import contextlib
import re
from typing import Any

import pandas as pd

from checkoutsim.policy import ops
from checkoutsim.policy.stock_cache import CacheTable, FillCache, ReadCache, RecordPageView
from checkoutsim.real.runtime import Runtime
from checkoutsim.real.saga_context import SagaContext
from checkoutsim.results.history import PAGE_VIEW_COLUMNS, STOCK_CHANGE_COLUMNS
from checkoutsim.scenario.settings import Settings

PAGE_VIEW_TABLE = """
CREATE TABLE IF NOT EXISTS page_views (
    key TEXT NOT NULL,
    sku INTEGER NOT NULL,
    time_s REAL NOT NULL,
    hit INTEGER NOT NULL,
    shown INTEGER NOT NULL
)
"""
#: A page view as recorded: by the request's idempotency key (the server's intents
#: cannot name a shopper the page turned away).
PAGE_VIEW_KEY_COLUMNS = ("key", "sku", "time_s", "hit", "shown")
#: Stock writes whose result is a reservation id when they took units.
RESERVING_WRITES = (
    ops.DecrementIfAvailable,
    ops.WriteStock,
    ops.CompareAndSetStock,
    ops.DecrementStock,
    ops.ReserveForUpdate,
    ops.DecrementBucket,
)


class RealStockCache:
    """One process's cache table, its lock, its clock and its page-view records."""

    def __init__(self, settings: Settings, runtime: Runtime, table: Any = None) -> None:
        #: The in-process table, or one shared through a server (``redis_cache``),
        #: which needs no lock of this process's.
        self.table = table if table is not None else CacheTable(settings.cache.policy())
        self.shared = table is not None
        self.time = runtime.time
        self._records_lock = runtime.threading.lock()
        self._lock = contextlib.nullcontext() if self.shared else self._records_lock
        self.views: list[tuple[str, int, float, int, int]] = []

    def install(self, handlers: dict[type, Any]) -> None:
        """Add the cache's operations to an executor's handlers and watch its stock writes."""
        handlers[ReadCache] = self._read
        handlers[FillCache] = self._fill
        handlers[RecordPageView] = self._record
        for kind in RESERVING_WRITES:
            handlers[kind] = self._watched(handlers[kind])
        for kind in (ops.ReleaseReservation, ops.ExpireReservation):
            handlers[kind] = self._giving_back(handlers[kind])

    def _giving_back(self, handler: Any) -> Any:
        def gave_back(op: ops.ReleaseReservation | ops.ExpireReservation, saga: SagaContext) -> Any:
            result = handler(op, saga)
            if result is True:
                # A give-back names a reservation, not its SKU: every entry goes.
                self.on_every_sku_written()
            return result

        return gave_back

    def _watched(self, handler: Any) -> Any:
        def watched(op: Any, saga: SagaContext) -> Any:
            result = handler(op, saga)
            if isinstance(result, int) and not isinstance(result, bool):
                with self._lock:
                    self.table.on_stock_write(op.sku, self.time.now())
            return result

        return watched

    def on_every_sku_written(self) -> None:
        """Units went back to stock (a release, an expiry): invalidate every entry."""
        with self._lock:
            self.table.on_every_stock_write(self.time.now())

    # --- the operations ------------------------------------------------------------

    def _read(self, op: ReadCache, saga: SagaContext) -> Any:
        with self._lock:
            return self.table.read(op.sku, self.time.now())

    def _fill(self, op: FillCache, saga: SagaContext) -> bool:
        with self._lock:
            return self.table.fill(op.sku, op.available, op.read_started_s, self.time.now())

    def _record(self, op: RecordPageView, saga: SagaContext) -> None:
        with self._records_lock:
            self.views.append((saga.key, op.sku, self.time.now(), int(op.hit), op.shown))

    # --- records ------------------------------------------------------------------------

    def flush(self, database: Any) -> None:
        """Append the page views recorded since the last flush to ``page_views``."""
        with self._records_lock:
            views, self.views = self.views, []
        with database.write() as conn:
            conn.execute(PAGE_VIEW_TABLE)
            for view in views:
                conn.execute(
                    "INSERT INTO page_views (key, sku, time_s, hit, shown) VALUES (?, ?, ?, ?, ?)",
                    view,
                )


def page_view_rows(shop: Any) -> pd.DataFrame | None:
    """The recorded page views (key, sku, time_s, hit, shown), or None without the table."""
    try:
        rows = shop.execute("SELECT key, sku, time_s, hit, shown FROM page_views").fetchall()
    except Exception:  # no such table: nobody viewed a page (each store names it its own way)
        return None
    return pd.DataFrame([tuple(row) for row in rows], columns=list(PAGE_VIEW_KEY_COLUMNS))


def stock_changes(shop: Any) -> pd.DataFrame:
    """The store's stock changes, read off its reservations: the units each took when
    it was made, and gave back when it was released or expired."""
    rows = shop.execute(
        "SELECT sku, quantity, created_s, state, updated_s FROM reservations ORDER BY id"
    ).fetchall()
    changes = [(sku, float(created), -quantity) for sku, quantity, created, _, _ in rows]
    changes += [
        (sku, float(updated), quantity)
        for sku, quantity, _, state, updated in rows
        if state in ("released", "expired")
    ]
    return pd.DataFrame(changes, columns=list(STOCK_CHANGE_COLUMNS))


def views_by_shopper(views: pd.DataFrame | None, keys: re.Pattern[str]) -> pd.DataFrame | None:
    """Page views filed under the shopper whose key (``keys``, one group: its number)
    viewed them, as ``PAGE_VIEW_COLUMNS``; views of other keys are dropped.

    A shopper the page turned away made no reservation, so the server's intents
    cannot name it: the view's own key does.
    """
    if views is None or "intent_id" in views.columns:
        return views
    text = views["key"].astype(str)
    matches = text.str.fullmatch(keys.pattern)
    frame = views[matches].copy()
    frame["intent_id"] = text[matches].str.extract(keys.pattern, expand=False).astype("int64")
    frame["hit"] = frame["hit"].astype(bool)
    frame["time_s"] = frame["time_s"].astype(float)
    return frame[list(PAGE_VIEW_COLUMNS)].reset_index(drop=True)


def shared_cache_table(store: Any, settings: Settings) -> Any:
    """A cache table in the run's Redis when its leases live there (else None: in process)."""
    leases = getattr(store, "leases", None)
    if leases is None:
        return None
    from checkoutsim.real.redis_cache import RedisCacheTable

    return RedisCacheTable(leases.clients, f"{leases.prefix}cache:", settings.cache.policy())
