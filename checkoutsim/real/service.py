"""The checkout service: the policy core driven over SQLite and the fake gateway.

``CheckoutService`` wires a variant's settings into the store, the gateway, the
executor and the API, and runs the background jobs a real deployment has: the
reservation reaper, the orphan-payment sweeper (when the scenario enables it),
the payment retry queue's consumers (when it enables the queue) and crash
recovery from the saga log. It is transport-free: the in-process load
test calls ``api.checkout`` directly, the HTTP adapter calls the same method.
"""

from __future__ import annotations

import json
import os
import random
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from checkoutsim.policy import ops
from checkoutsim.policy.breaker import TIMELINE_CODES
from checkoutsim.policy.inventory import expire, give_back_policy, gives_back_under_lock
from checkoutsim.policy.saga import CheckoutRequest, Outcome, find_orphans, refund_orphan
from checkoutsim.policy.stock_cache import checkout_after_page
from checkoutsim.policy.two_phase import protocol_checkout
from checkoutsim.real import api, races
from checkoutsim.real.database import Database
from checkoutsim.real.executor import Executor
from checkoutsim.real.fault_counts import count_faults
from checkoutsim.real.gateway import Gateway, Ledger, faults_from_settings
from checkoutsim.real.gateways import Providers
from checkoutsim.real.parked_consumers import ParkedConsumers
from checkoutsim.real.parked_queue import ParkedQueue
from checkoutsim.real.recovery import recover
from checkoutsim.real.runtime import Runtime
from checkoutsim.real.saga_context import SagaContext
from checkoutsim.real.stock_cache import RealStockCache, shared_cache_table
from checkoutsim.real.store import Store
from checkoutsim.scenario.settings import Settings
from checkoutsim.world.policies import policies

SHOP_FILE = "shop.sqlite"
GATEWAY_FILE = "gateway.sqlite"
#: The ``service_counters`` row that holds the retry queue's figures. The queue is
#: shared by every process, so its figures are written under one name (each
#: process's save replaces the row) and the audit, which sums the rows, counts
#: them once.
QUEUE_COUNTERS_ROW = "parked_payments"


@dataclass(frozen=True)
class StorePaths:
    """Where a run's two databases live."""

    shop: Path
    gateway: Path

    @classmethod
    def in_directory(cls, directory: Path) -> StorePaths:
        """The standard file names inside ``directory``."""
        return cls(Path(directory) / SHOP_FILE, Path(directory) / GATEWAY_FILE)

    @classmethod
    def beside(cls, shop: Path) -> StorePaths:
        """A shop file given by the user, and the gateway's ledger next to it."""
        shop = Path(shop)
        return cls(shop, shop.with_name(f"{shop.stem}-gateway{shop.suffix or '.sqlite'}"))


def claim_lease_s(settings: Settings) -> float:
    """Model seconds a retry-queue consumer may hold a parked payment before it is redelivered.

    Far longer than a delivery takes (a gateway call up to its time-out, then
    the order's retries and back-offs), so only a consumer that died loses it.
    """
    saga = settings.saga
    order_s = (saga.order_retries + 1) * saga.order_backoff_cap_s
    return max(120.0, 4 * (settings.gateway.timeout_s + order_s))


def store_parent(settings: Settings) -> Path:
    """The folder a load test's temporary database folder goes in (see ``real.store_dir``)."""
    if settings.real.store_dir:
        return Path(settings.real.store_dir)
    shared_memory = Path("/dev/shm")
    if shared_memory.is_dir() and os.access(shared_memory, os.W_OK):
        return shared_memory
    return Path(tempfile.gettempdir())


def process_streams(seed: int, process: int) -> dict[str, random.Random]:
    """Seeded streams for one service process (several processes share a run)."""
    # Appending a name leaves the earlier streams as they were (spawned children
    # depend on their index only).
    names = ("policy", "gateway", "orders", "queue")
    children = np.random.SeedSequence([seed, process]).spawn(len(names))
    return {
        name: random.Random(int(child.generate_state(2, np.uint64)[0]))
        for name, child in zip(names, children, strict=True)
    }


