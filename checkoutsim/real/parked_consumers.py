"""The payment retry queue's producer and consumers in the real body.

The saga parks a payment by yielding ``ops.EnqueuePayment``; ``enqueue`` is
the executor's handler for it: one row in the durable queue
(``checkoutsim.real.parked_queue``), and a wake-up for the partition's consumer
in this process. Each consumer runs the policy core's delivery
(``checkoutsim.policy.parked.deliver``: one gateway attempt with the payment's
key, then the rest of the saga) through the executor, as
``checkoutsim.sim.consumers`` runs it in simulated time, and acks or nacks the
message; a dead letter is compensated with ``abandon``.

A consumer sleeps until its head is due, until an enqueue in this process wakes
it, or for ``idle_poll_s`` model seconds (a payment parked by another process
sharing the store is seen by polling).
"""

from __future__ import annotations

import logging
import random
from typing import Any

from checkoutsim.policy import ops
from checkoutsim.policy.inventory import InventoryPolicy
from checkoutsim.policy.parked import Delivery, abandon, deliver
from checkoutsim.policy.retry_queue import NackOutcome
from checkoutsim.policy.saga import SagaPolicy
from checkoutsim.real.executor import Executor
from checkoutsim.real.parked_queue import ParkedMessage, ParkedQueue
from checkoutsim.real.runtime import Runtime
from checkoutsim.real.saga_context import SagaContext

#: A hair past a head's due time: the breaker half-opens only once its wait is strictly over.
PAST_DUE_S = 1e-6

log = logging.getLogger(__name__)


class ParkedConsumers:
    """Parks payments and drains them, one consumer per partition."""

    def __init__(
        self,
        queue: ParkedQueue,
        executor: Executor,
        saga: SagaPolicy,
        runtime: Runtime,
        rng: random.Random,
        idle_poll_s: float = 1.0,
        inventory: InventoryPolicy | None = None,
    ) -> None:
        self.queue = queue
        self.executor = executor
        self.saga = saga
        #: The reservations' strategy, whose rules a give-back follows.
        self.inventory = inventory
        self.runtime = runtime
        self.idle_poll_s = idle_poll_s
        self._rng = rng
        executor.handlers[ops.EnqueuePayment] = self.enqueue

    @staticmethod
    def wake_name(partition: int) -> str:
        """The name an enqueue notifies to wake a partition's consumer."""
        return f"parked-payments/{partition}"

    def enqueue(self, op: ops.EnqueuePayment, saga: SagaContext) -> None:
        """The ``EnqueuePayment`` operation: produce the row, wake the consumer (any thread)."""
        self.queue.enqueue(op, self.runtime.time.now())
        self.runtime.notify(self.wake_name(self.queue.partition_of(op.intent_id)))

    def consume(self, partition: int) -> None:
        """One partition's consumer loop, forever (run it in its own greenlet or thread)."""
        while True:
            waited = self.step(partition)
            if waited is not None:
                self.runtime.pause(waited, wake=self.wake_name(partition))

    def step(self, partition: int) -> float | None:
        """Deliver the partition's head if it is due; else how long to sleep (model seconds)."""
        runtime = self.runtime
        now = runtime.time.now
        message = runtime.offload(lambda: self.queue.next_due(partition, now()))
        if message is None:
            due = runtime.offload(self.queue.next_wakeup, partition)
            if due is None:
                return self.idle_poll_s
            return min(max(0.0, due - now()) + PAST_DUE_S, self.idle_poll_s)
        self.deliver(message)
        return None

    def deliver(self, message: ParkedMessage) -> Delivery:
        """One attempt at a parked payment, then its ack or nack (a dead letter is compensated)."""
        runtime = self.runtime
        now = runtime.time.now
        parked = message.payment
        context = SagaContext(parked.intent_id, parked.key)
        try:
            outcome = self.executor.drive(
                deliver(parked, self.saga, self._rng, self.inventory), context
            )
        except Exception:
            # A store failure mid-delivery: the queue tries again later, as a
            # consumer that did not commit its offset would.
            log.exception("delivery of parked payment %s failed", message.offset)
            self.executor.counters.add("queue_delivery_errors")
            outcome = Delivery.RETRY
        try:
            if outcome is Delivery.RETRY:
                answered = runtime.offload(lambda: self.queue.nack(message, now()))
                if answered is NackOutcome.DEAD_LETTER:
                    self.executor.drive(abandon(parked, inventory=self.inventory), context)
                return outcome
            runtime.offload(lambda: self.queue.ack(message, outcome.value, now()))
        except ValueError:
            # Our claim lapsed and the payment was handed out again: the newer
            # claim answers for it (with its key, the gateway charged it once).
            self.executor.counters.add("queue_stale_answers")
        return outcome

    def drain_due(self) -> int:
        """Deliver every message due now, partition by partition; how many (tests, tools)."""
        delivered = 0
        for partition in range(self.queue.partitions):
            while self.step(partition) is None:
                delivered += 1
        return delivered

    def figures(self) -> dict[str, Any]:
        """The queue's metrics from its rows (blocking: call in a thread or after the run)."""
        return self.queue.figures()
