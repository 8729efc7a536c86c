"""Latency samplers built from a scenario's ``Latency`` spec and a seeded stream."""

from __future__ import annotations

import math
import random
from collections.abc import Callable

from checkoutsim.config import Latency

#: z-score of the 99th percentile of a standard normal distribution.
Z99 = 2.3263478740408408


def sampler(spec: Latency, rng: random.Random, scale: float = 1.0) -> Callable[[], float]:
    """Return a function drawing latencies (seconds) from ``spec``, multiplied by ``scale``."""
    if spec.distribution == "constant":
        value = spec.mean_s * scale
        return lambda: value
    if spec.distribution == "exponential":
        if spec.mean_s == 0:
            return lambda: 0.0
        rate = 1.0 / (spec.mean_s * scale)
        expovariate = rng.expovariate
        return lambda: expovariate(rate)
    mu = math.log(spec.p50_s * scale)
    sigma = (math.log(spec.p99_s) - math.log(spec.p50_s)) / Z99
    if sigma == 0:
        value = spec.p50_s * scale
        return lambda: value
    # exp(gauss) is lognormvariate without its rejection loop: about twice as
    # fast, and latency draws are the model's most frequent random numbers.
    gauss = rng.gauss
    exp = math.exp
    return lambda: exp(gauss(mu, sigma))


def mean(spec: Latency) -> float:
    """The distribution's mean in seconds (for capacity arithmetic)."""
    if spec.distribution in ("constant", "exponential"):
        return spec.mean_s
    sigma = (math.log(spec.p99_s) - math.log(spec.p50_s)) / Z99
    return spec.p50_s * math.exp(sigma * sigma / 2)
