"""The order and inventory services' fault rules, written once: both bodies execute them.

As with the gateway (``checkoutsim.world.gateway_rules``), the rules decide and
the bodies only supply time and storage: the model waits in SimPy and writes
its in-memory shop, the real body pauses and writes SQLite or PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass

from checkoutsim.world.faults import FaultSchedule
from checkoutsim.world.gateway_rules import FAST_FAILURE_S

#: How long a refused inventory call takes to come back (model seconds).
INVENTORY_REFUSAL_S = 0.001


def inventory_outage_wait(schedule: FaultSchedule, now: float, timeout_s: float) -> float | None:
    """None while the inventory service is up; in an outage, the seconds until the
    caller learns it is unavailable: ``error`` refuses at once (``INVENTORY_REFUSAL_S``),
    ``hang`` answers nothing until the caller's time-out. Nothing is done either way."""
    outage = schedule.outage("inventory", now)
    if outage is None:
        return None
    return timeout_s if outage.mode == "hang" else INVENTORY_REFUSAL_S


@dataclass(frozen=True, slots=True)
class OrderCall:
    """A decided order-service call: wait ``wait_s``, then create the order unless ``failed``.

    A failed call still finds an order the intent already has (another click
    made it): the body's store answers that, as it answers every other case.
    """

    wait_s: float
    failed: bool


def order_call(
    latency: float, failed: bool, now: float, schedule: FaultSchedule, timeout_s: float
) -> OrderCall:
    """The order service at ``now``: its drawn latency and failure, outages and brown-outs.

    In an outage the call fails whatever was drawn: refused after
    ``FAST_FAILURE_S``, or accepted and never answered, so the saga finds out
    only when its call times out. In a brown-out the latency is multiplied.
    """
    outage = schedule.outage("order", now)
    if outage is not None:
        return OrderCall(timeout_s if outage.mode == "hang" else FAST_FAILURE_S, True)
    return OrderCall(latency * schedule.latency_factor("order", now), failed)
