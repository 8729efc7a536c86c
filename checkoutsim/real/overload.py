"""Was the host keeping up? The load's lag, the steps' overruns, the hand-offs, the CPU.

A load test judges a design by what happens on the wall clock, compressed by
the time scale. On a host short of CPU, several things slip: shoppers start
later than their scheduled instants (the load generator is behind); the
service's timed steps (a gateway call's latency, a back-off, an order
service's work, each a scaled budget) take longer than their budgets (the
event loop wakes late); and work handed to the service's thread pool waits for
a thread to take it (the model has no such pool, so every such wait is the
host's). Each stretches sagas in model time, and at a time scale of 0.05 one
wall second is twenty model seconds: a breaker that times a gateway call from
its start to its handled answer sees a slow call, and it opens. The run then
measures the host, not the design.

This module turns the measurements into a ``Health``: percentiles of the
schedule lag, of the step overrun and of the hand-off wait, whether any passed
its threshold (a share of the shopper's time-out, in wall seconds), and, where
it was measured, how much of the cores the service ran on other processes took
(``CpuShare``: the host busy). A run that fell behind or ran on a busy host
gives no verdict. Pure functions and small recorders; no printing, no clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from checkoutsim.results.formatting import format_duration

#: Schedule lag p99 above this share of the shopper's time-out: the load was
#: not played as scheduled, and time-outs and races no longer mean what they say.
LAG_SHARE = 0.10
#: Step overrun p99 above this share of the shopper's time-out: each step of a
#: saga took that much longer than its budget, so sagas ran past their time.
OVERRUN_SHARE = 0.10
#: Hand-off wait p99 above this share of the shopper's time-out: work waited that
#: long for a thread of the service's pool (a wait the model does not have).
HANDOFF_SHARE = 0.10
#: Other processes' share of the cores the service could use, at or above which the
#: host was busy (when those cores also had at most ``IDLE_SHARE`` idle and the
#: service itself used at least ``OWN_SHARE``): the service then competed for
#: saturated cores, and had at most the rest of what it needed.
OTHERS_SHARE = 0.25
#: Idle share of those cores at or below which they had nothing to spare.
IDLE_SHARE = 0.05
#: The service's own share below which it did not compete: a light service gets its
#: little at once beside a busy neighbour (its lateness is judged on its own).
OWN_SHARE = 0.25
#: Most step overruns (and hand-off waits) kept: the first ones, enough for a p99.
MAX_STEP_SAMPLES = 200_000


@dataclass
class StepTimes:
    """Overruns of the service's timed steps: wall seconds past each step's scaled budget.

    Also the waits of work handed to the service's thread pool for a thread
    (``handoffs``), recorded by the greenlet that handed it over.
    """

    overruns: list[float] = field(default_factory=list)
    steps: int = 0
    handoffs: list[float] = field(default_factory=list)

    def record(self, budget_s: float, took_s: float) -> None:
        """One step that was given ``budget_s`` wall seconds and took ``took_s``."""
        self.steps += 1
        if len(self.overruns) < MAX_STEP_SAMPLES:
            self.overruns.append(max(0.0, took_s - budget_s))

    def record_handoff(self, waited_s: float) -> None:
        """Work handed to the pool waited ``waited_s`` wall seconds before a thread took it."""
        if len(self.handoffs) < MAX_STEP_SAMPLES:
            self.handoffs.append(max(0.0, waited_s))


@dataclass(frozen=True)
class CpuReading:
    """One look at the CPU: the process's own CPU time and its cores' busy and idle time.

    ``cores`` are the cores the process may run on; ``busy_s`` and ``idle_s``
    are those cores' totals since boot (every process's work, and idle plus
    I/O wait), ``own_s`` the process's CPU time, ``at_s`` a monotonic clock.
    """

    at_s: float
    own_s: float
    cores: int
    busy_s: float
    idle_s: float


@dataclass(frozen=True)
class CpuShare:
    """How the service's cores were spent between two readings, as shares of their time."""

    wall_s: float
    cores: int
    own: float
    others: float
    idle: float

    @classmethod
    def between(cls, before: CpuReading, after: CpuReading) -> CpuShare | None:
        """The shares between two readings; None when no time passed."""
        wall = after.at_s - before.at_s
        capacity = wall * max(1, after.cores)
        if capacity <= 0:
            return None
        own = (after.own_s - before.own_s) / capacity
        busy = (after.busy_s - before.busy_s) / capacity
        idle = (after.idle_s - before.idle_s) / capacity
        # The counters tick in hundredths of a second: clamp their rounding.
        return cls(wall, after.cores, own, max(0.0, busy - own), max(0.0, idle))

    @property
    def busy_host(self) -> bool:
        """The service competed with other processes for cores that had nothing to spare."""
        return self.others >= OTHERS_SHARE and self.idle <= IDLE_SHARE and self.own >= OWN_SHARE


