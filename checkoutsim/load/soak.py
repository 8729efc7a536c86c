"""The soak's figures: load held, faults injected and survived, nothing lost.

Built from a load test's ``VariantRun`` (``checkoutsim.load.loadtest``): the
audit's verdicts, the metrics contract, the wall-clock load figures and the
``fault_*`` counters the service kept (``checkoutsim.real.fault_counts``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from checkoutsim.real.fault_counts import FAULT_COUNTERS

if TYPE_CHECKING:
    from checkoutsim.load.options import VariantRun

#: Metrics that must be zero for "nothing lost".
LOSSES = ("oversold_units", "duplicate_charges", "orphan_payments", "unpaid_orders")


def soak_figures(run: VariantRun) -> dict[str, Any]:
    """One variant's soak summary as plain data."""
    counters = run.history.counters
    metrics = run.metrics
    wall_s = max(float(run.load.get("run_time_s", 0.0)), 1e-9)
    faults = {name.removeprefix("fault_"): int(counters.get(name, 0)) for name in FAULT_COUNTERS}
    losses = {name: int(metrics.get(name, 0)) for name in LOSSES}
    losses["unfinished_sagas"] = int(metrics.get("unfinished_sagas", 0))
    broken = [check.invariant for check in run.checks if check.status == "invalid"]
    return {
        "variant": run.name,
        "wall_s": wall_s,
        "checkouts": int(metrics.get("checkouts", 0)),
        "checkouts_per_s": float(run.load.get("intents_per_s", 0.0)),
        "orders": int(metrics.get("orders", 0)),
        "orders_per_s": int(metrics.get("orders", 0)) / wall_s,
        "faults_injected": sum(faults.values()),
        "faults": faults,
        "compensations": int(metrics.get("compensations", 0)),
        "refunds": int(metrics.get("refunds", 0)),
        "told": dict(run.load.get("told", {})),
        "losses": losses,
        "broken_invariants": broken,
        "survived": not broken and not any(losses.values()),
    }
