"""What a probe is asked to play: its options, its schedule and their limits.

The schedule is the scenario's own (``checkoutsim.load.schedule``: the same
arrival instants, SKUs and quantities the model draws for the same seed), at
time scale 1, optionally stretched to ``run_time_s`` and ``rate_per_s``.
"""

from __future__ import annotations

from dataclasses import dataclass

from checkoutsim.load.schedule import PlannedIntent, for_run, plan
from checkoutsim.probe.target import TargetError
from checkoutsim.scenario.settings import Settings

#: The most checkouts one probe sends.
MAX_CHECKOUTS = 100_000
#: The longest load a probe plays, in seconds.
MAX_RUN_TIME_S = 600.0
#: How long the stock must hold still before a run (no load on the target).
QUIET_S = 0.5


@dataclass(frozen=True)
class ProbeOptions:
    """How long, how fast and with how many users to probe."""

    run_time_s: float | None = None
    rate_per_s: float | None = None
    users: int | None = None
    seed: int = 1


def schedule_settings(settings: Settings, options: ProbeOptions) -> Settings:
    """The scenario's settings for a probe: real time, the asked length and rate."""
    real = settings.real.model_copy(update={"time_scale": 1.0})
    settings = settings.model_copy(update={"real": real})
    run_time = options.run_time_s if options.run_time_s is not None else settings.real.run_time_s
    return for_run(settings, run_time, options.rate_per_s)


def highest_rate(settings: Settings) -> float:
    """The schedule's highest arrival rate a second (an opening burst is a moment, not a rate)."""
    load = settings.load
    return max(rate for _, rate in load.piecewise) if load.piecewise else load.rate_per_s


def schedule(settings: Settings, seed: int) -> list[PlannedIntent]:
    """The probe's planned intents; more than ``MAX_CHECKOUTS`` is a ``TargetError``."""
    if settings.load.duration_s > MAX_RUN_TIME_S:
        raise TargetError(
            f"--run-time {settings.load.duration_s:g} s: more than {MAX_RUN_TIME_S:g} s (the limit)"
        )
    if settings.load.expected_arrivals() > MAX_CHECKOUTS * 1.2:
        raise TargetError(
            f"about {settings.load.expected_arrivals():,.0f} checkouts planned, more than "
            f"{MAX_CHECKOUTS:,} (the limit); lower --rate or --run-time"
        )
    intents = plan(settings, seed)
    if len(intents) > MAX_CHECKOUTS:
        raise TargetError(f"{len(intents):,} checkouts planned, more than {MAX_CHECKOUTS:,}")
    return intents
