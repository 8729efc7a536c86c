"""Run a scenario's variants over seeded replications, serially or in processes.

Work goes through a ``concurrent.futures`` executor, one task per (variant,
replication), so the same code runs inline, across local processes, or on any
executor-compatible cluster. Results are put back in task order, so the numbers
do not depend on which worker finished first.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from checkoutsim import __version__
from checkoutsim.results.history import History
from checkoutsim.results.metrics import NULL_WHERE_ABSENT, aggregate, summarise, verdict
from checkoutsim.results.money import gateway_fees, priced
from checkoutsim.results.stage_cost import priced_deployment
from checkoutsim.results.verdicts import Judged
from checkoutsim.scenario.files import Scenario
from checkoutsim.scenario.limits import check_jobs, check_replications
from checkoutsim.scenario.settings import Settings

if TYPE_CHECKING:
    from checkoutsim.experiments.scale import ScaleReport
from checkoutsim.results.encoding import json_safe
from checkoutsim.sim.model import simulate

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class VariantResult:
    """One variant's metrics over all replications."""

    name: str
    description: str
    metrics: dict[str, float]
    ci95: dict[str, list[float]]
    runs: list[dict[str, float]]
    histories: list[History] = field(default_factory=list)


@dataclass(frozen=True)
class RunResult:
    """A whole scenario run."""

    scenario: Scenario
    seed: int
    replications: int
    variants: list[VariantResult]
    scale: ScaleReport | None = None

    def judged(self) -> list[Judged]:
        """Each variant with what its verdict is judged against (for the verdict tables)."""
        return [
            Judged(
                variant.name,
                variant.metrics,
                self.scenario.variant(variant.name).settings.objective.model_dump(),
                variant.ci95 if self.replications > 1 else {},
            )
            for variant in self.variants
        ]

    def to_json(self) -> dict[str, Any]:
        """The documented ``--json`` shape."""
        data = {
            "scenario": self.scenario.name,
            "mode": "sim",
            "seed": self.seed,
            "replications": self.replications,
            "version": __version__,
            "parameters": self.scenario.parameters(),
            "variants": [
                {
                    "name": variant.name,
                    # Null where it does not apply: recovery_s without a fault window,
                    # row_capacity_per_s where nothing held a row.
                    "metrics": json_safe(
                        {
                            **variant.metrics,
                            **{key: variant.metrics.get(key) for key in NULL_WHERE_ABSENT},
                        }
                    ),
                    "ci95": json_safe(
                        {
                            **variant.ci95,
                            **{key: variant.ci95.get(key, [None] * 2) for key in NULL_WHERE_ABSENT},
                        }
                    ),
                    "verdict": verdict(
                        variant.metrics,
                        self.scenario.variant(variant.name).settings.objective.model_dump(),
                    ),
                }
                for variant in self.variants
            ],
        }
        if self.scale is not None:
            data["scale"] = json_safe(self.scale.to_json())
        return data


def simulate_once(
    settings: Settings, seed: int, replication: int, keep_history: bool
) -> tuple[dict[str, float], History | None]:
    """One task: simulate, summarise, and optionally keep the frames."""
    history = simulate(settings, seed, replication)
    metrics = summarise(history, settings.load.duration_s)
    metrics.update(priced(metrics, settings.money.order_value))
    fees = settings.gateways.fees()
    metrics.update(gateway_fees(history.ledger, fees, settings.money.order_value))
    if settings.money.price_deployment:
        metrics.update(priced_deployment(settings, metrics))
    return metrics, history if keep_history else None


def run_scenario(
    scenario: Scenario,
    seed: int = 1,
    replications: int = 1,
    jobs: int = 1,
    keep_histories: bool = False,
    progress: Progress | None = None,
    executor: Executor | None = None,
) -> RunResult:
    """Simulate every variant for ``replications`` seeded streams and aggregate."""
    check_replications(replications)
    check_jobs(jobs)
    scale = None
    if scenario.base.scale.orders_per_day > 0:
        from checkoutsim.experiments.scale import check, hot_sku_settings

        scale = check(scenario.base.scale, seed)
    tasks = [
        (
            variant.settings
            if scale is None
            else hot_sku_settings(variant.settings, scale.hot_sku_orders_per_s),
            seed,
            replication,
            keep_histories,
        )
        for variant in scenario.variants
        for replication in range(replications)
    ]
    outputs = execute(tasks, jobs, progress, executor)
    results = []
    for index, variant in enumerate(scenario.variants):
        chunk = outputs[index * replications : (index + 1) * replications]
        runs = [metrics for metrics, _ in chunk]
        means, intervals = aggregate(runs)
        histories = [history for _, history in chunk if history is not None]
        results.append(
            VariantResult(variant.name, variant.description, means, intervals, runs, histories)
        )
    return RunResult(scenario, seed, replications, results, scale)


Task = tuple[Settings, int, int, bool]


def execute(
    tasks: list[Task],
    jobs: int,
    progress: Progress | None,
    executor: Executor | None,
) -> list[tuple[dict[str, float], History | None]]:
    """Run ``simulate_once`` tasks inline or on an executor; results in task order."""
    total = len(tasks)
    if executor is None and jobs <= 1:
        outputs = []
        for done, task in enumerate(tasks, start=1):
            outputs.append(simulate_once(*task))
            if progress:
                progress(done, total)
        return outputs
    own = executor is None
    if own:
        # Forked workers share the parent's heap copy-on-write; freezing it
        # keeps their garbage collector from touching (and so copying) it.
        gc.freeze()
    pool = executor or ProcessPoolExecutor(max_workers=jobs)
    try:
        futures = [pool.submit(simulate_once, *task) for task in tasks]
        outputs = []
        for done, future in enumerate(futures, start=1):
            outputs.append(future.result())
            if progress:
                progress(done, total)
        return outputs
    finally:
        if own:
            pool.shutdown()
            gc.unfreeze()
