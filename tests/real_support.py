"""Helpers for the real implementation's tests: a service on a manual clock, no sleeps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from checkoutsim.real.runtime import ThreadRuntime
from checkoutsim.real.service import CheckoutService, StorePaths
from checkoutsim.real.timebase import ManualTime
from checkoutsim.scenario.settings import Settings

#: No injected latency anywhere: tests decide time themselves.
INSTANT = {"distribution": "constant", "mean_s": 0.0}


def settings(**sections: dict[str, Any]) -> Settings:
    """Settings with instant gateway and order service, plus ``sections`` overrides."""
    raw: dict[str, Any] = {
        "gateway": {"latency": INSTANT},
        "order": {"latency": INSTANT},
        "catalog": {"skus": 1, "stock_per_sku": 10},
    }
    for name, values in sections.items():
        raw.setdefault(name, {}).update(values)
    return Settings.model_validate(raw)


def service(directory: Path, config: Settings | None = None) -> tuple[CheckoutService, ManualTime]:
    """A service over fresh files in ``directory``, on a manual clock."""
    clock = ManualTime()
    runtime = ThreadRuntime(clock)
    return CheckoutService(config or settings(), StorePaths.in_directory(directory), runtime), clock


def body(sku: int = 0, quantity: int = 1) -> dict[str, Any]:
    """A checkout request body: the client names only the SKU and the quantity."""
    return {"sku": f"sku-{sku}", "quantity": quantity}
