"""Parameter sweeps: a grid of scenario settings, run in parallel into one tidy frame.

Each axis is ``section.key=START:STOP:STEPS`` (STEPS evenly spaced points,
both ends included; whole numbers stay whole for integer fields). Every grid
point, variant and replication is one task; results come back in task order.
For each variant the sweep reports the knee: the first point along the first
axis where p99 latency or the failure rate crosses the scenario's objective.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from checkoutsim import __version__
from checkoutsim.experiments.runner import Progress, Task, execute
from checkoutsim.experiments.scale import hot_sku_rate, hot_sku_settings
from checkoutsim.results.encoding import json_safe
from checkoutsim.results.metrics import aggregate
from checkoutsim.scenario import files as scenarios
from checkoutsim.scenario.files import ScenarioError
from checkoutsim.scenario.limits import check_sweep_points


@dataclass(frozen=True)
class Axis:
    """One swept setting and its values."""

    param: str
    values: tuple[float, ...]


@dataclass(frozen=True)
class SweepResult:
    """The tidy frame of a sweep (one row per variant and grid point) and its knees."""

    scenario: scenarios.Scenario
    seed: int
    replications: int
    axes: tuple[Axis, ...]
    frame: pd.DataFrame
    knees: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        """The documented ``sweep --json`` shape."""
        objective = self.scenario.base.objective
        return {
            "scenario": self.scenario.name,
            "mode": "sweep",
            "seed": self.seed,
            "replications": self.replications,
            "version": __version__,
            "parameters": self.scenario.parameters(),
            "axes": [{"param": axis.param, "values": list(axis.values)} for axis in self.axes],
            # failure_rate as well: what the sweep's knees and figures compare against.
            "objective": {**objective.model_dump(), "failure_rate": objective.failure_rate},
            "rows": json_safe(self.frame.to_dict(orient="records")),
            "knees": json_safe(self.knees),
        }


def parse_axis(text: str) -> Axis:
    """Parse ``section.key=START:STOP:STEPS`` into an axis."""
    key, _, spec = text.partition("=")
    parts = spec.split(":")
    if not key or len(parts) != 3:
        raise ScenarioError(f"--param {text}: expected section.key=START:STOP:STEPS")
    try:
        start, stop = float(parts[0]), float(parts[1])
        steps = int(parts[2])
    except ValueError:
        raise ScenarioError(
            f"--param {text}: START and STOP must be numbers, STEPS a whole number"
        ) from None
    if not (math.isfinite(start) and math.isfinite(stop)):
        raise ScenarioError(f"--param {text}: START and STOP must be finite numbers")
    if not 1 <= steps <= 1000:
        raise ScenarioError(f"--param {text}: STEPS must be from 1 to 1000, got {steps}")
    values = np.linspace(start, stop, steps)
    whole = float(start).is_integer() and float(stop).is_integer()
    if whole and all(float(v).is_integer() for v in values):
        return Axis(key.strip(), tuple(int(v) for v in values))
    return Axis(key.strip(), tuple(round(float(v), 9) for v in values))


def _named_as_param(error: ScenarioError, axes: Sequence[Axis]) -> ScenarioError:
    """A bad swept value is the user's ``--param``, not a ``--set`` they never typed."""
    text = str(error)
    if text.startswith("--set") and any(axis.param in text for axis in axes):
        text = "--param" + text[len("--set") :]
    return ScenarioError(text)


def run_sweep(
    name: str,
    axes: Sequence[Axis],
    overrides: Sequence[str] = (),
    variants: Sequence[str] = (),
    seed: int = 1,
    replications: int = 1,
    jobs: int = 1,
    executor: Executor | None = None,
    progress: Progress | None = None,
) -> SweepResult:
    """Run every grid point of every variant; aggregate replications; find knees."""
    if not axes:
        raise ScenarioError("sweep: give at least one --param section.key=START:STOP:STEPS")
    grid = math.prod(len(axis.values) for axis in axes)
    check_sweep_points(grid, replications)
    base = scenarios.load(name, list(overrides), list(variants))
    check_sweep_points(grid, replications, len(base.variants))
    points = list(itertools.product(*(axis.values for axis in axes)))
    tasks: list[Task] = []
    labels: list[tuple[str, tuple[float, ...]]] = []
    for point in points:
        point_overrides = [
            f"{axis.param}={value!r}" for axis, value in zip(axes, point, strict=True)
        ]
        try:
            loaded = scenarios.load(name, [*overrides, *point_overrides], list(variants))
        except ScenarioError as error:
            raise _named_as_param(error, axes) from None
        scale = loaded.base.scale
        hot = hot_sku_rate(scale) if scale.orders_per_day > 0 else None
        for variant in loaded.variants:
            labels.append((variant.name, point))
            # A scale scenario's checkout model runs the hot SKU's row, as in ``run``.
            settings = variant.settings if hot is None else hot_sku_settings(variant.settings, hot)
            tasks.extend((settings, seed, r, False) for r in range(replications))
    outputs = execute(tasks, jobs, progress, executor)
    rows = []
    for index, (variant_name, point) in enumerate(labels):
        runs = [
            metrics for metrics, _ in outputs[index * replications : (index + 1) * replications]
        ]
        means, _ = aggregate(runs)
        row: dict[str, Any] = {"variant": variant_name}
        row.update({axis.param: value for axis, value in zip(axes, point, strict=True)})
        row.update(means)
        row["failure_rate"] = failure_rate(means)
        rows.append(row)
    frame = pd.DataFrame(rows)
    return SweepResult(base, seed, replications, tuple(axes), frame, knees(frame, axes, base))


def failure_rate(metrics: dict[str, float]) -> float:
    """Share of checkouts that neither ordered nor sold out.

    Selling out is the shop working as it should; everything else (refused,
    failed, timed out, still processing or in flight at the end) is a failure.
    """
    checkouts = metrics.get("checkouts", 0)
    failed = checkouts - metrics.get("orders", 0) - metrics.get("sold_out", 0)
    return max(0.0, failed) / max(1, checkouts)


def knees(
    frame: pd.DataFrame, axes: Sequence[Axis], loaded: scenarios.Scenario
) -> list[dict[str, Any]]:
    """For each variant (and each value of the other axes): the first value along the
    first axis where p99 latency or the failure rate crosses the objective."""
    objective = loaded.base.objective
    first = axes[0].param
    others = [axis.param for axis in axes[1:]]
    found = []
    for keys, group in frame.groupby(["variant", *others], sort=False):
        keys = keys if isinstance(keys, tuple) else (keys,)
        entry: dict[str, Any] = {
            "variant": keys[0],
            "param": first,
            "knee": None,
            "reason": "objective met at every point",
        }
        entry.update(dict(zip(others, keys[1:], strict=True)))
        for _, row in group.sort_values(first).iterrows():
            p99 = row["latency_p99_s"]
            if not math.isnan(p99) and p99 > objective.latency_p99_s:
                entry.update(
                    knee=row[first],
                    reason=(f"latency_p99_s {p99:.3g} s > objective {objective.latency_p99_s:g} s"),
                )
                break
            if row["failure_rate"] > objective.failure_rate:
                entry.update(
                    knee=row[first],
                    reason=(
                        f"failure_rate {row['failure_rate']:.3g}"
                        f" > objective {objective.failure_rate:g}"
                    ),
                )
                break
        found.append(entry)
    return found
