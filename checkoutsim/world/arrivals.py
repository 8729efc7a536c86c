"""When shoppers arrive, and the named random streams a run draws from.

Both bodies draw the same arrivals from the same seed, which is what lets a load test
replay the model's shoppers.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import numpy as np

from checkoutsim.scenario.settings import Settings

#: Every random stream a run uses. Each variant of a replication gets the same
#: streams (common random numbers), so differences come from the strategies.
STREAM_NAMES = (
    "arrivals",
    "shoppers",
    "abandon",
    "policy",
    "inventory",
    "payments",
    "gateway",
    "gateway_faults",
    "orders",
    "order_faults",
    "pauses",
    "queue",
)


def streams(seed: int, replication: int) -> dict[str, random.Random]:
    """Independent seeded streams for one replication, derived by ``SeedSequence``."""
    children = (
        np.random.SeedSequence(seed).spawn(replication + 1)[replication].spawn(len(STREAM_NAMES))
    )
    return {
        name: random.Random(int(child.generate_state(2, np.uint64)[0]))
        for name, child in zip(STREAM_NAMES, children, strict=True)
    }


def arrival_times(settings: Settings, rng: random.Random) -> Iterator[float]:
    """Arrival instants of the open model, in order, up to the load's duration."""
    load = settings.load
    segments = list(load.piecewise) or [(0.0, load.rate_per_s)]
    burst_pending = load.burst_size > 0
    burst_at_s = load.burst_at_s
    expovariate = rng.expovariate
    for index, (start, rate) in enumerate(segments):
        end = segments[index + 1][0] if index + 1 < len(segments) else load.duration_s
        end = min(end, load.duration_s)
        now = start
        while rate > 0:
            # Memoryless gaps: restarting at each segment boundary is exact.
            now += expovariate(rate)
            if now >= end:
                break
            if burst_pending and now >= burst_at_s:
                burst_pending = False
                yield from (load.burst_at_s for _ in range(load.burst_size))
            yield now
    if burst_pending and load.burst_at_s < load.duration_s:
        yield from (load.burst_at_s for _ in range(load.burst_size))
