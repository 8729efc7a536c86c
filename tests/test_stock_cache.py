"""The stock cache: its policy step by step, its metrics on hand-built records, and the
model's hit rate against the renewal formula for TTL caching under Poisson reads."""

from __future__ import annotations

import math
from collections.abc import Generator
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checkoutsim.policy import ops
from checkoutsim.policy.saga import Outcome
from checkoutsim.policy.stock_cache import (
    NOT_SHOWN,
    CacheEntry,
    CachePolicy,
    CacheTable,
    FillCache,
    ReadCache,
    RecordPageView,
    checkout_after_page,
    view_page,
)
from checkoutsim.results.cache_metrics import (
    cache_metrics,
    failed_after_in_stock,
    sell_out_times,
    sold_out_shown_after,
)
from checkoutsim.results.history import PAGE_VIEW_COLUMNS, STOCK_CHANGE_COLUMNS, History
from checkoutsim.results.metrics import summarise
from checkoutsim.scenario import files as scenarios
from checkoutsim.scenario.settings import Settings
from checkoutsim.sim.model import simulate


class Body:
    """A body with no time of its own: a cache table, a store figure and a clock set by hand."""

    def __init__(self, policy: CachePolicy, available: int) -> None:
        self.table = CacheTable(policy)
        self.available = available
        self.now = 0.0
        self.store_reads = 0
        self.views: list[tuple[int, bool, int]] = []

    def run(self, steps: Generator[ops.Operation, Any, Any]) -> Any:
        result: Any = None
        while True:
            try:
                operation = steps.send(result)
            except StopIteration as stop:
                return stop.value
            result = self.execute(operation)

    def execute(self, operation: ops.Operation) -> Any:
        if isinstance(operation, ReadCache):
            return self.table.read(operation.sku, self.now)
        if isinstance(operation, FillCache):
            return self.table.fill(
                operation.sku, operation.available, operation.read_started_s, self.now
            )
        if isinstance(operation, RecordPageView):
            self.views.append((operation.intent_id, operation.hit, operation.shown))
            return None
        if isinstance(operation, ops.ReadStock):
            self.store_reads += 1
            return ops.StockRow(self.available, 0)
        raise AssertionError(f"unexpected {operation}")


def test_a_ttl_entry_is_a_hit_until_its_ttl_and_then_a_miss() -> None:
    policy = CachePolicy("ttl", 1.0)
    entry = CacheEntry(5, 10.0)
    assert policy.is_hit(entry, 10.0) and policy.is_hit(entry, 10.999)
    assert not policy.is_hit(entry, 11.0)
    assert not policy.is_hit(None, 10.0)
    assert not CachePolicy("none", 1.0).is_hit(entry, 10.0)


def test_a_ttl_page_shows_the_old_figure_after_the_store_sold_out() -> None:
    body = Body(CachePolicy("ttl", 10.0), available=3)
    assert body.run(view_page(body.table.policy, 1, 0)).hit is False
    body.available = 0
    body.now = 9.0
    page = body.run(view_page(body.table.policy, 2, 0))
    assert (page.shown, page.hit, body.store_reads) == (3, True, 1)
    body.now = 10.0
    page = body.run(view_page(body.table.policy, 3, 0))
    assert (page.shown, page.hit, body.store_reads) == (0, False, 2)
    assert body.views == [(1, False, 3), (2, True, 3), (3, False, 0)]


def test_a_write_deletes_the_entry_only_when_invalidated_on_write() -> None:
    for mode, cached in (("ttl", True), ("write_invalidated", False)):
        table = CacheTable(CachePolicy(mode, 60.0))  # type: ignore[arg-type]
        table.fill(0, 3, read_started_s=0.0, now_s=0.0)
        table.on_stock_write(0, 1.0)
        assert (0 in table.entries) is cached, mode


def test_a_fill_from_a_read_that_raced_a_write_is_refused() -> None:
    # The read began at 1.0 and saw 1 unit; the last unit sold at 1.5 and the write
    # deleted the entry; putting the old 1 back would show it in stock for the TTL.
    table = CacheTable(CachePolicy("write_invalidated", 60.0))
    table.on_stock_write(0, 1.5)
    assert not table.fill(0, 1, read_started_s=1.0, now_s=2.0)
    assert table.fill(0, 0, read_started_s=1.6, now_s=2.0)
    table.on_every_stock_write(3.0)
    assert not table.entries and not table.fill(0, 1, read_started_s=2.5, now_s=3.5)


