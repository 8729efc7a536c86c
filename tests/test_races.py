"""The inventory strategies found in the wild: interleavings, a formula, both bodies."""

from __future__ import annotations

import bisect
import random
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from checkoutsim.policy import ops
from checkoutsim.policy.inventory import InventoryPolicy, ReserveStatus, reserve
from checkoutsim.real.races import marks
from checkoutsim.real.saga_context import SagaContext
from checkoutsim.results.metrics import summarise
from checkoutsim.scenario.settings import Settings
from checkoutsim.sim.model import simulate
from tests import real_support
from tests.support import Interleaving, StepBody


def request(intent: int, quantity: int = 1) -> ops.ReservationRequest:
    return ops.ReservationRequest(intent, 0, quantity, 600.0)


def race(
    strategy: str, stock: int, buyers: int, order: list[int], **shop: Any
) -> tuple[StepBody, list[Any]]:
    """``buyers`` shoppers reserving one unit each, stepped in ``order``, then to the end."""
    body = StepBody([stock], **shop)
    policy = InventoryPolicy(strategy, buckets=max(shop.get("buckets", 1), 1))
    rng = random.Random(0)
    interleaving = Interleaving(
        body, [reserve(policy, request(intent), rng) for intent in range(buyers)]
    )
    interleaving.run([index % buyers for index in order])
    return body, interleaving.run_all()


def reserved(results: list[Any]) -> int:
    return sum(result.status is ReserveStatus.RESERVED for result in results)


interleavings = st.lists(st.integers(min_value=0, max_value=50), max_size=60)


@settings(max_examples=200, deadline=None)
@given(
    strategy=st.sampled_from(
        ["atomic", "decrement_then_check", "select_for_update", "queue_per_sku"]
    ),
    stock=st.integers(min_value=0, max_value=4),
    buyers=st.integers(min_value=1, max_value=7),
    order=interleavings,
)
def test_safe_wild_strategies_never_oversell_in_any_interleaving(
    strategy: str, stock: int, buyers: int, order: list[int]
) -> None:
    body, results = race(strategy, stock, buyers, order)
    assert reserved(results) == min(stock, buyers)
    # Every unit taken by a negative decrement has been given back.
    assert body.shop.available[0] == stock - reserved(results)
    assert body.shop.owed[0] == 0


@settings(max_examples=200, deadline=None)
@given(
    stock=st.integers(min_value=0, max_value=12),
    buckets=st.integers(min_value=1, max_value=4),
    buyers=st.integers(min_value=1, max_value=12),
    order=interleavings,
)
def test_buckets_never_oversell_and_count_every_false_sold_out(
    stock: int, buckets: int, buyers: int, order: list[int]
) -> None:
    body, results = race("stock_buckets", stock, buyers, order, buckets=buckets)
    sold = reserved(results)
    assert sold <= stock
    assert body.shop.available[0] == stock - sold
    assert sum(body.shop.bucket_available[0]) == body.shop.available[0]
    turned_away = buyers - sold
    # A shopper turned away while units remained anywhere is a false sold-out.
    assert body.shop.false_sold_outs <= turned_away
    if sold < min(stock, buyers):
        assert body.shop.false_sold_outs > 0


@settings(max_examples=200, deadline=None)
@given(
    stock=st.integers(min_value=0, max_value=4),
    buyers=st.integers(min_value=1, max_value=7),
    order=interleavings,
    checked=st.booleans(),
)
def test_check_then_decrement_loses_no_update_and_oversells_only_by_checks_in_flight(
    stock: int, buyers: int, order: list[int], checked: bool
) -> None:
    body, results = race("check_then_decrement", stock, buyers, order, check_constraint=checked)
    sold = reserved(results)
    # No lost update: the row always equals the stock less what was reserved.
    assert body.shop.available[0] == stock - sold
    errors = sum(result.status is ReserveStatus.ERROR for result in results)
    if checked:
        assert sold == min(stock, buyers)
        assert errors == body.shop.constraint_errors
    else:
        assert errors == 0
        # Everyone who passed the check sold: at most the buyers, never more.
        assert sold <= buyers
        if sold > stock:
            assert body.shop.available[0] < 0


