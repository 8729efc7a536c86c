"""Peak memory of one simulated run with a given number of checkouts (for the bench).

Run as ``python -m checkoutsim.experiments.memory_probe N``: it simulates N checkouts of a
plain checkout (key-first payments, atomic stock, no faults) and prints the
process's peak resident memory in MiB. A separate process, so that the figure
is this run's alone.
"""

from __future__ import annotations

import resource
import sys

from checkoutsim.results.metrics import summarise
from checkoutsim.scenario.settings import Settings
from checkoutsim.sim.model import simulate

RATE_PER_S = 2_000.0


def probe(checkouts: int) -> float:
    """Simulate about ``checkouts`` checkouts; return peak resident memory in MiB."""
    duration = checkouts / RATE_PER_S
    settings = Settings.model_validate(
        {
            "load": {"rate_per_s": RATE_PER_S, "duration_s": duration, "drain_s": 30.0},
            "catalog": {"skus": 1000, "stock_per_sku": 10**7},
            "inventory": {"workers": 64},
        }
    )
    history = simulate(settings, seed=1)
    summarise(history, duration)
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    """Print ``checkouts peak_mib`` for the count given on the command line."""
    checkouts = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    peak = probe(checkouts)
    sys.stdout.write(f"{checkouts} {peak:.1f}\n")


if __name__ == "__main__":
    main()
