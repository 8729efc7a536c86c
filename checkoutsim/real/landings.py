"""Where a kill landed: the sagas a dead process left open, read off its durable records.

Right after a ``SIGKILL`` and before the restart's recovery, the shop's tables
and the gateway's ledger say what every unfinished saga was doing. Each
reservation still active is one saga in flight, and its rows place it:

- ``payment``: the gateway was called and the saga had not finished: its
  charge was sent and not answered (payment row ``in_progress``), or the money
  was captured and no order made yet (past the pivot, creating or retrying the
  order). Without a payment row (no key), a capture for its intent says so.
- ``compensation``: the saga was undoing itself: a refund of its capture was
  asked for or done, or its charge failed (declined, or given up), and its
  units were not back in stock yet.
- ``retry_queue``: its payment was parked in the retry queue, waiting or
  claimed by a consumer.
- ``reserving``: units reserved, the gateway not called yet. A payment row
  older than the reservation is an earlier request's under the same key (a
  client's resend): it says nothing about this saga, which has not paid yet.

A kill is labelled by the most telling saga it cut short, in the order above
(a compensation first, then a payment); a kill with no saga open landed
``idle``. Nothing here writes: the files are read as the kill left them.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

from checkoutsim.world.providers import capture_id

#: Where a saga was, from the most telling to the least (the kill takes the first present).
PLACES = ("compensation", "payment", "retry_queue", "reserving")
IDLE = "idle"


@dataclass(frozen=True)
class Landing:
    """One kill: how many sagas it cut short at each place, and its label."""

    sagas: dict[str, int]

    @property
    def label(self) -> str:
        """The most telling place a saga was cut short, or ``idle``."""
        return next((place for place in PLACES if self.sagas.get(place)), IDLE)


@dataclass
class Landings:
    """Every kill of one run, summed."""

    kills: list[Landing] = field(default_factory=list)

    def add(self, landing: Landing) -> None:
        """Count one more kill."""
        self.kills.append(landing)

    def labels(self) -> dict[str, int]:
        """Kills by label (every label present, zeros included)."""
        counted = Counter(landing.label for landing in self.kills)
        return {place: counted[place] for place in (*PLACES, IDLE)}

    def with_any(self) -> dict[str, int]:
        """Kills that cut short at least one saga at each place."""
        return {
            place: sum(1 for landing in self.kills if landing.sagas.get(place)) for place in PLACES
        }

    def sagas(self) -> dict[str, int]:
        """Sagas cut short at each place, over every kill."""
        total: Counter[str] = Counter()
        for landing in self.kills:
            total.update(landing.sagas)
        return {place: total[place] for place in PLACES}

    def in_saga(self) -> int:
        """Kills that landed mid-payment or mid-compensation."""
        labels = self.labels()
        return labels["payment"] + labels["compensation"]

    def as_dict(self) -> dict[str, object]:
        """Plain data for ``--json``."""
        return {
            "kills": len(self.kills),
            "by_label": self.labels(),
            "kills_with_any": self.with_any(),
            "sagas": self.sagas(),
            "mid_payment_or_compensation": self.in_saga(),
        }


def _rows(connection: sqlite3.Connection, sql: str) -> list[tuple]:
    """A query's rows, or none if the table is absent (a store without the queue)."""
    try:
        return connection.execute(sql).fetchall()
    except sqlite3.OperationalError:
        return []


def _place(
    payment: str | None,
    earlier: bool,
    capture_id: int | None,
    intent: int,
    parked: bool,
    refund_asked: set[int],
    unkeyed: dict[int, list[int]],
) -> str:
    """Where one open saga was, from its rows (see the module's list)."""
    if parked:
        return "retry_queue"
    if earlier:
        return "reserving"
    captures = [capture_id] if capture_id is not None else []
    if payment is None:
        # No key, no payment row: the gateway's captures for the intent tell.
        captures = unkeyed.get(intent, [])
    if any(capture in refund_asked for capture in captures):
        return "compensation"
    if payment in ("failed", "retry"):
        return "compensation"
    if payment == "in_progress" or captures:
        return "payment"
    return "reserving"


def classify(shop: Path, gateway: Path, others: Sequence[Path] = ()) -> Landing:
    """Where the kill that left these files landed (read-only).

    ``others`` are the other providers' ledgers, in the scenario's order
    (``real.gateways.provider_path``): a saga cut short at any provider is read
    off that provider's ledger. Each ledger keeps its own row ids; the shop's
    records name captures by ids that name their provider, so rows are turned
    into those ids (``world.providers.capture_id``) before they are matched.
    """
    ledgers = [gateway, *others]
    refund_asked: set[int] = set()
    unkeyed: dict[int, list[int]] = {}
    for index, path in enumerate(ledgers):
        if index > 0 and not path.exists():
            continue  # a provider that never opened its ledger holds nothing
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as ledger:
            refund_asked |= {
                capture_id(row[0], index, len(ledgers))
                for row in _rows(
                    ledger,
                    "SELECT capture_id FROM refunds UNION SELECT capture_id FROM refund_requests",
                )
            }
            for row, intent in _rows(
                ledger, "SELECT id, intent_id FROM captures WHERE idempotency_key IS NULL"
            ):
                unkeyed.setdefault(intent, []).append(capture_id(row, index, len(ledgers)))
    with closing(sqlite3.connect(f"file:{shop}?mode=ro", uri=True)) as store:
        parked = {
            row[0]
            for row in _rows(
                store,
                "SELECT reservation_id FROM parked_payments"
                " WHERE state IN ('queued', 'in_flight') AND reservation_id IS NOT NULL",
            )
        }
        sagas = _rows(
            store,
            "SELECT r.id, r.intent_id, p.state, p.capture_id, p.updated_s < r.created_s"
            " FROM reservations r LEFT JOIN payments p ON p.key = r.saga_key"
            " WHERE r.state = 'active'",
        )
    places = Counter(
        _place(
            payment, bool(earlier), capture, intent, reservation in parked, refund_asked, unkeyed
        )
        for reservation, intent, payment, capture, earlier in sagas
    )
    return Landing(dict(places))
