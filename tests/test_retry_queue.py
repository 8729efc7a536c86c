"""Tests of the payment retry queue: order, back-off, dead letters, and no loss or duplication."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from checkoutsim.policy.retry import backoff_delay
from checkoutsim.policy.retry_queue import NackOutcome, RetryMessage, RetryQueue


class CeilingRandom(random.Random):
    """A Random whose ``uniform`` always returns the top of the range: jitter off."""

    def uniform(self, a: float, b: float) -> float:
        """Return ``b``, the largest delay full jitter could pick."""
        return b


def make_queue(
    partitions: int = 3,
    max_attempts: int = 4,
    backoff_base_s: float = 1.0,
    backoff_cap_s: float = 5.0,
    rng: random.Random | None = None,
) -> RetryQueue:
    """A small queue with jitter switched off unless a Random is given."""
    return RetryQueue(
        partitions=partitions,
        max_attempts=max_attempts,
        backoff_base_s=backoff_base_s,
        backoff_cap_s=backoff_cap_s,
        rng=rng if rng is not None else CeilingRandom(),
    )


def payment(intent_id: int, attempts: int = 0) -> RetryMessage:
    """A parked payment for an intent."""
    return RetryMessage(intent_id=intent_id, key=f"key-{intent_id}", amount=100, attempts=attempts)


def take(queue: RetryQueue, partition: int, now: float) -> RetryMessage:
    """The message a partition's consumer gets at ``now``; it must be there."""
    message = queue.next_due(partition, now=now)
    assert message is not None
    return message


# --- routing and order ------------------------------------------------------


def test_messages_are_partitioned_by_intent_id() -> None:
    queue = make_queue(partitions=3)
    for intent_id in (0, 1, 3, 4, 6, 7, 8):
        queue.enqueue(payment(intent_id), now=0.0)
    assert queue.partition_of(7) == 1
    assert queue.depths == (3, 3, 1)
    assert queue.partition_depth(2) == 1
    assert queue.depth == 7


def test_enqueue_stamps_time_and_a_unique_offset() -> None:
    queue = make_queue()
    first = queue.enqueue(payment(1), now=2.5)
    second = queue.enqueue(payment(1), now=3.0)
    assert (first.enqueued_at, second.enqueued_at) == (2.5, 3.0)
    assert first.offset != second.offset
    assert (first.intent_id, first.key, first.amount, first.attempts) == (1, "key-1", 100, 0)


def test_partition_is_fifo_and_hands_out_one_message_at_a_time() -> None:
    queue = make_queue(partitions=3)
    stored = [queue.enqueue(payment(intent_id), now=0.0) for intent_id in (0, 3, 6)]
    head = queue.next_due(0, now=0.0)
    assert head == stored[0]
    assert queue.in_flight(0) == stored[0]
    # The consumer is busy with the head: nothing else, not even the head again.
    assert queue.next_due(0, now=0.0) is None
    assert queue.next_wakeup(0) is None
    queue.ack(head)
    assert queue.next_due(0, now=0.0) == stored[1]
    queue.ack(stored[1])
    assert queue.next_due(0, now=0.0) == stored[2]


def test_a_head_waiting_for_its_backoff_blocks_the_messages_behind_it() -> None:
    queue = make_queue(partitions=3)
    first = queue.enqueue(payment(0), now=0.0)
    queue.enqueue(payment(3), now=0.0)
    other = queue.enqueue(payment(1), now=0.0)
    assert queue.nack(take(queue, 0, now=0.0), now=0.0) == NackOutcome.RETRY
    assert queue.next_wakeup(0) == 1.0
    assert queue.next_due(0, now=0.5) is None
    # Another partition has its own consumer and is not held up.
    assert queue.next_due(1, now=0.5) == other
    retried = take(queue, 0, now=1.0)
    assert retried.offset == first.offset
    assert retried.attempts == 1


