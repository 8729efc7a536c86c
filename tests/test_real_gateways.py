"""Several gateways in the real body, in process on a manual clock: each provider's own
ledger file, and the cross-provider duplicate found from those ledgers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from checkoutsim.real import records
from checkoutsim.real.service import CheckoutService
from checkoutsim.results import audit, money
from tests.real_support import INSTANT, body, service, settings


def two_gateways(routing: str, primary: dict[str, Any], **sections: dict[str, Any]) -> Any:
    """A primary as given, an instant backup, no retries at one provider."""
    return settings(
        gateway=primary,
        payment={"retries": 0},
        gateways={
            "routing": routing,
            "resolve_attempts": 2,
            "resolve_backoff_s": 0.5,
            "others": [{"name": "backup", "latency": INSTANT}],
        },
        **sections,
    )


def checkouts(shop: CheckoutService, count: int) -> list[str]:
    """``count`` checkouts one after the other, then every late capture lands."""
    answers = []
    for index in range(count):
        status, answer = shop.api.checkout(f"k{index}", body())
        answers.append(str(answer.get("status", status)))
    shop.runtime.time.advance(60.0)  # type: ignore[attr-defined]
    shop.runtime.run_due()  # type: ignore[attr-defined]
    return answers


#: Every charge at the primary takes 6 s against a 5 s time-out: it captures after the
#: shop stopped waiting.
SLOW_PRIMARY = {"latency": {"distribution": "constant", "mean_s": 6.0}, "timeout_s": 5.0}


@pytest.mark.parametrize(("routing", "twice"), [("naive_failover", 3), ("safe_failover", 0)])
def test_a_late_capture_at_the_primary_and_the_backup(
    routing: str, twice: int, tmp_path: Path
) -> None:
    shop, _ = service(tmp_path, two_gateways(routing, SLOW_PRIMARY))
    with shop:
        checkouts(shop, 3)
        facts = records.collect(shop.store, shop.ledger)
    assert (tmp_path / "gateway-backup.sqlite").is_file()  # the backup's own ledger
    ledger = facts.ledger
    assert (ledger["gateway"] == "primary").sum() == 3  # every late capture landed
    assert (ledger["gateway"] == "backup").sum() == twice
    # Found from the two ledgers: one intent captured at two providers.
    assert audit.charged_at_two_providers(ledger).count == twice
    assert audit.duplicate_charges(ledger).count == twice


def test_safe_failover_sends_a_refused_payment_to_the_backup(tmp_path: Path) -> None:
    shop, _ = service(tmp_path, primary_down())
    with shop:
        answers = checkouts(shop, 3)
        facts = records.collect(shop.store, shop.ledger)
    assert answers == ["ordered"] * 3
    assert list(facts.ledger["gateway"]) == ["backup"] * 3
    # Orders record the backup's capture ids, which name the backup.
    assert set(facts.orders["capture_id"]) == set(facts.ledger["capture_id"])
    assert all(capture % 2 == 1 for capture in facts.ledger["capture_id"])


def test_fault_counters_sum_every_providers_calls(tmp_path: Path) -> None:
    # Both providers down: each payment is refused at the primary, then at the backup.
    down = [{"start_s": 0.0, "end_s": 1e6}]
    config = settings(
        payment={"retries": 0},
        faults={"outages": [{"service": "gateway", **down[0]}]},
        gateways={
            "routing": "safe_failover",
            "others": [{"name": "backup", "latency": INSTANT, "outages": down}],
        },
    )
    shop, _ = service(tmp_path, config)
    with shop:
        checkouts(shop, 3)
        counters = shop.executor.counters.snapshot()
    assert counters["gateway_calls_primary"] == 3 and counters["gateway_calls_backup"] == 3
    # Summed over the providers: three refusals at each.
    assert counters["fault_gateway_outage_refused"] == 6


def test_the_timeline_breaker_is_the_most_open_providers(tmp_path: Path) -> None:
    down = {"start_s": 0.0, "end_s": 1e6}
    config = settings(
        payment={"retries": 0},
        breakers={
            "gateway": {
                "enabled": True,
                "minimum_number_of_calls": 4,
                "sliding_window_size": 8,
                "wait_duration_in_open_state_s": 1000.0,
            }
        },
        gateways={
            "routing": "weighted",
            "primary_share": 0.5,
            "others": [{"name": "backup", "share": 0.5, "latency": INSTANT, "outages": [down]}],
        },
    )
    shop, _ = service(tmp_path, config)
    with shop:
        checkouts(shop, 24)
        assert shop.providers is not None
        primary, backup = shop.providers.breakers
        assert primary is not None and backup is not None
        assert primary.state.name == "CLOSED" and backup.state.name == "OPEN"
        assert shop.timeline_state()[0] == 2


def primary_down() -> Any:
    """Safe failover with the primary down for the whole run, the backup instant."""
    return two_gateways(
        "safe_failover",
        {"latency": INSTANT},
        faults={"outages": [{"service": "gateway", "start_s": 0.0, "end_s": 1e6}]},
    )


def test_the_real_ledgers_price_each_providers_captures(tmp_path: Path) -> None:
    shop, _ = service(tmp_path, primary_down())
    with shop:
        checkouts(shop, 3)
        facts = records.collect(shop.store, shop.ledger)
    # The primary was down: all three paid the backup's fee, none the primary's.
    fees = [("primary", 50.0, 5.0), ("backup", 2.9, 0.30)]
    priced = money.gateway_fees(facts.ledger, fees, 60.0)
    assert priced["gateway_fees_usd"] == pytest.approx(3 * (60.0 * 0.029 + 0.30))


def test_the_timeline_counts_every_providers_captures(tmp_path: Path) -> None:
    shop, _ = service(tmp_path, primary_down())
    with shop:
        checkouts(shop, 3)
        # All three captured at the backup, none at the primary.
        assert shop.sample()[2:] == (3, 3)
