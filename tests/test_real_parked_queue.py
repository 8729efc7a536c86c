"""The real body's durable retry queue: the model's queue contract, in the shop's database.

The queue is checked against the policy core's ``RetryQueue`` step for step
(same operations, same back-off stream: same answers), then for what only a
shared table must do: one claim per head across processes, leases that lapse,
stale answers refused. The service tests park payments behind an open breaker
and drain them on a manual clock.
"""

from __future__ import annotations

import random
import tempfile
import threading
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from checkoutsim.policy import ops
from checkoutsim.policy.retry_queue import RetryMessage, RetryQueue
from checkoutsim.real.database import Database
from checkoutsim.real.parked_queue import ParkedMessage, ParkedQueue
from checkoutsim.scenario.settings import Settings
from tests.real_support import body, service, settings

PARTITIONS = 3
MAX_ATTEMPTS = 3


def payment(intent_id: int) -> ops.EnqueuePayment:
    """A parked payment for an intent."""
    return ops.EnqueuePayment(intent_id, f"key-{intent_id}", f"key-{intent_id}", 100, 0, 1, None)


def durable_queue(path: Path, seed: int = 0, lease_s: float | None = None) -> ParkedQueue:
    """A queue over a fresh (or shared) SQLite file."""
    queue = ParkedQueue(
        Database(path),
        PARTITIONS,
        MAX_ATTEMPTS,
        1.0,
        8.0,
        random.Random(seed),
        threading.Lock(),
        lease_s,
    )
    queue.create()
    return queue


class SameAsTheModelsQueue(RuleBasedStateMachine):
    """Random producers and consumers on both queues: every answer must match."""

    def __init__(self) -> None:
        super().__init__()
        self.directory = tempfile.TemporaryDirectory()
        self.durable = durable_queue(Path(self.directory.name) / "shop.sqlite", seed=7)
        self.model = RetryQueue(PARTITIONS, MAX_ATTEMPTS, 1.0, 8.0, random.Random(7))
        self.now = 0.0
        self.intents = 0
        self.held: dict[int, tuple[RetryMessage, ParkedMessage]] = {}

    def teardown(self) -> None:
        """Close the file."""
        self.durable.db.close()
        self.directory.cleanup()

    @rule()
    def enqueue(self) -> None:
        """A saga parks a payment."""
        self.model.enqueue(RetryMessage(self.intents, f"key-{self.intents}", 100), self.now)
        self.durable.enqueue(payment(self.intents), self.now)
        self.intents += 1

    @rule(seconds=st.sampled_from([0.0, 0.5, 1.0, 3.0, 9.0]))
    def advance(self, seconds: float) -> None:
        """Time passes."""
        self.now += seconds

    @rule(partition=st.integers(0, PARTITIONS - 1))
    def take(self, partition: int) -> None:
        """A consumer asks for its partition's head."""
        expected = self.model.next_due(partition, self.now)
        got = self.durable.next_due(partition, self.now)
        assert (expected is None) == (got is None)
        if expected is not None and got is not None:
            assert got.payment.intent_id == expected.intent_id
            assert got.attempts == expected.attempts
            self.held[partition] = (expected, got)

    @precondition(lambda self: self.held)
    @rule(data=st.data(), succeeded=st.booleans())
    def answer(self, data: st.DataObject, succeeded: bool) -> None:
        """A consumer acks or nacks what it holds."""
        partition = data.draw(st.sampled_from(sorted(self.held)))
        expected, got = self.held.pop(partition)
        if succeeded:
            self.model.ack(expected)
            self.durable.ack(got, "recovered", self.now)
        else:
            assert self.durable.nack(got, self.now) == self.model.nack(expected, self.now)

    @invariant()
    def same_books(self) -> None:
        """Depth, wake-ups and the figures agree with the model's queue."""
        for partition in range(PARTITIONS):
            assert self.durable.next_wakeup(partition) == self.model.next_wakeup(partition)
        figures = self.durable.figures()
        assert self.durable.depth() == self.model.depth
        assert figures["payment_queued"] == self.model.enqueued
        assert figures["queued_recovered"] == self.model.delivered
        assert figures["dead_lettered"] == len(self.model.dead_letters)
        assert figures["retry_queue_max_depth"] == self.model.max_depth


SameAsTheModelsQueue.TestCase.settings = hypothesis_settings(
    max_examples=40, stateful_step_count=30, deadline=None
)
test_the_durable_queue_answers_as_the_models_queue = SameAsTheModelsQueue.TestCase