@dataclass(frozen=True)
class Spread:
    """p50, p99 and maximum of a set of wall-clock seconds (None when there are none)."""

    p50_s: float | None
    p99_s: float | None
    max_s: float | None

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        """The spread of ``values``."""
        array = np.asarray(values, dtype=float)
        array = array[np.isfinite(array)]
        if not array.size:
            return cls(None, None, None)
        return cls(
            float(np.percentile(array, 50)),
            float(np.percentile(array, 99)),
            float(array.max()),
        )


@dataclass(frozen=True)
class Health:
    """How far the host fell behind, and whether the run can be trusted."""

    schedule_lag: Spread
    step_overrun: Spread
    steps: int
    #: Wall seconds each p99 may reach before the run is called overloaded.
    lag_limit_s: float
    overrun_limit_s: float
    #: True when the host was busy or the run fell behind: no verdict (key kept for readers).
    overloaded: bool
    reason: str | None
    handoff_wait: Spread = Spread(None, None, None)
    handoff_limit_s: float = 0.0
    #: Shares of the service's cores (own, others, idle), where measured.
    cpu: CpuShare | None = None

    def as_json(self) -> dict[str, Any]:
        """Plain data for the JSON document's ``load.health``."""
        return asdict(self)


def judge(
    lags_s: Sequence[float],
    steps: StepTimes | None,
    shopper_timeout_wall_s: float,
    cpu: CpuShare | None = None,
) -> Health:
    """Health of a run from its arrivals' lags, its steps' overruns and hand-offs (wall
    seconds), and its cores' shares.

    ``lags_s`` is how late each scheduled arrival started; ``steps`` is None
    when the steps ran in other processes (``--target``, ``--workers``): then
    only the lag is judged; ``cpu`` is None where it was not measured.
    """
    lag = Spread.of([max(0.0, value) for value in lags_s])
    overrun = Spread.of(steps.overruns if steps is not None else [])
    handoff = Spread.of(steps.handoffs if steps is not None else [])
    lag_limit = LAG_SHARE * shopper_timeout_wall_s
    overrun_limit = OVERRUN_SHARE * shopper_timeout_wall_s
    handoff_limit = HANDOFF_SHARE * shopper_timeout_wall_s
    reasons = []
    if cpu is not None and cpu.busy_host:
        reasons.append(
            f"host busy: other processes took {cpu.others:.0%} of the"
            f" {_cores(cpu.cores)} the service ran on, {cpu.idle:.0%} idle"
        )
    if lag.p99_s is not None and lag.p99_s > lag_limit:
        reasons.append(
            f"arrivals started late: lag p99 {_ms(lag.p99_s)} > {_ms(lag_limit)}"
            f", {LAG_SHARE:.0%} of the shopper time-out"
        )
    if overrun.p99_s is not None and overrun.p99_s > overrun_limit:
        reasons.append(
            f"steps overran their budgets: p99 {_ms(overrun.p99_s)} > {_ms(overrun_limit)}"
            f", {OVERRUN_SHARE:.0%} of the shopper time-out"
        )
    if handoff.p99_s is not None and handoff.p99_s > handoff_limit:
        reasons.append(
            f"work waited for a service thread: p99 {_ms(handoff.p99_s)} > {_ms(handoff_limit)}"
            f", {HANDOFF_SHARE:.0%} of the shopper time-out"
        )
    return Health(
        schedule_lag=lag,
        step_overrun=overrun,
        steps=steps.steps if steps is not None else 0,
        lag_limit_s=lag_limit,
        overrun_limit_s=overrun_limit,
        overloaded=bool(reasons),
        reason="; ".join(reasons) or None,
        handoff_wait=handoff,
        handoff_limit_s=handoff_limit,
        cpu=cpu,
    )


def _cores(count: int) -> str:
    return "1 core" if count == 1 else f"{count} cores"


def _ms(seconds: float) -> str:
    """Wall seconds in ms or s by size, e.g. ``41.2 ms`` (the rule every table uses)."""
    return format_duration(seconds)


#: How a withheld verdict begins, wherever it is shown.
WITHHELD = "host busy / behind schedule"


def withheld_reason(health: dict[str, Any] | None) -> str | None:
    """Why a run's verdict is withheld (``load.health`` of a run), or None if it stands."""
    if not health or not health.get("overloaded"):
        return None
    return f"{WITHHELD} ({health.get('reason')})"


