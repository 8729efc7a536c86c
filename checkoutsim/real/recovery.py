"""Crash recovery: finish or compensate every saga a dead process left in flight.

A process killed mid-checkout leaves rows at a recovery point of the saga log
(``checkoutsim.real.schema``): a reservation with no payment (``reserved``), a
payment row whose charge was sent but never answered (``charge sent``), a
capture with no order (``captured``). Recovery walks them in that order of
evidence and either rolls the saga forward (the payment is the pivot: money
that moved gets its order) or compensates it (units back, money refunded):

1. The gateway's own restart: keys it claimed for calls that died with the
   process and never booked a capture are forgotten, as a real provider
   forgets a request that never completed. A resent charge under the key then
   runs once; a key whose capture was booked replays that capture.
2. Each open saga: ``captured`` -> create the order (refund if the
   reservation expired meanwhile), unless a refund of the capture was asked
   for (the process died mid-compensation, during the refund call or between
   the refund and the release): then finish the compensation, refund and
   release; ``charge sent`` or parked in the retry queue -> ask the gateway
   under the saga's key and continue as if it had answered; ``reserved`` ->
   release. A saga's parked payment is closed with it, so that the queue never
   charges a saga recovery already finished.
3. Money the log cannot see (a capture made with no key, for a saga whose
   reservation was reaped, or a second capture for an intent that already has
   its order) is swept: captures that no order records and that were not
   refunded are refunded. This is safe only because nothing else runs during
   recovery: a saga in progress may hold a capture whose order is not yet written.
4. API keys stuck at ``started``: finished with the order when there is one,
   else forgotten so that the client's retry runs again.
5. Reservations past their TTL go back to stock. Lock leases are left to lapse
   on the run's own clock (kept across restarts in ``meta.origin_epoch``): a
   fencing token from before the crash stays older than any granted after it.

Every step is idempotent: running recovery twice changes nothing the second
time, which is what lets a crash *during* recovery be recovered too.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from checkoutsim.policy import ops
from checkoutsim.real.saga_context import SagaContext

if TYPE_CHECKING:
    from checkoutsim.real.service_parts import ServiceParts

_ORDERED = (ops.OrderStatus.CREATED, ops.OrderStatus.EXISTS)


@dataclass
class RecoveryReport:
    """What one recovery pass did, by kind of action."""

    gateway_keys_forgotten: int = 0
    released: int = 0
    charges_resolved: int = 0
    ordered: int = 0
    refunded: int = 0
    orphans_refunded: int = 0
    parked_closed: int = 0
    requests_finished: int = 0
    requests_forgotten: int = 0
    reservations_expired: int = 0
    leases_left_to_lapse: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counts as plain data (what ``serve`` and ``recover`` print)."""
        return asdict(self)


def recover(service: ServiceParts) -> RecoveryReport:
    """Run one full recovery pass over a service's store (no traffic may be running)."""
    report = RecoveryReport()
    report.gateway_keys_forgotten = _forget_dead_gateway_calls(service)
    _finish_sagas(service, report)
    report.orphans_refunded = _refund_orphans(service)
    _settle_requests(service, report)
    report.reservations_expired = service.store.expire_due()
    now = service.runtime.time.now()
    report.leases_left_to_lapse = (
        service.shop_db.read()
        .execute("SELECT COUNT(*) FROM locks WHERE expires_s > ?", (now,))
        .fetchone()[0]
    )
    return report


def _forget_dead_gateway_calls(service: ServiceParts) -> int:
    """Drop gateway keys still ``processing``: their calls died and booked nothing.

    At every provider: a call that died at the second gateway left its key there.
    """
    return sum(
        database.write_one(
            "DELETE FROM idempotency WHERE state = 'processing'"
            " AND NOT EXISTS (SELECT 1 FROM captures c WHERE c.idempotency_key = idempotency.key)",
            (),
        ).rowcount
        for database in service.ledger.databases()
    )


def _open_sagas(
    service: ServiceParts,
) -> list[tuple[int, int, str, str, str | None, int | None]]:
    """(reservation, intent, key, step, payment state, capture) of every unfinished saga."""
    return (
        service.shop_db.read()
        .execute(
            "SELECT l.reservation_id, l.intent_id, l.key, l.step, p.state, l.capture_id"
            " FROM saga_log l LEFT JOIN payments p ON p.key = l.key"
            " WHERE l.step IN ('reserved', 'captured') ORDER BY l.reservation_id"
        )
        .fetchall()
    )


