"""Does the model agree with the real implementation? Pure comparison of two metric sets.

For each invariant (oversold units, duplicate charges, orphan payments) the two
bodies must agree on zero versus non-zero; where both see violations, their
*rates* must agree within a factor of two (the target is within 30%).
"""

from __future__ import annotations

import math
from typing import Any

#: Invariant count -> the rate that normalises it, and how to compute that rate.
INVARIANT_RATES = {
    "oversold_units": "oversell_rate",
    "duplicate_charges": "duplicate_charge_rate",
    "orphan_payments": "orphan_rate",
}
#: The largest ratio between two rates still called agreement, and the target.
FACTOR = 2.0
TARGET = 1.3


def rate(metrics: dict[str, Any], name: str) -> float:
    """A rate from a metrics dict; ``orphan_rate`` is derived (orphans per checkout)."""
    if name == "orphan_rate":
        return float(metrics.get("orphan_payments", 0)) / max(1.0, float(metrics["checkouts"]))
    return float(metrics.get(name, 0.0))


def agreement(sim: dict[str, Any], real: dict[str, Any]) -> tuple[bool, list[dict[str, Any]]]:
    """Whether the bodies agree, and one line of evidence per invariant."""
    lines = []
    for count, rate_name in INVARIANT_RATES.items():
        sim_count = float(sim.get(count, 0) or 0)
        real_count = float(real.get(count, 0) or 0)
        sim_rate = rate(sim, rate_name)
        real_rate = rate(real, rate_name)
        ratio: float | None = None
        if (sim_count > 0) != (real_count > 0):
            agree = False
        elif sim_count == 0:
            agree = True
        else:
            ratio = real_rate / sim_rate if sim_rate > 0 else math.inf
            agree = 1 / FACTOR <= ratio <= FACTOR
        lines.append(
            {
                "metric": count,
                "rate": rate_name,
                "sim": sim_count,
                "real": real_count,
                "sim_rate": sim_rate,
                "real_rate": real_rate,
                "ratio": ratio,
                "agree": agree,
                "within_target": ratio is None or 1 / TARGET <= ratio <= TARGET,
            }
        )
    return all(line["agree"] for line in lines), lines
