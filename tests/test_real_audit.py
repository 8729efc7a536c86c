"""The audit's checkers on hand-made histories that break each invariant, one at a time."""

from __future__ import annotations

import math

import pandas as pd

from checkoutsim.real import records
from checkoutsim.real.records import ServerFacts
from checkoutsim.results import audit
from checkoutsim.results.history import History
from checkoutsim.results.metrics import summarise

NAN = math.nan


def orders(*rows: tuple[int, int, int]) -> pd.DataFrame:
    """Orders as (intent, sku, quantity)."""
    return pd.DataFrame(
        [(intent, sku, quantity, 1.0) for intent, sku, quantity in rows],
        columns=["intent_id", "sku", "quantity", "time_s"],
    )


def ledger(*rows: tuple[int, float, float]) -> pd.DataFrame:
    """Captures as (intent, captured at, refunded at or NaN)."""
    return pd.DataFrame(
        [(i, intent, 100, at, refunded) for i, (intent, at, refunded) in enumerate(rows)],
        columns=["capture_id", "intent_id", "amount", "time_s", "refunded_s"],
    )


def grants(*rows: tuple[int, str, float, float]) -> pd.DataFrame:
    """Lease grants as (token, lock, granted at, expires at)."""
    return pd.DataFrame(
        [(*row, NAN) for row in rows],
        columns=["token", "name", "granted_s", "expires_s", "released_s"],
    )


def writes(*rows: tuple[float | None, int, float]) -> pd.DataFrame:
    """Stock writes as (lease token or None, accepted, at)."""
    return pd.DataFrame(
        [(0, NAN if token is None else token, NAN, accepted, at) for token, accepted, at in rows],
        columns=["sku", "lease_token", "fence_token", "accepted", "time_s"],
    )


def test_oversold_units_are_counted_per_sku() -> None:
    check = audit.oversold(orders((1, 0, 3), (2, 0, 2), (3, 1, 1)), [4, 5])
    assert (check.status, check.count) == ("invalid", 1)
    assert check.example == {"sku": 0, "sold": 5, "stock": 4}
    assert audit.oversold(orders((1, 0, 4)), [4]).status == "valid"


def test_two_captures_for_one_intent_are_a_duplicate_charge() -> None:
    check = audit.duplicate_charges(ledger((7, 1.0, NAN), (7, 2.0, 3.0), (8, 1.0, NAN)))
    assert (check.status, check.count) == ("invalid", 1)
    assert check.example == {"intent_id": 7, "captures": 2}


def test_a_capture_with_no_order_and_no_refund_is_an_orphan() -> None:
    money = ledger((1, 1.0, NAN), (2, 1.0, 2.0), (3, 1.0, NAN))
    check = audit.orphan_payments(money, orders((1, 0, 1)))
    assert (check.status, check.count) == ("invalid", 1)
    assert check.example is not None and check.example["intent_id"] == 3


def test_a_refund_before_its_capture_is_flagged() -> None:
    check = audit.refunds_match_captures(ledger((1, 5.0, 4.0), (2, 1.0, 2.0)))
    assert (check.status, check.count) == ("invalid", 1)
    assert check.example is not None and check.example["intent_id"] == 1


def test_a_write_after_the_lease_lapsed_is_stale_once_someone_else_holds_the_lock() -> None:
    lapsed_only = audit.stale_lease_writes(grants((1, "lock", 0.0, 5.0)), writes((1, 1, 6.0)))
    assert (lapsed_only.status, lapsed_only.count) == ("valid", 0)
    assert lapsed_only.detail["lapsed_writes"] == 1
    taken_over = grants((1, "lock", 0.0, 5.0), (2, "lock", 5.5, 10.5))
    check = audit.stale_lease_writes(taken_over, writes((1, 1, 6.0)))
    assert (check.status, check.count) == ("invalid", 1)
    assert check.example is not None and check.example["lease_token"] == 1


def test_a_write_after_a_newer_grant_is_stale_even_before_expiry() -> None:
    leases = grants((1, "lock", 0.0, 10.0), (2, "lock", 3.0, 13.0))
    check = audit.stale_lease_writes(leases, writes((1, 1, 4.0), (2, 1, 4.5)))
    assert (check.status, check.count) == ("invalid", 1)


def test_refused_and_unleased_writes_are_not_stale_and_unknown_leases_are_unknown() -> None:
    leases = grants((1, "lock", 0.0, 5.0))
    fine = audit.stale_lease_writes(leases, writes((1, 1, 1.0), (1, 0, 9.0), (None, 1, 9.0)))
    assert (fine.status, fine.count) == ("valid", 0)
    unknown = audit.stale_lease_writes(leases, writes((9, 1, 1.0)))
    assert (unknown.status, unknown.count) == ("unknown", 0)


def test_server_facts_travel_as_json_and_shift_to_another_clock() -> None:
    facts = ServerFacts(
        orders((1, 0, 1)),
        ledger((1, 2.0, NAN)),
        grants((1, "lock", 0.0, 5.0)),
        writes((1, 1, 1.0)),
        (10,),
        {"compensations": 2},
    )
    again = ServerFacts.from_json(facts.to_json()).shifted(1.0)
    assert again.stock == (10,) and again.counters == {"compensations": 2}
    assert again.ledger["time_s"].tolist() == [1.0]
    assert math.isnan(again.ledger["refunded_s"].iloc[0])
    assert again.writes["time_s"].tolist() == [0.0]


def test_a_real_history_summarises_like_a_simulated_one() -> None:
    rows = [
        [0, 0.0, 0, 1, 2, 1, "ordered", 0.5, 0.0],
        [1, 1.0, 0, 1, 1, 1, "sold_out", 1.1, 0.0],
        [2, 2.0, 0, 1, 1, 1, "in_flight", -1.0, 0.0],
    ]
    facts = ServerFacts(
        orders((0, 0, 1)),
        ledger((0, 0.2, NAN), (0, 0.3, NAN)),
        grants(),
        writes(),
        (1,),
        {"reservations_released": 1},
    )
    history = records.build_history(records.checkout_frame(rows), facts, [], 5.0)
    assert isinstance(history, History)
    metrics = summarise(history, 4.0)
    assert metrics["checkouts"] == 3 and metrics["orders"] == 1 and metrics["sold_out"] == 1
    assert metrics["duplicate_charges"] == 1
    # Compensations from the records: one released reservation, no refund in the ledger.
    assert metrics["refunds"] == 0 and metrics["compensations"] == 1
    assert math.isclose(metrics["latency_max_s"], 0.5)
