"""The calibration's round at the probe's own rate: what a target sustains past 40 in flight.

A crowd of 40 in flight (the paced rounds, ``probe/calibrate.py``) is not the
run's crowd: at the probe's own rate a one-process target past its capacity
holds hundreds of connections, overflows its listen backlog and fails requests
of its own, and serves fewer checks a second than with 40 in flight. So the
opening of the probe's own schedule is played against the sold-out target
(``probe.drive.sold_out_at_rate``); when the target fell behind it (served too
few of the checks, or queued them), the rate it served there is the one the
model is given (``chosen_pace``).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from checkoutsim.probe.outcome import ERROR, SOLD_OUT, TIMED_OUT

#: The opening of the probe's own schedule played against the sold-out target, in
#: seconds, and the most checkouts that round sends.
AT_RATE_S = 0.5
AT_RATE_MAX = 600
#: A round at the probe's rate kept up when it served at least this share of the
#: schedule's rate; below it, the target fell behind, and the rate it served is
#: what it sustains at this load.
KEPT_UP = 0.9
#: A round at the probe's rate queued when its sold-out answers' median took at
#: least this many times the same client's sold-out answer alone: the target is
#: at its capacity at this rate, whatever the count of answers says (a target
#: serving 97% of the rate builds a queue all run).
QUEUED = 2.0
#: Fewest sold-out answers a round at the probe's rate must time to be kept.
AT_RATE_FEWEST = 10


@dataclass(frozen=True)
class RateRound:
    """The opening of the probe's schedule played against the sold-out target.

    ``served`` sold-out answers came in ``seconds`` (first to last of those
    answered before the round's last checkout was due): the checks the target
    served a second while the round's checkouts arrived at ``offered_per_s``
    (the rate of the opening's steady arrivals, ``steady_opening``).
    """

    offered_per_s: float
    played: int
    served: int
    seconds: float
    errors: int
    #: Median seconds of the round's sold-out answers, from each one's intended start.
    p50_s: float | None = None
    #: Median seconds of the same client's sold-out answer alone (light load).
    alone_s: float | None = None

    @property
    def served_per_s(self) -> float:
        """Checks served a second at the probe's rate."""
        return self.served / self.seconds

    @property
    def queued(self) -> bool:
        """Whether its answers took ``QUEUED`` times or more what one takes alone."""
        if self.p50_s is None or not self.alone_s:
            return False
        return self.p50_s >= QUEUED * self.alone_s

    @property
    def fell_behind(self) -> bool:
        """Whether the target served less than ``KEPT_UP`` of the rate, or queued."""
        return self.served_per_s < KEPT_UP * self.offered_per_s or self.queued

    def as_json(self) -> dict[str, object]:
        """Plain data for the calibration's JSON."""
        return {
            "offered_per_s": round(self.offered_per_s, 3),
            "played": self.played,
            "served": self.served,
            "seconds": round(self.seconds, 6),
            "served_per_s": round(self.served_per_s, 1),
            "errors": self.errors,
            "p50_s": None if self.p50_s is None else round(self.p50_s, 6),
            "alone_s": None if self.alone_s is None else round(self.alone_s, 6),
            "queued": self.queued,
            "fell_behind": self.fell_behind,
        }


#: ``Calibration.pace_from``: the paced rounds, or the round at the probe's own rate.
PACED_FROM = "paced"
AT_RATE_FROM = "at_rate"


def chosen_pace(
    paced: tuple[int, float] | None, at_rate: RateRound | None
) -> tuple[tuple[int, float] | None, str | None]:
    """The (answers, seconds) the model's pace is set from, and which round gave it.

    The paced rounds' fastest is a lower bound of what the target serves with a
    few dozen in flight. At the probe's own rate it may serve less: hundreds of
    connections, a full listen backlog (a dropped connection is retried a second
    later, long after the checks that mattered), a pool of its own that refuses.
    So when the round at the probe's rate fell behind the schedule, its rate is
    the one kept; when it kept up, it is kept only if faster than the paced one.
    """
    if at_rate is None:
        return paced, PACED_FROM if paced else None
    served = (at_rate.served, at_rate.seconds)
    if at_rate.fell_behind or paced is None or at_rate.served_per_s > paced[0] / paced[1]:
        return served, AT_RATE_FROM
    return paced, PACED_FROM


def steady_opening(instants: list[float]) -> list[int]:
    """Which of the schedule's checkouts (their instants, in order) the round plays.

    Those due in its first ``AT_RATE_S`` seconds (at most ``AT_RATE_MAX``), less
    an opening burst: a burst is many checkouts at one instant (no two steady
    arrivals share one), a moment, not a rate, as the capacity rule has it
    (``probe/edge.py``). Counted in, a burst late in the half second would be
    offered while most of its answers came after the round's end, and a target
    that kept up would look as if it fell behind.
    """
    shared: dict[float, int] = {}
    for instant in instants:
        shared[instant] = shared.get(instant, 0) + 1
    steady = [
        index
        for index, instant in enumerate(instants)
        if instant <= AT_RATE_S and shared[instant] == 1
    ]
    return steady[:AT_RATE_MAX]


def rate_round(
    told: list[str],
    answered_at: list[float],
    due_by: float,
    offered_per_s: float,
    sold_out_latencies: list[float] | None = None,
) -> RateRound | None:
    """A round at the probe's rate from its answers in the order they came.

    ``told`` and ``answered_at``: each answer's outcome and instant, in order;
    ``due_by``: the instant the round's last checkout was due. Only sold-out
    answers that came by then count: the schedule's rate was still arriving, and
    an answer after it (a connection retried after a full backlog, the queue
    draining) is not a check served at that rate. None with fewer than
    ``AT_RATE_FEWEST`` such answers. ``sold_out_latencies``: every sold-out
    answer's seconds from its intended start, for the round's median.
    """
    times = [
        instant
        for outcome, instant in zip(told, answered_at, strict=True)
        if outcome == SOLD_OUT and instant <= due_by
    ]
    if len(times) < AT_RATE_FEWEST or times[-1] <= times[0]:
        return None
    errors = sum(outcome in (ERROR, TIMED_OUT) for outcome in told)
    p50 = statistics.median(sold_out_latencies) if sold_out_latencies else None
    return RateRound(offered_per_s, len(told), len(times) - 1, times[-1] - times[0], errors, p50)
