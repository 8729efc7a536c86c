"""Run one variant of a scenario through the SimPy model and return its ``History``."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import simpy

from checkoutsim.policy.inventory import WILD_STRATEGIES, give_back_policy, gives_back_under_lock
from checkoutsim.policy.saga import find_orphans, refund_orphan
from checkoutsim.results import history
from checkoutsim.results.history import History
from checkoutsim.scenario.settings import Settings
from checkoutsim.sim import SimStep, loop, task
from checkoutsim.sim.consumers import RetryConsumers
from checkoutsim.sim.engine import Engine
from checkoutsim.sim.gateways import Providers
from checkoutsim.sim.shoppers import Shoppers, reservation_reaper
from checkoutsim.sim.state import Ledger, Shop
from checkoutsim.sim.stock_cache import CacheModel
from checkoutsim.world.arrivals import streams
from checkoutsim.world.policies import policies


def simulate(settings: Settings, seed: int, replication: int = 0) -> History:
    """Simulate one variant for one replication and return everything it recorded."""
    env = simpy.Environment()
    rngs = streams(seed, replication)
    catalog = settings.catalog
    inventory = settings.inventory
    shop = Shop(
        [catalog.stock_per_sku] * catalog.skus,
        check_constraint=inventory.check_constraint,
        buckets=inventory.buckets if inventory.strategy == "stock_buckets" else 0,
    )
    ledger = Ledger()
    engine = Engine(env, settings, rngs, shop, ledger)
    providers = None
    if settings.gateways.count > 1:
        # More gateways: each with its own ledger; the operations go to the one they name.
        providers = Providers(env, settings, rngs, engine.gateway, engine._payment_round_trip)
        engine.handlers.update(providers.handlers())
    chosen = policies(settings)
    cache = CacheModel(engine, settings) if settings.cache.page_view else None
    consumers = (
        RetryConsumers(engine, settings, chosen.saga, rngs, chosen.inventory)
        if settings.queue.enabled
        else None
    )
    shoppers = Shoppers(engine, settings, chosen, rngs)
    samples: list[tuple[float, ...]] = []

    # A lean task, not a ``simpy.Process``: the arrival process resumes once
    # per arrival, and nothing waits on its end.
    task.start(shoppers.arrivals())
    reap_tick_s = min(1.0, settings.saga.reservation_ttl_s / 10)
    # The reaper gives back as the strategy's compensations do (under its lock).
    guard = give_back_policy(settings.transaction.protocol, chosen.inventory)
    shop.reaper_locks = gives_back_under_lock(guard)
    if cache is not None:
        env.process(cache.reaper(reap_tick_s, guard))
    else:
        env.process(reservation_reaper(env, engine, reap_tick_s, guard))
    if settings.saga.sweeper_interval_s > 0:
        env.process(_sweeper(env, engine, settings))
    captures = providers.captures if providers is not None else _counter(ledger)
    # With several providers, the most open of their breakers (``Providers.state_code``).
    breaker = providers.state_code if providers is not None else engine.gateway.state_code
    env.process(_sampler(env, engine, shoppers, consumers, samples, captures, breaker))
    end = settings.load.duration_s + settings.load.drain_s
    loop.run(env, end)
    shoppers.intents.close_unanswered(settings.shopper.timeout_s, end)
    counters = _counters(engine, consumers, providers)
    # The keyed tables no frame holds go before the frames are built, so that
    # a run's peak memory is the larger of the two, not their sum.
    shop.payments.clear()
    shop.reservations.clear()
    ledger.keys.clear()

    # Views of the typed columns, not copies (the run is over: they are done with).
    orders = pd.DataFrame(
        {
            "intent_id": np.frombuffer(shop.order_intent, dtype=np.int64),
            "sku": np.frombuffer(shop.order_sku, dtype=np.int64),
            "quantity": np.frombuffer(shop.order_quantity, dtype=np.int64),
            "time_s": np.frombuffer(shop.order_time, dtype=float),
            # Money is matched by capture, as in the real body: a second capture of an
            # ordered payment (at this provider or another) is an orphan whatever the
            # intents say.
            "capture_id": np.frombuffer(shop.order_capture, dtype=np.int64),
        },
        copy=False,
    )
    return History(
        checkouts=shoppers.intents.frame(),
        orders=orders,
        ledger=providers.ledger_frame() if providers is not None else _ledger_frame(ledger),
        timeline=pd.DataFrame(samples, columns=list(TIMELINE_COLUMNS)),
        stock=tuple(shop.initial_stock),
        duration_s=end,
        counters=counters,
        fault_windows=engine.faults.windows(),
        page_views=cache.page_view_frame() if cache is not None else None,
        stock_changes=cache.stock_change_frame() if cache is not None else None,
    )


def _row_capacity(engine: Engine) -> float | None:
    """Reservations per second of exclusive row time: what one SKU row can sell at most.

    A row is held exclusively by its UPDATEs' row locks, and, for the lock-based
    strategies, by the application lock around the whole check-and-reserve.
    None where nothing held a row (a blind write, a relative decrement, an
    in-process mutex): no ceiling was measured, which is not a ceiling of 0.
    """
    held = max(engine.locks.stats.hold_s, engine.row_stats.busy_s)
    if engine.bucket_busy:
        # N bucket rows are N row locks: the busiest one sets the ceiling.
        held = max(engine.bucket_busy.values())
    reservations = engine.shop.reservations_made
    return reservations / held if held > 0 else None


def _counter(ledger: Ledger) -> Callable[[], int]:
    """How many captures one gateway's ledger holds, read when asked."""
    return lambda: len(ledger.capture_intent)


