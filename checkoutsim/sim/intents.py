"""The shoppers' checkout intents as typed columns, one row per intent.

A million simulated checkouts kept as a million Python objects cost about
200 bytes each (the object, its boxed floats and ints); here a row is 45 bytes
of typed arrays that grow in place, and the checkout frame is built from them
without visiting a Python object per row. A row's index is its intent id.
"""

from __future__ import annotations

from array import array

import numpy as np
import pandas as pd

from checkoutsim.policy.saga import Outcome

TIMED_OUT = "timed_out"
IN_FLIGHT = "in_flight"

#: What a shopper can be told, by code (the ``told`` column holds the code).
TOLD_LABELS: tuple[str, ...] = (IN_FLIGHT, TIMED_OUT, *(outcome.value for outcome in Outcome))
IN_FLIGHT_CODE = 0
#: Rows each column grows by at a time (``IntentTable.add``).
BLOCK = 4096
TIMED_OUT_CODE = 1
#: The code of each saga outcome.
OUTCOME_CODES: dict[Outcome, int] = {
    outcome: TOLD_LABELS.index(outcome.value) for outcome in Outcome
}


class IntentTable:
    """Every intent's columns; ``add`` appends a row and returns its id.

    The columns are public and written in place by the shoppers (``answered_s``
    is -1.0 until the shopper is answered; ``running`` counts the intent's
    requests still under way; ``current_attempt`` is the request the shopper
    waits on).
    """

    __slots__ = (
        "_blocks",
        "_capacity",
        "_count",
        "answered_s",
        "arrival_s",
        "attempts",
        "clicks",
        "current_attempt",
        "quantity",
        "running",
        "sku",
        "told",
    )

    def __init__(self) -> None:
        self.arrival_s = array("d")
        self.sku = array("q")
        self.quantity = array("q")
        self.clicks = array("q")
        self.attempts = array("q")
        self.told = array("b")
        self.answered_s = array("d")
        self.current_attempt = array("i")
        self.running = array("i")
        self._count = 0
        self._capacity = 0
        # Each column grows a block of new rows at a time, filled with what a
        # new intent holds (one click, one attempt, unanswered), so that
        # ``add`` writes only the three values an arrival brings: nine appends
        # an intent cost more than the rest of its bookkeeping.
        self._blocks = [
            (self.arrival_s, array("d", [0.0]) * BLOCK),
            (self.sku, array("q", [0]) * BLOCK),
            (self.quantity, array("q", [0]) * BLOCK),
            (self.clicks, array("q", [1]) * BLOCK),
            (self.attempts, array("q", [1]) * BLOCK),
            (self.told, array("b", [IN_FLIGHT_CODE]) * BLOCK),
            (self.answered_s, array("d", [-1.0]) * BLOCK),
            (self.current_attempt, array("i", [0]) * BLOCK),
            (self.running, array("i", [0]) * BLOCK),
        ]

    def add(self, arrival_s: float, sku: int, quantity: int) -> int:
        """Add an intent that has just arrived (one click, one attempt); return its id."""
        intent_id = self._count
        if intent_id == self._capacity:
            for column, block in self._blocks:
                column.extend(block)
            self._capacity += BLOCK
        self._count = intent_id + 1
        self.arrival_s[intent_id] = arrival_s
        self.sku[intent_id] = sku
        self.quantity[intent_id] = quantity
        return intent_id

    def __len__(self) -> int:
        return self._count

    def _view(self, column: array, dtype: type) -> np.ndarray:
        """The rows added so far of ``column``, as a view (the block's spare rows left out)."""
        return np.frombuffer(column, dtype=dtype)[: self._count]

    def close_unanswered(self, timeout_s: float, end: float) -> None:
        """Intents unanswered at ``end`` whose time-out has passed: timed out then."""
        arrival = self._view(self.arrival_s, np.float64)
        answered = self._view(self.answered_s, np.float64)
        told = self._view(self.told, np.int8)
        gave_up_at = arrival + timeout_s
        late = (answered < 0) & (gave_up_at <= end)
        answered[late] = gave_up_at[late]
        told[late] = TIMED_OUT_CODE

    def frame(self) -> pd.DataFrame:
        """One row per intent, with the latency the shopper saw.

        The frame's numeric columns are views of the columns here, not copies:
        the table is done with once the run is over, and a copy would double
        the largest thing a long run holds.
        """
        count = len(self)
        arrival = self._view(self.arrival_s, np.float64)
        answered = self._view(self.answered_s, np.float64)
        frame = pd.DataFrame(
            {
                "intent_id": np.arange(count, dtype=np.int64),
                "arrival_s": arrival,
                "sku": self._view(self.sku, np.int64),
                "quantity": self._view(self.quantity, np.int64),
                "clicks": self._view(self.clicks, np.int64),
                "attempts": self._view(self.attempts, np.int64),
                "told": _told_categorical(self._view(self.told, np.int8)),
                "answered_s": answered,
                "unfinished": self._view(self.running, np.int32) > 0,
            },
            copy=False,
        )
        frame["latency_s"] = np.where(answered >= 0, answered - arrival, np.nan)
        return frame


def _told_categorical(codes: np.ndarray) -> pd.Categorical:
    """The ``told`` labels as a categorical of the labels present, sorted (as pandas infers)."""
    present = sorted(TOLD_LABELS[code] for code in np.unique(codes))
    recode = np.full(len(TOLD_LABELS), -1, dtype=np.int8)
    for position, label in enumerate(present):
        recode[TOLD_LABELS.index(label)] = position
    # The categories as pandas infers them from the labels themselves (their dtype too).
    categories = pd.Categorical(present).categories
    return pd.Categorical.from_codes(recode[codes], categories=categories)
