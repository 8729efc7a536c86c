"""A synchronous, step-by-step body for the policy core, for unit tests.

It applies each operation to the simulation's in-memory ``Shop`` and ``Ledger``
with no cost, lets a test interleave several policy generators one operation
at a time, and moves a ``ManualClock`` for ``Wait`` operations. So a race can be
written down exactly, with no threads and no sleeps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from checkoutsim.policy import ops
from checkoutsim.policy.clock import ManualClock
from checkoutsim.sim.state import Ledger, Shop


@dataclass
class Gateway:
    """Scripted gateway behaviour: a queue of how the next calls end."""

    script: list[str] = field(default_factory=list)

    def next(self) -> str:
        """``captured`` unless the script says otherwise."""
        return self.script.pop(0) if self.script else "captured"


class StepBody:
    """Executes operations immediately against in-memory state."""

    def __init__(
        self,
        stock: list[int],
        clock: ManualClock | None = None,
        check_constraint: bool = False,
        buckets: int = 0,
    ) -> None:
        self.clock = clock or ManualClock()
        self.shop = Shop(stock, check_constraint=check_constraint, buckets=buckets)
        self.ledger = Ledger()
        self.gateway = Gateway()
        self.order_script: list[str] = []
        self.locks: dict[str, tuple[int, float]] = {}
        self.next_token = 0
        self.executed: list[ops.Operation] = []
        self.parked: list[ops.EnqueuePayment] = []

    def execute(self, operation: ops.Operation) -> Any:
        """Apply one operation and return its result."""
        self.executed.append(operation)
        handler: Callable[[Any], Any] = getattr(self, "_" + type(operation).__name__)
        return handler(operation)

    # inventory
    def _ReadStock(self, op: ops.ReadStock) -> ops.StockRow:
        return self.shop.read(op.sku)

    def _WriteStock(self, op: ops.WriteStock) -> int | None:
        return self.shop.write(op.reservation, op.available, op.fence_token, self.clock.now())

    def _CompareAndSetStock(self, op: ops.CompareAndSetStock) -> int | None:
        return self.shop.compare_and_set(
            op.reservation, op.expected_version, op.available, self.clock.now()
        )

    def _DecrementIfAvailable(self, op: ops.DecrementIfAvailable) -> int | None:
        return self.shop.decrement_if_available(op.reservation, self.clock.now())

    def _DecrementStock(self, op: ops.DecrementStock) -> object:
        return self.shop.decrement(op.reservation, self.clock.now())

    def _DecrementThenCheck(self, op: ops.DecrementThenCheck) -> object:
        return self.shop.decrement_then_check(op.reservation, self.clock.now())

    def _GiveBack(self, op: ops.GiveBack) -> None:
        self.shop.give_back(op.sku, op.quantity)

    def _ReserveForUpdate(self, op: ops.ReserveForUpdate) -> int | None:
        # One operation: the row is locked from its read to its write.
        return self.shop.decrement_if_available(op.reservation, self.clock.now())

    def _ReserveThroughQueue(self, op: ops.ReserveThroughQueue) -> int | None:
        # The consumer serves one request at a time: each is one step here.
        return self.shop.decrement_if_available(op.reservation, self.clock.now())

    def _DecrementBucket(self, op: ops.DecrementBucket) -> int | None:
        return self.shop.decrement_bucket(op.reservation, op.bucket, self.clock.now())

    def _ReleaseReservation(self, op: ops.ReleaseReservation) -> bool:
        return self.shop.release(op.reservation_id)

    def _AcquireLock(self, op: ops.AcquireLock) -> int | None:
        held = self.locks.get(op.name)
        if held is not None and held[1] > self.clock.now():
            return None  # no waiting in the step body: a held lock times out at once
        self.next_token += 1
        self.locks[op.name] = (self.next_token, self.clock.now() + op.ttl_s)
        return self.next_token

    def _ReleaseLock(self, op: ops.ReleaseLock) -> None:
        held = self.locks.get(op.name)
        if held is not None and held[0] == op.token:
            del self.locks[op.name]

    # payments
    def _LookupPayment(self, op: ops.LookupPayment) -> ops.PaymentRecord | None:
        return self.shop.payment(op.key)

    def _InsertPayment(self, op: ops.InsertPayment) -> ops.PaymentRecord | None:
        return self.shop.insert_payment(op.record)

    def _UpdatePayment(self, op: ops.UpdatePayment) -> None:
        self.shop.update_payment(op.record)

    def _Charge(self, op: ops.Charge) -> ops.ChargeResult:
        if op.gateway_key is not None and op.gateway_key in self.ledger.keys:
            stored = self.ledger.keys[op.gateway_key]
            return stored or ops.ChargeResult(ops.ChargeStatus.UNKNOWN)
        how = self.gateway.next()
        if how == "declined":
            return ops.ChargeResult(ops.ChargeStatus.DECLINED)
        if how == "error":
            return ops.ChargeResult(ops.ChargeStatus.ERROR)
        if how == "refused":
            return ops.ChargeResult(ops.ChargeStatus.REFUSED)
        capture_id = self.ledger.capture(op.intent_id, op.amount, self.clock.now())
        result = ops.ChargeResult(ops.ChargeStatus.CAPTURED, capture_id)
        if op.gateway_key is not None:
            self.ledger.keys[op.gateway_key] = result
        if how == "lost":
            return ops.ChargeResult(ops.ChargeStatus.UNKNOWN)
        return result

    def _Refund(self, op: ops.Refund) -> bool:
        return self.ledger.refund(op.capture_id, self.clock.now())

    def _UnrefundedCaptures(self, op: ops.UnrefundedCaptures) -> list[tuple[int, int]]:
        return self.ledger.unrefunded(self.clock.now() - op.min_age_s)

    # orders and time
    def _CreateOrder(self, op: ops.CreateOrder) -> ops.OrderStatus:
        scripted = self.order_script and op.intent_id not in self.shop.orders
        if scripted and self.order_script.pop(0) == "fail":
            return ops.OrderStatus.FAILED
        return self.shop.create_order(
            op.intent_id, op.reservation_id, op.capture_id, op.allow_expired, self.clock.now()
        )

    def _ReserveWithOrder(self, op: ops.ReserveWithOrder) -> Any:
        # The order insert of the local transaction fails as the order script says,
        # and takes the stock write down with it.
        if self.order_script and self.order_script.pop(0) == "fail":
            return ops.OrderStatus.FAILED
        return self.shop.decrement_if_available(op.reservation, self.clock.now())

    def _ConfirmOrder(self, op: ops.ConfirmOrder) -> ops.OrderStatus:
        return self.shop.create_order(
            op.intent_id, op.reservation_id, op.capture_id, False, self.clock.now()
        )

    def _HasOrder(self, op: ops.HasOrder) -> bool:
        return op.intent_id in self.shop.orders

    def _Checkpoint(self, op: ops.Checkpoint) -> None:
        return None  # the step body's coordinator never crashes

    def _EnqueuePayment(self, op: ops.EnqueuePayment) -> None:
        self.parked.append(op)

    def _Authorize(self, op: ops.Authorize) -> bool:
        return self.gateway.next() == "captured"

    def _Wait(self, op: ops.Wait) -> None:
        self.clock.advance(op.seconds)

    # driving
    def run(self, steps: ops.Step[Any]) -> Any:
        """Run one policy generator to completion."""
        return Interleaving(self, [steps]).run_all()[0]


class Interleaving:
    """Several policy generators advanced one operation at a time, in a chosen order."""

    def __init__(self, body: StepBody, generators: list[ops.Step[Any]]) -> None:
        self.body = body
        self.generators = generators
        self.pending: list[ops.Operation | None] = []
        self.results: list[Any] = [None] * len(generators)
        self.finished = [False] * len(generators)
        for index, generator in enumerate(generators):
            self.pending.append(self._advance(index, generator, None, first=True))

    def _advance(
        self, index: int, generator: ops.Step[Any], value: Any, first: bool = False
    ) -> ops.Operation | None:
        try:
            return next(generator) if first else generator.send(value)
        except StopIteration as stop:
            self.finished[index] = True
            self.results[index] = stop.value
            return None

    def step(self, index: int) -> None:
        """Execute generator ``index``'s pending operation and fetch its next one."""
        operation = self.pending[index]
        assert operation is not None, f"generator {index} has finished"
        value = self.body.execute(operation)
        self.pending[index] = self._advance(index, self.generators[index], value)

    def run(self, order: list[int]) -> None:
        """Step generators in ``order`` (skipping finished ones)."""
        for index in order:
            if not self.finished[index]:
                self.step(index)

    def run_all(self) -> list[Any]:
        """Round-robin until every generator has finished; return their results."""
        while not all(self.finished):
            for index in range(len(self.generators)):
                if not self.finished[index]:
                    self.step(index)
        return self.results
