"""Jepsen-style checkers: one pure function per invariant over a run's history.

The same checkers judge the model's history and the real implementation's
(the shop database plus the gateway's own ledger). Each returns a ``Check``:
valid, invalid or unknown, how many violations, and the first offending example.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

from checkoutsim.results.history import History

Status = Literal["valid", "invalid", "unknown"]


@dataclass(frozen=True)
class Check:
    """The verdict of one invariant checker."""

    invariant: str
    status: Status
    count: int
    example: dict[str, Any] | None = None
    detail: dict[str, Any] = field(default_factory=dict)


def _first(frame: pd.DataFrame) -> dict[str, Any] | None:
    """The first row of ``frame`` as plain Python values, or None."""
    if frame.empty:
        return None
    return {
        key: (value.item() if hasattr(value, "item") else value)
        for key, value in frame.iloc[0].items()
    }


def oversold(orders: pd.DataFrame, stock: Sequence[int]) -> Check:
    """Units in confirmed orders never exceed a SKU's initial stock."""
    sold = orders.groupby("sku")["quantity"].sum()
    initial = pd.Series(list(stock), dtype="int64")
    excess = (sold - initial.reindex(sold.index).fillna(0)).clip(lower=0)
    offending = excess[excess > 0]
    example = None
    if not offending.empty:
        sku = int(offending.index[0])
        example = {"sku": sku, "sold": int(sold[sku]), "stock": int(initial.get(sku, 0))}
    units = int(offending.sum())
    return Check("no_oversell", "invalid" if units else "valid", units, example)


def duplicate_charges(ledger: pd.DataFrame) -> Check:
    """At most one capture per intent, counted from the gateway's own books."""
    per_intent = ledger.groupby("intent_id").size()
    extra = (per_intent - 1).clip(lower=0)
    offending = extra[extra > 0]
    example = None
    if not offending.empty:
        intent = int(offending.index[0])
        example = {"intent_id": intent, "captures": int(per_intent[intent])}
    count = int(offending.sum())
    return Check("one_capture_per_intent", "invalid" if count else "valid", count, example)


def charged_at_two_providers(ledger: pd.DataFrame) -> Check:
    """No payment is captured at two providers, from the providers' own ledgers.

    Each provider's idempotency keys guard its own ledger only: a payment sent
    on to a second provider while the first one's outcome was unknown shows up
    here as one intent in two ledgers. Refunded or not, it was charged twice.
    Judged only when the ledger names providers (``gateway``); the count is of
    intents.
    """
    providers = ledger.groupby("intent_id")["gateway"].nunique()
    offending = providers[providers > 1]
    example = None
    if not offending.empty:
        intent = int(offending.index[0])
        at = ledger.loc[ledger["intent_id"] == intent, "gateway"]
        example = {"intent_id": intent, "providers": sorted(str(name) for name in at.unique())}
    count = len(offending)
    return Check("one_provider_per_intent", "invalid" if count else "valid", count, example)


def orphan_payments(
    ledger: pd.DataFrame, orders: pd.DataFrame, in_flight: Sequence[int] = ()
) -> Check:
    """Every capture ends paying for an order or refunded.

    Both bodies' orders record the capture that paid for them (``capture_id``),
    so money is matched by capture in both: a capture is covered only if an
    order records it or it was refunded, so a second capture for an intent that
    has its order is an orphan (as well as a duplicate charge) whatever the
    intents say, and the count is of captures. (A hand-built history whose
    orders name no capture is matched by intent, one orphan per intent.)
    Intents whose checkout was still running when the history ended have not
    ended yet: they are left out, and counted as in flight elsewhere.
    """
    unrefunded = ledger[ledger["refunded_s"].isna()]
    by_capture = "capture_id" in orders.columns
    if by_capture:
        orphans = unrefunded[~unrefunded["capture_id"].isin(orders["capture_id"])]
    else:
        orphans = unrefunded[~unrefunded["intent_id"].isin(orders["intent_id"])]
    orphans = orphans[~orphans["intent_id"].isin(list(in_flight))]
    count = len(orphans) if by_capture else len(orphans["intent_id"].unique())
    return Check(
        "capture_has_order_or_refund", "invalid" if count else "valid", count, _first(orphans)
    )


def unpaid_orders(ledger: pd.DataFrame, orders: pd.DataFrame) -> Check:
    """Every order is paid for by a capture that was not refunded.

    By the capture the order records (both bodies), else, for a hand-built
    history whose orders name none, by intent.
    """
    column = "capture_id" if "capture_id" in orders.columns else "intent_id"
    paid = ledger.loc[ledger["refunded_s"].isna(), column]
    unpaid = orders[~orders[column].isin(paid)]
    count = len(unpaid)
    return Check("order_is_paid", "invalid" if count else "valid", count, _first(unpaid))


def refunds_match_captures(ledger: pd.DataFrame) -> Check:
    """A refund is only ever booked against a capture, after it, once."""
    refunded = ledger[ledger["refunded_s"].notna()]
    early = refunded[refunded["refunded_s"] < refunded["time_s"]]
    return Check(
        "refund_after_capture", "invalid" if len(early) else "valid", len(early), _first(early)
    )


