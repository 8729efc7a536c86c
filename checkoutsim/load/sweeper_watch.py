"""What the real drain reads of the orphan sweeper, to end once the sweeper is done.

Kept apart from the session (which imports Locust, and Locust patches its host
on import), so that tests can check the rule in-process.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class SweeperPasses:
    """When (model seconds) the sweeper's last finished look-up began; its refunds are
    then under way in the runtime's background work. ``-inf`` before the first."""

    looked_from_s: float = float("-inf")


@dataclass(frozen=True)
class SweeperWatch:
    """What the drain reads of the sweeper in an in-process run (model seconds)."""

    now_s: Callable[[], float]
    #: When the last late capture landed (``GeventRuntime.late_landed_s``).
    late_landed_s: Callable[[], float]
    passes: SweeperPasses
    #: Is there a capture with neither an order nor a refund, whatever its age?
    has_work: Callable[[], bool]

    def settled(self, quiet_s: float, min_age_s: float) -> bool:
        """Has the sweeper done all it ever will, the shop quiet since ``quiet_s``?

        Yes once a pass began its look-up at least ``min_age_s`` after the shop
        went quiet and after the last late capture landed (every capture was then
        old enough for it to see; its refunds are background work), or once no
        capture is left that a pass could refund.
        """
        since = max(quiet_s, self.late_landed_s())
        return self.passes.looked_from_s >= since + min_age_s or not self.has_work()