def test_check_then_decrement_oversells_with_every_check_before_any_write() -> None:
    body, results = race("check_then_decrement", 1, 3, [0, 1, 2])
    assert reserved(results) == 3
    assert body.shop.available[0] == -2


def test_decrement_then_check_turns_away_a_shopper_while_units_come_back() -> None:
    body = StepBody([1])
    policy = InventoryPolicy("decrement_then_check")
    rng = random.Random(0)
    first = body.run(reserve(policy, request(1), rng))
    racing = Interleaving(
        body, [reserve(policy, request(2), rng), reserve(policy, request(3), rng)]
    )
    racing.step(0)  # shopper 2 decrements to -1 and owes the unit back
    body.shop.release(first.reservation_id)  # shopper 1's card is declined: 0 left
    racing.step(1)  # shopper 3 sees -1 although one unit is free again
    results = racing.run_all()
    assert [result.status for result in results] == [ReserveStatus.SOLD_OUT] * 2
    assert body.shop.false_sold_outs == 1
    assert body.shop.available[0] == 1


@settings(max_examples=15, deadline=None)
@given(
    strategy=st.sampled_from(
        [
            "decrement_then_check",
            "select_for_update",
            "queue_per_sku",
            "stock_buckets",
            "mutex",
            "check_then_decrement_checked",
        ]
    ),
    rate=st.floats(min_value=20.0, max_value=400.0),
    burst=st.integers(min_value=0, max_value=100),
    stock=st.integers(min_value=0, max_value=60),
    workers=st.integers(min_value=1, max_value=16),
    gap_s=st.floats(min_value=0.0, max_value=0.02),
    decline=st.floats(min_value=0.0, max_value=0.3),
    buckets=st.integers(min_value=1, max_value=8),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_safe_wild_strategies_never_oversell_in_the_model(
    strategy: str,
    rate: float,
    burst: int,
    stock: int,
    workers: int,
    gap_s: float,
    decline: float,
    buckets: int,
    seed: int,
) -> None:
    checked = strategy.endswith("_checked")
    configured = Settings.model_validate(
        {
            "load": {"rate_per_s": rate, "duration_s": 1.5, "drain_s": 10.0, "burst_size": burst},
            "catalog": {"stock_per_sku": stock},
            "gateway": {"decline_rate": decline},
            "inventory": {
                "strategy": strategy.removesuffix("_checked"),
                "workers": workers,
                "check_constraint": checked,
                "buckets": buckets,
                "costs": {"check_gap_s": gap_s},
            },
        }
    )
    metrics = summarise(simulate(configured, seed), 1.5)
    assert metrics["oversold_units"] == 0
    assert metrics["stock_at_end"] >= 0
    assert metrics["units_sold"] <= stock


# --- the model against a formula and an independent simulation -------------------------


def tiny_simulation(
    rate: float, stock: int, read_s: float, gap_s: float, write_s: float, seed: int
) -> int:
    """Check-then-decrement by hand: Poisson shoppers, a read that sees the row when
    it completes, a gap, then a relative decrement served one at a time by the row.
    Returns the units oversold."""
    rng = random.Random(seed)
    now = 0.0
    completions: list[float] = []
    row_free = 0.0
    while True:
        now += rng.expovariate(rate)
        seen_at = now + read_s
        applied = bisect.bisect_right(completions, seen_at)
        if stock - applied <= 0:
            if applied >= len(completions):
                break  # sold out and nothing in flight: nobody else gets through
            continue
        row_free = max(row_free, seen_at + gap_s) + write_s
        completions.append(row_free)
    return len(completions) - stock


def model_oversell(
    rate: float, stock: int, read_s: float, gap_s: float, write_s: float, seed: int
) -> int:
    constant = {"distribution": "constant"}
    configured = Settings.model_validate(
        {
            "load": {"rate_per_s": rate, "duration_s": stock / rate + 1.0, "drain_s": 5.0},
            "catalog": {"stock_per_sku": stock},
            "gateway": {"latency": {**constant, "mean_s": 0.01}},
            "inventory": {
                "strategy": "check_then_decrement",
                "workers": 10_000,
                "costs": {
                    "read": {**constant, "mean_s": read_s},
                    "write": {**constant, "mean_s": write_s},
                    "check_gap_s": gap_s,
                },
            },
        }
    )
    metrics = summarise(simulate(configured, seed), configured.load.duration_s)
    assert metrics["stock_at_end"] == -metrics["oversold_units"]
    return int(metrics["oversold_units"])


def test_check_then_decrement_oversell_matches_rate_times_race_window() -> None:
    """At random points, the model's mean oversell agrees with an independent tiny
    simulation, and both with arrival rate x race window (gap + write) when the
    row is lightly loaded."""
    points = random.Random(17)
    for _ in range(3):
        rate = points.uniform(200.0, 600.0)
        gap_s = points.uniform(0.01, 0.04)
        write_s = points.uniform(0.0002, 0.0008)
        read_s = points.uniform(0.0005, 0.003)
        stock = 40
        model = sum(model_oversell(rate, stock, read_s, gap_s, write_s, s) for s in range(8)) / 8
        # The tiny simulation is cheap: many seeds pin its mean down.
        tiny = (
            sum(tiny_simulation(rate, stock, read_s, gap_s, write_s, 1000 + s) for s in range(400))
            / 400
        )
        formula = rate * (gap_s + write_s)
        assert abs(tiny - formula) <= 0.1 * formula + 0.3, (rate, gap_s, tiny, formula)
        # Eight model runs: a Poisson count's mean is within about 2.5 sd of its own.
        assert abs(model - tiny) <= max(2.0, 2.5 * (tiny / 8) ** 0.5), (rate, gap_s, model, tiny)
        assert abs(model - formula) <= max(2.0, 0.3 * formula), (rate, gap_s, model, formula)


def test_a_second_serving_process_breaks_the_mutex() -> None:
    base = {
        "load": {"rate_per_s": 300.0, "duration_s": 2.0, "drain_s": 5.0},
        "catalog": {"stock_per_sku": 50},
        "inventory": {"strategy": "mutex", "costs": {"check_gap_s": 0.005}},
    }
    one = Settings.model_validate(base)
    two = Settings.model_validate(
        {**base, "inventory": {**base["inventory"], "processes": 2}}  # type: ignore[dict-item]
    )
    assert summarise(simulate(one, 3), 2.0)["oversold_units"] == 0
    assert summarise(simulate(two, 3), 2.0)["oversold_units"] > 0


def test_unset_costs_are_the_query_latency() -> None:
    """A scenario that sets no costs draws what it drew before costs existed."""
    base = {
        "load": {"rate_per_s": 100.0, "duration_s": 2.0, "drain_s": 5.0},
        "inventory": {"strategy": "naive"},
    }
    query = {"distribution": "lognormal", "p50_s": 0.005, "p99_s": 0.02}
    spelled = {**base, "inventory": {"strategy": "naive", "query": query}}
    plain = summarise(simulate(Settings.model_validate(base), 5), 2.0)
    same = summarise(simulate(Settings.model_validate(spelled), 5), 2.0)
    assert plain == same
    costed = {**base, "inventory": {"strategy": "naive", "costs": {"read": query}}}
    other = summarise(simulate(Settings.model_validate(costed), 5), 2.0)
    assert other["latency_p50_s"] != plain["latency_p50_s"]


# --- the real body's store -------------------------------------------------------------


def wild_service(directory: Path, **inventory: Any) -> Any:
    configured = real_support.settings(inventory=inventory, catalog={"stock_per_sku": 1})
    return real_support.service(directory, configured)[0]


def test_real_relative_decrement_goes_negative_without_a_check(tmp_path: Path) -> None:
    service = wild_service(tmp_path, strategy="check_then_decrement")
    decrement = service.executor.handlers[ops.DecrementStock]
    for intent in (1, 2):
        assert isinstance(
            decrement(ops.DecrementStock(request(intent)), SagaContext(intent, "k")), int
        )
    assert service.store.read_stock(0).available == -1
    assert marks(service.store)["stock_min"] == -1


def test_real_check_constraint_refuses_the_write(tmp_path: Path) -> None:
    service = wild_service(tmp_path, strategy="check_then_decrement", check_constraint=True)
    decrement = service.executor.handlers[ops.DecrementStock]
    assert isinstance(decrement(ops.DecrementStock(request(1)), SagaContext(1, "k1")), int)
    refused = decrement(ops.DecrementStock(request(2)), SagaContext(2, "k2"))
    assert refused is ops.CONSTRAINT_FAILED
    assert service.store.read_stock(0).available == 0
    assert marks(service.store)["stock_constraint_errors"] == 1


def test_real_decrement_then_check_gives_back_and_counts_false_sold_outs(
    tmp_path: Path,
) -> None:
    service = wild_service(tmp_path, strategy="decrement_then_check")
    handlers = service.executor.handlers
    first = handlers[ops.DecrementThenCheck](
        ops.DecrementThenCheck(request(1)), SagaContext(1, "a")
    )
    second = handlers[ops.DecrementThenCheck](
        ops.DecrementThenCheck(request(2)), SagaContext(2, "b")
    )
    assert second is ops.STOCK_NEGATIVE
    assert service.store.release(first)
    third = handlers[ops.DecrementThenCheck](
        ops.DecrementThenCheck(request(3)), SagaContext(3, "c")
    )
    assert third is ops.STOCK_NEGATIVE  # one unit is free, but the row reads -1
    for _ in range(2):
        handlers[ops.GiveBack](ops.GiveBack(0, 1), SagaContext(0, "x"))
    assert service.store.read_stock(0).available == 1
    assert marks(service.store)["false_sold_outs"] == 1


def test_real_bucket_units_return_to_their_bucket(tmp_path: Path) -> None:
    configured = real_support.settings(
        inventory={"strategy": "stock_buckets", "buckets": 2}, catalog={"stock_per_sku": 2}
    )
    service = real_support.service(tmp_path, configured)[0]
    take = service.executor.handlers[ops.DecrementBucket]
    first = take(ops.DecrementBucket(request(1), 0), SagaContext(1, "a"))
    assert take(ops.DecrementBucket(request(2), 0), SagaContext(2, "b")) is None
    assert marks(service.store)["false_sold_outs"] == 1  # bucket 1 still held a unit
    assert service.store.release(first)
    assert isinstance(take(ops.DecrementBucket(request(3), 0), SagaContext(3, "c")), int)


def test_a_burst_queued_for_few_workers_reads_one_unit_and_oversells_by_all_but_one() -> None:
    """The grid's second mode (``docs/real.md``, the grid): while a burst's reads
    queue for the database workers, a check's write queues behind every read
    already waiting (first come, first served, in both bodies), so one unit on
    the row, or one given back, passes every queued check."""
    constant = {"distribution": "constant"}
    burst = 30
    configured = Settings.model_validate(
        {
            # A burst and nearly nobody else: 30 checks against the last unit.
            "load": {"rate_per_s": 0.01, "duration_s": 2.0, "drain_s": 5.0, "burst_size": burst},
            "catalog": {"stock_per_sku": 1},
            "gateway": {"decline_rate": 0.0},
            "inventory": {
                "strategy": "check_then_decrement",
                "workers": 4,
                "costs": {
                    "read": {**constant, "mean_s": 0.002},
                    "write": {**constant, "mean_s": 0.002},
                    "check_gap_s": 0.001,
                },
            },
        }
    )
    metrics = summarise(simulate(configured, 1), 2.0)
    # The burst's 30 reads take 8 rounds of 4 workers (16 ms); the first write
    # was ready after 3 ms, and waited behind the 26 reads still queued.
    assert metrics["oversold_units"] == burst - 1
    assert metrics["stock_at_end"] == 1 - burst
    # The same burst one unit later, on a sold-out row, oversells nothing: the
    # grid's two modes are whether any unit is on the row while the reads queue.
    sold_out = configured.model_copy(
        update={"catalog": configured.catalog.model_copy(update={"stock_per_sku": 0})}
    )
    assert summarise(simulate(sold_out, 1), 2.0)["oversold_units"] == 0
