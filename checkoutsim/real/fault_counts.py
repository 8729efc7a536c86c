"""Count the faults the real body injects, so a soak can say what it survived.

The gateway and the order service decide their faults inside their own calls;
this module wraps those two calls on one ``CheckoutService`` and classifies
each answer by what the scenario injected at that moment. With several
gateways every provider's calls are counted, summed under the same names (as
the model sums its providers' counters). The counts go into
the executor's counters, which the service saves per process and the audit's
``collect`` sums (``fault_*`` names), so several processes add up.

Classification, per call:

- ``fault_gateway_outage_refused`` / ``fault_gateway_outage_hung``: the call
  fell in a gateway outage window (``error`` / ``hang`` mode);
- ``fault_gateway_rate_limited``: refused at once outside an outage (a 429);
- ``fault_gateway_errors``: an injected error after the call's latency;
- ``fault_gateway_unknown``: no answer (a response lost after the capture, or
  the read time-out): the third outcome the saga must survive;
- ``fault_gateway_refund_in_outage``: a refund that failed because the gateway
  was down when it would have been processed (its owner must try again);
- ``fault_order_failures``: the order service refused or failed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from checkoutsim.policy import ops
from checkoutsim.real.counters import Counters
from checkoutsim.real.gateway import Gateway
from checkoutsim.real.runtime import Pause
from checkoutsim.world import gateway_rules as rules

if TYPE_CHECKING:
    from checkoutsim.real.service_parts import ServiceParts

FAULT_COUNTERS = (
    "fault_gateway_outage_refused",
    "fault_gateway_outage_hung",
    "fault_gateway_rate_limited",
    "fault_gateway_errors",
    "fault_gateway_unknown",
    "fault_gateway_refund_in_outage",
    "fault_order_failures",
)


def _when_done(value: Any, judge: Callable[[Any], None]) -> Any:
    """Call ``judge`` on the call's final answer, following ``Pause`` resumptions."""
    if isinstance(value, Pause):
        resume = value.resume

        def resumed() -> Any:
            return _when_done(resume(), judge)

        # The same kind of pause (a lock wait stays one), resuming through here.
        return replace(value, resume=resumed)
    judge(value)
    return value


def count_faults(service: ServiceParts) -> None:
    """Wrap ``service``'s gateway calls and order calls to count injected faults.

    What a gateway call met is what the gateway's rules decided
    (``checkoutsim.world.gateway_rules.Call.met``), not a second reading of
    the fault schedule.
    """
    counters = service.executor.counters
    for name in FAULT_COUNTERS:
        counters.add(name, 0)
    for gateway in service.provider_gateways():
        _count_gateway(gateway, counters, service.runtime.time.now)
    handlers = service.executor.handlers
    create_order = handlers[ops.CreateOrder]

    def counted_order(op: ops.CreateOrder, saga: Any) -> Any:
        def judge(result: Any) -> None:
            if result is ops.OrderStatus.FAILED:
                counters.add("fault_order_failures")

        return _when_done(create_order(op, saga), judge)

    handlers[ops.CreateOrder] = counted_order


def _count_gateway(gateway: Gateway, counters: Counters, now: Callable[[], float]) -> None:
    """Wrap one provider's charge and refund calls to count the faults they met."""
    run = gateway.perform

    def counted_charge(op: ops.Charge) -> Any:
        call = gateway.charge_call(op)
        value = run(call)
        if call.met in (rules.OUTAGE_REFUSED, rules.OUTAGE_HUNG):
            counters.add(f"fault_gateway_{call.met}")
            return value
        if call.met == rules.RATE_LIMITED:
            counters.add("fault_gateway_rate_limited")
            return value

        def judge(result: Any) -> None:
            if result.status is ops.ChargeStatus.ERROR:
                counters.add("fault_gateway_errors")
            elif result.status is ops.ChargeStatus.UNKNOWN:
                counters.add("fault_gateway_unknown")

        return _when_done(value, judge)

    def counted_refund(op: ops.Refund) -> Any:
        def judge(refunded: Any) -> None:
            # Judged as it is answered, when the rules decided it: a refund the
            # outage made fail, which its owner must try again.
            if not refunded and gateway.faults.outage(now()) is not None:
                counters.add("fault_gateway_refund_in_outage")

        return _when_done(run(gateway.refund_call(op)), judge)

    gateway.charge = counted_charge  # type: ignore[method-assign]
    gateway.refund = counted_refund  # type: ignore[method-assign]
