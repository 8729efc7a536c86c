"""Speed benchmarks that print figures (never timed assertions).

``simulation_bench`` measures, in one process and the same minute, simulated
flash-sale checkouts per wall second and bare SimPy M/M/c customers per wall
second, and their ratio: what one simulated checkout costs in bare queue
customers. Each figure is the best of a few alternating rounds, because this
machine is shared and noisy and the best round is the least disturbed one.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from collections.abc import Callable, Generator
from typing import Any

import simpy

from checkoutsim.scenario import files as scenarios
from checkoutsim.sim.model import simulate


def mmc_customers(customers: int, servers: int, utilisation: float, seed: int) -> float:
    """Run a bare SimPy M/M/c queue; return the mean wait (for a sanity check)."""
    env = simpy.Environment()
    rng = random.Random(seed)
    service_rate = 1.0
    arrival_rate = utilisation * servers * service_rate
    resource = simpy.Resource(env, capacity=servers)
    waits: list[float] = []

    def customer() -> Generator[simpy.Event, Any, None]:
        arrived = env.now
        with resource.request() as request:
            yield request
            waits.append(env.now - arrived)
            yield env.timeout(rng.expovariate(service_rate))

    def arrivals() -> Generator[simpy.Event, Any, None]:
        for _ in range(customers):
            yield env.timeout(rng.expovariate(arrival_rate))
            env.process(customer())

    env.process(arrivals())
    env.run()
    return sum(waits) / len(waits)


def _best_rate(work: Callable[[], int], rounds: int) -> float:
    """Items per second of the fastest of ``rounds`` runs of ``work``."""
    best = 0.0
    for _ in range(rounds):
        started = time.perf_counter()
        items = work()
        elapsed = time.perf_counter() - started
        best = max(best, items / elapsed)
    return best


def simulation_bench(seed: int = 1, rounds: int = 5) -> dict[str, dict[str, float]]:
    """Figures for ``checkoutsim bench``: checkouts/s, M/M/c customers/s, their ratio."""
    flash_sale = scenarios.load("flash-sale")

    def run_flash_sale() -> int:
        total = 0
        for variant in flash_sale.variants:
            history = simulate(variant.settings, seed)
            total += len(history.checkouts)
        return total

    customers = 100_000

    def run_mmc() -> int:
        mmc_customers(customers, servers=10, utilisation=0.9, seed=seed)
        return customers

    checkout_rates = []
    mmc_rates = []
    # Alternate the two workloads so that a slow spell of the machine hits both.
    for _ in range(rounds):
        checkout_rates.append(_best_rate(run_flash_sale, 1))
        mmc_rates.append(_best_rate(run_mmc, 1))
    checkouts_per_s = max(checkout_rates)
    mmc_per_s = max(mmc_rates)
    return {
        "sim": {
            "checkouts_per_s": round(checkouts_per_s, 1),
            "mmc_customers_per_s": round(mmc_per_s, 1),
            "cost_ratio": round(mmc_per_s / checkouts_per_s, 3),
        }
    }


def scale_bench(seed: int = 1) -> dict[str, dict[str, float | str]]:
    """Figures for ``checkoutsim bench``'s scale section, measured in this run.

    - ``scale_100m_wall_s``: wall time of ``run scale-100m``;
    - ``million_checkouts_peak_mib``: peak resident memory of a process that
      simulates one million checkouts (measured in a child process, so the
      figure is that run's alone);
    - ``jobs2_speedup``: 8 replications of gateway-outage (24 tasks of a
      fifth to a third of a second) with 2 processes, over 1: the best of two
      alternating rounds each, like the figures above, with each round's
      wall time printed (``jobs1_s``, ``jobs2_s``).
    """
    from checkoutsim.experiments.runner import run_scenario

    started = time.perf_counter()
    run_scenario(scenarios.load("scale-100m"), seed)
    scale_wall = time.perf_counter() - started

    probe = subprocess.run(
        [sys.executable, "-m", "checkoutsim.experiments.memory_probe", "1000000"],
        capture_output=True,
        text=True,
        check=True,
    )
    peak_mib = float(probe.stdout.split()[1])

    outage = scenarios.load("gateway-outage")
    timings: dict[int, list[float]] = {1: [], 2: []}
    # Alternate, so that a slow spell of the machine hits both.
    for _ in range(2):
        for jobs in (1, 2):
            started = time.perf_counter()
            run_scenario(outage, seed, replications=8, jobs=jobs)
            timings[jobs].append(time.perf_counter() - started)
    return {
        "scale": {
            "scale_100m_wall_s": round(scale_wall, 2),
            "million_checkouts_peak_mib": round(peak_mib, 1),
            "jobs2_speedup": round(min(timings[1]) / min(timings[2]), 3),
            "jobs1_s": ", ".join(f"{seconds:.2f}" for seconds in timings[1]),
            "jobs2_s": ", ".join(f"{seconds:.2f}" for seconds in timings[2]),
        },
    }


def bench_all(seed: int = 1) -> dict[str, dict[str, float | str]]:
    """Every figure of ``checkoutsim bench``, with the host's cores and load around them."""
    load_before = os.getloadavg()[0]
    figures: dict[str, dict[str, float | str]] = {}
    figures.update(simulation_bench(seed))
    figures.update(scale_bench(seed))
    figures["host"] = {
        "cpu_count": os.cpu_count() or 0,
        "load_1m_before": round(load_before, 2),
        "load_1m_after": round(os.getloadavg()[0], 2),
    }
    return figures
