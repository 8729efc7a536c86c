"""The load test's plan and yardsticks: same intents as the model, agreement, durations."""

from __future__ import annotations

from pathlib import Path

import pytest

from checkoutsim.cli.errors import UserError
from checkoutsim.cli.real import parse_duration
from checkoutsim.load.schedule import for_run, plan, shoppers_needed
from checkoutsim.real import records
from checkoutsim.scenario import files as scenarios
from checkoutsim.sim.model import simulate
from tests.real_support import body, service, settings


def test_the_plan_draws_the_same_intents_as_the_model() -> None:
    loaded = scenarios.load(
        "double-click", ["load.duration_s=5", "load.drain_s=5"], ["check_then_charge"]
    )
    variant = loaded.variants[0].settings
    planned = plan(variant, seed=3)
    simulated = simulate(variant, seed=3).checkouts
    assert len(planned) == len(simulated) > 0
    assert [p.at_s for p in planned] == pytest.approx(simulated["arrival_s"].tolist())
    assert [p.sku for p in planned] == simulated["sku"].tolist()
    clicks = [2 if p.second_click_s is not None else 1 for p in planned]
    assert clicks == simulated["clicks"].tolist()


def test_run_time_and_rate_are_wall_clock_and_compress_into_model_time() -> None:
    base = settings(real={"time_scale": 0.25}, load={"rate_per_s": 10.0, "burst_size": 5})
    stretched = for_run(base, run_time_s=10.0, rate_per_s=100.0)
    assert stretched.load.duration_s == 40.0
    assert stretched.load.rate_per_s == 25.0
    assert for_run(base) is base
    assert shoppers_needed(base) == 10 * 10 + 5


def test_durations_parse_and_nonsense_is_a_user_error() -> None:
    assert parse_duration("30s") == 30 and parse_duration("2m") == 120
    assert parse_duration("1m30s") == 90 and parse_duration("45") == 45
    for text in ("soon", "0s", "-3"):
        with pytest.raises(UserError):
            parse_duration(text)


def test_a_lock_held_by_another_saga_is_waited_for_then_given_up(tmp_path: Path) -> None:
    config = settings(inventory={"strategy": "lock_ttl", "lock_wait_s": 2.0, "lock_ttl_s": 5.0})
    shop, clock = service(tmp_path, config)
    token, _ = shop.store.try_lock("lock:inventory:0", ttl_s=60)
    assert token is not None
    code, answer = shop.api.checkout("k", body())
    assert (code, answer["status"]) == (200, "rejected")
    assert clock.now() >= 2.0
    # Counted from the records: the wait given up is a row, two seconds long.
    facts = records.collect(shop.store, shop.ledger)
    assert facts.counters["lock_timeouts"] == 1 and facts.counters["blocked_transactions"] == 1
    shop.store.release_lock("lock:inventory:0", token)
    assert shop.api.checkout("k2", body())[1]["status"] == "ordered"
