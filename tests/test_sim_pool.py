"""The model's queueing parts: worker pools, hand-offs, tasks, batched samplers, fences."""

from __future__ import annotations

import random

import pytest
import simpy

from checkoutsim.policy import ops
from checkoutsim.policy.inventory import lock_name, locked_sku
from checkoutsim.policy.ops import ReservationRequest
from checkoutsim.scenario.settings import Latency
from checkoutsim.sim import SimStep, task
from checkoutsim.sim.engine import Engine
from checkoutsim.sim.locks import LockTable
from checkoutsim.sim.pool import WorkerPool
from checkoutsim.sim.state import Ledger, Shop
from checkoutsim.world.arrivals import streams
from checkoutsim.world.latency import BLOCK, sampler
from tests.real_support import settings


def _caller(
    env: simpy.Environment,
    pool: WorkerPool,
    service_s: float,
    merged: bool,
    done: list[tuple[str, float]],
    name: str,
) -> SimStep:
    queued = pool.acquire(service_s if merged else None)
    served = False
    if queued is not None:
        yield queued
        served = merged
    if not served:
        yield env.timeout(service_s)
    pool.release()
    done.append((name, env.now))


@pytest.mark.parametrize("merged", [False, True])
def test_pool_serves_fifo_with_the_same_timing_whether_or_not_the_handoff_is_merged(
    merged: bool,
) -> None:
    env = simpy.Environment()
    pool = WorkerPool(env, capacity=2)
    done: list[tuple[str, float]] = []
    for name, service_s in (("a", 3.0), ("b", 1.0), ("c", 2.0), ("d", 5.0)):
        task.start(_caller(env, pool, service_s, merged, done, name))
    assert pool.busy == 2
    assert pool.queued == 2
    env.run()
    # b frees a worker at 1 (c runs 1..3), a at 3 (d runs 3..8).
    assert done == [("b", 1.0), ("a", 3.0), ("c", 3.0), ("d", 8.0)]
    assert pool.busy == 0
    assert pool.queued == 0


def test_task_runs_at_once_and_resumes_on_each_event() -> None:
    env = simpy.Environment()
    seen: list[tuple[str, float]] = []

    def body() -> SimStep:
        seen.append(("start", env.now))
        value = yield env.timeout(2.0, value="late")
        seen.append((value, env.now))
        value = yield env.timeout(1.0, value="again")
        seen.append((value, env.now))

    task.start(body())
    assert seen == [("start", 0.0)]  # started synchronously, before any event
    env.run()
    assert seen == [("start", 0.0), ("late", 2.0), ("again", 3.0)]


def test_task_goes_on_at_once_after_an_event_already_processed() -> None:
    env = simpy.Environment()
    processed = env.timeout(1.0, value="old")
    env.run(until=2.0)
    seen: list[object] = []

    def body() -> SimStep:
        seen.append((yield processed))
        seen.append(env.now)

    task.start(body())
    assert seen == ["old", 2.0]


def test_task_throws_a_failed_event_into_its_generator() -> None:
    env = simpy.Environment()
    caught: list[str] = []

    def body() -> SimStep:
        failing = env.event()
        failing.fail(RuntimeError("gateway down"))
        try:
            yield failing
        except RuntimeError as error:
            caught.append(str(error))

    task.start(body())
    env.run()
    assert caught == ["gateway down"]


