"""The SimPy engine: executes the policy core's operations in simulated time.

Each operation costs what it would cost a real system: an inventory query
holds one of a bounded pool of workers for a drawn latency, a gateway call
takes a drawn latency and may fail, time out or lose its response, and so on.
Then the operation is applied to the in-memory ``Shop`` and ``Ledger``. Policy
generators are driven inline (``yield from``), not as separate processes,
because every extra SimPy process costs events.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

import simpy

from checkoutsim.config import Settings
from checkoutsim.policy import ops
from checkoutsim.sim.latency import sampler
from checkoutsim.sim.state import Ledger, Shop

SimStep = Generator[simpy.Event, Any, Any]

UNKNOWN = ops.ChargeResult(ops.ChargeStatus.UNKNOWN)
ERROR = ops.ChargeResult(ops.ChargeStatus.ERROR)
DECLINED = ops.ChargeResult(ops.ChargeStatus.DECLINED)


@dataclass(slots=True)
class Waiter:
    """A request queued for a lock."""

    event: simpy.Event
    ttl_s: float
    done: bool = False


@dataclass(slots=True)
class LockState:
    """One named lease: its token, its expiry, and who waits for it."""

    token: int | None = None
    expires_at: float = 0.0
    watching: int | None = None
    waiters: deque[Waiter] = field(default_factory=deque)


@dataclass(slots=True)
class TierStats:
    """Queueing figures of one bounded pool of workers."""

    calls: int = 0
    wait_s: float = 0.0
    busy_s: float = 0.0


class WorkerPool:
    """A FIFO pool of ``capacity`` workers, cheaper than ``simpy.Resource``.

    A free worker is taken with no event at all; only a caller that has to queue
    waits on an event, handed the worker directly by the one releasing it. In a
    model where most queries find a free worker this halves the events per query.
    """

    __slots__ = ("_env", "_waiting", "busy", "capacity")

    def __init__(self, env: simpy.Environment, capacity: int) -> None:
        self._env = env
        self.capacity = capacity
        self.busy = 0
        self._waiting: deque[simpy.Event] = deque()

    def acquire(self) -> simpy.Event | None:
        """Take a worker: None if one was free, else an event that fires when handed one."""
        if self.busy < self.capacity:
            self.busy += 1
            return None
        event = self._env.event()
        self._waiting.append(event)
        return event

    def release(self) -> None:
        """Give the worker back, or straight to the first caller in the queue."""
        if self._waiting:
            self._waiting.popleft().succeed()
        else:
            self.busy -= 1

    @property
    def queued(self) -> int:
        """How many callers wait for a worker."""
        return len(self._waiting)


@dataclass(slots=True)
class Counters:
    """Counts the metrics need that no table holds."""

    compensations: int = 0
    lock_grants: int = 0
    lock_expirations: int = 0
    lock_timeouts: int = 0
    gateway_calls: int = 0
    sweeper_refunds: int = 0


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
        self.workers = WorkerPool(env, settings.inventory.workers)
        self._inventory_query = sampler(settings.inventory.query, streams["inventory"])
        self._payment_query = sampler(settings.payment.query, streams["payments"])
        self._gateway_latency = sampler(settings.gateway.latency, streams["gateway"])
        self._order_latency = sampler(settings.order.latency, streams["orders"])
        self._gateway_rng = streams["gateway_faults"]
        self._order_rng = streams["order_faults"]
        self.locks: dict[str, LockState] = {}
        self._next_token = 0
        self.handlers: dict[type, Callable[[Any], SimStep]] = {
            ops.ReadStock: self._read_stock,
            ops.WriteStock: self._write_stock,
            ops.CompareAndSetStock: self._compare_and_set,
            ops.DecrementIfAvailable: self._decrement,
            ops.AcquireLock: self._acquire_lock,
            ops.ReleaseLock: self._release_lock,
            ops.ReleaseReservation: self._release_reservation,
            ops.LookupPayment: self._lookup_payment,
            ops.InsertPayment: self._insert_payment,
            ops.UpdatePayment: self._update_payment,
            ops.Charge: self._charge,
            ops.Refund: self._refund,
            ops.UnrefundedCaptures: self._unrefunded,
            ops.CreateOrder: self._create_order,
            ops.HasOrder: self._has_order,
            ops.Wait: self._wait,
        }

    def drive(self, steps: ops.Step[Any]) -> SimStep:
        """Run a policy generator to the end inside the calling SimPy process."""
        handlers = self.handlers
        result: Any = None
        while True:
            try:
                operation = steps.send(result)
            except StopIteration as stop:
                return stop.value
            result = yield from handlers[type(operation)](operation)

    # --- costs --------------------------------------------------------------------

    def _inventory_round_trip(self) -> SimStep:
        """One inventory query: wait for a worker, hold it for the query latency."""
        env = self.env
        stats = self.inventory_stats
        queued = self.workers.acquire()
        if queued is not None:
            asked = env.now
            yield queued
            stats.wait_s += env.now - asked
        latency = self._inventory_query()
        if latency > 0:
            yield env.timeout(latency)
        self.workers.release()
        stats.calls += 1
        stats.busy_s += latency

    def _payment_round_trip(self) -> SimStep:
        """One query on the shop's payment table (not pooled)."""
        latency = self._payment_query()
        if latency > 0:
            yield self.env.timeout(latency)

    # --- inventory ----------------------------------------------------------------

    def _read_stock(self, op: ops.ReadStock) -> SimStep:
        yield from self._inventory_round_trip()
        return self.shop.read(op.sku)

    def _write_stock(self, op: ops.WriteStock) -> SimStep:
        yield from self._inventory_round_trip()
        return self.shop.write(op.reservation, op.available, op.fence_token, self.env.now)

    def _compare_and_set(self, op: ops.CompareAndSetStock) -> SimStep:
        yield from self._inventory_round_trip()
        return self.shop.compare_and_set(
            op.reservation, op.expected_version, op.available, self.env.now
        )

    def _decrement(self, op: ops.DecrementIfAvailable) -> SimStep:
        yield from self._inventory_round_trip()
        return self.shop.decrement_if_available(op.reservation, self.env.now)

    def _release_reservation(self, op: ops.ReleaseReservation) -> SimStep:
        yield from self._inventory_round_trip()
        self.counters.compensations += 1
        return self.shop.release(op.reservation_id)

    # --- leases -------------------------------------------------------------------

    def _acquire_lock(self, op: ops.AcquireLock) -> SimStep:
        """SET NX PX: grant if free or lapsed, else queue FIFO until release or expiry."""
        yield from self._inventory_round_trip()
        lock = self.locks.get(op.name)
        if lock is None:
            lock = self.locks[op.name] = LockState()
        if lock.token is None or lock.expires_at <= self.env.now:
            return self._grant(lock, op.ttl_s)
        if op.wait_s <= 0:
            self.counters.lock_timeouts += 1
            return None
        waiter = Waiter(self.env.event(), op.ttl_s)
        lock.waiters.append(waiter)
        # One plain timed callback, not a condition event: contention is where
        # event counts explode, so waiting costs a single event per waiter.
        self.env.timeout(op.wait_s).callbacks.append(lambda _: self._give_up(waiter))
        self._watch_expiry(lock)
        token = yield waiter.event
        return token

    def _grant(self, lock: LockState, ttl_s: float) -> int:
        self._next_token += 1
        lock.token = self._next_token
        lock.expires_at = self.env.now + ttl_s
        self.counters.lock_grants += 1
        return self._next_token

    def _give_up(self, waiter: Waiter) -> None:
        if not waiter.done:
            waiter.done = True
            self.counters.lock_timeouts += 1
            waiter.event.succeed(None)

    def _hand_over(self, lock: LockState) -> None:
        """Give a free lock to the first waiter still waiting."""
        while lock.waiters:
            waiter = lock.waiters.popleft()
            if waiter.done:
                continue
            waiter.done = True
            waiter.event.succeed(self._grant(lock, waiter.ttl_s))
            if lock.waiters:
                self._watch_expiry(lock)
            return

    def _watch_expiry(self, lock: LockState) -> None:
        """Schedule one check at the current lease's expiry (once per lease)."""
        token = lock.token
        if lock.watching == token:
            return
        lock.watching = token
        delay = max(0.0, lock.expires_at - self.env.now)
        self.env.timeout(delay).callbacks.append(lambda _: self._on_expiry(lock, token))

    def _on_expiry(self, lock: LockState, token: int | None) -> None:
        # The lease lapsed while its holder still runs (a pause): the lock is
        # free as far as the lock service knows, so the next waiter gets it.
        if lock.token == token and lock.expires_at <= self.env.now:
            lock.token = None
            self.counters.lock_expirations += 1
            self._hand_over(lock)

    def _release_lock(self, op: ops.ReleaseLock) -> SimStep:
        """Compare-and-delete: only the current token frees the lock."""
        yield from self._inventory_round_trip()
        lock = self.locks[op.name]
        if lock.token == op.token:
            lock.token = None
            self._hand_over(lock)

    # --- the shop's payment table ------------------------------------------------

    def _lookup_payment(self, op: ops.LookupPayment) -> SimStep:
        yield from self._payment_round_trip()
        return self.shop.payments.get(op.key)

    def _insert_payment(self, op: ops.InsertPayment) -> SimStep:
        yield from self._payment_round_trip()
        return self.shop.insert_payment(op.record)

    def _update_payment(self, op: ops.UpdatePayment) -> SimStep:
        yield from self._payment_round_trip()
        self.shop.payments[op.record.key] = op.record

    # --- gateway -------------------------------------------------------------------

    def _charge(self, op: ops.Charge) -> SimStep:
        """A gateway call: latency, errors, declines, lost responses, read time-out."""
        env = self.env
        gateway = self.settings.gateway
        rng = self._gateway_rng
        self.counters.gateway_calls += 1
        # Draw every random number on every call so that variants stay on
        # common random numbers whatever branch a call takes.
        latency = self._gateway_latency()
        errored = rng.random() < gateway.error_rate
        declined = rng.random() < gateway.decline_rate
        lost = rng.random() < gateway.lost_response_rate
        waited = min(latency, gateway.timeout_s)
        key = op.gateway_key
        if key is not None and key in self.ledger.keys:
            yield env.timeout(waited)
            stored = self.ledger.keys[key]
            # In flight under the same key: the gateway answers 409, and whether
            # that first call will capture is not known yet.
            return UNKNOWN if stored is None else stored
        if errored:
            yield env.timeout(waited)
            return ERROR if latency <= gateway.timeout_s else UNKNOWN
        if key is not None:
            self.ledger.keys[key] = None
        if latency > gateway.timeout_s:
            # The shop stops waiting; the gateway finishes on its own time.
            env.timeout(latency).callbacks.append(lambda _: self._settle(op, declined))
            yield env.timeout(waited)
            return UNKNOWN
        yield env.timeout(latency)
        result = self._settle(op, declined)
        return UNKNOWN if lost else result

    def _settle(self, op: ops.Charge, declined: bool) -> ops.ChargeResult:
        """The gateway's side of a call: book the capture, remember the key."""
        if declined:
            result = DECLINED
        else:
            capture_id = self.ledger.capture(op.intent_id, op.amount, self.env.now)
            result = ops.ChargeResult(ops.ChargeStatus.CAPTURED, capture_id)
        if op.gateway_key is not None:
            self.ledger.keys[op.gateway_key] = result
        return result

    def _refund(self, op: ops.Refund) -> SimStep:
        yield self.env.timeout(self._gateway_latency())
        self.counters.compensations += 1
        return self.ledger.refund(op.capture_id, self.env.now)

    def _unrefunded(self, op: ops.UnrefundedCaptures) -> SimStep:
        yield from self._payment_round_trip()
        return self.ledger.unrefunded(self.env.now - op.min_age_s)

    # --- orders and time ------------------------------------------------------------

    def _create_order(self, op: ops.CreateOrder) -> SimStep:
        latency = self._order_latency()
        failed = self._order_rng.random() < self.settings.order.failure_rate
        if latency > 0:
            yield self.env.timeout(latency)
        if failed and op.intent_id not in self.shop.orders:
            return ops.OrderStatus.FAILED
        return self.shop.create_order(
            op.intent_id, op.reservation_id, op.capture_id, op.allow_expired, self.env.now
        )

    def _has_order(self, op: ops.HasOrder) -> SimStep:
        yield from self._payment_round_trip()
        return op.intent_id in self.shop.orders

    def _wait(self, op: ops.Wait) -> SimStep:
        if op.seconds > 0:
            yield self.env.timeout(op.seconds)
