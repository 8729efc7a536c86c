"""Small statistics helpers: means and 95% confidence intervals over replications, Poisson tails."""

from __future__ import annotations

import math
from collections.abc import Sequence

# Two-sided 97.5% quantiles of Student's t for 1..30 degrees of freedom; beyond
# 30 the normal quantile is within 2% and is used instead.
_T975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip


def t_quantile_975(degrees_of_freedom: int) -> float:
    """The 97.5% quantile of Student's t (for a two-sided 95% interval)."""
    if degrees_of_freedom < 1:
        raise ValueError("need at least one degree of freedom")
    if degrees_of_freedom <= len(_T975):
        return _T975[degrees_of_freedom - 1]
    return 1.959964


def mean_ci95(values: Sequence[float]) -> tuple[float, float, float]:
    """Mean and the 95% t-interval of the mean; the interval is the mean itself for n=1."""
    n = len(values)
    if n == 0:
        return math.nan, math.nan, math.nan
    finite = [v for v in values if not math.isnan(v)]
    if not finite:
        return math.nan, math.nan, math.nan
    mean = sum(finite) / len(finite)
    if len(finite) < 2:
        return mean, mean, mean
    variance = sum((v - mean) ** 2 for v in finite) / (len(finite) - 1)
    half = t_quantile_975(len(finite) - 1) * math.sqrt(variance / len(finite))
    return mean, mean - half, mean + half


def poisson_two_sided(count: float, mean: float) -> float:
    """Two-sided tail probability of ``count`` for a Poisson count of mean ``mean``.

    Twice the smaller tail (``P(X <= k)``, ``P(X >= k)``), at most 1. A zero
    mean gives 1 for a zero count and 0 otherwise. Counts are rounded (a rate's
    count is a whole number of units).
    """
    k = max(0, round(count))
    if mean <= 0:
        return 1.0 if k == 0 else 0.0
    below = _poisson_cdf(k, mean)
    above = 1.0 - _poisson_cdf(k - 1, mean) if k > 0 else 1.0
    return min(1.0, 2 * min(below, above))


def _poisson_cdf(k: int, mean: float) -> float:
    """``P(X <= k)`` for a Poisson count of mean ``mean``, summed in log space."""
    if k < 0:
        return 0.0
    log_mean = math.log(mean)
    total = sum(math.exp(i * log_mean - mean - math.lgamma(i + 1)) for i in range(k + 1))
    return min(1.0, total)