def stale_lease_writes(grants: pd.DataFrame, writes: pd.DataFrame) -> Check:
    """No stock write is accepted from a lock lease after another holder was granted the lock.

    ``grants`` has one row per lease (``token``, ``name``, ``granted_s``,
    ``expires_s``); ``writes`` one row per stock write with the ``lease_token``
    its writer believed it held and whether the store ``accepted`` it. A write
    is stale when a newer lease on the same lock had been granted before it
    landed: two holders, the lock's whole promise broken. A write after its own
    lease lapsed but before anyone else took the lock broke nothing; such
    writes are counted in ``detail["lapsed_writes"]``. Writes whose lease is
    missing from ``grants`` cannot be judged: with no stale write found, they
    make the verdict ``unknown``.
    """
    leased = writes[(writes["accepted"] == 1) & writes["lease_token"].notna()]
    if leased.empty:
        return Check("no_stale_lease_write", "valid", 0)
    ordered = grants.sort_values("token")
    successor = ordered.groupby("name")["granted_s"].shift(-1)
    leases = ordered.assign(superseded_s=successor)[
        ["token", "name", "granted_s", "expires_s", "superseded_s"]
    ]
    joined = leased.astype({"lease_token": "int64"}).merge(
        leases, left_on="lease_token", right_on="token", how="left"
    )
    unknown = int(joined["token"].isna().sum())
    stale = joined[joined["time_s"] >= joined["superseded_s"]]
    lapsed = int(((joined["time_s"] > joined["expires_s"]) & ~joined.index.isin(stale.index)).sum())
    detail = {"lapsed_writes": lapsed, "unjudged_writes": unknown}
    count = len(stale)
    if count:
        return Check("no_stale_lease_write", "invalid", count, _first(stale), detail)
    status: Status = "unknown" if unknown else "valid"
    return Check("no_stale_lease_write", status, 0, detail=detail)


#: Durable records that a checkout started: its saga's open recovery points, its
#: API key still at ``started``, its payment still parked in the retry queue.
SAGA_OPEN = ("reserved", "captured")
REQUEST_STARTED = "started"
PAYMENT_PARKED = "parked"


def unfinished_checkouts(
    open_records: pd.DataFrame, orders: pd.DataFrame, running: Sequence[str] = ()
) -> list[int]:
    """Intents that had started and had neither ordered nor been compensated at the stop.

    ``open_records`` has one row per durable record of unfinished work
    (``intent_id``, the saga's idempotency ``key``, ``record``: a ``SAGA_OPEN``
    step, ``REQUEST_STARTED`` or ``PAYMENT_PARKED``); ``running`` lists the keys
    of requests still being served when the run stopped (keys, because the
    service, not the client, owns the intent ids). An open saga step alone does not make a
    checkout unfinished: a saga that gave up without compensating (the
    ``none`` mode) leaves the same step behind, and its money is an orphan. It
    counts only while its request still ran, or its API key or parked payment
    says the work was still going on.
    """
    ordered = set(orders["intent_id"].tolist())
    kinds = open_records["record"]
    still_served = kinds.isin(SAGA_OPEN) & open_records["key"].isin(list(running))
    durable = kinds.isin((REQUEST_STARTED, PAYMENT_PARKED))
    unfinished = set(open_records.loc[still_served | durable, "intent_id"].tolist())
    return sorted(int(intent) for intent in unfinished - ordered)


def unfinished_payments(
    ledger: pd.DataFrame, orders: pd.DataFrame, unfinished: Sequence[int]
) -> pd.DataFrame:
    """Captures, not refunded, of checkouts still unfinished and with no order yet.

    Their saga had taken the money and not yet written the order or the
    refund when the run stopped: not an orphan, not yet settled either.
    """
    if not len(unfinished):
        return ledger.iloc[0:0]
    unrefunded = ledger[ledger["refunded_s"].isna()]
    pending = unrefunded["intent_id"].isin(list(unfinished))
    return unrefunded[pending & ~unrefunded["intent_id"].isin(orders["intent_id"])]


def settled_ledger(history: History) -> pd.DataFrame:
    """The ledger without the payments of unfinished checkouts (what the orphan check judges)."""
    if not history.unfinished:
        return history.ledger
    pending = unfinished_payments(history.ledger, history.orders, history.unfinished)
    return history.ledger.drop(index=pending.index)


def _in_flight(checkouts: pd.DataFrame) -> list[int]:
    """Intents still being worked on when the history ended.

    ``unfinished`` (a request still running) when the history has it: a saga
    can outlive the shopper's wait, and it has not ended until it returns.
    """
    if "unfinished" in checkouts:
        return checkouts.loc[checkouts["unfinished"], "intent_id"].tolist()
    if "told" not in checkouts:
        return []
    return checkouts.loc[checkouts["told"] == "in_flight", "intent_id"].tolist()


def audit(history: History) -> list[Check]:
    """Run every checker over a history.

    Money of checkouts that had not finished when the run stopped is left out
    of the orphan check (``settled_ledger``): it is counted apart, never as an
    orphan.
    """
    checks = [
        oversold(history.orders, history.stock),
        duplicate_charges(history.ledger),
        orphan_payments(settled_ledger(history), history.orders, _in_flight(history.checkouts)),
        unpaid_orders(history.ledger, history.orders),
        refunds_match_captures(history.ledger),
    ]
    if "gateway" in history.ledger.columns:
        # Several providers: the duplicates that crossed from one to another.
        checks.insert(2, charged_at_two_providers(history.ledger))
    return checks
