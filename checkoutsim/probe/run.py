"""One probe, start to end: reset, read the stock, play the schedule, read the stock again.

The schedule is the scenario's own (``checkoutsim.load.schedule``: the same
arrival instants, SKUs and quantities the model draws for the same seed), at
time scale 1, optionally stretched to ``run_time_s`` and ``rate_per_s``. A run
is bounded: at most ``MAX_CHECKOUTS`` checkouts and ``MAX_RUN_TIME_S`` of load,
plus one shopper time-out to drain.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from checkoutsim import __version__
from checkoutsim.probe import drive, measure, target
from checkoutsim.probe.adapter import Adapter
from checkoutsim.probe.host import busy_note, host_load, load_average
from checkoutsim.probe.options import QUIET_S, ProbeOptions, schedule, schedule_settings
from checkoutsim.probe.target import TargetError
from checkoutsim.real import overload
from checkoutsim.scenario.settings import Settings


@dataclass
class ProbeResult:
    """A probe's measurement, and what it says about itself."""

    base: str
    scenario: str
    settings: Settings
    metrics: dict[str, Any]
    health: dict[str, Any]
    verdict: dict[str, Any]
    users: int
    notes: list[str] = field(default_factory=list)
    stopped: str | None = None
    prediction: dict[str, Any] | None = None
    #: Each SKU's units before the run, in catalog order.
    stock_levels: list[int] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The metrics contract with ``"mode": "probe"``."""
        data: dict[str, Any] = {
            "scenario": self.scenario,
            "mode": "probe",
            "target": self.base,
            "seed": None,
            "version": __version__,
            "load": {
                "run_time_s": self.settings.load.duration_s,
                "users": self.users,
                "health": self.health,
                "stopped": self.stopped,
            },
            "variants": [{"name": "probe", "metrics": self.metrics, "verdict": self.verdict}],
            "notes": self.notes,
        }
        if self.prediction is not None:
            data["prediction"] = self.prediction
        return data


def prepare(base: str, adapter: Adapter) -> tuple[list[int], list[str], str | None]:
    """Reset the target and read its stock twice; notes, and why it was not quiet if not."""
    notes = []
    target.reset(base, adapter)
    before = target.stock_levels(base, adapter)
    # With no load on it, the stock must hold still: if it moves, requests from an
    # earlier run are still being served, and would be counted as this run's.
    time.sleep(QUIET_S)
    again = target.stock_levels(base, adapter)
    busy = None
    if again != before:
        busy = (
            f"the target's stock moved with no load on it ({before} to {again}): requests "
            "from an earlier run are still being served, so no verdict"
        )
        notes.append(busy)
    expected = adapter.catalog.stock
    if expected is not None and any(level != expected for level in before):
        notes.append(
            f"catalog.stock says {expected} units, the target reports {before}: "
            "the target's figures are used"
        )
    if adapter.reset is None:
        notes.append("no [reset]: the run starts from whatever stock the target has now")
    return before, notes, busy


def probe(
    url: str, adapter: Adapter, scenario: str, settings: Settings, options: ProbeOptions
) -> ProbeResult:
    """Run one probe against ``url`` (loopback only) and measure it."""
    base = target.base_url(url)
    settings = schedule_settings(settings, options)
    intents = schedule(settings, options.seed)
    before, notes, busy = prepare(base, adapter)
    timeout_s = settings.shopper.timeout_s
    users = drive.users_for(len(intents), options.users)
    load_before = load_average()
    played = drive.play(base, adapter, intents, settings.load.duration_s, timeout_s, users)
    after: list[int] | None
    try:
        after = target.stock_levels(base, adapter)
    except TargetError as error:
        after = None
        notes.append(f"stock after the run unknown: {error}")
    result = measure.metrics(
        played.outcomes, list(adapter.catalog.skus), before, after, settings.load.duration_s
    )
    health = overload.judge(
        [o.lag_s for o in played.outcomes if o.told != drive.NOT_STARTED], None, timeout_s
    ).as_json()
    health["host_load"] = host_load(load_before)
    if health["host_load"]["busy"]:
        notes.append(busy_note(health["host_load"]))
    complete = played.stopped is None and after is not None and busy is None
    verdict = measure.verdict(result, complete, not health["overloaded"])
    if busy is not None:
        verdict = {"safe": None, "violations": {}}
    return ProbeResult(
        base,
        scenario,
        settings,
        result,
        health,
        verdict,
        users,
        notes,
        played.stopped,
        stock_levels=before,
    )
