"""What crash recovery and fault counting need from a checkout service.

:class:`~checkoutsim.real.service.CheckoutService` satisfies it; recovery and the
fault counters take this protocol instead, so the service can import them at the top
without an import circle.
"""

from __future__ import annotations

from typing import Protocol

from checkoutsim.real.api import RequestTable
from checkoutsim.real.database import Database
from checkoutsim.real.executor import Executor
from checkoutsim.real.gateway import Gateway, Ledger
from checkoutsim.real.runtime import Runtime
from checkoutsim.real.store import Store
from checkoutsim.scenario.settings import Settings


class ServiceParts(Protocol):
    """The parts of a running service that recovery and the fault counters touch."""

    settings: Settings
    runtime: Runtime
    shop_db: Database
    gateway_db: Database
    store: Store
    ledger: Ledger
    gateway: Gateway
    executor: Executor
    requests: RequestTable

    def provider_gateways(self) -> list[Gateway]:
        """Every provider's gateway, the primary first (one without several gateways)."""
        ...