def test_delay_holds_back_the_first_delivery() -> None:
    queue = make_queue()
    queue.enqueue(payment(0), now=10.0, delay_s=2.0)
    assert queue.next_wakeup(0) == 12.0
    assert queue.next_due(0, now=11.9) is None
    assert queue.next_due(0, now=12.0) is not None


def test_empty_partition_has_nothing_due_and_no_wakeup() -> None:
    queue = make_queue()
    assert queue.next_due(1, now=100.0) is None
    assert queue.next_wakeup(1) is None
    assert queue.in_flight(1) is None


# --- back-off and dead letters ------------------------------------------------


def test_backoff_doubles_from_the_base_and_stops_at_the_cap() -> None:
    queue = make_queue(partitions=1, max_attempts=10, backoff_base_s=1.0, backoff_cap_s=5.0)
    queue.enqueue(payment(0), now=0.0)
    now = 0.0
    delays = []
    for _ in range(6):
        queue.nack(take(queue, 0, now=now), now=now)
        wakeup = queue.next_wakeup(0)
        assert wakeup is not None
        delays.append(wakeup - now)
        now = wakeup
    assert delays == [1.0, 2.0, 4.0, 5.0, 5.0, 5.0]


def test_backoff_uses_full_jitter_from_the_injected_random() -> None:
    queue = make_queue(partitions=1, max_attempts=10, rng=random.Random(7))
    twin = random.Random(7)
    queue.enqueue(payment(0), now=0.0)
    now = 0.0
    for retry_number in range(5):
        queue.nack(take(queue, 0, now=now), now=now)
        wakeup = queue.next_wakeup(0)
        assert wakeup is not None
        assert wakeup == now + backoff_delay(retry_number, 1.0, 5.0, twin)
        now = wakeup


def test_dead_letter_after_max_attempts() -> None:
    queue = make_queue(partitions=1, max_attempts=3)
    stored = queue.enqueue(payment(0), now=0.0)
    behind = queue.enqueue(payment(1), now=0.0)
    outcomes = []
    now = 0.0
    for _ in range(3):
        outcomes.append(queue.nack(take(queue, 0, now=now), now=now))
        now += 10.0
    assert outcomes == ["retry", "retry", "dead_letter"]
    assert queue.dead_letters == (
        RetryMessage(0, "key-0", 100, attempts=3, enqueued_at=0.0, offset=stored.offset),
    )
    assert queue.depth == 1
    # The partition moves on to the message that was waiting behind.
    assert queue.next_due(0, now=now) == behind


def test_attempts_made_before_enqueue_count_towards_the_limit() -> None:
    queue = make_queue(max_attempts=3)
    queue.enqueue(payment(0, attempts=2), now=0.0)
    assert queue.nack(take(queue, 0, now=0.0), now=0.0) is NackOutcome.DEAD_LETTER


def test_one_attempt_means_the_first_failure_is_final() -> None:
    queue = make_queue(max_attempts=1)
    queue.enqueue(payment(0), now=0.0)
    assert queue.nack(take(queue, 0, now=0.0), now=0.0) == "dead_letter"


# --- accounting and misuse --------------------------------------------------


def test_depth_counters_track_every_message() -> None:
    queue = make_queue(partitions=2, max_attempts=2)
    for intent_id in range(4):
        queue.enqueue(payment(intent_id), now=0.0)
    assert (queue.depth, queue.max_depth, queue.enqueued) == (4, 4, 4)
    queue.ack(take(queue, 0, now=0.0))
    queue.nack(take(queue, 1, now=0.0), now=0.0)
    assert (queue.depth, queue.max_depth, queue.delivered, queue.retries) == (3, 4, 1, 1)
    queue.nack(take(queue, 1, now=10.0), now=10.0)
    assert (queue.depth, len(queue.dead_letters)) == (2, 1)
    queue.enqueue(payment(9), now=10.0)
    assert (queue.depth, queue.max_depth, queue.enqueued) == (3, 4, 5)
    assert queue.depth + queue.delivered + len(queue.dead_letters) == queue.enqueued


