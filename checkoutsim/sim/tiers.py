"""Queueing stations for the scale check: one M/M/c queue per tier, simulated.

The capacity model sizes each tier analytically (Erlang C for the pooled app
workers, one M/M/1 queue per shard, partition or gateway account). This module
simulates the same queues in simulated time, so the two can be compared. Where
units are independent (shards, partitions, accounts) it simulates one unit's
share of the traffic, which is exact for a random split of Poisson arrivals;
the pooled app tier is simulated whole. A FIFO station of identical servers
needs no event loop: one pass over the arrivals with a heap of the servers'
free times gives every customer's start (see ``simulate_station``), so a
10,000 orders/s peak runs in a few seconds.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from heapq import heapreplace
from itertools import accumulate

import numpy as np


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
    warmup = int(customers * warmup_share)
    expovariate = rng.expovariate
    # FIFO with identical servers: customers start in arrival order, each on
    # the server free first (at its arrival, or when that server finishes),
    # so one pass over the arrivals with a heap of the servers' free times is
    # the whole event simulation, two events a customer fewer. The times are
    # the same sums an event loop makes (arrival after arrival, start plus
    # service), and the services are drawn in the same order (start order).
    gaps = [expovariate(arrival_rate) for _ in range(customers)]
    # The measured span ends at the last arrival: the drain after it has no new
    # work and would understate the utilisation. Drawing the arrival times up
    # front tells us where that end is before the run starts.
    measure_to = float(np.cumsum(gaps)[-1]) if customers else math.inf
    # Arrival after arrival, as an event loop adds them up.
    arrivals = list(accumulate(gaps))
    measure_from = arrivals[warmup] if warmup < customers else math.inf
    waits = np.empty(customers)
    free = [0.0] * servers  # a heap: when each server is next free
    busy_time = 0.0
    for index, now in enumerate(arrivals):
        first_free = free[0]
        start = now if first_free <= now else first_free
        waits[index] = start - now
        service = expovariate(service_rate)
        if measure_from <= start < measure_to:
            # Only the part of the service inside the measured span counts.
            busy_time += min(service, measure_to - start)
        heapreplace(free, start + service)
    measured = waits[warmup:]
    span = measure_to - measure_from
    utilisation = busy_time / (servers * span) if span > 0 else math.nan
    offered = arrival_rate / (service_rate * servers)
    return StationResult(
        customers=customers,
        utilisation=min(utilisation, 1.0),
        mean_wait_s=float(measured.mean()),
        p99_wait_s=float(np.percentile(measured, 99)),
        saturated=offered >= 1.0,
    )
