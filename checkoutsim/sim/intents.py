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

    def add(self, arrival_s: float, sku: int, quantity: int) -> int:
        """Append an intent that has just arrived (one click, one attempt); return its id."""
        intent_id = len(self.arrival_s)
        self.arrival_s.append(arrival_s)
        self.sku.append(sku)
        self.quantity.append(quantity)
        self.clicks.append(1)
        self.attempts.append(1)
        self.told.append(IN_FLIGHT_CODE)
        self.answered_s.append(-1.0)
        self.current_attempt.append(0)
        self.running.append(0)
        return intent_id

    def __len__(self) -> int:
        return len(self.arrival_s)

    def close_unanswered(self, timeout_s: float, end: float) -> None:
        """Intents unanswered at ``end`` whose time-out has passed: timed out then."""
        arrival = np.frombuffer(self.arrival_s, dtype=np.float64)
        answered = np.frombuffer(self.answered_s, dtype=np.float64)
        told = np.frombuffer(self.told, dtype=np.int8)
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
        arrival = np.frombuffer(self.arrival_s, dtype=np.float64)
        answered = np.frombuffer(self.answered_s, dtype=np.float64)
        frame = pd.DataFrame(
            {
                "intent_id": np.arange(count, dtype=np.int64),
                "arrival_s": arrival,
                "sku": np.frombuffer(self.sku, dtype=np.int64),
                "quantity": np.frombuffer(self.quantity, dtype=np.int64),
                "clicks": np.frombuffer(self.clicks, dtype=np.int64),
                "attempts": np.frombuffer(self.attempts, dtype=np.int64),
                "told": _told_categorical(np.frombuffer(self.told, dtype=np.int8)),
                "answered_s": answered,
                "unfinished": np.frombuffer(self.running, dtype=np.int32) > 0,
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
