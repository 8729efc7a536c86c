"""The model's side of the strategies found in the wild: per-operation costs,
in-process locks (one set per serving process) and per-SKU queues.

Costs: every inventory operation used to cost one draw of ``inventory.query``;
``inventory.costs`` tells a read, a write, a conditional write, a lock round
trip, a queue hop and an in-memory check apart. A cost left unset is the query's
own sampler, so scenarios that set none draw exactly the numbers they drew before.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import simpy

from checkoutsim.policy import ops
from checkoutsim.scenario.settings import Latency, Settings
from checkoutsim.sim import SimStep
from checkoutsim.sim.state import Shop
from checkoutsim.world.latency import sampler

Cost = Callable[[], float]


def operation_costs(settings: Settings, stream: random.Random, query: Cost) -> dict[type, Cost]:
    """The cost of each pooled inventory operation, from ``inventory.costs``."""
    costs = settings.inventory.costs

    def cost(spec: Latency | None) -> Cost:
        # Unset: the query's own sampler, so the draws are the ones made before.
        return query if spec is None else sampler(spec, stream, batched=True)

    read = cost(costs.read)
    write = cost(costs.write)
    conditional = cost(costs.conditional_write)
    lock = cost(costs.lock)
    gap = costs.check_gap_s

    def for_update() -> float:
        # SELECT ... FOR UPDATE, the application's check, then the UPDATE: the
        # row stays locked through all three.
        return read() + gap + conditional()

    return {
        ops.ReadStock: read,
        ops.WriteStock: write,
        ops.CompareAndSetStock: conditional,
        ops.DecrementIfAvailable: conditional,
        ops.ReleaseReservation: write,
        ops.ExpireReservation: write,
        ops.AcquireLock: lock,
        ops.ReleaseLock: lock,
        ops.DecrementStock: write,
        ops.DecrementThenCheck: write,
        ops.GiveBack: write,
        ops.ReserveForUpdate: for_update,
        ops.DecrementBucket: conditional,
        # The MVP's local transaction: the row stays locked from the UPDATE
        # through the order INSERT to the commit.
        ops.ReserveWithOrder: lambda: conditional() + write(),
    }


class ProcessMutexes:
    """In-process locks: each serving process has its own, keyed by name.

    Shopper n is served by process n mod ``processes`` (a round-robin
    balancer), so with two processes two shoppers can each hold "the" lock.
    """

    def __init__(self, env: simpy.Environment, processes: int, in_memory_s: float) -> None:
        self.env = env
        self.processes = processes
        self.in_memory_s = in_memory_s
        self._locks: dict[tuple[int, str], simpy.Resource] = {}
        #: Requests by (lock, holder): a list, because a double click's two
        #: requests share the intent, and one may hold while the other waits
        #: (or gives back its units after a decline).
        self._held: dict[tuple[str, int], list[simpy.resources.resource.Request]] = {}

    def acquire(self, op: ops.AcquireMutex) -> SimStep:
        """Wait for this process's lock ``op.name`` (no time-out, as a plain mutex)."""
        key = (op.holder % self.processes, op.name)
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = simpy.Resource(self.env, capacity=1)
        request = lock.request()
        self._held.setdefault((op.name, op.holder), []).append(request)
        yield request
        if self.in_memory_s > 0:
            yield self.env.timeout(self.in_memory_s)

    def release(self, op: ops.ReleaseMutex) -> SimStep:
        """Release the lock ``op.holder`` holds."""
        key = (op.name, op.holder)
        lock = self._locks[(op.holder % self.processes, op.name)]
        requests = self._held[key]
        # The holder's granted request, not a waiting one of the same intent.
        request = next(each for each in requests if each in lock.users)
        requests.remove(request)
        if not requests:
            del self._held[key]
        lock.release(request)
        if self.in_memory_s > 0:
            yield self.env.timeout(self.in_memory_s)


class SkuQueues:
    """One queue and one consumer per SKU: reservations are served one at a time.

    The hop to the queue costs ``costs.queue`` and holds no database worker.
    The consumer is the SKU's only stock writer, so it knows the count in
    memory: a sold-out answer costs ``costs.in_memory_s``, a reservation a
    conditional write (``costs.conditional_write``) on its own connection.
    """

    def __init__(
        self,
        env: simpy.Environment,
        shop: Shop,
        settings: Settings,
        stream: random.Random,
        query: Cost,
    ) -> None:
        costs = settings.inventory.costs
        self.env = env
        self.shop = shop
        self.in_memory_s = costs.in_memory_s
        self.hop = query if costs.queue is None else sampler(costs.queue, stream, batched=True)
        self.write = (
            query
            if costs.conditional_write is None
            else sampler(costs.conditional_write, stream, batched=True)
        )
        self._consumers: dict[int, simpy.Resource] = {}

    def reserve(self, op: ops.ReserveThroughQueue) -> SimStep:
        """Enqueue, wait for the consumer's turn, and take its answer back."""
        env = self.env
        hop = self.hop()
        if hop > 0:
            yield env.timeout(hop)
        consumer = self._consumers.get(op.sku)
        if consumer is None:
            consumer = self._consumers[op.sku] = simpy.Resource(env, capacity=1)
        with consumer.request() as turn:
            yield turn
            if self.shop.available[op.sku] < op.reservation.quantity:
                if self.in_memory_s > 0:
                    yield env.timeout(self.in_memory_s)
                return None
            latency = self.write()
            if latency > 0:
                yield env.timeout(latency)
            return self.shop.decrement_if_available(op.reservation, env.now)
