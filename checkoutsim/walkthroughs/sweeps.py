"""A sweep a walkthrough shows: a run at each point, and where each variant breaks.

Each point of a ``[sweeps.NAME]`` table is an ordinary run of the evidence, so
every metric the text quotes from it is a measured one, and the load a knee
names is a setting of one of those runs. The knee is found by the ``sweep``
command's own rule (``checkoutsim.experiments.sweep.knees``): the first point
where the p99 or the share not served crosses the scenario's objective.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from checkoutsim.experiments.runner import RunResult
from checkoutsim.experiments.sweep import Axis, failure_rate, knees
from checkoutsim.walkthroughs.content import RunSpec, SweepSpec, WalkthroughError
from checkoutsim.walkthroughs.evidence import Evidence
from checkoutsim.walkthroughs.values import Parameter, RunView


class SweepView:
    """``sweep.knee("mvp")``, ``sweep.carried("mvp")``, ``sweep.at(load).mvp.latency_p99_s``."""

    def __init__(self, spec: SweepSpec, evidence: Evidence) -> None:
        self._spec = spec
        self._evidence = evidence
        self._points: dict[float, RunSpec] = dict(
            zip((float(value) for value in spec.values), spec.points(), strict=True)
        )
        self._knees: dict[str, Any] | None = None

    def _run(self, point: RunSpec) -> RunResult:
        self._evidence.sweep_points.add(point.name)
        return self._evidence.run(point)

    def _found(self) -> dict[str, Any]:
        """Each variant's knee entry, running every point first."""
        if self._knees is None:
            param = self._spec.param
            rows = []
            scenario = None
            for value, point in self._points.items():
                result = self._run(point)
                scenario = result.scenario
                for variant in result.variants:
                    rows.append(
                        {
                            "variant": variant.name,
                            param: value,
                            "latency_p99_s": variant.metrics["latency_p99_s"],
                            "failure_rate": failure_rate(variant.metrics),
                        }
                    )
            assert scenario is not None, "a sweep has at least one value"
            axis = Axis(param, tuple(self._points))
            found = knees(pd.DataFrame(rows), [axis], scenario)
            self._knees = {entry["variant"]: entry for entry in found}
        return self._knees

    @property
    def values(self) -> list[Parameter]:
        """The swept values, as settings of the runs."""
        return [Parameter(value, self._spec.param) for value in self._points]

    def knee(self, variant: str) -> Parameter | None:
        """The first swept value where ``variant`` misses the objective (None: never)."""
        entry = self._found()[variant]
        knee = entry["knee"]
        return None if knee is None else Parameter(float(knee), self._spec.param)

    def carried(self, variant: str) -> Parameter | None:
        """The last swept value before the knee (None: it broke at the first one)."""
        knee = self.knee(variant)
        below = [value for value in self._points if knee is None or value < knee]
        return Parameter(below[-1], self._spec.param) if below else None

    def result(self, value: float) -> RunResult:
        """The run at one swept value, made now if it has not been yet."""
        point = self._points.get(float(value))
        if point is None:
            raise WalkthroughError(f"sweep {self._spec.name} has no point at {value}")
        return self._run(point)

    def at(self, value: float) -> RunView:
        """The run at one swept value, as the templates read a run."""
        self.result(value)  # an unknown value is an error here, not later
        return RunView(lambda: self.result(value))
