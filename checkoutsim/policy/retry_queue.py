"""A Kafka-like retry queue for parked payments, as pure bookkeeping.

Payments that could not be made (gateway down, breaker open) are parked here and
retried later by consumers that the SimPy model and the real service each run
themselves; this module only decides *what* is due and *when*.

Model:

- Messages are partitioned by checkout intent, ``partition = intent_id %
  partitions``, so every retry of one intent lands on the same partition and is
  seen in order.
- Each partition has one logical consumer and is strictly FIFO. ``next_due``
  hands the head to that consumer and marks it in flight; nothing else in the
  partition is handed out until the consumer ``ack``s or ``nack``s it. A head
  waiting for its back-off blocks the messages behind it, as an uncommitted
  Kafka offset does.
- A ``nack`` keeps the message at the head with one more attempt and a back-off
  of ``backoff_delay(attempts - 1, base, cap, rng)`` (capped exponential, full
  jitter). After ``max_attempts`` failed attempts it goes to the dead-letter list.
- Every stored message gets a queue-wide ``offset``; ``ack`` and ``nack`` check
  it against the message in flight, so a stale or repeated answer is an error
  instead of a silent duplicate or loss. At any moment each enqueued message is
  in exactly one place: queued (possibly in flight), delivered, or dead-lettered.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, replace
from enum import StrEnum

from checkoutsim.policy.retry import backoff_delay


@dataclass(frozen=True, slots=True)
class RetryMessage:
    """A parked payment.

    ``key`` is the idempotency key the payment carries to the gateway (None when
    the strategy uses none). ``attempts`` counts failed attempts so far.
    ``enqueued_at`` and ``offset`` are stamped by ``RetryQueue.enqueue``.
    """

    intent_id: int
    key: str | None
    amount: int
    attempts: int = 0
    enqueued_at: float = 0.0
    offset: int = -1


class NackOutcome(StrEnum):
    """What happened to a nacked message (compares equal to "retry" / "dead_letter")."""

    RETRY = "retry"
    DEAD_LETTER = "dead_letter"


@dataclass(slots=True)
class _Entry:
    """A stored message and the earliest time it may be handed out."""

    message: RetryMessage
    due_at: float


class _Partition:
    """One FIFO partition and the message its consumer holds, if any."""

    def __init__(self) -> None:
        self.entries: deque[_Entry] = deque()
        self.in_flight = False


class RetryQueue:
    """Partitioned FIFO retry queue with capped, jittered back-off and a dead-letter list.

    Driver loop for one partition's consumer: ``message = queue.next_due(p, now)``;
    if None, sleep until ``queue.next_wakeup(p)`` (or until something is
    enqueued); else try the payment and ``ack(message)`` or ``nack(message, now)``.
    """

    def __init__(
        self,
        partitions: int,
        max_attempts: int,
        backoff_base_s: float,
        backoff_cap_s: float,
        rng: random.Random,
    ) -> None:
        if partitions < 1:
            raise ValueError(f"partitions must be >= 1, got {partitions}")
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {max_attempts}")
        if not backoff_base_s >= 0:
            raise ValueError(f"backoff_base_s must be >= 0, got {backoff_base_s}")
        if not backoff_cap_s >= 0:
            raise ValueError(f"backoff_cap_s must be >= 0, got {backoff_cap_s}")
        self._partitions = [_Partition() for _ in range(partitions)]
        self._max_attempts = max_attempts
        self._backoff_base_s = backoff_base_s
        self._backoff_cap_s = backoff_cap_s
        self._rng = rng
        self._next_offset = 0
        self._depth = 0
        self._max_depth = 0
        self._delivered = 0
        self._retries = 0
        self._dead_letters: list[RetryMessage] = []

    @property
    def partitions(self) -> int:
        """Number of partitions."""
        return len(self._partitions)

    @property
    def max_attempts(self) -> int:
        """Failed attempts after which a message is dead-lettered."""
        return self._max_attempts

    @property
    def depth(self) -> int:
        """Messages queued now, in flight included."""
        return self._depth

    @property
    def max_depth(self) -> int:
        """The deepest the queue has been."""
        return self._max_depth

    @property
    def enqueued(self) -> int:
        """Messages ever enqueued (= depth + delivered + dead letters)."""
        return self._next_offset

    @property
    def delivered(self) -> int:
        """Messages acked (their payment went through)."""
        return self._delivered

    @property
    def retries(self) -> int:
        """Nacks that scheduled another attempt."""
        return self._retries

    @property
    def dead_letters(self) -> tuple[RetryMessage, ...]:
        """Messages that ran out of attempts, in the order they gave up."""
        return tuple(self._dead_letters)

    @property
    def depths(self) -> tuple[int, ...]:
        """Depth of each partition, in flight included."""
        return tuple(len(partition.entries) for partition in self._partitions)

    def partition_of(self, intent_id: int) -> int:
        """The partition an intent's messages go to."""
        return intent_id % len(self._partitions)

    def partition_depth(self, partition: int) -> int:
        """Messages queued in one partition, in flight included."""
        return len(self._partition(partition).entries)

    def in_flight(self, partition: int) -> RetryMessage | None:
        """The message the partition's consumer holds, if any."""
        state = self._partition(partition)
        return state.entries[0].message if state.in_flight else None

    def enqueue(self, message: RetryMessage, now: float, delay_s: float = 0.0) -> RetryMessage:
        """Append a message to its intent's partition and return the stored copy.

        The copy is stamped with ``enqueued_at=now`` and a fresh ``offset``; use it
        (or what ``next_due`` returns) for ``ack`` and ``nack``. ``delay_s`` holds
        back its first delivery, for producers that want a back-off before the
        first retry too. ``attempts`` is kept, so a producer that already tried
        can say so.
        """
        if not delay_s >= 0:
            raise ValueError(f"delay_s must be >= 0, got {delay_s}")
        if message.attempts < 0:
            raise ValueError(f"attempts must be >= 0, got {message.attempts}")
        stored = replace(message, enqueued_at=now, offset=self._next_offset)
        self._next_offset += 1
        self._partition(self.partition_of(message.intent_id)).entries.append(
            _Entry(stored, now + delay_s)
        )
        self._depth += 1
        self._max_depth = max(self._max_depth, self._depth)
        return stored

    def next_due(self, partition: int, now: float) -> RetryMessage | None:
        """Hand the partition's head to its consumer if it is due at ``now``.

        Returns None when the partition is empty, its head is already in flight,
        or the head's back-off has not run out; in the last case the messages
        behind it wait too.
        """
        state = self._partition(partition)
        if state.in_flight or not state.entries:
            return None
        head = state.entries[0]
        if head.due_at > now:
            return None
        state.in_flight = True
        return head.message

    def next_wakeup(self, partition: int) -> float | None:
        """When the partition's head becomes due (maybe already past).

        None when the partition is empty or its head is in flight: then the next
        event for the consumer is its own ack or nack, or an enqueue.
        """
        state = self._partition(partition)
        if state.in_flight or not state.entries:
            return None
        return state.entries[0].due_at

    def ack(self, message: RetryMessage) -> None:
        """The message's payment went through: remove it for good."""
        state = self._claim(message)
        state.entries.popleft()
        state.in_flight = False
        self._depth -= 1
        self._delivered += 1

    def nack(self, message: RetryMessage, now: float) -> NackOutcome:
        """The attempt failed: back off and keep it at the head, or dead-letter it."""
        state = self._claim(message)
        head = state.entries[0]
        attempts = head.message.attempts + 1
        state.in_flight = False
        if attempts >= self._max_attempts:
            state.entries.popleft()
            self._depth -= 1
            self._dead_letters.append(replace(head.message, attempts=attempts))
            return NackOutcome.DEAD_LETTER
        delay = backoff_delay(attempts - 1, self._backoff_base_s, self._backoff_cap_s, self._rng)
        # The head keeps its place: retrying it later while its successors
        # overtake it would break the per-intent order the partitioning buys.
        head.message = replace(head.message, attempts=attempts)
        head.due_at = now + delay
        self._retries += 1
        return NackOutcome.RETRY

    def _partition(self, partition: int) -> _Partition:
        if not 0 <= partition < len(self._partitions):
            raise ValueError(f"partition must be in [0, {len(self._partitions)}), got {partition}")
        return self._partitions[partition]

    def _claim(self, message: RetryMessage) -> _Partition:
        """The partition whose in-flight message is ``message``, or a ValueError."""
        state = self._partition(self.partition_of(message.intent_id))
        if not state.in_flight or state.entries[0].message != message:
            raise ValueError(
                f"message at offset {message.offset} is not in flight "
                f"(already answered, never handed out, a stale copy, or not from this queue)"
            )
        return state
