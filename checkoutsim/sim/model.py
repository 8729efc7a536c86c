"""Run one variant of a scenario through the SimPy model and return its ``History``."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import simpy

from checkoutsim.config import Settings
from checkoutsim.history import CHECKOUT_COLUMNS, History
from checkoutsim.policy.inventory import InventoryPolicy
from checkoutsim.policy.payment import PaymentPolicy
from checkoutsim.policy.saga import Policies, SagaPolicy, find_orphans, refund_orphan
from checkoutsim.sim.engine import Engine, SimStep
from checkoutsim.sim.shoppers import TIMED_OUT, Shoppers, reservation_reaper
from checkoutsim.sim.state import Ledger, Shop

#: Every random stream a run uses. Each variant of a replication gets the same
#: streams (common random numbers), so differences come from the strategies.
STREAM_NAMES = (
    "arrivals",
    "shoppers",
    "abandon",
    "policy",
    "inventory",
    "payments",
    "gateway",
    "gateway_faults",
    "orders",
    "order_faults",
)


def streams(seed: int, replication: int) -> dict[str, random.Random]:
    """Independent seeded streams for one replication, derived by ``SeedSequence``."""
    children = (
        np.random.SeedSequence(seed).spawn(replication + 1)[replication].spawn(len(STREAM_NAMES))
    )
    return {
        name: random.Random(int(child.generate_state(2, np.uint64)[0]))
        for name, child in zip(STREAM_NAMES, children, strict=True)
    }


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
        ),
        PaymentPolicy(
            payment.strategy, payment.retries, payment.backoff_base_s, payment.backoff_cap_s
        ),
        SagaPolicy(
            saga.compensation,
            saga.order_retries,
            saga.order_backoff_base_s,
            saga.order_backoff_cap_s,
            saga.reservation_ttl_s,
            saga.on_expired_reservation,
        ),
    )


def simulate(settings: Settings, seed: int, replication: int = 0) -> History:
    """Simulate one variant for one replication and return everything it recorded."""
    env = simpy.Environment()
    rngs = streams(seed, replication)
    catalog = settings.catalog
    shop = Shop([catalog.stock_per_sku] * catalog.skus)
    ledger = Ledger()
    engine = Engine(env, settings, rngs, shop, ledger)
    shoppers = Shoppers(engine, settings, policies(settings), rngs)
    samples: list[tuple[float, ...]] = []

    env.process(shoppers.arrivals())
    env.process(reservation_reaper(env, engine, min(1.0, settings.saga.reservation_ttl_s / 10)))
    if settings.saga.sweeper_interval_s > 0:
        env.process(_sweeper(env, engine, settings))
    env.process(_sampler(env, shop, ledger, shoppers, samples))
    end = settings.load.duration_s + settings.load.drain_s
    env.run(until=end)
    _close_unanswered(shoppers, settings.shopper.timeout_s, end)

    return History(
        checkouts=_checkout_frame(shoppers),
        orders=pd.DataFrame(
            [
                (intent, sku, quantity, when)
                for intent, (sku, quantity, when) in shop.orders.items()
            ],
            columns=["intent_id", "sku", "quantity", "time_s"],
        ),
        ledger=pd.DataFrame(
            {
                "capture_id": np.arange(len(ledger.capture_intent), dtype=np.int64),
                "intent_id": np.asarray(ledger.capture_intent, dtype=np.int64),
                "amount": np.asarray(ledger.capture_amount, dtype=np.int64),
                "time_s": np.asarray(ledger.capture_time, dtype=float),
                "refunded_s": [
                    ledger.refunded_at.get(i, np.nan) for i in range(len(ledger.capture_intent))
                ],
            }
        ),
        timeline=pd.DataFrame(
            samples,
            columns=["time_s", "available", "reserved", "in_flight", "orders", "captures"],
        ),
        stock=tuple(shop.initial_stock),
        duration_s=end,
        counters={
            "compensations": engine.counters.compensations,
            "lock_grants": engine.counters.lock_grants,
            "lock_expirations": engine.counters.lock_expirations,
            "lock_timeouts": engine.counters.lock_timeouts,
            "fence_rejections": shop.fence_rejections,
            "reservations_expired": shop.expired,
            "gateway_calls": engine.counters.gateway_calls,
            "sweeper_refunds": engine.counters.sweeper_refunds,
            "inventory_calls": engine.inventory_stats.calls,
            "inventory_wait_s": engine.inventory_stats.wait_s,
            "inventory_busy_s": engine.inventory_stats.busy_s,
            "inventory_workers": settings.inventory.workers,
        },
    )


def _close_unanswered(shoppers: Shoppers, timeout_s: float, end: float) -> None:
    """Shoppers still waiting when the run ends have given up if their time-out passed."""
    for intent in shoppers.intents:
        if intent.answered_s < 0 and intent.arrival_s + timeout_s <= end:
            intent.told = TIMED_OUT
            intent.answered_s = intent.arrival_s + timeout_s


def _checkout_frame(shoppers: Shoppers) -> pd.DataFrame:
    """One row per intent, with the latency the shopper saw."""
    intents = shoppers.intents
    frame = pd.DataFrame(
        [
            (
                i.intent_id,
                i.arrival_s,
                i.sku,
                i.quantity,
                i.clicks,
                i.attempts,
                i.told,
                i.answered_s,
            )
            for i in intents
        ],
        columns=list(CHECKOUT_COLUMNS[:-1]),
    )
    answered = frame["answered_s"] >= 0
    frame["latency_s"] = np.where(answered, frame["answered_s"] - frame["arrival_s"], np.nan)
    return frame


def _sweeper(env: simpy.Environment, engine: Engine, settings: Settings) -> SimStep:
    """The orphan-payment sweeper: every ``sweeper_interval_s``, find and refund orphans.

    Refunds run concurrently, one process each, as a sweeper with a worker pool
    would; one at a time a backlog of slow refunds would outlast the run.
    """
    saga = settings.saga
    refunding: set[int] = set()

    def refund(capture_id: int) -> SimStep:
        refunded = yield from engine.drive(refund_orphan(capture_id))
        engine.counters.sweeper_refunds += int(refunded)
        refunding.discard(capture_id)

    while True:
        yield env.timeout(saga.sweeper_interval_s)
        orphans = yield from engine.drive(find_orphans(saga.sweeper_min_age_s))
        for capture_id in orphans:
            if capture_id not in refunding:
                refunding.add(capture_id)
                env.process(refund(capture_id))


def _sampler(
    env: simpy.Environment,
    shop: Shop,
    ledger: Ledger,
    shoppers: Shoppers,
    samples: list[tuple[float, ...]],
) -> SimStep:
    """One timeline row per simulated second."""
    while True:
        samples.append(
            (
                env.now,
                sum(shop.available),
                shop.reserved_units,
                shoppers.in_flight,
                len(shop.orders),
                len(ledger.capture_intent),
            )
        )
        yield env.timeout(1.0)