def summary(health: dict[str, Any]) -> str:
    """One line of the figures, e.g. ``schedule lag p50 1.2 ms, p99 40 ms, max 90 ms; ...``."""

    def spread(name: str, values: dict[str, Any]) -> str:
        if values.get("p99_s") is None:
            return f"{name}: not measured"
        return (
            f"{name} p50 {_ms(values['p50_s'])}, p99 {_ms(values['p99_s'])},"
            f" max {_ms(values['max_s'])}"
        )

    lag = spread("schedule lag", health["schedule_lag"])
    overrun = spread("step overrun", health["step_overrun"])
    parts = [lag, f"{overrun} ({health['steps']:,} steps)"]
    # Runs recorded before these figures existed have neither key.
    if health.get("handoff_wait") is not None:
        parts.append(spread("thread hand-off wait", health["handoff_wait"]))
    cpu = health.get("cpu")
    if cpu is not None:
        parts.append(
            f"cores: own {cpu['own']:.0%}, other processes {cpu['others']:.0%},"
            f" idle {cpu['idle']:.0%}"
        )
    limits = [health["lag_limit_s"], health["overrun_limit_s"]]
    if health.get("handoff_limit_s"):
        limits.append(health["handoff_limit_s"])
    parts.append("limits p99 " + " / ".join(_ms(limit) for limit in limits))
    return "; ".join(parts)


#: Timers' median lateness above this share of a race's window: the host, not the
#: design, set how many checks were in flight (see ``race_withheld_reason``).
RACE_SHARE = 0.5
#: Timers' median lateness at or below this never withholds a verdict, whatever the
#: window: a quiet host's own. Over the 200 real runs of ``compare flash-sale-wild
#: --grid 20`` (docs/real.md, load average falling from 5.5 and 3.8 to below 1)
#: the serving process's timers were 0.30 to 0.71 ms late at p50, against 3.5 ms
#: with ten busy processes beside it; half of a 0.5 ms window (0.25 ms) would
#: withhold every such run. 1 ms sits above the quiet figures, below the busy one.
RACE_FLOOR_S = 0.001


def race_window_s(round_trip_wall_s: float, check_gap_s: float, time_scale: float) -> float:
    """Wall seconds from a check's answer to its write landing: the gap and one round trip."""
    return round_trip_wall_s + check_gap_s * time_scale


def race_limit_s(window_s: float) -> float:
    """The timers' median lateness past which a race window's run is not judged."""
    return max(RACE_SHARE * window_s, RACE_FLOOR_S)


#: What a run says when the race rule could not be applied (no step timings).
RACE_NOT_MEASURED = (
    "race rule not applied: the service's timers ran in other processes (--workers,"
    " --target), so their lateness was not measured"
)


def race_rule_status(health: dict[str, Any] | None, window_s: float | None) -> str | None:
    """Whether the race rule could judge a run: ``RACE_NOT_MEASURED``, or None.

    None where it applied, or where the strategy has no race window
    (``window_s`` None). The schedule lag is no stand-in: it is the load
    generator's lateness, in its own process, not the service's timers.
    """
    if window_s is None:
        return None
    lateness = ((health or {}).get("step_overrun") or {}).get("p50_s")
    return RACE_NOT_MEASURED if lateness is None else None


def race_withheld_reason(health: dict[str, Any] | None, window_s: float) -> str | None:
    """Why a run cannot judge a race whose window is ``window_s`` wall seconds, or None.

    A race's count grows with everything between a check and its write, and
    every pause and hand-off there wakes as late as the host's timers do
    (``step_overrun``). The run-level limits above are shares of the shopper's
    time-out (a second or so); a race window is milliseconds. With ten busy
    processes beside it on two cores, a run at a 2.1 ms round trip kept
    within those limits (timers' p99 25 ms) while its reads took 139 ms at
    p50 and the real body oversold 112 units against none: its timers' p50
    was 3.5 ms late, against 0.4 to 0.6 ms on an idle host. Once the median
    lateness passes half the window, the real window is over 1.5 times the
    designed one from the host alone, and the run gives no verdict on the
    invariants; never at or below ``RACE_FLOOR_S``, an idle host's lateness.
    """
    if not health:
        return None
    lateness = (health.get("step_overrun") or {}).get("p50_s")
    if lateness is None or window_s <= 0 or lateness <= race_limit_s(window_s):
        return None
    return (
        f"host too slow for the race: timers' p50 lateness {_ms(lateness)}"
        f" > {_ms(race_limit_s(window_s))}, {RACE_SHARE:.0%} of the {_ms(window_s)} window"
        f" from a check to its write (floor {_ms(RACE_FLOOR_S)})"
    )