def test_the_page_turns_a_shopper_away_before_the_checkout_starts() -> None:
    started = []

    def checkout() -> Generator[ops.Operation, Any, Outcome]:
        started.append(True)
        yield ops.ReadStock(0)
        return Outcome.ORDERED

    body = Body(CachePolicy("none"), available=1)
    policy = body.table.policy
    assert body.run(checkout_after_page(policy, 1, 0, 2, checkout(), Outcome.SOLD_OUT)) == (
        Outcome.SOLD_OUT
    )
    assert not started
    assert body.run(checkout_after_page(policy, 2, 0, 1, checkout(), Outcome.SOLD_OUT)) == (
        Outcome.ORDERED
    )
    assert started == [True]


def test_a_page_the_store_did_not_answer_shows_nothing_and_lets_the_shopper_try() -> None:
    body = Body(CachePolicy("ttl", 1.0), available=0)
    body.execute = lambda op: (  # type: ignore[method-assign]
        ops.UNAVAILABLE if isinstance(op, ops.ReadStock) else Body.execute(body, op)
    )
    page = body.run(view_page(body.table.policy, 1, 0))
    assert page.shown == NOT_SHOWN and not body.table.entries


# --- the metrics, on records whose answer is worked out by hand -----------------------


def history(
    checkouts: list[tuple[int, int, str]],
    orders: list[int],
    views: list[tuple[int, int, float, bool, int]],
    changes: list[tuple[int, float, int]],
    stock: tuple[int, ...],
) -> History:
    frame = pd.DataFrame(checkouts, columns=["intent_id", "quantity", "told"])
    frame["sku"] = 0
    return History(
        checkouts=frame,
        orders=pd.DataFrame({"intent_id": orders}),
        ledger=pd.DataFrame(),
        timeline=pd.DataFrame(),
        stock=stock,
        duration_s=10.0,
        page_views=pd.DataFrame(views, columns=list(PAGE_VIEW_COLUMNS)),
        stock_changes=pd.DataFrame(changes, columns=list(STOCK_CHANGE_COLUMNS)),
    )


def test_cache_metrics_from_hand_built_records() -> None:
    # Two units; shoppers 0 and 1 buy them at 1.0 and 2.0 (sold out at 2.0).
    # Shopper 2 is shown 1 unit from the cache at 2.5 and fails to reserve;
    # shopper 3 is shown 1 at 3.0 and fails; shopper 4's page shows 0 at 4.0;
    # shopper 5's at 5.0.
    run = history(
        checkouts=[
            (0, 1, "ordered"),
            (1, 1, "ordered"),
            (2, 1, "sold_out"),
            (3, 1, "sold_out"),
            (4, 1, "sold_out"),
            (5, 1, "sold_out"),
        ],
        orders=[0, 1],
        views=[
            (0, 0, 0.5, False, 2),
            (1, 0, 1.5, True, 2),
            (2, 0, 2.5, True, 2),
            (3, 0, 3.0, True, 1),
            (4, 0, 4.0, False, 0),
            (5, 0, 5.0, True, 0),
        ],
        changes=[(0, 1.0, -1), (0, 2.0, -1)],
        stock=(2,),
    )
    metrics = cache_metrics(run)
    assert metrics["page_views"] == 6
    assert metrics["store_reads_saved"] == 4
    assert metrics["cache_hit_rate"] == pytest.approx(4 / 6)
    assert metrics["failed_after_in_stock"] == 2
    assert metrics["sold_out_shown_after_s"] == pytest.approx(2.0)
    assert "sold_out_never_shown" not in metrics


def test_a_shopper_shown_too_few_units_is_not_counted_as_shown_in_stock() -> None:
    checkouts = pd.DataFrame(
        [(0, 2, "sold_out"), (1, 1, "sold_out")], columns=["intent_id", "quantity", "told"]
    )
    views = pd.DataFrame([(0, 0, 1.0, True, 1), (1, 0, 1.0, True, 1)], columns=PAGE_VIEW_COLUMNS)
    assert failed_after_in_stock(checkouts, pd.DataFrame({"intent_id": []}), views) == 1


def test_units_returned_after_a_sell_out_do_not_move_its_first_moment() -> None:
    changes = pd.DataFrame(
        [(0, 1.0, -2), (0, 3.0, 1), (0, 4.0, -1), (1, 2.0, -1)], columns=STOCK_CHANGE_COLUMNS
    )
    assert sell_out_times(changes, (2, 5, 0)) == {0: 1.0, 2: 0.0}


def test_a_sku_viewed_after_its_sell_out_and_never_shown_sold_out_is_counted() -> None:
    changes = pd.DataFrame([(0, 1.0, -1)], columns=STOCK_CHANGE_COLUMNS)
    views = pd.DataFrame([(0, 0, 2.0, True, 1)], columns=PAGE_VIEW_COLUMNS)
    slowest, never = sold_out_shown_after(views, changes, (1,))
    assert math.isnan(slowest) and never == 1


