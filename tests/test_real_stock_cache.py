"""The real service's stock cache on a manual clock: a stale page after sell-out, its
records, and what the metrics read off them."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from checkoutsim.real import records
from checkoutsim.results.cache_metrics import cache_metrics, sell_out_times
from checkoutsim.results.history import History
from tests.real_support import body, service, settings


def run(tmp_path: Path, mode: str) -> tuple[list[str], records.ServerFacts]:
    """Two units; shoppers i0, i1 buy them at 0 s; i2 views at 5 s; i3 at 11 s."""
    config = settings(
        catalog={"skus": 1, "stock_per_sku": 2},
        cache={"page_view": True, "mode": mode, "ttl_s": 10.0},
    )
    shop, clock = service(tmp_path, config)
    told = []
    for key, at in (("i0", 0.0), ("i1", 0.0), ("i2", 5.0), ("i3", 11.0)):
        clock.advance(max(0.0, at - clock.now()))
        told.append(shop.api.checkout(key, body())[1]["status"])
    shop.save_counters()
    facts = records.by_shopper(records.collect(shop.store, shop.ledger))
    shop.close()
    return told, facts


def test_a_ttl_page_sends_a_shopper_to_a_failed_reservation_after_sell_out(
    tmp_path: Path,
) -> None:
    told, facts = run(tmp_path, "ttl")
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


def test_write_invalidation_shows_sold_out_to_the_next_shopper(tmp_path: Path) -> None:
    told, facts = run(tmp_path, "write_invalidated")
    assert told == ["ordered", "ordered", "sold_out", "sold_out"]
    views = facts.page_views
    assert views is not None
    # Each sale deleted the entry: every view after one misses and reads the store.
    assert list(views["hit"]) == [False, False, False, True]
    assert list(views["shown"]) == [2, 1, 0, 0]
