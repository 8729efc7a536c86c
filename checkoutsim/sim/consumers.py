"""The payment retry queue in simulated time: one consumer process per partition.

The queue's bookkeeping (partitions, order, back-off, dead letters) is the
policy core's ``RetryQueue``; this module only runs its consumers. A consumer
sleeps until its partition's head is due or something new arrives, delivers
one attempt, and acks or nacks it.
"""

from __future__ import annotations

import random

import simpy

from checkoutsim.policy import ops
from checkoutsim.policy.inventory import InventoryPolicy
from checkoutsim.policy.parked import Delivery, abandon, deliver
from checkoutsim.policy.retry_queue import NackOutcome, RetryMessage, RetryQueue
from checkoutsim.policy.saga import SagaPolicy
from checkoutsim.scenario.settings import Settings
from checkoutsim.sim import SimStep
from checkoutsim.sim.engine import Engine


class RetryConsumers:
    """Parks payments and drains them when the gateway takes them again."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        saga: SagaPolicy,
        streams: dict[str, random.Random],
        inventory: InventoryPolicy | None = None,
    ) -> None:
        queue_settings = settings.queue
        self.env = engine.env
        self.engine = engine
        self.saga = saga
        #: The reservations' strategy, whose rules a give-back follows.
        self.inventory = inventory
        self.queue = RetryQueue(
            queue_settings.partitions,
            queue_settings.max_attempts,
            queue_settings.backoff_base_s,
            queue_settings.backoff_cap_s,
            streams["queue"],
        )
        self._rng = streams["queue"]
        self._parked: dict[int, ops.EnqueuePayment] = {}
        self._wakeups: list[simpy.Event | None] = [None] * queue_settings.partitions
        self.recovered = 0
        self.settled = 0
        engine.handlers[ops.EnqueuePayment] = self._enqueue
        for partition in range(queue_settings.partitions):
            self.env.process(self._consume(partition))

    def _enqueue(self, op: ops.EnqueuePayment) -> SimStep:
        """The EnqueuePayment operation: a produce call to the queue."""
        yield self.env.timeout(0.001)
        stored = self.queue.enqueue(
            RetryMessage(op.intent_id, op.gateway_key, op.amount), self.env.now
        )
        self._parked[stored.offset] = op
        partition = self.queue.partition_of(op.intent_id)
        wakeup = self._wakeups[partition]
        if wakeup is not None and not wakeup.triggered:
            wakeup.succeed()

    def _consume(self, partition: int) -> SimStep:
        """One partition's consumer loop, forever."""
        env = self.env
        queue = self.queue
        while True:
            message = queue.next_due(partition, env.now)
            if message is None:
                wakeup = self._wakeups[partition] = env.event()
                due = queue.next_wakeup(partition)
                if due is None:
                    yield wakeup
                else:
                    # A hair past the due time: the breaker only half-opens once
                    # its wait is strictly over.
                    yield wakeup | env.timeout(max(0.0, due - env.now) + 1e-6)
                continue
            parked = self._parked[message.offset]
            outcome = yield from self.engine.drive(
                deliver(parked, self.saga, self._rng, self.inventory)
            )
            if outcome is Delivery.RETRY:
                if queue.nack(message, env.now) is NackOutcome.DEAD_LETTER:
                    yield from self.engine.drive(abandon(parked, inventory=self.inventory))
                continue
            queue.ack(message)
            if outcome is Delivery.RECOVERED:
                self.recovered += 1
            else:
                self.settled += 1
