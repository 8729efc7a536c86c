"""The SimPy engine: executes the policy core's operations in simulated time.

Each operation costs what it would cost a real system: an inventory query
holds one of a bounded pool of workers for a drawn latency, a gateway call
takes a drawn latency and may fail, time out or lose its response, and so on.
Then the operation is applied to the in-memory ``Shop`` and ``Ledger``. Policy
generators are driven inline (``yield from``), not as separate processes,
because every extra SimPy process costs events.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import simpy

from checkoutsim.policy import ops
from checkoutsim.scenario.settings import Settings
from checkoutsim.sim import SimStep
from checkoutsim.sim.clock import SimClock
from checkoutsim.sim.gateway import GatewayModel
from checkoutsim.sim.local_transaction import LocalTransactions
from checkoutsim.sim.loop import sleep
from checkoutsim.sim.pool import WorkerPool
from checkoutsim.sim.races import ProcessMutexes, SkuQueues, operation_costs
from checkoutsim.sim.requests import RequestTable
from checkoutsim.sim.state import Ledger, Shop
from checkoutsim.sim.stock_operations import StockOperations
from checkoutsim.world import service_rules
from checkoutsim.world.faults import CoordinatorCrashes, FaultSchedule, make_breaker
from checkoutsim.world.latency import sampler

UNAVAILABLE = ops.UNAVAILABLE


@dataclass(slots=True)
class TierStats:
    """Queueing figures of one bounded pool of workers."""

    calls: int = 0
    wait_s: float = 0.0
    busy_s: float = 0.0


@dataclass(slots=True)
class Counters:
    """Counts the metrics need that no table holds."""

    sweeper_refunds: int = 0
    inventory_refusals: int = 0
    stalled_by_coordinator: int = 0


class Engine:
    """Turns policy operations into SimPy events over one shop and one gateway."""

    def __init__(
        self,
        env: simpy.Environment,
        settings: Settings,
        streams: dict[str, random.Random],
        shop: Shop,
        ledger: Ledger,
    ) -> None:
        self.env = env
        self.settings = settings
        self.shop = shop
        self.ledger = ledger
        self.counters = Counters()
        self.inventory_stats = TierStats()
        self.faults = FaultSchedule(settings.faults)
        self.workers = WorkerPool(env, settings.inventory.workers)
        self.row_locks = [WorkerPool(env, 1) for _ in range(settings.catalog.skus)]
        self.row_stats = TierStats()
        #: What each inventory operation does to the shop once its cost is paid.
        self.stock = StockOperations(env, shop)
        self.locks = self.stock.locks
        self.gateway = GatewayModel(env, settings, streams, ledger, self.faults)
        self.inventory_breaker = make_breaker(settings.breakers.inventory, SimClock(env))
        self._inventory_query = sampler(
            settings.inventory.query, streams["inventory"], batched=True
        )
        self._payment_query = sampler(settings.payment.query, streams["payments"], batched=True)
        self._order_latency = sampler(settings.order.latency, streams["orders"], batched=True)
        self._order_rng = streams["order_faults"]
        self._pause_rng = streams["pauses"]
        self._pause = sampler(settings.faults.pause, streams["pauses"], batched=True)
        self._pause_probability = settings.faults.pause_probability
        brownouts = {brownout.service for brownout in settings.faults.brownouts}
        self._inventory_faulty = self.faults.has_outages("inventory") or "inventory" in brownouts
        self._inventory_guarded = self._inventory_faulty or self.inventory_breaker is not None
        self._coordinator_faulty = self.faults.has_outages("coordinator")
        #: Whether a ``Checkpoint`` can ever stall here (the shoppers' checkouts
        #: yield none when not).
        self.coordinators_can_crash = self._coordinator_faulty
        self._crashes = CoordinatorCrashes(self.faults, settings.transaction.coordinators)
        #: Inventory operations: which of them lock their SKU's row (None: none
        #: do; else a test of the operation), the plain function applying each
        #: to the shop once its cost is paid, and its cost (``inventory.costs``).
        costs = operation_costs(settings, streams["inventory"], self._inventory_query)
        self.local = LocalTransactions(
            shop,
            self._order_rng,
            settings.order.failure_rate,
            lambda: env.now,
            self._payment_round_trip,
        )
        operations = self.stock.table(self.local)
        self._lock_cost = costs[ops.AcquireLock]
        self.inventory_operations: dict[
            type, tuple[Callable[[Any], bool] | None, Callable[[Any], Any], Callable[[], float]]
        ] = {kind: (*entry, costs[kind]) for kind, entry in operations.items()}
        #: Each stock bucket's row lock (``stock_buckets``), made when first written.
        self.bucket_locks: dict[tuple[int, int], WorkerPool] = {}
        #: Exclusive time each bucket's row was held (its own ceiling).
        self.bucket_busy: dict[tuple[int, int], float] = {}
        self.mutexes = ProcessMutexes(
            env, settings.inventory.processes, settings.inventory.costs.in_memory_s
        )
        self.queues = SkuQueues(env, shop, settings, streams["inventory"], self._inventory_query)
        #: The API's idempotency keys (``policy.request_keys``), in the shop's database.
        # Free, as in the real body, which plants no round trip on its request
        # table: the door only decides who runs the saga, it adds no wait.
        self.requests = RequestTable(_no_round_trip)
        self.handlers: dict[type, Callable[[Any], SimStep]] = {
            ops.LookupPayment: self._lookup_payment,
            ops.InsertPayment: self._insert_payment,
            ops.UpdatePayment: self._update_payment,
            ops.CreateOrder: self._create_order,
            ops.ConfirmOrder: self.local.confirm,
            ops.HasOrder: self._has_order,
            ops.Checkpoint: self._checkpoint,
            ops.Wait: self._wait,
            ops.AcquireMutex: self.mutexes.acquire,
            ops.ReleaseMutex: self.mutexes.release,
            ops.ReserveThroughQueue: self._through_queue,
            **self.gateway.handlers(),
            **self.requests.handlers(),
        }

    def drive(self, steps: ops.Step[Any]) -> SimStep:
        """Run a policy generator to the end inside the calling SimPy process.

        This is the model's hot loop: a flash sale spends most of its time
        here. Inventory queries, the most frequent operations, are costed
        inline rather than through nested generators, because each generator
        level is paid again on every event the query waits for.
        """
        env = self.env
        handlers = self.handlers
        inventory_operations = self.inventory_operations
        workers = self.workers
        worker_count = workers.capacity
        row_locks = self.row_locks
        stats = self.inventory_stats
        row_stats = self.row_stats
        guarded = self._inventory_guarded
        breaker = self.inventory_breaker
        pause_probability = self._pause_probability
        pause_rng = self._pause_rng
        # Checkpoints cost nothing without coordinator crashes: skip them.
        free = ops.Checkpoint if not self._coordinator_faulty else None
        result: Any = None
        while True:
            try:
                operation = steps.send(result)
            except StopIteration as stop:
                return stop.value
            kind = type(operation)
            if kind is free:
                result = None
                continue
            inventory = inventory_operations.get(kind)
            if inventory is None:
                result = yield from handlers[kind](operation)
                continue
            # One inventory query: a pooled worker for its duration and, for a
            # conditional write, the SKU's row lock too, held as an UPDATE holds
            # its row until commit, so such writes to one hot row queue behind
            # each other while holding their connections.
            factor = 1.0
            started = 0.0  # read only when needed: most queries neither queue nor are guarded
            if guarded or breaker is not None:
                started = env.now
            if guarded:
                factor = yield from self._inventory_gate(started)
                if factor is None:
                    result = UNAVAILABLE
                    continue
            # The latency is drawn up front so that a caller handed a worker
            # or the row by the one before it can be woken when served.
            locks_row, apply, cost = inventory
            latency = cost() * factor
            row_lock = None
            wanted = None
            if locks_row is not None and locks_row(operation):
                if kind is ops.DecrementBucket:
                    row_lock = self._bucket_lock(operation)
                else:
                    row_lock = row_locks[operation.sku]
                # Asked again whenever the row is about to be handed over.
                wanted = functools.partial(locks_row, operation)
            served = False
            if workers.busy < worker_count:
                # A free connection, taken as ``WorkerPool.acquire`` would take it.
                workers.busy += 1
                queued = None
            else:
                queued = workers.acquire(latency, row_lock, wanted)
            if queued is not None:
                # Woken once: connection, row (for a write) and query all done.
                started = env.now
                yield queued
                served = True
                stats.wait_s += queued.handed_at - started
                if not queued.holds:
                    row_lock = None  # matched nothing once its turn came
            elif row_lock is not None:
                waiting = row_lock.acquire(latency, wanted=wanted)
                if waiting is not None:
                    yield waiting
                    served = True
                    if not waiting.holds:
                        row_lock = None
            if not served and latency > 0:
                yield sleep(env, latency)
            if row_lock is not None:
                row_lock.release()
                row_stats.calls += 1
                row_stats.busy_s += latency
                if kind is ops.DecrementBucket:
                    key = (operation.sku, operation.bucket)
                    self.bucket_busy[key] = self.bucket_busy.get(key, 0.0) + latency
            if workers.waiting:
                workers.release()
            else:
                workers.busy -= 1  # as ``release`` does with nobody in line
            stats.calls += 1
            stats.busy_s += latency
            if breaker is not None:
                breaker.on_success(env.now - started)
            if pause_probability > 0 and pause_rng.random() < pause_probability:
                # The caller stops the world (GC, page fault) after an inventory
                # call, with whatever lock it holds: past the TTL, two holders.
                yield env.timeout(self._pause())
            result = apply(operation)
            if isinstance(result, simpy.Event):
                # A lock taken while held: wait in line for release or expiry.
                result = yield result
                if result is not None:
                    # Told the lock is free, a real client still sets the key
                    # itself: one more query (no worker, as the real retry runs
                    # off the inventory pool) before its hold begins.
                    yield sleep(env, self._lock_cost() * factor)
                    self.locks.hold_from_now(operation.name, result)

    # --- costs --------------------------------------------------------------------

    def _inventory_gate(self, started: float) -> SimStep:
        """Before an inventory query: None if the service is down or its breaker
        open (after the time that takes), else the query's latency factor."""
        breaker = self.inventory_breaker
        if breaker is not None and not breaker.try_acquire_permission():
            self.counters.inventory_refusals += 1
            return None
        if not self._inventory_faulty:
            return 1.0
        wait_s = service_rules.inventory_outage_wait(
            self.faults, started, self.settings.inventory.timeout_s
        )
        if wait_s is not None:
            yield self.env.timeout(wait_s)
            if breaker is not None:
                breaker.on_error(self.env.now - started)
            return None
        return self.faults.latency_factor("inventory", started)

    def _payment_round_trip(self) -> SimStep:
        """One query on the shop's payment table (not pooled)."""
        latency = self._payment_query()
        if latency > 0:
            yield sleep(self.env, latency)

    # --- inventory queries the stock operations do not cover ----------------------

    def _bucket_lock(self, op: ops.DecrementBucket) -> WorkerPool:
        """The bucket's own row lock: N buckets are N hot rows, not one."""
        key = (op.sku, op.bucket)
        lock = self.bucket_locks.get(key)
        if lock is None:
            lock = self.bucket_locks[key] = WorkerPool(self.env, 1)
        return lock

    def _through_queue(self, op: ops.ReserveThroughQueue) -> SimStep:
        """The SKU's consumer answers; the inventory service's gate still applies."""
        if self._inventory_guarded:
            factor = yield from self._inventory_gate(self.env.now)
            if factor is None:
                return UNAVAILABLE
        return (yield from self.queues.reserve(op))

    # --- the shop's payment table ------------------------------------------------

    def _lookup_payment(self, op: ops.LookupPayment) -> SimStep:
        yield from self._payment_round_trip()
        return self.shop.payment(op.key)

    def _insert_payment(self, op: ops.InsertPayment) -> SimStep:
        yield from self._payment_round_trip()
        return self.shop.insert_payment(op.record)

    def _update_payment(self, op: ops.UpdatePayment) -> SimStep:
        yield from self._payment_round_trip()
        self.shop.update_payment(op.record)

    # --- orders, coordinators and time ---------------------------------------------

    def _create_order(self, op: ops.CreateOrder) -> SimStep:
        latency = self._order_latency()
        failed = self._order_rng.random() < self.settings.order.failure_rate
        call = service_rules.order_call(
            latency, failed, self.env.now, self.faults, self.settings.order.timeout_s
        )
        latency, failed = call.wait_s, call.failed
        if latency > 0:
            yield sleep(self.env, latency)
        if failed and op.intent_id not in self.shop.orders:
            return ops.OrderStatus.FAILED
        released = op.reservation_id is not None and op.reservation_id not in self.shop.reservations
        if op.reservation_id is None or (released and op.allow_expired):
            return self.shop.create_blind_order(
                op.intent_id, op.sku, op.quantity, self.env.now, op.capture_id
            )
        return self.shop.create_order(
            op.intent_id, op.reservation_id, op.capture_id, op.allow_expired, self.env.now
        )

    def _has_order(self, op: ops.HasOrder) -> SimStep:
        yield from self._payment_round_trip()
        return op.intent_id in self.shop.orders

    def _checkpoint(self, op: ops.Checkpoint) -> SimStep:
        """Wait out a crash of the coordinator that owns this transaction."""
        if not self._coordinator_faulty:
            return
        stall_s = self._crashes.stall_s(op.intent_id, op.begin, self.env.now)
        if stall_s > 0:
            self.counters.stalled_by_coordinator += 1
            yield self.env.timeout(stall_s)

    def _wait(self, op: ops.Wait) -> SimStep:
        if op.seconds > 0:
            yield sleep(self.env, op.seconds)


def _no_round_trip() -> SimStep:
    """A request-table query: answered at once (see ``Engine.requests``)."""
    return
    yield  # a generator, as every round trip is