def _finish_sagas(service: ServiceParts, report: RecoveryReport) -> None:
    """Roll every open saga forward past its pivot, or compensate it."""
    store = service.store
    key_first = service.settings.payment.strategy == "key_first"
    for reservation_id, intent, key, step, payment, capture_id in _open_sagas(service):
        parked = _parked(service, reservation_id)
        # A parked payment's key may have been charged by a consumer that died
        # before it recorded the capture: the gateway knows, by key.
        unanswered = payment == "in_progress" or (parked and payment == "retry")
        if step == "reserved" and unanswered and key_first:
            # The charge was sent and never answered: the gateway knows, by key
            # (with several, the one the attempt record names).
            answer = service.ledger.stored(key)
            report.charges_resolved += 1
            if answer is not None and answer.status is ops.ChargeStatus.CAPTURED:
                capture_id = answer.capture_id
                store.update_payment(ops.PaymentRecord(key, ops.KeyState.CAPTURED, capture_id))
                step = "captured"
            else:
                # Declined, or never booked: nothing was charged under this key.
                state = ops.KeyState.FAILED if answer is not None else ops.KeyState.RETRY
                store.update_payment(ops.PaymentRecord(key, state))
        ordered = False
        compensating = capture_id is not None and service.ledger.refund_asked(capture_id)
        if step == "captured" and capture_id is not None and not compensating:
            saga = SagaContext(intent, key)
            # Expiry still rules: an order for a lapsed reservation would oversell.
            status = store.create_order(intent, reservation_id, capture_id, False, False, saga)
            ordered = status in _ORDERED
            if ordered:
                report.ordered += 1
            else:
                report.refunded += int(service.ledger.refund(capture_id))
        else:
            if compensating:
                # A compensation cut short: the refund it asked for is finished (once).
                report.refunded += int(service.ledger.refund(capture_id))
            # Not charged, or compensating: the units go back.
            report.released += int(store.release(reservation_id))
        if parked:
            report.parked_closed += _close_parked(service, reservation_id, ordered)
        store.mark_recovered(reservation_id)


def _parked(service: ServiceParts, reservation_id: int) -> bool:
    """Whether a saga's payment waits in the retry queue (queued, or claimed by a dead consumer)."""
    if service.consumers is None:
        return False
    row = (
        service.shop_db.read()
        .execute(
            "SELECT 1 FROM parked_payments WHERE reservation_id = ?"
            " AND state IN ('queued', 'in_flight')",
            (reservation_id,),
        )
        .fetchone()
    )
    return row is not None


def _close_parked(service: ServiceParts, reservation_id: int, ordered: bool) -> int:
    """Mark a recovered saga's parked payment delivered, as its consumer would have."""
    outcome = "recovered" if ordered else "settled"
    written = service.shop_db.write_one(
        "UPDATE parked_payments SET state = 'delivered', outcome = ?, finished_s = ?,"
        " lease_until_s = NULL WHERE reservation_id = ? AND state IN ('queued', 'in_flight')",
        (outcome, service.runtime.time.now(), reservation_id),
    )
    return written.rowcount


def _refund_orphans(service: ServiceParts) -> int:
    """Refund captures the saga log cannot see: no order records them, no refund."""
    return sum(int(service.ledger.refund(capture_id)) for capture_id in orphan_captures(service))


def orphan_captures(service: ServiceParts) -> list[int]:
    """Captures that paid for no order: no order records the capture, and none refunded.

    Matched by capture, never by intent: a second capture for an intent that has
    its order (a client that tied several keys to one checkout, a charge sent
    twice without a key) is money for nothing. A saga still running may hold a
    capture whose order is not written yet, so this is only an orphan once the
    service is stopped, which is when recovery runs.
    """
    recorded = {row[0] for row in service.shop_db.read().execute("SELECT capture_id FROM orders")}
    return [
        capture_id
        for capture_id, _ in service.ledger.unrefunded(float("inf"))
        if capture_id not in recorded
    ]


def _settle_requests(service: ServiceParts, report: RecoveryReport) -> None:
    """Finish API keys whose saga ended in an order; forget the rest so retries run."""
    shop = service.shop_db.read()
    stuck = shop.execute(
        "SELECT r.key, r.intent_id, o.id FROM requests r"
        " LEFT JOIN orders o ON o.intent_id = r.intent_id"
        " WHERE r.recovery_point = 'started'"
    ).fetchall()
    for key, intent, order_id in stuck:
        if order_id is None:
            service.requests.forget(key)
            report.requests_forgotten += 1
            continue
        answer = {"status": "ordered", "intent": intent, "order_id": order_id}
        service.requests.finish(key, 200, answer)
        report.requests_finished += 1


def report_json(report: RecoveryReport) -> str:
    """The report as one line of JSON."""
    return json.dumps(report.as_dict(), sort_keys=True)