def test_answers_for_messages_not_in_flight_are_rejected() -> None:
    queue = make_queue(partitions=1)
    stored = queue.enqueue(payment(0), now=0.0)
    with pytest.raises(ValueError, match="not in flight"):
        queue.ack(stored)  # never handed out
    message = take(queue, 0, now=0.0)
    queue.nack(message, now=0.0)
    retried = take(queue, 0, now=100.0)
    with pytest.raises(ValueError, match="not in flight"):
        queue.ack(message)  # the copy from before the retry
    queue.ack(retried)
    with pytest.raises(ValueError, match="not in flight"):
        queue.ack(retried)  # twice
    with pytest.raises(ValueError, match="not in flight"):
        queue.nack(retried, now=100.0)
    assert (queue.delivered, queue.depth, queue.dead_letters) == (1, 0, ())


@pytest.mark.parametrize(
    ("argument", "value"),
    [
        ("partitions", 0),
        ("max_attempts", 0),
        ("backoff_base_s", -1.0),
        ("backoff_cap_s", float("nan")),
    ],
)
def test_settings_are_validated(argument: str, value: float) -> None:
    settings_by_name: dict[str, Any] = {
        "partitions": 1,
        "max_attempts": 1,
        "backoff_base_s": 1.0,
        "backoff_cap_s": 1.0,
    }
    settings_by_name[argument] = value
    with pytest.raises(ValueError, match=argument):
        make_queue(**settings_by_name)


def test_bad_partition_and_arguments_are_rejected() -> None:
    queue = make_queue(partitions=2)
    with pytest.raises(ValueError, match="partition"):
        queue.next_due(2, now=0.0)
    with pytest.raises(ValueError, match="delay_s"):
        queue.enqueue(payment(0), now=0.0, delay_s=-1.0)
    with pytest.raises(ValueError, match="attempts"):
        queue.enqueue(payment(0, attempts=-1), now=0.0)


# --- no loss, no duplication ------------------------------------------------


