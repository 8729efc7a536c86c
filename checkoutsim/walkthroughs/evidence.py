"""The runs behind a walkthrough: scenarios simulated on first use, capacity plans.

Runs are made lazily, when a page first refers to them, so in a terminal the
question and the textbook answer show at once and the simulation runs when the
walkthrough reaches it. Each scenario runs once per ``Evidence``, however many
pages or topics use it, so ``--all`` simulates each scenario a single time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field

from checkoutsim.capacity.plan import CapacityPlan, plan
from checkoutsim.experiments.runner import RunResult, run_scenario
from checkoutsim.scenario import files as scenarios
from checkoutsim.walkthroughs.content import RunSpec, WalkthroughError, live_overrides

#: Called around each live run with the scenario's name (a spinner in the CLI).
RunNotice = Callable[[str], AbstractContextManager[None]]


@contextmanager
def _silently(_: str) -> Iterator[None]:
    yield


@dataclass
class Evidence:
    """Every run and plan a walkthrough (or the whole guide) has used so far."""

    seed: int = 1
    quick: bool = False
    keep_histories: bool = False
    notice: RunNotice = _silently
    runs: dict[str, RunResult] = field(default_factory=dict)
    specs: dict[str, RunSpec] = field(default_factory=dict)
    plans: dict[str, CapacityPlan] = field(default_factory=dict)
    #: Wall seconds each run took (for the CLI's report; never shown in a walkthrough).
    timings: dict[str, float] = field(default_factory=dict)
    #: Runs that are points of a sweep (no table of their own, so no report page).
    sweep_points: set[str] = field(default_factory=set)

    def overrides(self, spec: RunSpec) -> list[str]:
        """The settings a run changes: live ones, quick ones under ``--quick``, then its own."""
        return [*live_overrides(spec.scenario, self.quick), *spec.overrides]

    def run(self, spec: RunSpec) -> RunResult:
        """The run ``spec`` describes, simulated now if it has not been yet."""
        known = self.specs.setdefault(spec.name, spec)
        if known != spec:
            raise WalkthroughError(
                f"two different runs are both called {spec.name!r}: {known} and {spec}"
            )
        if spec.name not in self.runs:
            loaded = scenarios.load(spec.scenario, self.overrides(spec), spec.variants)
            with self.notice(spec.name):
                started = time.perf_counter()
                self.runs[spec.name] = run_scenario(
                    loaded, self.seed, 1, keep_histories=self.keep_histories
                )
                self.timings[spec.name] = time.perf_counter() - started
        return self.runs[spec.name]

    def plan(self, volume: str) -> CapacityPlan:
        """The capacity plan for a daily volume such as ``10M`` (default assumptions)."""
        if volume not in self.plans:
            self.plans[volume] = plan(volume)
        return self.plans[volume]


def available(name: str) -> bool:
    """Whether a scenario called ``name`` can be found (optional scenarios may not be)."""
    return name in scenarios.available()
