"""The intents' column store and the orders' byte set against plain Python references."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from checkoutsim.sim.intents import (
    IN_FLIGHT,
    OUTCOME_CODES,
    TIMED_OUT,
    TIMED_OUT_CODE,
    IntentTable,
)
from checkoutsim.sim.state import SPARSE_GAP, OrderedIntents


@dataclass
class _Row:
    """One intent as the model kept it before the column store (the reference)."""

    intent_id: int
    arrival_s: float
    sku: int
    quantity: int
    clicks: int = 1
    attempts: int = 1
    told: str = IN_FLIGHT
    answered_s: float = -1.0
    running: int = 0


def _reference_frame(rows: list[_Row]) -> pd.DataFrame:
    """The checkout frame built row object by row object, as it was."""
    frame = pd.DataFrame(
        {
            "intent_id": np.fromiter((r.intent_id for r in rows), np.int64, len(rows)),
            "arrival_s": np.fromiter((r.arrival_s for r in rows), float, len(rows)),
            "sku": np.fromiter((r.sku for r in rows), np.int64, len(rows)),
            "quantity": np.fromiter((r.quantity for r in rows), np.int64, len(rows)),
            "clicks": np.fromiter((r.clicks for r in rows), np.int64, len(rows)),
            "attempts": np.fromiter((r.attempts for r in rows), np.int64, len(rows)),
            "told": pd.Categorical([r.told for r in rows]),
            "answered_s": np.fromiter((r.answered_s for r in rows), float, len(rows)),
            "unfinished": np.fromiter((r.running > 0 for r in rows), bool, len(rows)),
        }
    )
    answered = frame["answered_s"].to_numpy() >= 0
    frame["latency_s"] = np.where(
        answered, frame["answered_s"].to_numpy() - frame["arrival_s"].to_numpy(), np.nan
    )
    return frame


_times = st.floats(min_value=0.0, max_value=1e6, allow_nan=False)
_told = st.sampled_from([None, TIMED_OUT, *OUTCOME_CODES])
_intent = st.tuples(
    _times,
    st.integers(0, 10**6),
    st.integers(1, 50),
    st.integers(1, 2),
    st.integers(1, 5),
    _told,
    _times,
    st.integers(0, 3),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(_intent, max_size=40), _times, _times)
def test_columns_give_the_frame_the_row_objects_gave(
    intents: list[tuple], timeout_s: float, end: float
) -> None:
    table = IntentTable()
    rows: list[_Row] = []
    for arrival, sku, quantity, clicks, attempts, told, answer_delay, running in intents:
        intent_id = table.add(arrival, sku, quantity)
        row = _Row(intent_id, arrival, sku, quantity, clicks, attempts, running=running)
        table.clicks[intent_id] = clicks
        table.attempts[intent_id] = attempts
        table.running[intent_id] = running
        if told is not None:
            answered = arrival + answer_delay
            table.answered_s[intent_id] = row.answered_s = answered
            if told == TIMED_OUT:
                table.told[intent_id] = TIMED_OUT_CODE
                row.told = TIMED_OUT
            else:
                table.told[intent_id] = OUTCOME_CODES[told]
                row.told = told.value
        rows.append(row)
    table.close_unanswered(timeout_s, end)
    for row in rows:
        if row.answered_s < 0 and row.arrival_s + timeout_s <= end:
            row.told = TIMED_OUT
            row.answered_s = row.arrival_s + timeout_s
    pd.testing.assert_frame_equal(table.frame(), _reference_frame(rows), check_exact=True)
    assert len(table) == len(rows)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.integers(0, 5000),
            st.integers(-(10**12), 10**12),
            st.integers(SPARSE_GAP, 3 * SPARSE_GAP),
        ),
        max_size=60,
    ),
    st.lists(st.integers(-(10**12), 10**12), max_size=20),
)
def test_ordered_intents_is_a_set(added: list[int], probes: list[int]) -> None:
    ordered = OrderedIntents()
    reference: set[int] = set()
    for intent_id in added:
        ordered.add(intent_id)
        reference.add(intent_id)
        assert len(ordered) == len(reference)
    for intent_id in [*added, *probes, -1, 0, "i0"]:
        assert (intent_id in ordered) == (intent_id in reference)
    assert bool(ordered) == bool(reference)
    assert sorted(ordered) == sorted(reference)
