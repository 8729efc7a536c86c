"""Back-off for retries: capped exponential with full jitter.

Shared by the payment strategies, the saga's order retries and the payment
retry queue, so every retry in checkoutsim spreads out the same way.
"""

from __future__ import annotations

import random


def backoff_delay(attempt: int, base_s: float, cap_s: float, rng: random.Random) -> float:
    """Delay before retry number ``attempt`` (0 for the first retry).

    Full jitter (uniform between 0 and the capped exponential) keeps a crowd of
    clients that failed together from retrying together.
    """
    if attempt < 0:
        raise ValueError(f"attempt must be >= 0, got {attempt}")
    ceiling = min(cap_s, base_s * (2.0 ** min(attempt, 62)))
    return rng.uniform(0.0, ceiling)
