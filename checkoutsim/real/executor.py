"""The real driver: performs each operation the policy core yields, with real I/O.

Every operation keeps the meaning the SimPy engine gives it
(``checkoutsim.sim.engine``): the same store semantics, the same gateway steps,
the same order-service failures, the same waits. What differs is the cost: here
it is real SQLite work in real threads, plus the scenario's injected delays,
slept cooperatively at the model's time scale.

Driving is done in *segments*: a worker thread runs the policy generator from
operation to operation until one needs to wait (a gateway call, a back-off, a
lock held by someone else); the caller then waits cooperatively and hands the
next segment to a thread. Calls to the inventory service are the model's
pooled calls: each takes one of the service's workers, in place when one is
idle and nobody is queued, else it queues first come, first served on the
service's own pool, behind every call already waiting. So under a burst a
read and the write after it are two trips through the queue, with other
shoppers' reads between them, as in the model; and an unloaded checkout costs a
single hand-off to the thread pool.

The scenario's circuit breakers are the policy core's state machine on the
run's scaled wall clock (``checkoutsim.real.breakers``): the gateway's guards
each charge, the inventory service's each inventory call, as in the model.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from checkoutsim.policy import ops
from checkoutsim.policy.breaker import charge_outcome
from checkoutsim.policy.inventory import lock_name
from checkoutsim.real.breakers import REFUSED, shared_breaker
from checkoutsim.real.counters import Counters
from checkoutsim.real.gateway import Gateway
from checkoutsim.real.inventory_faults import InventoryFaults
from checkoutsim.real.lock_waits import Leases
from checkoutsim.real.races import ProcessLocks, WildStore
from checkoutsim.real.runtime import LockWait, Pause, Runtime, after
from checkoutsim.real.saga_context import SagaContext
from checkoutsim.real.store import Store
from checkoutsim.scenario.settings import Settings
from checkoutsim.world import service_rules
from checkoutsim.world.faults import CoordinatorCrashes, FaultSchedule
from checkoutsim.world.latency import sampler

#: Operations served by the inventory service (down during its outages).
INVENTORY_OPS = (
    ops.ReadStock,
    ops.WriteStock,
    ops.CompareAndSetStock,
    ops.DecrementIfAvailable,
    ops.AcquireLock,
    ops.ReleaseLock,
    ops.ReleaseReservation,
    ops.ExpireReservation,
    ops.DecrementStock,
    ops.DecrementThenCheck,
    ops.GiveBack,
    ops.ReserveForUpdate,
    ops.DecrementBucket,
    ops.ReserveThroughQueue,
    ops.ReserveWithOrder,
)


@dataclass(frozen=True, slots=True)
class Done:
    """A segment ran the policy generator to its end; ``value`` is what it returned."""

    value: Any


Handler = Callable[[Any, SagaContext], Any]


class Executor:
    """Turns policy operations into store, gateway and order-service calls."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        gateway: Gateway,
        runtime: Runtime,
        order_rng: random.Random,
        lock_poll_s: float,
    ) -> None:
        self.settings = settings
        self.store = store
        self.gateway = gateway
        self.runtime = runtime
        self.counters = Counters(runtime.threading.lock())
        self._order_latency = sampler(settings.order.latency, order_rng)
        self._order_rng = order_rng
        self._order_lock = runtime.threading.lock()
        self.leases = Leases(store, runtime, self.counters, lock_poll_s)
        self.schedule = FaultSchedule(settings.faults)
        # The policy core's breakers, on the run's scaled wall clock, one per process.
        breakers = settings.breakers
        self.gateway_breaker = shared_breaker(
            breakers.gateway, runtime.time, runtime.threading.lock()
        )
        self.inventory_breaker = shared_breaker(
            breakers.inventory, runtime.time, runtime.threading.lock()
        )
        # Derives its random streams from the order stream, as it always has: before
        # any order is drawn, so that runs with the same seed draw the same numbers.
        inventory_faults = InventoryFaults(
            settings, runtime, self.counters, self.inventory_breaker, order_rng
        )
        self.handlers: dict[type, Handler] = {
            ops.ReadStock: lambda op, saga: store.read_stock(op.sku),
            ops.WriteStock: self._write_stock,
            ops.CompareAndSetStock: self._compare_and_set,
            ops.DecrementIfAvailable: lambda op, saga: store.decrement(op.reservation, saga),
            ops.AcquireLock: self.leases.acquire,
            ops.ReleaseLock: self.leases.release,
            ops.ReleaseReservation: self._release_reservation,
            ops.ExpireReservation: lambda op, saga: store.expire(op.reservation_id),
            ops.LookupPayment: lambda op, saga: store.lookup_payment(op.key),
            ops.InsertPayment: lambda op, saga: store.insert_payment(op.record),
            ops.UpdatePayment: lambda op, saga: store.update_payment(op.record),
            ops.Charge: self._charge,
            ops.Refund: self._refund,
            ops.UnrefundedCaptures: lambda op, saga: gateway.unrefunded(op),
            ops.CreateOrder: self._create_order,
            ops.ReserveWithOrder: self._reserve_with_order,
            ops.ConfirmOrder: lambda op, saga: store.create_order(
                op.intent_id, op.reservation_id, op.capture_id, False, False, saga
            ),
            ops.HasOrder: lambda op, saga: store.has_order(op.intent_id),
            ops.Wait: lambda op, saga: after(op.seconds, _nothing),
            ops.Authorize: lambda op, saga: gateway.authorize(op),
            ops.Checkpoint: self._checkpoint,
        }
        # The strategies found in the wild (``checkoutsim.real.races``), on SQLite.
        wild = WildStore(store, settings.inventory.check_constraint)
        self.process_locks = ProcessLocks(
            runtime, self.counters, lock_poll_s, settings.inventory.processes
        )
        self.handlers.update(
            {
                ops.DecrementStock: wild.decrement,
                ops.DecrementThenCheck: wild.decrement_then_check,
                ops.GiveBack: wild.give_back,
                ops.ReserveForUpdate: wild.for_update,
                ops.DecrementBucket: wild.decrement_bucket,
                ops.ReserveThroughQueue: functools.partial(
                    self.process_locks.through_queue, store=store
                ),
                ops.AcquireMutex: self.process_locks.acquire,
                ops.ReleaseMutex: self.process_locks.release,
            }
        )
        self._crashes = (
            CoordinatorCrashes(self.schedule, settings.transaction.coordinators)
            if self.schedule.has_outages("coordinator")
            else None
        )
        for kind in INVENTORY_OPS:
            self.handlers[kind] = inventory_faults.wrap(self.handlers[kind])

    # --- driving ------------------------------------------------------------------

    def drive(self, steps: ops.Step[Any], saga: SagaContext) -> Any:
        """Run a policy generator to its end; call from the greenlet or thread that waits.

        Inventory calls go to the inventory service's own pool of workers, one
        call per hand-off, as the model queues them for its inventory workers;
        everything else runs in segments on the general pool. A shopper refused
        a lock waits in the lock's line holding no worker (``Leases.wait``).
        """
        runtime = self.runtime
        outcome = runtime.offload(self.segment, steps, saga, None, None)
        while not isinstance(outcome, Done):
            if isinstance(outcome, LockWait):
                sent = self.leases.wait(outcome)
                outcome = runtime.offload(self.segment, steps, saga, None, sent)
                continue
            if outcome.inventory:
                if outcome.seconds > 0:
                    runtime.pause(outcome.seconds, outcome.wake)
                sent = self._inventory_call(outcome)
                outcome = runtime.offload(self.segment, steps, saga, None, sent)
                continue
            if outcome.seconds > 0:
                runtime.pause(outcome.seconds, outcome.wake)
            outcome = runtime.offload(self.segment, steps, saga, outcome, None)
        return outcome.value

    def _inventory_call(self, call: Pause) -> tuple[Any, Exception | None]:
        """One call on the inventory pool, then its waits (a pause, a lock held elsewhere).

        Only the call itself takes a worker: what follows it (a pause's
        resumption, a lock's line) holds none, as in the model.
        """
        runtime = self.runtime
        try:
            value = runtime.offload_inventory(call.resume)
            while isinstance(value, Pause):
                if isinstance(value, LockWait):
                    return self.leases.wait(value)
                runtime.pause(value.seconds, value.wake)
                value = runtime.offload(value.resume)
        except Exception as failure:
            return None, failure
        return value, None

    def segment(
        self,
        steps: ops.Step[Any],
        saga: SagaContext,
        paused: Pause | None,
        sent: tuple[Any, Exception | None] | None,
    ) -> Done | Pause:
        """Thread side: finish a paused operation, then run operations until one waits.

        A call to the inventory service ends the segment: it is returned as an
        ``inventory`` pause, for ``drive`` to queue on the inventory pool.
        """
        value: Any = None
        error: Exception | None = None
        if sent is not None:
            value, error = sent
        elif paused is not None:
            try:
                value = paused.resume()
            except Exception as failure:
                error = failure
            if isinstance(value, Pause):
                return value
        handlers = self.handlers
        while True:
            try:
                # A failed operation is thrown into the generator, so that its
                # own ``try`` blocks can compensate (the API forgets its key).
                operation = steps.send(value) if error is None else steps.throw(error)
            except StopIteration as stop:
                return Done(stop.value)
            error = None
            try:
                handler = handlers.get(type(operation))
                if handler is None:
                    raise NotImplementedError(
                        f"the real body does not perform {type(operation).__name__} yet"
                    )
                if type(operation) in INVENTORY_OPS:
                    if not self.runtime.claim_inventory_worker():
                        # Busy: queue behind the calls already waiting, as the
                        # model's calls queue for the inventory service's workers.
                        call = functools.partial(handler, operation, saga)
                        return Pause(0.0, call, inventory=True)
                    try:
                        value = handler(operation, saga)
                    finally:
                        self.runtime.release_inventory_worker()
                else:
                    value = handler(operation, saga)
            except Exception as failure:
                value, error = None, failure
                continue
            if isinstance(value, Pause):
                return value

    # --- inventory ------------------------------------------------------------------

    def _write_stock(self, op: ops.WriteStock, saga: SagaContext) -> int | None:
        lease = saga.leases.get(lock_name(op.sku))
        return self.store.write_stock(op.reservation, op.available, op.fence_token, lease, saga)

    def _compare_and_set(self, op: ops.CompareAndSetStock, saga: SagaContext) -> int | None:
        lease = saga.leases.get(lock_name(op.sku))
        return self.store.compare_and_set(
            op.reservation, op.expected_version, op.available, lease, saga
        )

    def _release_reservation(self, op: ops.ReleaseReservation, saga: SagaContext) -> bool:
        return self.store.release(op.reservation_id)

    # --- gateway ------------------------------------------------------------------------

    def _charge(self, op: ops.Charge, saga: SagaContext) -> ops.ChargeResult | Pause:
        """A charge, behind the gateway's breaker when there is one (as the model's)."""
        self.counters.add("gateway_calls")
        breaker = self.gateway_breaker
        if breaker is None:
            return self.gateway.charge(op)
        if not breaker.try_acquire_permission():
            return REFUSED  # not sent: failing fast is the breaker's point
        return breaker.measured(lambda: self.gateway.charge(op), charge_outcome)

    def _refund(self, op: ops.Refund, saga: SagaContext) -> bool | Pause:
        return self.gateway.refund(op)

    # --- coordinators -------------------------------------------------------------------

    def _checkpoint(self, op: ops.Checkpoint, saga: SagaContext) -> Pause | None:
        """Wait out a crash of the coordinator that owns this transaction, as the model does."""
        if self._crashes is None:
            return None
        now = self.runtime.time.now()
        stall_s = self._crashes.stall_s(op.intent_id, op.begin, now)
        if stall_s <= 0:
            return None
        # A row, not a counter: ``records.collect`` counts the stalls from the store.
        self.store.record_stall(op.intent_id, now + stall_s)
        return after(stall_s, _nothing)

    # --- order service ------------------------------------------------------------------

    def _reserve_with_order(
        self, op: ops.ReserveWithOrder, saga: SagaContext
    ) -> int | ops.OrderStatus | None:
        """The MVP's local transaction: the order insert's failure rolls the stock
        write back with it, so a failed draw writes nothing (as in the model)."""
        with self._order_lock:
            failed = self._order_rng.random() < self.settings.order.failure_rate
        if failed:
            return ops.OrderStatus.FAILED
        return self.store.decrement(op.reservation, saga)

    def _create_order(self, op: ops.CreateOrder, saga: SagaContext) -> ops.OrderStatus | Pause:
        """The order service: its latency, its failures, then the order row."""
        with self._order_lock:
            # One stream shared by threads: draw both numbers together, as the model does.
            latency = self._order_latency()
            failed = self._order_rng.random() < self.settings.order.failure_rate
        call = service_rules.order_call(
            latency, failed, self.runtime.time.now(), self.schedule, self.settings.order.timeout_s
        )
        # The store answers every case, a failed call included: a failed call
        # still finds an order another click made (``EXISTS``), as in the model.
        return after(
            call.wait_s,
            lambda: self.store.create_order(
                op.intent_id,
                op.reservation_id,
                op.capture_id,
                op.allow_expired,
                call.failed,
                saga,
                (op.sku, op.quantity),
            ),
        )


def _nothing() -> None:
    return None
