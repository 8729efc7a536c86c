"""Gateway fees: each provider's captures in a run times that provider's fee.

The model check counts each provider's captures from the model's own counters
(``captures_NAME``), not from the ledger frame the fee is computed from.
"""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from checkoutsim.experiments.runner import simulate_once
from checkoutsim.results.money import gateway_fees
from checkoutsim.scenario.files import load
from checkoutsim.scenario.settings import Settings


def test_a_scenario_with_no_fee_gets_no_key() -> None:
    # Every scenario that sets no fee keeps exactly the figures it had.
    ledger = pd.DataFrame({"capture_id": [1, 2], "intent_id": [1, 2]})
    assert gateway_fees(ledger, Settings().gateways.fees(), 60.0) == {}


@given(
    primary=st.integers(0, 50),
    backup=st.integers(0, 50),
    percent=st.floats(0, 10),
    fixed=st.floats(0, 1),
    value=st.floats(1, 500),
)
def test_fees_are_captures_times_each_providers_fee(
    primary: int, backup: int, percent: float, fixed: float, value: float
) -> None:
    ledger = pd.DataFrame({"gateway": ["primary"] * primary + ["backup"] * backup})
    fees = [("primary", percent, None), ("backup", None, fixed)]
    # The primary charges a percentage only, the backup a fixed fee only.
    expected = primary * value * percent / 100 + backup * fixed
    assert gateway_fees(ledger, fees, value)["gateway_fees_usd"] == pytest.approx(expected)


def test_one_providers_ledger_is_all_the_primarys() -> None:
    ledger = pd.DataFrame({"capture_id": range(7)})
    fees = [("primary", 2.9, 0.30)]
    assert gateway_fees(ledger, fees, 60.0)["gateway_fees_usd"] == pytest.approx(7 * 2.04)


@pytest.mark.parametrize("variant", ["naive_failover", "safe_failover"])
def test_gateway_failover_pays_each_provider_its_own_fee(variant: str) -> None:
    scenario = load(
        "gateway-failover",
        [
            "load.duration_s=120",
            "load.drain_s=240",
            "gateways.primary_fee_percent=2.0",
            "gateways.primary_fee_fixed=0.10",
        ],
        [variant],
    )
    raw = scenario.variants[0].settings.model_dump()
    raw["gateways"]["others"][0].update(fee_percent=2.9, fee_fixed=0.30)
    settings = Settings.model_validate(raw)
    metrics, history = simulate_once(settings, 1, 0, keep_history=True)
    assert history is not None
    counters = history.counters
    value = settings.money.order_value
    # Each provider at its own fee.
    expected = counters["captures_primary"] * (value * 0.020 + 0.10) + counters[
        "captures_backup"
    ] * (value * 0.029 + 0.30)
    assert counters["captures_backup"] > 0
    assert metrics["gateway_fees_usd"] == pytest.approx(expected)