def test_batched_sampler_is_seeded_by_its_stream_and_matches_the_spec() -> None:
    spec = Latency(distribution="lognormal", p50_s=0.002, p99_s=0.010)
    first = sampler(spec, random.Random(7), batched=True)
    again = sampler(spec, random.Random(7), batched=True)
    other = sampler(spec, random.Random(8), batched=True)
    draws = [first() for _ in range(3 * BLOCK)]  # crosses block refills
    assert draws == [again() for _ in range(3 * BLOCK)]
    assert draws[:10] != [other() for _ in range(10)]
    ordered = sorted(draws)
    median = ordered[len(ordered) // 2]
    p99 = ordered[int(len(ordered) * 0.99)]
    assert median == pytest.approx(0.002, rel=0.1)
    assert p99 == pytest.approx(0.010, rel=0.25)


def test_batched_exponential_sampler_has_the_spec_mean() -> None:
    spec = Latency(distribution="exponential", mean_s=0.5)
    draw = sampler(spec, random.Random(3), batched=True)
    draws = [draw() for _ in range(20_000)]
    assert sum(draws) / len(draws) == pytest.approx(0.5, rel=0.05)


def _write(
    env: simpy.Environment,
    connections: WorkerPool,
    row: WorkerPool,
    service_s: float,
    chained: bool,
    done: list[tuple[str, float]],
    name: str,
) -> SimStep:
    """A write: a connection, then the row, then the query; released together."""
    served = False
    queued = connections.acquire(service_s, row) if chained else connections.acquire()
    if queued is not None:
        yield queued
        served = chained
    if not served:
        waiting = row.acquire()
        if waiting is not None:
            yield waiting
        yield env.timeout(service_s)
    row.release()
    connections.release()
    done.append((name, env.now))


@pytest.mark.parametrize("chained", [False, True])
def test_chained_acquisition_queues_for_the_row_on_the_callers_behalf(chained: bool) -> None:
    env = simpy.Environment()
    connections = WorkerPool(env, capacity=2)
    row = WorkerPool(env, capacity=1)
    done: list[tuple[str, float]] = []
    for name in "abcd":
        task.start(_write(env, connections, row, 1.0, chained, done, name))
    env.run()
    # One row: the writes go one after the other whatever the connections do.
    assert done == [("a", 1.0), ("b", 2.0), ("c", 3.0), ("d", 4.0)]
    assert (connections.busy, row.busy, connections.queued, row.queued) == (0, 0, 0, 0)


def test_a_grant_fences_the_row_before_the_new_holder_writes() -> None:
    """A paused holder waking after its lease lapsed is refused, even first to write."""
    env = simpy.Environment()
    shop = Shop([10])

    def raise_fence(name: str, token: int) -> None:
        sku = locked_sku(name)
        if sku is not None:
            shop.raise_fence(sku, token)

    locks = LockTable(env, on_grant=raise_fence)
    name = lock_name(0)
    stale = locks.try_acquire(name, ttl_s=1.0, wait_s=0.0)
    env.run(until=2.0)  # the first lease lapses while its holder is paused
    fresh = locks.try_acquire(name, ttl_s=1.0, wait_s=0.0)
    assert isinstance(stale, int) and isinstance(fresh, int) and fresh > stale
    row = shop.read(0)
    assert shop.write(ReservationRequest(1, 0, 1, 60.0), row.available - 1, stale, 2.0) is None
    assert shop.fence_rejections == 1
    assert shop.write(ReservationRequest(2, 0, 1, 60.0), row.available - 1, fresh, 2.0) is not None
    assert locked_sku("lock:orders:0") is None


def test_a_caller_that_no_longer_matches_is_served_without_the_row() -> None:
    """Conditional writes queued on one row: once the first commits, the others match nothing."""
    env = simpy.Environment()
    row = WorkerPool(env, capacity=1)
    version = [0]
    done: list[tuple[str, float, bool]] = []

    def write(name: str) -> SimStep:
        expected = version[0]
        waiting = row.acquire(1.0, wanted=lambda: version[0] == expected)
        holds = True
        if waiting is None:
            yield env.timeout(1.0)
        else:
            yield waiting
            holds = waiting.holds
        if holds:
            version[0] += 1
            row.release()
        done.append((name, env.now, holds))

    for name in "abc":
        task.start(write(name))
    env.run()
    # b and c waited for a's row, then found the version moved: a query's cost
    # each, side by side, not one after the other holding the row.
    assert done == [("a", 1.0, True), ("b", 2.0, False), ("c", 2.0, False)]
    assert row.busy == 0 and row.queued == 0


def test_a_waiter_handed_the_lock_pays_its_own_attempt_before_its_hold() -> None:
    """Told the lock is free, a waiter still sets the key itself: one query, then the hold."""
    constant = {"distribution": "constant", "mean_s": 1.0}
    chosen = settings(inventory={"query": constant, "workers": 4})
    env = simpy.Environment()
    engine = Engine(env, chosen, streams(1, 0), Shop([10]), Ledger())
    name = lock_name(0)
    read_at: dict[str, float] = {}

    def shopper(label: str) -> ops.Step[None]:
        token = yield ops.AcquireLock(name, 60.0, 30.0)
        yield ops.ReadStock(0)
        read_at[label] = env.now
        yield ops.ReleaseLock(name, token)

    task.start(engine.drive(shopper("first")))
    task.start(engine.drive(shopper("second")))
    env.run()
    # first: acquire 0..1, read 1..2, release 2..3 (the lock is free at 3).
    # second: refused at 1, handed the lock at 3, its own attempt 3..4, read 4..5.
    assert read_at == {"first": 2.0, "second": 5.0}
    # Each hold runs from its grant to its release: 1..3 and 4..6.
    assert engine.locks.stats.holds == 2
    assert engine.locks.stats.hold_s == 4.0


@pytest.mark.parametrize("blind", [True, False])
def test_only_a_conditional_write_holds_the_row_for_its_round_trip(blind: bool) -> None:
    """A server holds a row only while it executes the statement, not for the network.

    A blind write-back (``SET available = ?``) needs no row to decide, so three
    at once each pay their own round trip side by side; a conditional update
    (``WHERE available >= q``) whose row is held by another queues for it.
    """
    constant = {"distribution": "constant", "mean_s": 1.0}
    chosen = settings(inventory={"query": constant, "workers": 4})
    env = simpy.Environment()
    shop = Shop([10])
    engine = Engine(env, chosen, streams(1, 0), shop, Ledger())
    done: list[float] = []

    def shopper(intent_id: int) -> ops.Step[None]:
        request = ReservationRequest(intent_id, 0, 1, 60.0)
        if blind:
            yield ops.WriteStock(0, 9, request)
        else:
            yield ops.DecrementIfAvailable(request)
        done.append(env.now)

    for intent_id in range(3):
        task.start(engine.drive(shopper(intent_id)))
    env.run()
    if blind:
        # Side by side, and each wrote its own stale "10 - 1": two updates lost.
        assert done == [1.0, 1.0, 1.0]
        assert shop.available[0] == 9
    else:
        assert done == [1.0, 2.0, 3.0]
        assert shop.available[0] == 7