def test_a_run_without_page_views_has_no_cache_metrics() -> None:
    run = history([(0, 1, "ordered")], [0], [], [], (1,))
    assert cache_metrics(History(**{**run.__dict__, "page_views": None})) == {}


# --- the model against the renewal formula -------------------------------------------------


def page_only(rate: float, ttl: float, duration: float) -> Settings:
    """Poisson page views on one SKU with no stock (nobody checks out), store reads instant."""
    return Settings.model_validate(
        {
            "load": {"rate_per_s": rate, "duration_s": duration, "drain_s": 0.0},
            "catalog": {"skus": 1, "stock_per_sku": 0},
            "inventory": {"query": {"distribution": "constant", "mean_s": 0.0}},
            "cache": {"page_view": True, "mode": "ttl", "ttl_s": ttl},
        }
    )


@settings(max_examples=12, deadline=None)
@given(
    rate=st.floats(0.5, 40.0),
    reads_per_ttl=st.floats(0.05, 30.0),
    seed=st.integers(1, 10_000),
)
def test_the_models_ttl_hit_rate_is_rt_over_one_plus_rt(
    rate: float, reads_per_ttl: float, seed: int
) -> None:
    """With Poisson reads at rate r on one key and TTL T, each miss fills an entry that
    answers the reads of the next T seconds (Poisson, mean rT); the first read after it
    misses again. So the hit rate is rT / (1 + rT)."""
    x = reads_per_ttl
    ttl = x / rate
    # About 400 renewal cycles of T + 1/r each, at most ~4,000 views per example
    # (so at least ~130 cycles, as rT is at most 30).
    duration = min(400 * (ttl + 1 / rate), 4000 / rate)
    metrics = summarise(simulate(page_only(rate, ttl, duration), seed), duration)
    misses = metrics["page_views"] - metrics["store_reads_saved"]
    expected = x / (1 + x)
    # Hits per miss: mean rT, standard error sqrt(rT / misses); through p = h / (1 + h),
    # dp/dh = 1 / (1 + h)^2. Five standard errors plus one cycle cut short by the end.
    tolerance = 5 * math.sqrt(x / misses) / (1 + x) ** 2 + 1 / misses
    assert metrics["cache_hit_rate"] == pytest.approx(expected, abs=tolerance)
    assert metrics["failed_after_in_stock"] == 0 and metrics["orders"] == 0


def test_cached_stock_failed_after_in_stock_grows_with_the_ttl() -> None:
    scenario = scenarios.load("cached-stock")
    figures = {}
    for variant in scenario.variants:
        run = summarise(simulate(variant.settings, 1), variant.settings.load.duration_s)
        figures[variant.name] = run
        assert run["oversold_units"] == 0, variant.name
    assert figures["no_cache"]["store_reads_saved"] == 0
    assert figures["ttl_1s"]["cache_hit_rate"] < figures["ttl_10s"]["cache_hit_rate"]
    failed = {name: run["failed_after_in_stock"] for name, run in figures.items()}
    assert failed["no_cache"] <= failed["ttl_1s"] < failed["ttl_10s"]
    assert failed["write_invalidated"] <= failed["ttl_1s"]
    shown = {name: run["sold_out_shown_after_s"] for name, run in figures.items()}
    assert shown["ttl_1s"] < 1.0 + 0.5 and 1.0 < shown["ttl_10s"] <= 10.0 + 0.5


@settings(max_examples=10, deadline=None)
@given(
    ttl=st.floats(0.1, 20.0),
    stock=st.integers(1, 60),
    rate=st.floats(5.0, 30.0),
    seed=st.integers(1, 10_000),
)
def test_the_cache_never_oversells_and_never_loses_a_sale(
    ttl: float, stock: int, rate: float, seed: int
) -> None:
    """The store decides every reservation, and units never come back here (no payment
    fails), so a stale page can only show more units than there are: every mode sells
    exactly the stock, or every shopper's unit if fewer came."""
    sold = set()
    for mode in ("none", "ttl", "write_invalidated"):
        config = Settings.model_validate(
            {
                "load": {"rate_per_s": rate, "duration_s": 10.0, "drain_s": 10.0},
                "catalog": {"skus": 1, "stock_per_sku": stock},
                "cache": {"page_view": True, "mode": mode, "ttl_s": ttl},
            }
        )
        metrics = summarise(simulate(config, seed), 10.0)
        assert metrics["oversold_units"] == 0, mode
        assert metrics["units_sold"] == min(stock, metrics["checkouts"]), mode
        sold.add(metrics["units_sold"])
        if mode == "none":
            assert metrics["store_reads_saved"] == 0
    assert len(sold) == 1