def test_two_processes_never_hold_one_head(tmp_path: Path) -> None:
    path = tmp_path / "shop.sqlite"
    first, second = durable_queue(path), durable_queue(path)
    for intent in range(60):
        first.enqueue(payment(intent), 0.0)
    handed: list[int] = []
    lock = threading.Lock()

    def consume(queue: ParkedQueue) -> None:
        # Claim and ack until every partition is empty.
        idle = 0
        while idle < 50:
            claimed = [queue.next_due(p, 1.0) for p in range(PARTITIONS)]
            held = [message for message in claimed if message is not None]
            idle = 0 if held else idle + 1
            for message in held:
                with lock:
                    handed.append(message.offset)
                queue.ack(message, "recovered", 1.0)

    threads = [threading.Thread(target=consume, args=(queue,)) for queue in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(handed) == list(range(1, 61))
    assert first.figures()["queued_recovered"] == 60 and first.depth() == 0


def test_a_lapsed_claim_is_handed_out_again_and_its_late_answer_refused(tmp_path: Path) -> None:
    queue = durable_queue(tmp_path / "shop.sqlite", lease_s=30.0)
    queue.enqueue(payment(0), 0.0)
    first = queue.next_due(0, 0.0)
    assert first is not None
    assert queue.next_due(0, 29.0) is None and queue.next_wakeup(0) == 30.0
    second = queue.next_due(0, 30.0)
    assert second is not None and second.offset == first.offset and second.claim == 2
    with pytest.raises(ValueError, match="not in flight"):
        queue.ack(first, "recovered", 31.0)
    queue.ack(second, "recovered", 31.0)
    with pytest.raises(ValueError, match="not in flight"):
        queue.nack(second, 32.0)
    assert queue.figures()["queued_recovered"] == 1


def test_a_bad_partition_or_outcome_is_refused(tmp_path: Path) -> None:
    queue = durable_queue(tmp_path / "shop.sqlite")
    with pytest.raises(ValueError, match="partition"):
        queue.next_due(PARTITIONS, 0.0)
    queue.enqueue(payment(0), 0.0)
    message = queue.next_due(0, 0.0)
    assert message is not None
    with pytest.raises(ValueError, match="outcome"):
        queue.ack(message, "lost", 0.0)


# --- the service: parked behind the breaker, drained after the outage -----------------


def outage_settings(max_attempts: int = 20, end_s: float = 50.0) -> Settings:
    """Key-first payments, a small breaker, the queue, a gateway hung from 0 to ``end_s``."""
    return settings(
        gateway={"timeout_s": 10.0},
        payment={"strategy": "key_first", "retries": 0},
        breakers={
            "gateway": {
                "enabled": True,
                "sliding_window_size": 4,
                "minimum_number_of_calls": 2,
                "wait_duration_in_open_state_s": 15.0,
                "permitted_number_of_calls_in_half_open_state": 1,
            }
        },
        queue={
            "enabled": True,
            "partitions": 2,
            "max_attempts": max_attempts,
            "backoff_base_s": 2.0,
            "backoff_cap_s": 8.0,
        },
        faults={
            "outages": [{"service": "gateway", "start_s": 0.0, "end_s": end_s, "mode": "hang"}]
        },
        catalog={"skus": 1, "stock_per_sku": 10},
    )


def test_payments_parked_in_an_outage_are_charged_once_when_it_ends(tmp_path: Path) -> None:
    shop, clock = service(tmp_path, outage_settings())
    answers = [shop.api.checkout(f"key-{i}", body())[1]["status"] for i in range(5)]
    # Two calls hang out their time-out and trip the breaker; the rest fail fast.
    assert answers == ["processing"] * 5
    assert clock.now() == 20.0
    assert shop.consumers is not None and shop.parked_depth() == 5
    while clock.now() < 120.0:
        clock.advance(5.0)
        shop.consumers.drain_due()
    figures = shop.consumers.figures()
    assert figures["payment_queued"] == 5 and figures["queued_recovered"] == 5
    assert figures["retry_queue_max_depth"] == 5 and figures["retry_queue_depth_at_end"] == 0
    ledger = shop.ledger.frame()
    assert len(ledger) == ledger["intent_id"].nunique() == 5  # one capture each
    assert shop.stock() == {"sku-0": 5}
    breaker = shop.breaker_figures()
    assert breaker["breaker_open_s"] >= 15.0 and breaker["breaker_rejections"] >= 3
    shop.close()


def test_a_dead_letter_gives_the_units_back_and_leaves_the_key_claimable(tmp_path: Path) -> None:
    shop, clock = service(tmp_path, outage_settings(max_attempts=2, end_s=10_000.0))
    assert shop.api.checkout("key-0", body())[1]["status"] == "processing"
    assert shop.stock() == {"sku-0": 9}
    assert shop.consumers is not None
    while shop.parked_depth() and clock.now() < 500.0:
        clock.advance(5.0)
        shop.consumers.drain_due()
    figures = shop.consumers.figures()
    assert figures["dead_lettered"] == 1 and figures["queued_recovered"] == 0
    assert shop.stock() == {"sku-0": 10}
    record = shop.store.lookup_payment("key-0")
    assert record is not None and record.state is ops.KeyState.RETRY
    assert shop.ledger.frame().empty
    shop.close()


def test_the_audit_counts_the_queue_once_however_many_processes_save(tmp_path: Path) -> None:
    from checkoutsim.real import records

    shop, _ = service(tmp_path, outage_settings())
    other, _ = service(tmp_path, outage_settings())
    shop.api.checkout("key-0", body())
    shop.save_counters()
    other.save_counters()
    facts = records.collect(shop.store, shop.ledger)
    assert facts.counters["payment_queued"] == 1
    assert facts.counters["retry_queue_max_depth"] == 1
    other.close()
    shop.close()
