"""The payment retry queue for the real body, durable in the shop's database.

``checkoutsim.policy.retry_queue.RetryQueue`` is the model's queue: pure
bookkeeping in memory. Here the same contract lives in a table of parked
payments, so that every service process sharing the store produces to and
consumes from one queue, and a restart loses nothing:

- ``partition = intent_id % partitions``; each partition is strictly FIFO by
  its queue-wide offset (the row id), and its head blocks the rows behind it
  while it is in flight or waiting out its back-off.
- ``next_due`` claims the head in one conditional ``UPDATE`` (state
  ``queued`` -> ``in_flight``), so two consumers can never both hold it.
- ``nack`` keeps the head in place with one more attempt and a back-off of
  ``backoff_delay(attempts - 1, base, cap, rng)``, the policy core's capped,
  full-jitter delay; after ``max_attempts`` failed attempts it is dead-lettered.
- ``ack`` and ``nack`` check the row is still in flight under the claim the
  consumer was handed, so a stale or repeated answer is an error, not a silent
  duplicate.
- With a ``lease_s``, a claim lapses after that many model seconds and the head
  is handed out again (at least once, as Kafka redelivers the uncommitted
  offset of a consumer that died): a process killed mid-delivery does not
  block its partition for good. Redelivery is safe where the payment carries
  its key to the gateway; the lapsed consumer's late answer is then refused.

The figures the metrics contract needs (payments parked, recovered, the
deepest the queue got) are read back from the rows, not from counters.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from checkoutsim.policy import ops
from checkoutsim.policy.retry import backoff_delay
from checkoutsim.policy.retry_queue import NackOutcome
from checkoutsim.real import pg_schema, schema
from checkoutsim.real.database import Database

#: Outcomes of a delivered payment, as ``checkoutsim.policy.parked.Delivery`` names them.
DELIVERED_OUTCOMES = ("recovered", "settled")

_COLUMNS = (
    "id, intent_id, key, gateway_key, amount, sku, quantity, reservation_id, attempts, claims"
)
_OPEN = "state IN ('queued', 'in_flight')"


@dataclass(frozen=True, slots=True)
class ParkedMessage:
    """A parked payment handed to a consumer: the queue's offset, its attempts, the payment.

    ``claim`` numbers the hand-outs of this row; only the latest may be answered.
    """

    offset: int
    partition: int
    attempts: int
    payment: ops.EnqueuePayment
    claim: int = 1


class ParkedQueue:
    """The partitioned FIFO retry queue over a table (SQLite, or a server store)."""

    def __init__(
        self,
        database: Any,
        partitions: int,
        max_attempts: int,
        backoff_base_s: float,
        backoff_cap_s: float,
        rng: random.Random,
        lock: Any,
        lease_s: float | None = None,
    ) -> None:
        if partitions < 1:
            raise ValueError(f"partitions must be >= 1, got {partitions}")
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {max_attempts}")
        self.db = database
        self.partitions = partitions
        self.max_attempts = max_attempts
        self._backoff_base_s = backoff_base_s
        self._backoff_cap_s = backoff_cap_s
        self._rng = rng
        self.lease_s = lease_s
        # The back-off stream is shared by the consumers' threads.
        self._rng_lock = lock

    def create(self) -> None:
        """Create the table if the store is new (SQLite's words or PostgreSQL's)."""
        sqlite = isinstance(self.db, Database)
        self.db.execute_script(schema.PARKED if sqlite else pg_schema.PARKED)

    def partition_of(self, intent_id: int) -> int:
        """The partition an intent's payments go to."""
        return intent_id % self.partitions

    def enqueue(self, payment: ops.EnqueuePayment, now: float, delay_s: float = 0.0) -> int:
        """Park a payment; return its offset. ``delay_s`` holds back its first delivery."""
        if not delay_s >= 0:
            raise ValueError(f"delay_s must be >= 0, got {delay_s}")
        written = self.db.write_one(
            "INSERT INTO parked_payments (partition_no, intent_id, key, gateway_key, amount,"
            " sku, quantity, reservation_id, attempts, enqueued_s, due_s, state,"
            " depth_at_enqueue)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, 'queued',"
            # The depth the queue reached with this payment, counted in the
            # insert's own statement: the deepest it got is then a MAX.
            f" (SELECT COUNT(*) FROM parked_payments WHERE {_OPEN}) + 1) RETURNING id",
            (
                self.partition_of(payment.intent_id),
                payment.intent_id,
                payment.key,
                payment.gateway_key,
                payment.amount,
                payment.sku,
                payment.quantity,
                payment.reservation_id,
                now,
                now + delay_s,
            ),
        )
        return int(written.rows[0][0])

    def next_due(self, partition: int, now: float) -> ParkedMessage | None:
        """Claim the partition's head if it is due at ``now`` (or its lease lapsed); else None."""
        self._check(partition)
        lease_until = now + self.lease_s if self.lease_s is not None else None
        written = self.db.write_one(
            "UPDATE parked_payments SET state = 'in_flight', claims = claims + 1,"
            " lease_until_s = ?"
            " WHERE id = (SELECT id FROM parked_payments"
            f" WHERE partition_no = ? AND {_OPEN} ORDER BY id LIMIT 1)"
            " AND ((state = 'queued' AND due_s <= ?)"
            "  OR (state = 'in_flight' AND lease_until_s <= ?))"
            f" RETURNING {_COLUMNS}",
            (lease_until, partition, now, now),
        )
        if not written.rows:
            return None
        row = written.rows[0]
        payment = ops.EnqueuePayment(
            intent_id=row[1],
            key=row[2],
            gateway_key=row[3],
            amount=row[4],
            sku=row[5],
            quantity=row[6],
            reservation_id=row[7],
        )
        return ParkedMessage(int(row[0]), partition, int(row[8]), payment, int(row[9]))

    def next_wakeup(self, partition: int) -> float | None:
        """When the partition's head becomes due (or its claim lapses).

        None when the partition is empty or its head is in flight with no lease.
        """
        self._check(partition)
        row = (
            self.db.read()
            .execute(
                "SELECT state, due_s, lease_until_s FROM parked_payments"
                f" WHERE partition_no = ? AND {_OPEN} ORDER BY id LIMIT 1",
                (partition,),
            )
            .fetchone()
        )
        if row is None:
            return None
        if row[0] == "in_flight":
            return None if row[2] is None else float(row[2])
        return float(row[1])

    def ack(self, message: ParkedMessage, outcome: str, now: float) -> None:
        """The delivery ended (``recovered`` or ``settled``): the payment leaves the queue."""
        if outcome not in DELIVERED_OUTCOMES:
            raise ValueError(f"outcome must be one of {DELIVERED_OUTCOMES}, got {outcome!r}")
        self._answer(
            message,
            "UPDATE parked_payments SET state = 'delivered', outcome = ?, finished_s = ?"
            " WHERE id = ? AND state = 'in_flight' AND claims = ?",
            (outcome, now, message.offset, message.claim),
        )

    def nack(self, message: ParkedMessage, now: float) -> NackOutcome:
        """The attempt failed: back off and keep it at the head, or dead-letter it."""
        attempts = message.attempts + 1
        if attempts >= self.max_attempts:
            self._answer(
                message,
                "UPDATE parked_payments SET state = 'dead_letter', attempts = ?, finished_s = ?"
                " WHERE id = ? AND state = 'in_flight' AND claims = ?",
                (attempts, now, message.offset, message.claim),
            )
            return NackOutcome.DEAD_LETTER
        with self._rng_lock:
            delay = backoff_delay(
                attempts - 1, self._backoff_base_s, self._backoff_cap_s, self._rng
            )
        self._answer(
            message,
            "UPDATE parked_payments SET state = 'queued', attempts = ?, due_s = ?"
            " WHERE id = ? AND state = 'in_flight' AND claims = ?",
            (attempts, now + delay, message.offset, message.claim),
        )
        return NackOutcome.RETRY

    def depth(self) -> int:
        """Payments parked now, in flight included."""
        row = self.db.read().execute(f"SELECT COUNT(*) FROM parked_payments WHERE {_OPEN}")
        return int(row.fetchone()[0])

    def figures(self) -> dict[str, float]:
        """The queue's metrics, read from its rows (the deepest: at an enqueue, as the model's)."""
        rows = (
            self.db.read()
            .execute("SELECT state, outcome, depth_at_enqueue FROM parked_payments")
            .fetchall()
        )
        return {
            "payment_queued": len(rows),
            "queued_recovered": sum(row[1] == "recovered" for row in rows),
            "queued_settled": sum(row[1] == "settled" for row in rows),
            "dead_lettered": sum(row[0] == "dead_letter" for row in rows),
            "retry_queue_max_depth": max((int(row[2]) for row in rows), default=0),
            "retry_queue_depth_at_end": sum(row[0] in ("queued", "in_flight") for row in rows),
        }

    def _answer(self, message: ParkedMessage, sql: str, parameters: tuple[Any, ...]) -> None:
        """Run an ack or nack; refuse one for a message that is not in flight as handed out."""
        if self.db.write_one(sql, parameters).rowcount != 1:
            raise ValueError(
                f"message at offset {message.offset} is not in flight "
                "(already answered, never handed out, or a stale copy)"
            )

    def _check(self, partition: int) -> None:
        if not 0 <= partition < self.partitions:
            raise ValueError(f"partition must be in [0, {self.partitions}), got {partition}")
