"""The real service's stock cache on a manual clock: a stale page after sell-out, its
records, and what the metrics read off them."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from checkoutsim.policy.stock_cache import CachePolicy
from checkoutsim.real import records
from checkoutsim.real.redis_cache import RedisCacheTable
from checkoutsim.real.redis_locks import connect
from checkoutsim.real.stock_cache import RealStockCache
from checkoutsim.results.cache_metrics import cache_metrics, sell_out_times
from checkoutsim.results.history import History
from tests.backend_support import REDIS_URL, Services, require, services_for
from tests.real_support import body, settings

#: (store, locks): the in-process cache on SQLite and on PostgreSQL, the Redis cache.
BACKENDS = [("sqlite", "database"), ("postgresql", "database"), ("sqlite", "redis")]


@pytest.fixture(params=BACKENDS, ids=["-".join(pair) for pair in BACKENDS])
def services(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """Services on one backend (skipped when its server is not reachable)."""
    yield from services_for(*request.param, tmp_path)


def run(services: Services, mode: str) -> tuple[list[str], records.ServerFacts]:
    """Two units; shoppers i0, i1 buy them at 0 s; i2 views at 5 s; i3 at 11 s."""
    config = settings(
        catalog={"skus": 1, "stock_per_sku": 2},
        cache={"page_view": True, "mode": mode, "ttl_s": 10.0},
    )
    shop, clock = services.make(config)
    assert isinstance(shop.cache, RealStockCache)
    assert shop.cache.shared is (services.choice.locks != "database")
    told = []
    for key, at in (("i0", 0.0), ("i1", 0.0), ("i2", 5.0), ("i3", 11.0)):
        clock.advance(max(0.0, at - clock.now()))
        told.append(shop.api.checkout(key, body())[1]["status"])
    shop.save_counters()
    facts = records.by_shopper(records.collect(shop.store, shop.ledger))
    return told, facts


def test_a_ttl_page_sends_a_shopper_to_a_failed_reservation_after_sell_out(
    services: Services,
) -> None:
    told, facts = run(services, "ttl")
    # i2's page is the entry i0 filled at 0 s (2 left): it tries and fails to reserve.
    # i3's comes after the TTL: a miss that reads 0, so the page turns it away.
    assert told == ["ordered", "ordered", "sold_out", "sold_out"]
    views = facts.page_views
    assert views is not None
    assert list(views["intent_id"]) == [0, 1, 2, 3]
    assert list(views["hit"]) == [False, True, True, False]
    assert list(views["shown"]) == [2, 2, 2, 0]
    assert facts.stock_changes is not None
    (sold_out_s,) = sell_out_times(facts.stock_changes, facts.stock).values()
    assert 0.0 <= sold_out_s < 1.0
    checkouts = pd.DataFrame({"intent_id": [0, 1, 2, 3], "quantity": 1, "told": told, "sku": 0})
    history = History(
        checkouts=checkouts,
        orders=facts.orders,
        ledger=facts.ledger,
        timeline=pd.DataFrame(),
        stock=facts.stock,
        duration_s=12.0,
        page_views=views,
        stock_changes=facts.stock_changes,
    )
    metrics = cache_metrics(history)
    assert metrics["failed_after_in_stock"] == 1
    assert metrics["store_reads_saved"] == 2
    assert metrics["sold_out_shown_after_s"] == pytest.approx(11.0 - sold_out_s, abs=1.0)


def test_write_invalidation_shows_sold_out_to_the_next_shopper(services: Services) -> None:
    told, facts = run(services, "write_invalidated")
    assert told == ["ordered", "ordered", "sold_out", "sold_out"]
    views = facts.page_views
    assert views is not None
    # Each sale deleted the entry: every view after one misses and reads the store.
    assert list(views["hit"]) == [False, False, False, True]
    assert list(views["shown"]) == [2, 1, 0, 0]


def test_the_redis_cache_is_shared_and_refuses_a_fill_that_raced_a_write() -> None:
    require("redis")
    client = connect(REDIS_URL)
    prefix = f"cs_test_{uuid.uuid4().hex[:12]}:cache:"
    policy = CachePolicy("write_invalidated", 60.0)
    one, other = RedisCacheTable(client, prefix, policy), RedisCacheTable(client, prefix, policy)
    try:
        assert one.fill(0, 3, read_started_s=0.0, now_s=0.5)
        # Another process sees the entry one filled.
        entry = other.read(0, 1.0).entry
        assert entry is not None and (entry.available, entry.filled_s) == (3, 0.5)
        other.on_stock_write(0, 1.5)
        assert one.read(0, 2.0).entry is None
        # A read that began before the write cannot put its old figure back.
        assert not one.fill(0, 3, read_started_s=1.0, now_s=2.0)
        assert one.fill(0, 2, read_started_s=1.6, now_s=2.0)
        one.on_every_stock_write(3.0)
        assert other.read(0, 3.0).entry is None
        assert not other.fill(0, 2, read_started_s=2.5, now_s=3.5)
    finally:
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
        client.close()