def _counters(
    engine: Engine, consumers: RetryConsumers | None, providers: Providers | None = None
) -> dict[str, float]:
    """Everything the metrics need that the frames do not hold."""
    locks = engine.locks.stats
    gateway = engine.gateway
    counters: dict[str, float] = {
        # Compensations are counted from the records (``results.metrics``).
        "reservations_released": engine.shop.released,
        "lock_grants": locks.grants,
        "lock_expirations": locks.expirations,
        "lock_timeouts": locks.timeouts,
        "lock_hold_mean_s": locks.hold_s / locks.holds if locks.holds else 0.0,
        "blocked_transactions": locks.long_waits,
        "stalled_by_coordinator": engine.counters.stalled_by_coordinator,
        "fence_rejections": engine.shop.fence_rejections,
        "reservations_expired": engine.shop.expired,
        "gateway_calls": gateway.calls,
        "fault_gateway_refund_in_outage": gateway.refunds_in_outage,
        "rate_limited": gateway.limiter.limited,
        "breaker_open_s": gateway.open_seconds(),
        "breaker_rejections": gateway.rejections() + engine.counters.inventory_refusals,
        "sweeper_refunds": engine.counters.sweeper_refunds,
        "inventory_calls": engine.inventory_stats.calls,
        "inventory_wait_s": engine.inventory_stats.wait_s,
        "inventory_busy_s": engine.inventory_stats.busy_s,
        "inventory_workers": engine.settings.inventory.workers,
        # The stock ledger at the end, for the conservation check (initial ==
        # sold + available + held + owed back); not shown as metrics.
        "units_available_at_end": sum(engine.shop.available),
        "units_held_at_end": engine.shop.reserved_units,
        "units_owed_at_end": sum(engine.shop.owed),
    }
    capacity = _row_capacity(engine)
    if capacity is not None:
        counters["row_capacity_per_s"] = capacity
    if providers is not None:
        counters.update(providers.counters())
        counters["breaker_rejections"] = providers.rejections() + engine.counters.inventory_refusals
    if engine.settings.inventory.strategy in WILD_STRATEGIES:
        shop = engine.shop
        counters.update(
            {
                "stock_at_end": sum(shop.available),
                "stock_min": min(shop.stock_min, min(shop.available, default=0)),
                "false_sold_outs": shop.false_sold_outs,
                "stock_constraint_errors": shop.constraint_errors,
            }
        )
    if consumers is not None:
        queue = consumers.queue
        counters.update(
            {
                "payment_queued": queue.enqueued,
                "queued_recovered": consumers.recovered,
                "queued_settled": consumers.settled,
                "dead_lettered": len(queue.dead_letters),
                "retry_queue_max_depth": queue.max_depth,
                "retry_queue_depth_at_end": queue.depth,
            }
        )
    return counters


def _ledger_frame(ledger: Ledger) -> pd.DataFrame:
    """One row per capture, from the gateway's own books."""
    count = len(ledger.capture_intent)
    refunded = np.full(count, np.nan)
    for capture_id, when in ledger.refunded_at.items():
        refunded[capture_id] = when
    return pd.DataFrame(
        {
            "capture_id": np.arange(count, dtype=np.int64),
            "intent_id": np.frombuffer(ledger.capture_intent, dtype=np.int64),
            "amount": np.frombuffer(ledger.capture_amount, dtype=np.int64),
            "time_s": np.frombuffer(ledger.capture_time, dtype=float),
            "refunded_s": refunded,
        },
        copy=False,
    )


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


#: The model also samples how many inventory queries wait for a connection.
TIMELINE_COLUMNS = (*history.TIMELINE_COLUMNS, "inventory_queue")


def _sampler(
    env: simpy.Environment,
    engine: Engine,
    shoppers: Shoppers,
    consumers: RetryConsumers | None,
    samples: list[tuple[float, ...]],
    captures: Callable[[], int],
    breaker: Callable[[], int],
) -> SimStep:
    """One timeline row per simulated second (breaker: 0 closed, 1 half-open, 2 open)."""
    shop = engine.shop
    while True:
        samples.append(
            (
                env.now,
                sum(shop.available),
                shop.reserved_units,
                shoppers.in_flight,
                len(shop.orders),
                captures(),
                breaker(),
                consumers.queue.depth if consumers is not None else 0,
                engine.workers.queued,
            )
        )
        yield env.timeout(1.0)