class CheckoutService:
    """One process's instance of the service over shared database files."""

    def __init__(
        self,
        settings: Settings,
        paths: StorePaths,
        runtime: Runtime,
        seed: int = 1,
        process: int = 0,
        meta: dict[str, str] | None = None,
        backend: Any = None,
    ) -> None:
        self.settings = settings
        self.paths = paths
        self.runtime = runtime
        #: Intents the drain found an order for (``sweeper_has_work``).
        self._ordered_intents: set[int] = set()
        self.process_name = f"{os.getpid()}-{process}-{uuid.uuid4().hex[:8]}"
        real = settings.real
        if backend is not None:
            # A server store or Redis leases (``checkoutsim.real.backends.RunBackend``).
            self.shop_db, self.gateway_db, self.store = backend.open(settings, runtime, paths)
        else:
            self.shop_db = Database(
                paths.shop, runtime.threading, real.store_round_trip_s, runtime.time.block
            )
            # The gateway is someone else's service: the store's round trip does not apply.
            self.gateway_db = Database(paths.gateway, runtime.threading)
            self.store = Store(self.shop_db, runtime.time)
        providers = settings.gateways.count
        self.ledger: Any = Ledger(self.gateway_db, runtime, 0, providers)
        catalog = settings.catalog
        if races.wild(settings):
            self.store.create(
                [catalog.stock_per_sku] * catalog.skus, meta or {}, races.schema_for(settings)
            )
            races.prepare(self.store, settings)
        else:
            self.store.create([catalog.stock_per_sku] * catalog.skus, meta or {})
        self.ledger.create()
        rngs = process_streams(seed, process)
        self._policy_rng = rngs["policy"]
        self.policies = policies(settings)
        #: The rules every give-back follows, the reaper's too (``reap``).
        protocol = settings.transaction.protocol
        self.give_back_guard = give_back_policy(protocol, self.policies.inventory)
        self.store.reaper_locks = gives_back_under_lock(self.give_back_guard)
        self.gateway = Gateway(
            self.ledger, faults_from_settings(settings), rngs["gateway"], runtime
        )
        self.executor = Executor(
            settings, self.store, self.gateway, runtime, rngs["orders"], real.lock_poll_s
        )
        self.providers = None
        if providers > 1:
            # More gateways: each its own ledger file; the run's records read them all.
            self.providers = Providers(
                settings,
                paths.gateway,
                paths.shop.with_name(f"{paths.shop.stem}-attempts.sqlite"),
                runtime,
                self.gateway,
                self.executor,
                rngs["gateway"],
            )
            self.ledger = self.providers.ledgers
        self.requests = api.RequestTable(self.shop_db, runtime.time)
        self.executor.handlers.update(api.handlers(self.requests))
        self.cache = (
            RealStockCache(settings, runtime, shared_cache_table(self.store, settings))
            if settings.cache.page_view
            else None
        )
        if self.cache is not None:
            self.cache.install(self.executor.handlers)
        self.api = api.CheckoutApi(settings, self._saga, self.executor.drive, runtime.time.sleep)
        self.consumers = self._consumers(rngs["queue"]) if settings.queue.enabled else None
        # Count injected faults (fault_* counters) so a soak can report what it survived.
        count_faults(self)
        self._closed = False

    def _saga(self, intent: int, sku: int, quantity: int, key: str) -> ops.Step[str]:
        """The policy core's checkout (a saga, or 2PC), returning the outcome's name."""
        request = CheckoutRequest(
            intent, sku, quantity, quantity * self.settings.catalog.price, key
        )
        transaction = self.settings.transaction
        steps = protocol_checkout(
            request, self.policies, self._policy_rng, transaction.protocol, transaction.lock_wait_s
        )
        cache = self.settings.cache
        if cache.page_view:
            # The product page first: a shopper it shows sold out does not check out.
            steps = checkout_after_page(
                cache.policy(), intent, sku, quantity, steps, Outcome.SOLD_OUT
            )
        outcome = yield from steps
        return outcome.value

    def _consumers(self, rng: random.Random) -> ParkedConsumers:
        """The durable retry queue in the shop's database, and its consumers."""
        settings = self.settings.queue
        queue = ParkedQueue(
            self.shop_db,
            settings.partitions,
            settings.max_attempts,
            settings.backoff_base_s,
            settings.backoff_cap_s,
            rng,
            self.runtime.threading.lock(),
            lease_s=claim_lease_s(self.settings),
        )
        queue.create()
        return ParkedConsumers(
            queue,
            self.executor,
            self.policies.saga,
            self.runtime,
            rng,
            inventory=self.policies.inventory,
        )

    # --- background jobs --------------------------------------------------------------

    def reap(self) -> int:
        """Return expired reservations to stock; call from the greenlet or thread that waits.

        With no lock to take, in one transaction. Under the strategy's lock
        (``give_back_policy``), each one's give-back is driven as a
        compensation's is: it waits its turn for the lock, so it cannot land
        between a holder's read and its write-back and be overwritten.
        """
        guard = self.give_back_guard
        if not gives_back_under_lock(guard):
            expired = self.runtime.offload(self.store.expire_due)
            if expired and self.cache is not None:
                self.cache.on_every_sku_written()
            return expired
        expired = 0
        for reservation_id, sku in self.runtime.offload(self.store.due_reservations):
            steps = expire(guard, reservation_id, sku)
            # Not True: confirmed meanwhile, or the inventory was down (the next tick asks again).
            expired += self.executor.drive(steps, SagaContext(-1, "reaper")) is True
        return expired

    def provider_gateways(self) -> list[Gateway]:
        """Every provider's gateway, the primary first (one without several gateways)."""
        return self.providers.gateways if self.providers is not None else [self.gateway]

    def find_orphans(self) -> list[int]:
        """The policy core's sweeper look-up: captures with no order and no refund."""
        saga = SagaContext(-1, "sweeper")
        return self.executor.drive(find_orphans(self.settings.saga.sweeper_min_age_s), saga)

    def sweeper_has_work(self) -> bool:
        """Could a sweeper pass, now or once it is old enough, refund anything?

        True while a capture with no refund belongs to an intent with no order,
        whatever its age (blocking: call through ``offload``). Read from the
        ledger and the orders directly, not through the policy's look-up, so that
        asking costs no gateway call and counts in no figure of the run.
        """
        # An order, once written, stays: intents known to have one are not asked
        # again, so a drain asking every tick reads each order once.
        known = self._ordered_intents
        for _, intent in self.ledger.unrefunded(self.runtime.time.now()):
            if intent in known:
                continue
            if not self.store.has_order(intent):
                return True
            known.add(intent)
        return False

    def refund_orphan(self, capture_id: int) -> bool:
        """The policy core's sweeper refund of one orphan (hosts run several at once)."""
        refunded = self.executor.drive(refund_orphan(capture_id), SagaContext(-1, "sweeper"))
        self.executor.counters.add("sweeper_refunds", int(refunded))
        return refunded

    def recover(self) -> dict[str, int]:
        """Finish sagas a crash left at a recovery point (run before taking traffic).

        See ``checkoutsim.real.recovery``: sagas past the pivot are rolled
        forward (the order, or a refund if the reservation lapsed), the others
        compensated, and money the saga log cannot see is refunded.
        """
        return recover(self).as_dict()

    # --- observing --------------------------------------------------------------------

    def sample(self) -> tuple[int, int, int, int]:
        """(available units, reserved units, orders, captures) right now."""
        shop = self.shop_db.read()
        available = shop.execute("SELECT COALESCE(SUM(available), 0) FROM inventory").fetchone()[0]
        reserved = shop.execute(
            "SELECT COALESCE(SUM(quantity), 0) FROM reservations WHERE state = 'active'"
        ).fetchone()[0]
        orders = shop.execute("SELECT COUNT(*) FROM orders").fetchone()[0]
        # Every provider's captures (one ledger each), as the model's timeline counts them.
        captures = sum(
            database.read().execute("SELECT COUNT(*) FROM captures").fetchone()[0]
            for database in self.ledger.databases()
        )
        return available, reserved, orders, captures

    def stock(self) -> dict[str, int]:
        """Each SKU's available units, by public name."""
        rows = self.shop_db.read().execute("SELECT sku, available FROM inventory ORDER BY sku")
        return {api.sku_name(sku): available for sku, available in rows}

    def parked_depth(self) -> int:
        """Payments parked in the retry queue now, across processes (0 without a queue)."""
        return self.consumers.queue.depth() if self.consumers is not None else 0

    def timeline_state(self) -> tuple[int, int]:
        """The gateway breaker's state code (as the model's timeline has it) and the queue depth."""
        # With several providers, the most open of their breakers (as the model's).
        breakers = self.providers.breakers if self.providers is not None else []
        breakers = breakers or [self.executor.gateway_breaker]
        state = max(
            (TIMELINE_CODES[breaker.state] for breaker in breakers if breaker is not None),
            default=0,
        )
        return state, self.parked_depth()

    def breaker_figures(self) -> dict[str, float]:
        """This process's breakers: time the gateway's spent open, and the calls both refused."""
        executor = self.executor
        gateway, inventory = executor.gateway_breaker, executor.inventory_breaker
        if gateway is None and inventory is None:
            return {}
        refusals = executor.counters.snapshot().get("inventory_refusals", 0)
        if self.providers is not None:
            # Every provider's breaker, summed as the model sums them.
            open_s, rejections = self.providers.breaker_totals()
            return {"breaker_open_s": open_s, "breaker_rejections": rejections + refusals}
        return {
            "breaker_open_s": gateway.open_seconds() if gateway is not None else 0.0,
            "breaker_rejections": (gateway.rejections() if gateway is not None else 0) + refusals,
        }

    def save_counters(self) -> None:
        """Write this process's counters (and the shared queue's figures) for the audit."""
        counters = {**self.executor.counters.snapshot(), **self.breaker_figures()}
        if self.cache is not None:
            self.cache.flush(self.shop_db)
        rows = [(self.process_name, json.dumps(counters))]
        if self.consumers is not None:
            rows.append((QUEUE_COUNTERS_ROW, json.dumps(self.consumers.figures())))
        with self.shop_db.write() as conn:
            for row in rows:
                conn.execute(
                    "INSERT OR REPLACE INTO service_counters (process, counters) VALUES (?, ?)",
                    row,
                )

    def close(self) -> None:
        """Save the counters and close every connection (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self.save_counters()
        self.shop_db.close()
        self.gateway_db.close()
        if self.providers is not None:
            self.providers.close()

    def __enter__(self) -> CheckoutService:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
