"""From the databases and the shoppers' records to a ``History``, an audit and metrics.

The server side (orders, the gateway's ledger, lease grants, stock writes,
counters) is read from the two SQLite files into ``ServerFacts``, which travel as
JSON when the service runs behind HTTP. The client side (what each shopper was
told, and when) comes from the load generator. Together they make the same
``History`` the model produces, so ``checkoutsim.results.metrics.summarise`` and
``checkoutsim.results.audit`` judge both bodies with the same code.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from checkoutsim.policy.inventory import LONG_LOCK_WAIT_S
from checkoutsim.real import races
from checkoutsim.real.database import Database
from checkoutsim.real.gateway import Ledger
from checkoutsim.real.stock_cache import (
    PAGE_VIEW_KEY_COLUMNS,
    page_view_rows,
    stock_changes,
    views_by_shopper,
)
from checkoutsim.real.store import Store
from checkoutsim.results import audit
from checkoutsim.results.history import (
    CHECKOUT_COLUMNS,
    ORDER_COLUMNS,
    STOCK_CHANGE_COLUMNS,
    TIMELINE_COLUMNS,
    History,
)
from checkoutsim.results.metrics import summarise
from checkoutsim.scenario.settings import Faults
from checkoutsim.world.faults import FaultSchedule

GRANT_COLUMNS = ("token", "name", "granted_s", "expires_s", "released_s")
#: Orders with the capture that paid for each (the model records it too: money is
#: matched by capture in both bodies, `checkoutsim.results.audit.orphan_payments`).
REAL_ORDER_COLUMNS = (*ORDER_COLUMNS, "capture_id")
#: Which request's key each server intent was allocated for.
KEY_COLUMNS = ("intent_id", "key")
#: A load generator's keys: ``i<n>`` for shopper n's first request, ``i<n>r<k>`` for
#: its k-th retry under a new key (``checkoutsim.load.shoppers``).
SHOPPER_KEY = re.compile(r"i([0-9]{1,9})(?:r[0-9]{1,9})?", re.ASCII)
WRITE_COLUMNS = ("sku", "lease_token", "fence_token", "accepted", "time_s")
#: One row per durable record of unfinished work
#: (``checkoutsim.results.audit.unfinished_checkouts``).
OPEN_COLUMNS = ("intent_id", "key", "record")
#: Figures of one process's own breaker: each process of a ``--workers`` run has
#: its own, as each instance of a service would, and all of them see the same
#: outage; the run reports the longest (the model's one breaker is one instance).
LONGEST = ("breaker_open_s",)
#: Counters each service process keeps in memory and saves when it closes.
#: (Lock timeouts, blocked transactions, coordinator stalls and compensations are
#: counted from the records instead: ``collect``.)
PROCESS_COUNTERS = (
    "gateway_calls",
    "sweeper_refunds",
)


@dataclass(frozen=True)
class ServerFacts:
    """What the shop database and the gateway's ledger hold after a run."""

    orders: pd.DataFrame
    ledger: pd.DataFrame
    grants: pd.DataFrame
    writes: pd.DataFrame
    stock: tuple[int, ...]
    counters: dict[str, float] = field(default_factory=dict)
    keys: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(KEY_COLUMNS)))
    #: Durable records of work unfinished when the facts were read (``OPEN_COLUMNS``).
    open_records: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=list(OPEN_COLUMNS))
    )
    #: Product-page views (``stock_cache.PAGE_VIEW_KEY_COLUMNS``, by request key;
    #: ``by_shopper`` files them by shopper) and the store's stock changes; None
    #: when nobody viewed a page.
    page_views: pd.DataFrame | None = None
    stock_changes: pd.DataFrame | None = None

    def shifted(self, offset_s: float) -> ServerFacts:
        """The same facts with every time moved ``offset_s`` earlier (another origin)."""
        if offset_s == 0:
            return self

        def shift(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
            frame = frame.copy()
            for column in columns:
                frame[column] = frame[column] - offset_s
            return frame

        return replace(
            self,
            orders=shift(self.orders, ["time_s"]),
            ledger=shift(self.ledger, ["time_s", "refunded_s"]),
            grants=shift(self.grants, ["granted_s", "expires_s", "released_s"]),
            writes=shift(self.writes, ["time_s"]),
            page_views=None if self.page_views is None else shift(self.page_views, ["time_s"]),
            stock_changes=None
            if self.stock_changes is None
            else shift(self.stock_changes, ["time_s"]),
        )

    def to_json(self) -> dict[str, Any]:
        """Plain data (NaN as null) for ``GET /audit?history=1``."""

        def rows(frame: pd.DataFrame) -> list[list[Any]]:
            return [
                [None if isinstance(v, float) and math.isnan(v) else v for v in row]
                for row in frame.astype(object).itertuples(index=False, name=None)
            ]

        return {
            "orders": rows(self.orders),
            "ledger": rows(self.ledger),
            "grants": rows(self.grants),
            "writes": rows(self.writes),
            "stock": list(self.stock),
            "counters": self.counters,
            "keys": rows(self.keys),
            "open_records": rows(self.open_records),
            "page_views": None if self.page_views is None else rows(self.page_views),
            "stock_changes": None if self.stock_changes is None else rows(self.stock_changes),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ServerFacts:
        """Rebuild facts sent by ``to_json``."""
        return cls(
            orders=_frame(data["orders"], _order_columns(data["orders"])),
            ledger=_frame(data["ledger"], _ledger_columns(data["ledger"])),
            grants=_frame(data["grants"], GRANT_COLUMNS),
            writes=_frame(data["writes"], WRITE_COLUMNS),
            stock=tuple(int(units) for units in data["stock"]),
            counters=dict(data["counters"]),
            keys=_frame(data.get("keys", []), KEY_COLUMNS),
            open_records=_frame(data.get("open_records", []), OPEN_COLUMNS),
            page_views=None
            if data.get("page_views") is None
            else _frame(data["page_views"], PAGE_VIEW_KEY_COLUMNS),
            stock_changes=None
            if data.get("stock_changes") is None
            else _frame(data["stock_changes"], STOCK_CHANGE_COLUMNS),
        )


def _order_columns(rows: list[list[Any]]) -> Sequence[str]:
    """The columns of orders sent as rows: with the paying capture, or without (model-shaped)."""
    if rows and len(rows[0]) == len(ORDER_COLUMNS):
        return ORDER_COLUMNS
    return REAL_ORDER_COLUMNS


def _frame(rows: list[list[Any]], columns: Sequence[str]) -> pd.DataFrame:
    """A frame from rows, with float columns for times (None becomes NaN)."""
    frame = pd.DataFrame(rows, columns=list(columns))
    for column in columns:
        if column.endswith("_s"):
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    return frame


def collect(store: Store, ledger: Ledger) -> ServerFacts:
    """Read the server-side facts of a run (blocking: call from a thread or after it)."""
    shop = store.db.read()
    orders = _frame(
        shop.execute(
            "SELECT intent_id, sku, quantity, created_s, capture_id FROM orders ORDER BY id"
        ).fetchall(),
        REAL_ORDER_COLUMNS,
    )
    # Every capture follows its saga's reservation, which names the request's key.
    keys = _frame(
        shop.execute(
            "SELECT intent_id, MIN(saga_key) FROM reservations GROUP BY intent_id"
        ).fetchall(),
        KEY_COLUMNS,
    )
    # Leases held in Redis are read from Redis's own records of its grants.
    leases = getattr(store, "leases", None)
    recorded = _frame(
        leases.grants()
        if leases is not None
        else shop.execute(
            "SELECT token, name, granted_s, expires_s, released_s, asked_s FROM lock_grants"
            " ORDER BY token"
        ).fetchall(),
        (*GRANT_COLUMNS, "asked_s"),
    )
    grants = recorded[list(GRANT_COLUMNS)]
    writes = _frame(
        shop.execute(
            "SELECT sku, lease_token, fence_token, accepted, time_s FROM stock_writes ORDER BY id"
        ).fetchall(),
        WRITE_COLUMNS,
    )
    stock = tuple(row[0] for row in shop.execute("SELECT initial FROM inventory ORDER BY sku"))
    counters: dict[str, float] = dict.fromkeys(PROCESS_COUNTERS, 0)
    for (saved,) in shop.execute("SELECT counters FROM service_counters"):
        for name, value in json.loads(saved).items():
            if name in LONGEST:
                counters[name] = max(counters.get(name, 0), value)
            else:
                counters[name] = counters.get(name, 0) + value
    now = store.time.now()
    lapsed = (grants["released_s"].isna() & (grants["expires_s"] <= now)) | (
        grants["released_s"] > grants["expires_s"]
    )
    counters["lock_grants"] = len(grants)
    # Lock waits from the records: grants made after a long wait, and waits given up.
    timeouts = shop.execute("SELECT asked_s, gave_up_s FROM lock_timeouts").fetchall()
    counters["lock_timeouts"] = len(timeouts)
    counters["stalled_by_coordinator"] = shop.execute(
        "SELECT COUNT(*) FROM coordinator_stalls"
    ).fetchone()[0]
    long_grants = (recorded["granted_s"] - recorded["asked_s"]) >= LONG_LOCK_WAIT_S
    counters["blocked_transactions"] = int(long_grants.sum()) + sum(
        gave_up - asked >= LONG_LOCK_WAIT_S for asked, gave_up in timeouts
    )
    held = grants["released_s"] - grants["granted_s"]
    counters["lock_hold_mean_s"] = float(held.mean()) if held.notna().any() else 0.0
    counters["lock_expirations"] = int(lapsed.sum())
    counters["fence_rejections"] = int(
        ((writes["accepted"] == 0) & writes["fence_token"].notna()).sum()
    )
    counters["reservations_expired"] = shop.execute(
        "SELECT COUNT(*) FROM reservations WHERE state = 'expired'"
    ).fetchone()[0]
    # Compensations are counted from these rows and the ledger's refunds
    # (``checkoutsim.results.metrics``), not from a counter kept beside them.
    counters["reservations_released"] = shop.execute(
        "SELECT COUNT(*) FROM reservations WHERE state = 'released'"
    ).fetchone()[0]
    counters["unfinished_sagas"] = shop.execute(
        "SELECT COUNT(*) FROM saga_log WHERE step IN ('reserved', 'captured')"
    ).fetchone()[0]
    if (
        isinstance(store.db, Database)
        and shop.execute(
            "SELECT COUNT(*) FROM sqlite_master WHERE name = 'stock_marks'"
        ).fetchone()[0]
    ):
        counters.update(races.marks(store))
    views = page_view_rows(shop)
    return ServerFacts(
        orders,
        ledger.frame(),
        grants,
        writes,
        stock,
        counters,
        keys,
        open_records(store),
        page_views=views,
        stock_changes=None if views is None else stock_changes(shop),
    )


def by_shopper(facts: ServerFacts) -> ServerFacts:
    """The facts with each server intent replaced by the shopper whose key it served.

    The server names intents itself, one per key; a load generator names its
    shoppers by key (``SHOPPER_KEY``), so a shopper's double click and its retries
    under the same key or a new one are all filed under the shopper's number, as
    the model files them under one intent. Intents of other keys keep the
    server's ids, which start above any shopper's number.
    """
    shopper: dict[int, int] = {}
    for intent, key in facts.keys.itertuples(index=False, name=None):
        match = SHOPPER_KEY.fullmatch(str(key))
        if match is not None:
            shopper[int(intent)] = int(match.group(1))
    if not shopper:
        return facts

    def renamed(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.copy()
        mapped = frame["intent_id"].map(shopper)
        frame["intent_id"] = mapped.fillna(frame["intent_id"]).astype("int64")
        return frame

    return replace(
        facts,
        orders=renamed(facts.orders),
        ledger=renamed(facts.ledger),
        open_records=renamed(facts.open_records),
        page_views=views_by_shopper(facts.page_views, SHOPPER_KEY),
    )


def _ledger_columns(rows: list[list[Any]]) -> tuple[str, ...]:
    """The ledger's columns; with several gateways each row also names its provider."""
    columns = ("capture_id", "intent_id", "amount", "time_s", "refunded_s")
    return (*columns, "gateway") if rows and len(rows[0]) == len(columns) + 1 else columns


def open_records(store: Store) -> pd.DataFrame:
    """Durable records of unfinished checkouts: open saga steps, started keys, parked payments."""
    shop = store.db.read()
    rows = shop.execute(
        "SELECT intent_id, key, step FROM saga_log WHERE step IN ('reserved', 'captured')"
        " UNION ALL SELECT intent_id, key, 'started' FROM requests"
        " WHERE recovery_point = 'started'"
    ).fetchall()
    # The retry queue's table exists only when the scenario enables the queue,
    # and each database names the missing-table error its own way.
    with contextlib.suppress(Exception):
        rows += shop.execute(
            "SELECT intent_id, key, 'parked' FROM parked_payments"
            " WHERE state IN ('queued', 'in_flight')"
        ).fetchall()
    return pd.DataFrame([tuple(row) for row in rows], columns=list(OPEN_COLUMNS))


def checkout_frame(records: Sequence[Sequence[Any]]) -> pd.DataFrame:
    """One row per intent from shopper records (``checkoutsim.load.shoppers``)."""
    frame = pd.DataFrame(
        [tuple(record[:8]) for record in records], columns=list(CHECKOUT_COLUMNS[:-1])
    )
    frame = frame.sort_values("intent_id", kind="stable").reset_index(drop=True)
    answered = frame["answered_s"] >= 0
    frame["latency_s"] = np.where(answered, frame["answered_s"] - frame["arrival_s"], np.nan)
    return frame


def build_history(
    checkouts: pd.DataFrame,
    facts: ServerFacts,
    timeline: Sequence[Sequence[float]],
    duration_s: float,
    faults: Faults | None = None,
    running: Sequence[int] = (),
) -> History:
    """The run's ``History``, in the model's shape and units (model seconds).

    ``faults`` are the scenario's fault windows, so that the metrics measure
    throughput inside them, as the model's do. ``running`` lists the
    idempotency keys of requests still being served when the run stopped:
    with the store's durable records they name the unfinished checkouts.
    """
    counters = {key: value for key, value in facts.counters.items() if key != "unfinished_sagas"}
    return History(
        checkouts=checkouts,
        orders=facts.orders,
        ledger=facts.ledger,
        timeline=pd.DataFrame(list(timeline), columns=list(TIMELINE_COLUMNS)),
        stock=facts.stock,
        duration_s=duration_s,
        counters=counters,
        fault_windows=FaultSchedule(faults).windows() if faults is not None else [],
        unfinished=tuple(audit.unfinished_checkouts(facts.open_records, facts.orders, running)),
        page_views=views_by_shopper(facts.page_views, SHOPPER_KEY),
        stock_changes=facts.stock_changes,
    )


def real_audit(history: History, facts: ServerFacts) -> list[audit.Check]:
    """Every checker over the run: the shared ones plus the lease checker."""
    return [*audit.audit(history), audit.stale_lease_writes(facts.grants, facts.writes)]


def real_metrics(
    history: History, facts: ServerFacts, checks: Sequence[audit.Check], load_duration_s: float
) -> dict[str, float]:
    """The metrics contract, plus what only the real body can tell."""
    metrics = summarise(history, load_duration_s)
    by_name = {check.invariant: check for check in checks}
    metrics["stale_lease_writes"] = by_name["no_stale_lease_write"].count
    metrics["unfinished_sagas"] = facts.counters.get("unfinished_sagas", 0)
    metrics["unfinished_checkouts"] = len(history.unfinished)
    metrics["unfinished_payments"] = len(
        audit.unfinished_payments(history.ledger, history.orders, history.unfinished)
    )
    metrics["errors"] = int((history.checkouts["told"] == "error").sum())
    return metrics


def check_json(check: audit.Check) -> dict[str, Any]:
    """A checker's verdict as plain data."""
    return {
        "invariant": check.invariant,
        "status": check.status,
        "count": check.count,
        "example": check.example,
    }
