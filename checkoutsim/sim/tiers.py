"""Queueing stations in SimPy for the scale check: one M/M/c queue per tier.

The capacity model sizes each tier analytically (Erlang C for the pooled app
workers, one M/M/1 queue per shard, partition or gateway account). This module
simulates the same queues in simulated time, so the two can be compared. Where
units are independent (shards, partitions, accounts) it simulates one unit's
share of the traffic, which is exact for a random split of Poisson arrivals;
the pooled app tier is simulated whole. A station costs two events a customer
(arrival and service end), with no process per customer, so a 10,000 orders/s
peak runs in seconds.
"""

from __future__ import annotations

import math
import random
from collections import deque
from dataclasses import dataclass

import numpy as np
import simpy


@dataclass(frozen=True)
class StationResult:
    """What the simulation of one station measured."""

    customers: int
    utilisation: float
    mean_wait_s: float
    p99_wait_s: float
    saturated: bool


def simulate_station(
    arrival_rate: float,
    service_rate: float,
    servers: int,
    customers: int,
    rng: random.Random,
    warmup_share: float = 0.1,
) -> StationResult:
    """Simulate an M/M/c FIFO queue for ``customers`` arrivals and measure it.

    The first ``warmup_share`` of customers are left out of the waits, so the
    empty start does not bias them low. Utilisation is busy server-time over
    server-time in the measured span. A station offered more than it can serve
    is reported saturated (its queue grows without bound, its wait is the run's).
    """
    env = simpy.Environment()
    waiting: deque[float] = deque()
    waits = np.empty(customers)
    state = {"busy": 0, "busy_time": 0.0, "measure_from": math.inf, "measure_to": math.inf}
    warmup = int(customers * warmup_share)
    expovariate = rng.expovariate

    def start(arrived: float, index: int) -> None:
        state["busy"] += 1
        waits[index] = env.now - arrived
        service = expovariate(service_rate)
        if state["measure_from"] <= env.now < state["measure_to"]:
            # Only the part of the service inside the measured span counts.
            state["busy_time"] += min(service, state["measure_to"] - env.now)
        env.timeout(service).callbacks.append(lambda _: finish())

    def finish() -> None:
        state["busy"] -= 1
        if waiting:
            arrived = waiting.popleft()
            start(arrived, int(waiting_index.popleft()))

    waiting_index: deque[int] = deque()

    def arrivals(gaps: list[float]) -> simpy.events.ProcessGenerator:
        for index, gap in enumerate(gaps):
            yield env.timeout(gap)
            if index == warmup:
                state["measure_from"] = env.now
            if state["busy"] < servers:
                start(env.now, index)
            else:
                waiting.append(env.now)
                waiting_index.append(index)

    # The measured span ends at the last arrival: the drain after it has no new
    # work and would understate the utilisation. Drawing the arrival times up
    # front tells us where that end is before the run starts.
    gaps = [expovariate(arrival_rate) for _ in range(customers)]
    times = np.cumsum(gaps)
    state["measure_to"] = float(times[-1])
    env.process(arrivals(gaps))
    env.run()
    measured = waits[warmup:]
    span = state["measure_to"] - state["measure_from"]
    utilisation = state["busy_time"] / (servers * span) if span > 0 else math.nan
    offered = arrival_rate / (service_rate * servers)
    return StationResult(
        customers=customers,
        utilisation=min(utilisation, 1.0),
        mean_wait_s=float(measured.mean()),
        p99_wait_s=float(np.percentile(measured, 99)),
        saturated=offered >= 1.0,
    )