class RetryQueueMachine(RuleBasedStateMachine):
    """Random interleavings of producers, consumers and time, checked against a ledger.

    The ledger knows, for every offset ever enqueued, whether it is still queued,
    acked or dead-lettered; each must be in exactly one place, and each partition
    must let its messages go in the order they came in.
    """

    def __init__(self) -> None:
        super().__init__()
        self.queue = make_queue()
        self.now = 0.0
        self.queued: dict[int, RetryMessage] = {}
        self.acked: list[int] = []
        self.dead: list[int] = []
        self.held: dict[int, RetryMessage] = {}
        self.answered: list[RetryMessage] = []
        self.left_partition: dict[int, list[int]] = {}

    @initialize(
        partitions=st.integers(1, 4),
        max_attempts=st.integers(1, 4),
        seed=st.integers(0, 2**32 - 1),
    )
    def build(self, partitions: int, max_attempts: int, seed: int) -> None:
        """A queue of random shape, with its own seeded Random."""
        self.queue = RetryQueue(partitions, max_attempts, 0.5, 2.0, random.Random(seed))
        self.left_partition = {partition: [] for partition in range(partitions)}

    @rule(intent_id=st.integers(0, 12), delay_s=st.sampled_from([0.0, 0.0, 1.0]))
    def enqueue(self, intent_id: int, delay_s: float) -> None:
        """A producer parks a payment."""
        stored = self.queue.enqueue(payment(intent_id), now=self.now, delay_s=delay_s)
        assert stored.offset not in self.queued
        self.queued[stored.offset] = stored

    @rule(seconds=st.sampled_from([0.1, 0.5, 1.0, 3.0]))
    def advance(self, seconds: float) -> None:
        """Time passes."""
        self.now += seconds

    @rule(data=st.data())
    def poll(self, data: st.DataObject) -> None:
        """A partition's consumer asks for work."""
        partition = data.draw(st.integers(0, self.queue.partitions - 1))
        wakeup = self.queue.next_wakeup(partition)
        message = self.queue.next_due(partition, now=self.now)
        if message is None:
            assert partition in self.held or wakeup is None or wakeup > self.now
            return
        assert partition not in self.held
        assert wakeup is not None and wakeup <= self.now
        assert message.offset in self.queued
        assert self.queue.partition_of(message.intent_id) == partition
        self.held[partition] = message

    @precondition(lambda self: bool(self.held))
    @rule(data=st.data(), succeed=st.booleans())
    def answer(self, data: st.DataObject, succeed: bool) -> None:
        """A consumer reports the outcome of the payment it holds."""
        partition = data.draw(st.sampled_from(sorted(self.held)))
        message = self.held.pop(partition)
        self.answered.append(message)
        if succeed:
            self.queue.ack(message)
            self._leave(message, self.acked, partition)
            return
        outcome = self.queue.nack(message, now=self.now)
        expected_dead = message.attempts + 1 >= self.queue.max_attempts
        assert outcome == (NackOutcome.DEAD_LETTER if expected_dead else NackOutcome.RETRY)
        if expected_dead:
            self._leave(message, self.dead, partition)

    @precondition(lambda self: bool(self.answered))
    @rule(data=st.data(), succeed=st.booleans())
    def answer_again(self, data: st.DataObject, succeed: bool) -> None:
        """A confused consumer answers again for a message it already answered: refused."""
        message = data.draw(st.sampled_from(self.answered))
        before = (self.queue.depth, self.queue.delivered, len(self.queue.dead_letters))
        with pytest.raises(ValueError, match="not in flight"):
            if succeed:
                self.queue.ack(message)
            else:
                self.queue.nack(message, now=self.now)
        assert (self.queue.depth, self.queue.delivered, len(self.queue.dead_letters)) == before

    def _leave(self, message: RetryMessage, destination: list[int], partition: int) -> None:
        assert message.offset in self.queued
        del self.queued[message.offset]
        destination.append(message.offset)
        self.left_partition[partition].append(message.offset)

    @invariant()
    def every_message_is_in_exactly_one_place(self) -> None:
        """Queued, acked or dead-lettered: one of them, once."""
        queue = self.queue
        assert len(set(self.acked)) == len(self.acked)
        assert len(set(self.dead)) == len(self.dead)
        assert not set(self.acked) & set(self.dead)
        assert not set(self.queued) & (set(self.acked) | set(self.dead))
        assert len(self.queued) + len(self.acked) + len(self.dead) == queue.enqueued
        assert queue.depth == len(self.queued) == sum(queue.depths)
        assert queue.delivered == len(self.acked)
        assert [message.offset for message in queue.dead_letters] == self.dead
        assert queue.depth <= queue.max_depth

    @invariant()
    def partitions_release_messages_in_arrival_order(self) -> None:
        """Offsets grow with arrival, so each partition's departures must be increasing."""
        for offsets in self.left_partition.values():
            assert offsets == sorted(offsets)

    def teardown(self) -> None:
        """Drain everything: in the end every message was acked or dead-lettered once."""
        for partition, message in list(self.held.items()):
            self.queue.ack(message)
            self._leave(message, self.acked, partition)
        self.held.clear()
        for partition in range(self.queue.partitions):
            while (wakeup := self.queue.next_wakeup(partition)) is not None:
                self.now = max(self.now, wakeup)
                message = self.queue.next_due(partition, now=self.now)
                assert message is not None
                self.queue.ack(message)
                self._leave(message, self.acked, partition)
        self.every_message_is_in_exactly_one_place()
        self.partitions_release_messages_in_arrival_order()
        assert self.queue.depth == 0
        assert not self.queued


RetryQueueMachine.TestCase.settings = settings(
    max_examples=150, stateful_step_count=40, deadline=None
)
test_retry_queue_neither_loses_nor_duplicates = RetryQueueMachine.TestCase
