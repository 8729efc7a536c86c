"""``checkoutsim compare``: the model and the real implementation, side by side.

``compare`` runs both bodies with the same parameters and judges every metric;
``compare --grid N`` does so at N seeded random parameter points and tallies the
agreement per variant. ``cli/compare_view.py`` renders the table.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Annotated, Any

import typer

from checkoutsim import __version__
from checkoutsim.cli.app import (
    JsonOption,
    ScenarioArgument,
    SeedOption,
    SetOption,
    VariantOption,
    emit_json,
    err,
)
from checkoutsim.cli.compare_view import compare_row, render_compare
from checkoutsim.cli.errors import user_errors
from checkoutsim.cli.load_options import (
    LocksOption,
    RateOption,
    RunTimeOption,
    StoreOption,
    UsersOption,
    _backend,
    _load,
    _options,
    run_real,
)
from checkoutsim.cli.real_output import real_json, render_grid
from checkoutsim.cli.report import OutOption, ReportFlag, write_and_announce
from checkoutsim.experiments.grid import MAX_POINTS, MODEL_RUNS, grid_points, summarise_grid
from checkoutsim.policy.inventory import has_race_window
from checkoutsim.real.overload import race_window_s
from checkoutsim.results.agreement import RULES, SPREAD_RULE
from checkoutsim.scenario import files as scenarios

if TYPE_CHECKING:
    from checkoutsim.load.options import VariantRun

#: Added to the model's seed to give the real body its own under ``compare --independent``.
INDEPENDENT_SEED_OFFSET = 1_000_000


@user_errors
def compare(
    scenario: ScenarioArgument,
    variants: VariantOption = None,
    users: UsersOption = None,
    rate: RateOption = None,
    run_time: RunTimeOption = None,
    replications: Annotated[
        int, typer.Option("--replications", "-r", min=1, help="Model replications.")
    ] = 1,
    as_json: JsonOption = False,
    seed: SeedOption = 1,
    overrides: SetOption = None,
    report: ReportFlag = False,
    out_directory: OutOption = None,
    store: StoreOption = None,
    locks: LocksOption = None,
    independent: Annotated[
        bool,
        typer.Option(
            "--independent",
            help="Give the real body its own seeds (arrivals, latencies, faults) instead of"
            " the model's common random numbers.",
        ),
    ] = False,
    grid: Annotated[
        int,
        typer.Option(
            "--grid", min=0, max=MAX_POINTS, help="Compare at N seeded random parameter points."
        ),
    ] = 0,
) -> None:
    """Run the model and the real implementation with the same parameters, side by side.

    Every metric is judged by its kind (invariants, rates, latencies) or shown
    as a diagnostic; the model runs for the real run's length, not the scenario's.
    With ``--grid N``: at N seeded random parameter points instead, and count
    per variant the points where the two agree.
    """
    _backend(store, locks)
    real_seed = independent_seed(seed) if independent else seed
    if grid:
        options = _options(run_time, rate, users, real_seed, store=store, locks=locks)
        _compare_grid(scenario, overrides or [], variants, grid, options, seed, as_json)
        return
    loaded = _load(scenario, overrides, variants)
    options = _options(run_time, rate, users, real_seed, store=store, locks=locks)
    sim, runs, rows, stretched = _compare_once(
        loaded, options, seed, replications, report, not as_json
    )
    first = stretched.variants[0].settings
    document = {
        "scenario": loaded.name,
        "mode": "compare",
        "seed": seed,
        "replications": replications,
        "version": __version__,
        "streams": {
            "mode": "independent" if independent else "common",
            "model_seed": seed,
            "real_seed": real_seed,
        },
        "model": {
            "duration_s": first.load.duration_s,
            "time_scale": first.real.time_scale,
            "run_time_s": first.load.duration_s * first.real.time_scale,
            "scenario_duration_s": loaded.variants[0].settings.load.duration_s,
        },
        "rules": RULES,
        "parameters": real_json(loaded, options, runs)["parameters"],
        "variants": rows,
    }
    if report:
        histories: dict[str, list[Any]] = {}
        for sim_variant, run in zip(sim.variants, runs, strict=True):
            histories[f"{run.name} · model"] = list(sim_variant.histories)
            histories[f"{run.name} · real"] = [run.history]
        write_and_announce(document, histories, out_directory, loaded)
    if as_json:
        emit_json(document)
        return
    render_compare(loaded, document)


def _compare_once(
    loaded: scenarios.Scenario,
    options: Any,
    seed: int,
    replications: int,
    keep_histories: bool,
    show: bool,
    grid: bool = False,
) -> tuple[Any, list[VariantRun], list[dict[str, Any]], scenarios.Scenario]:
    """Both bodies at one set of parameters: the model's result, the real runs, the rows
    (every metric judged) and the scenario as the model ran it.

    A run whose host was too slow for the race window (a check's answer to its
    write) gives no verdict on the invariants of a strategy that has one.
    ``grid``: the invariants are judged against the spread of the model's
    ``replications`` runs (``compare --grid``).
    """
    from checkoutsim.experiments.runner import run_scenario
    from checkoutsim.load.options import run_settings

    # The model runs exactly what the real run plays: the same length and rates.
    stretched = replace(
        loaded,
        variants=tuple(replace(v, settings=run_settings(v, options)) for v in loaded.variants),
    )
    sim = run_scenario(stretched, seed, replications, keep_histories=keep_histories)
    runs = run_real(loaded, options, show=show)
    rows = []
    for sim_variant, run, variant in zip(sim.variants, runs, stretched.variants, strict=True):
        settings = variant.settings
        # Every compare: a host too slow for the race's window gives no verdict.
        inventory = settings.inventory
        window = (
            race_window_s(
                settings.real.store_round_trip_s,
                inventory.costs.check_gap_s,
                settings.real.time_scale,
            )
            if has_race_window(inventory.strategy, inventory.processes, inventory.check_constraint)
            else None
        )
        if grid:
            row = compare_row(
                run.name,
                sim_variant.runs[0],
                run.metrics,
                run.load,
                settings.real.time_scale,
                model_runs=list(sim_variant.runs),
                race_window_s=window,
            )
        else:
            row = compare_row(
                run.name,
                sim_variant.metrics,
                run.metrics,
                run.load,
                settings.real.time_scale,
                race_window_s=window,
            )
        rows.append(row)
    return sim, runs, rows, stretched


def _compare_grid(
    scenario: str,
    overrides: list[str],
    variants: list[str] | None,
    count: int,
    options: Any,
    seed: int,
    as_json: bool,
) -> None:
    """``compare --grid``: both bodies at each point, then the per-variant tally."""
    points = grid_points(count, seed)
    rows: list[dict[str, Any]] = []
    for point in points:
        loaded = _load(scenario, [*overrides, *point.overrides], variants)
        if not as_json:
            err.print(f"grid point {point.index + 1}/{count}", highlight=False)
        compared = _compare_once(loaded, options, seed, MODEL_RUNS, False, False, grid=True)
        for row in compared[2]:
            rows.append(
                {
                    "point": point.index,
                    "overrides": list(point.overrides),
                    "name": row["name"],
                    "agree": row["agree"],
                    "disagree": row["disagree"],
                    "withheld": row["withheld"],
                    "invariants_withheld": row["invariants_withheld"],
                    "race_rule": row["race_rule"],
                    # The service's timers' median lateness (wall seconds), the
                    # race rule's measure, for every point: withheld or not.
                    "timers_p50_s": ((row["health"] or {}).get("step_overrun") or {}).get("p50_s"),
                    "evidence": row["evidence"],
                    # The model's run on the real body's own streams, beside the
                    # real run: the single-run comparison the spread replaces.
                    "first_run": {
                        line["metric"]: [row["sim"].get(line["metric"]), line["real"]]
                        for line in row["evidence"]
                        if line["kind"] == "invariant"
                    },
                }
            )
    summary = summarise_grid(rows)
    if as_json:
        emit_json(
            {
                "scenario": scenario,
                "mode": "compare-grid",
                "seed": seed,
                "version": __version__,
                "points": count,
                "model_runs": MODEL_RUNS,
                "rules": {**RULES, "invariant": SPREAD_RULE},
                "summary": summary,
                "rows": rows,
            }
        )
        return
    render_grid(scenario, count, summary)


def independent_seed(seed: int) -> int:
    """The real body's seed under ``--independent``: a different seed, stated in the output.

    Every stream is derived from its seed by ``SeedSequence``, so another seed
    gives streams unrelated to the model's (arrivals, clicks, latencies, faults).
    """
    return seed + INDEPENDENT_SEED_OFFSET
