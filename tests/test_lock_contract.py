"""The lock leases' contract, written once: in-database leases (SQLite, PostgreSQL) and Redis.

A lease is granted to one holder at a time, lapses after its TTL whatever its
holder is doing, is freed only by the token it was granted with, and each
grant's fencing token is larger than every earlier one. Grants and releases are
recorded by whichever service grants them: the store's ``lock_grants``, or
Redis's own records, which the audit reads when Redis holds the leases. Server
cases skip, with the reason, when the server is not reachable.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from checkoutsim.policy.inventory import lock_name
from checkoutsim.policy.ops import ReservationRequest
from checkoutsim.real import records
from checkoutsim.real.saga_context import SagaContext
from checkoutsim.real.timebase import ManualTime
from tests.backend_support import Services, services_for

#: A TTL short enough to wait out for real (Redis expires keys on its own clock).
TTL_S = 0.2


@pytest.fixture(
    params=[
        ("sqlite", "database"),
        ("postgresql", "database"),
        ("sqlite", "redis"),
        ("postgresql", "redis"),
    ],
    ids=lambda param: "-".join(param),
)
def services(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Services]:
    """Services on each store with each kind of lease."""
    store, locks = request.param
    yield from services_for(store, locks, tmp_path)


def lapse(clock: ManualTime, seconds: float) -> None:
    """Let ``seconds`` pass for every lease service: the manual clock and the real one."""
    clock.advance(seconds)
    time.sleep(seconds)


def test_one_holder_until_release_and_only_its_token_frees_it(services: Services) -> None:
    shop, _ = services.make()
    store = shop.store
    token, _ = store.try_lock("sku", TTL_S * 50)
    assert token is not None
    refused, held_until = store.try_lock("sku", TTL_S * 50)
    assert refused is None and held_until > 0
    assert not store.release_lock("sku", token + 1000)
    assert store.release_lock("sku", token)
    newer, _ = store.try_lock("sku", TTL_S * 50)
    assert newer is not None and newer > token


def test_a_lease_lapses_and_the_stale_holder_cannot_free_the_new_one(services: Services) -> None:
    shop, clock = services.make()
    store = shop.store
    token, _ = store.try_lock("sku", TTL_S)
    assert token is not None
    lapse(clock, TTL_S * 1.5)
    newer, _ = store.try_lock("sku", TTL_S * 50)
    assert newer is not None and newer > token
    assert not store.release_lock("sku", token)
    assert store.release_lock("sku", newer)


def test_grants_are_recorded_for_the_audit(services: Services) -> None:
    shop, _ = services.make()
    store = shop.store
    token, _ = store.try_lock("sku", TTL_S * 50)
    assert token is not None
    store.release_lock("sku", token)
    rows = store.db.read().execute("SELECT token, name, released_s FROM lock_grants").fetchall()
    leases = getattr(store, "leases", None)
    if leases is None:
        assert [(row[0], row[1], row[2] is not None) for row in rows] == [(token, "sku", True)]
        return
    # Leases in Redis: Redis recorded the grant and its release itself (the store
    # did not), and the audit reads that record (``records.collect``).
    assert rows == []
    (grant,) = leases.grants()
    assert grant[:2] == (token, "sku") and grant[4] is not None and grant[4] >= grant[2]
    unseen, _ = leases.try_lock("unseen", TTL_S * 50)  # straight to Redis
    assert [row[:2] for row in leases.grants()] == [(token, "sku"), (unseen, "unseen")]
    facts = records.collect(store, shop.ledger)
    assert facts.grants["token"].tolist() == [token, unseen]


def test_concurrent_grabs_grant_one_holder(services: Services) -> None:
    shop, _ = services.make()
    granted: list[int] = []
    start = threading.Barrier(8)

    def grab() -> None:
        start.wait()
        token, _ = shop.store.try_lock("hot", TTL_S * 50)
        if token is not None:
            granted.append(token)

    threads = [threading.Thread(target=grab) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(granted) == 1


def test_a_grant_fences_out_the_paused_holder_before_the_new_holder_writes(
    services: Services,
) -> None:
    shop, clock = services.make()
    store = shop.store
    name = lock_name(0)
    old, _ = store.try_lock(name, TTL_S)
    assert old is not None
    stale_read = store.read_stock(0)
    lapse(clock, TTL_S * 1.5)
    new, _ = store.try_lock(name, TTL_S * 50)
    assert new is not None and new > old
    # The paused holder wakes first: its write is refused although the new
    # holder has not written yet, so the new holder's read stays true.
    refused = store.write_stock(
        ReservationRequest(1, 0, 1, 600.0), stale_read.available - 1, old, old, SagaContext(1, "a")
    )
    assert refused is None
    fresh = store.read_stock(0)
    assert fresh.available == stale_read.available
    accepted = store.write_stock(
        ReservationRequest(2, 0, 1, 600.0), fresh.available - 1, new, new, SagaContext(2, "b")
    )
    assert accepted is not None
    assert shop.stock() == {"sku-0": stale_read.available - 1}


def test_other_locks_leave_every_fence_alone(services: Services) -> None:
    shop, _ = services.make()
    token, _ = shop.store.try_lock("report-job", TTL_S * 50)
    assert token is not None
    fences = shop.store.db.read().execute("SELECT fence FROM inventory").fetchall()
    assert [row[0] for row in fences] == [0] * len(fences)


def test_waits_given_up_long_waits_and_stalls_are_counted_from_the_records(
    services: Services,
) -> None:
    shop, clock = services.make()
    store = shop.store
    token, _ = store.try_lock("sku", TTL_S * 50)
    assert token is not None
    clock.advance(2.0)
    # Asked at 0 s, refused, given up at 2 s: a timeout, and a long wait.
    refused, _ = store.try_lock("sku", TTL_S * 50, asked_s=0.0)
    assert refused is None
    store.record_lock_timeout("sku", 0.0)
    store.record_stall(7, 5.0)
    assert store.release_lock("sku", token)
    # Asked at 0.5 s and granted at 2 s: a long wait that ended in a grant.
    late, _ = store.try_lock("sku", TTL_S * 50, asked_s=0.5)
    # Asked and granted at once: no wait.
    other, _ = store.try_lock("other", TTL_S * 50)
    assert late is not None and other is not None
    counters = records.collect(store, shop.ledger).counters
    assert counters["lock_timeouts"] == 1
    assert counters["blocked_transactions"] == 2
    assert counters["stalled_by_coordinator"] == 1
    assert counters["lock_grants"] == 3
