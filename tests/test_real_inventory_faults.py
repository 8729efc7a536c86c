"""Inventory brown-outs on the real body: calls inside the window take longer, outside do not.

A manual clock: the extra time a brown-out adds is the clock moving while the
call holds its worker, so nothing really waits.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from checkoutsim.real.chaos import audit_store
from tests.real_support import body, service, settings

QUERY_S = 0.1


def brownout_settings(factor: float) -> dict[str, object]:
    return {
        "brownouts": [
            {"service": "inventory", "start_s": 0.0, "end_s": 30.0, "latency_factor": factor}
        ]
    }


@pytest.mark.parametrize(("factor", "extra_s"), [(5.0, 4 * QUERY_S), (0.5, 0.0)])
def test_a_brownout_slows_each_inventory_call_by_its_factor(
    tmp_path: Path, factor: float, extra_s: float
) -> None:
    config = settings(
        faults=brownout_settings(factor),
        inventory={
            "strategy": "atomic",
            "query": {"distribution": "constant", "mean_s": QUERY_S},
        },
        catalog={"skus": 1, "stock_per_sku": 100},
    )
    shop, clock = service(tmp_path, config)
    started = clock.now()
    assert shop.api.checkout("k0", body())[1]["status"] == "ordered"
    # Atomic makes one inventory call: factor - 1 more query latencies (none below 1).
    assert clock.now() - started == pytest.approx(extra_s)
    clock.advance(31.0 - clock.now())
    after_window = clock.now()
    assert shop.api.checkout("k1", body())[1]["status"] == "ordered"
    assert clock.now() == pytest.approx(after_window)
    shop.close()


def test_selling_blind_while_inventory_is_down_takes_no_stock_and_so_oversells(
    tmp_path: Path,
) -> None:
    config = settings(
        faults={
            "outages": [{"service": "inventory", "start_s": 0.0, "end_s": 30.0, "mode": "error"}]
        },
        inventory={"strategy": "atomic", "when_down": "accept"},
        catalog={"skus": 1, "stock_per_sku": 1},
    )
    shop, clock = service(tmp_path, config)
    told = [shop.api.checkout(f"k{i}", body())[1]["status"] for i in range(2)]
    assert told == ["ordered", "ordered"]
    # The inventory service owned the stock and was down: its one unit is still there.
    assert shop.store.read_stock(0).available == 1
    clock.advance(31.0)
    assert shop.api.checkout("k-after", body())[1]["status"] == "ordered"
    assert shop.api.checkout("k-sold-out", body())[1]["status"] == "sold_out"
    checks, metrics = audit_store(shop)
    oversold = next(check for check in checks if check["invariant"] == "no_oversell")
    assert metrics["orders"] == 3 and oversold["count"] == 2
    shop.close()
