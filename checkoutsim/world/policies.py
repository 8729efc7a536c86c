"""The policies a scenario selects, built from its settings for either body."""

from __future__ import annotations

from checkoutsim.policy.inventory import InventoryPolicy
from checkoutsim.policy.payment import PaymentPolicy
from checkoutsim.policy.routing import RoutingPolicy
from checkoutsim.policy.saga import Policies, SagaPolicy
from checkoutsim.scenario.settings import Settings


def policies(settings: Settings) -> Policies:
    """The policy core's knobs, taken from a variant's settings."""
    inventory = settings.inventory
    payment = settings.payment
    saga = settings.saga
    return Policies(
        InventoryPolicy(
            inventory.strategy,
            inventory.lock_ttl_s,
            inventory.lock_wait_s,
            inventory.optimistic_retries,
            inventory.optimistic_backoff_s,
            inventory.buckets,
            inventory.costs.check_gap_s,
        ),
        PaymentPolicy(
            payment.strategy,
            payment.retries,
            payment.backoff_base_s,
            payment.backoff_cap_s,
            _routing(settings),
        ),
        SagaPolicy(
            saga.compensation,
            saga.order_retries,
            saga.order_backoff_base_s,
            saga.order_backoff_cap_s,
            saga.reservation_ttl_s,
            saga.on_expired_reservation,
            queue_payments=settings.queue.enabled,
            when_inventory_down=inventory.when_down,
        ),
    )


def _routing(settings: Settings) -> RoutingPolicy | None:
    """The routing over several gateways; None when the scenario names only one."""
    gateways = settings.gateways
    if gateways.count == 1:
        return None
    return RoutingPolicy(
        gateways.routing,
        tuple(gateways.shares()),
        gateways.resolve_attempts,
        gateways.resolve_backoff_s,
    )
