"""Latency samplers built from a scenario's ``Latency`` spec and a seeded stream."""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable, Iterator

import numpy

from checkoutsim.scenario.settings import Latency

#: z-score of the 99th percentile of a standard normal distribution.
Z99 = 2.3263478740408408


#: Draws per block of a batched sampler.
BLOCK = 1024


def sampler(
    spec: Latency, rng: random.Random, scale: float = 1.0, batched: bool = False
) -> Callable[[], float]:
    """Return a function drawing latencies (seconds) from ``spec``, multiplied by ``scale``.

    ``batched`` draws from a numpy generator seeded once from ``rng``, a block
    at a time: each draw is then one C call instead of a few Python ones,
    which matters in the model, where a latency is drawn for almost every
    event. Not for samplers shared between threads (a block refill is not
    thread-safe), which is why the real body keeps the default.
    """
    if batched and spec.distribution != "constant":
        if spec.distribution == "exponential" and spec.mean_s == 0:
            return lambda: 0.0
        return _batched(spec, numpy.random.default_rng(rng.getrandbits(64)), scale).__next__
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
    sigma = _sigma(spec)
    if sigma == 0:
        value = spec.p50_s * scale
        return lambda: value
    # exp(gauss) is lognormvariate without its rejection loop: about twice as
    # fast, and latency draws are the model's most frequent random numbers.
    gauss = rng.gauss
    exp = math.exp
    return lambda: exp(gauss(mu, sigma))


def _batched(spec: Latency, generator: numpy.random.Generator, scale: float) -> Iterator[float]:
    """An endless stream of draws from ``spec``, generated ``BLOCK`` at a time."""

    if spec.distribution == "exponential":
        mean_s = spec.mean_s * scale

        def block() -> numpy.ndarray:
            return generator.exponential(mean_s, BLOCK)

    else:
        mu, sigma = math.log(spec.p50_s * scale), _sigma(spec)

        def block() -> numpy.ndarray:
            return generator.lognormal(mu, sigma, BLOCK)

    def blocks() -> Iterator[list[float]]:
        while True:
            yield block().tolist()

    return itertools.chain.from_iterable(blocks())


def _sigma(spec: Latency) -> float:
    """The lognormal's shape, from the ratio of its p99 to its p50."""
    return (math.log(spec.p99_s) - math.log(spec.p50_s)) / Z99


def mean(spec: Latency) -> float:
    """The distribution's mean in seconds (for capacity arithmetic)."""
    if spec.distribution in ("constant", "exponential"):
        return spec.mean_s
    sigma = _sigma(spec)
    return spec.p50_s * math.exp(sigma * sigma / 2)
