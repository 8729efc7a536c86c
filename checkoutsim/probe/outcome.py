"""What became of one planned checkout in a probe (kept apart from Locust, which drives it)."""

from __future__ import annotations

from dataclasses import dataclass

#: Outcomes of an intent.
ORDERED, SOLD_OUT, ERROR, TIMED_OUT, NOT_STARTED = (
    "ordered",
    "sold_out",
    "error",
    "timed_out",
    "not_started",
)


@dataclass
class Outcome:
    """One intent as its shopper saw it."""

    intent_id: int
    at_s: float
    sku: str
    quantity: int
    told: str
    status: int
    latency_s: float | None
    lag_s: float
