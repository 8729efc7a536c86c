"""The real implementation's commands: ``loadtest``, ``compare`` and ``serve``.

``register_real(app)`` adds them to the main typer app. Locust is imported only
inside the commands (``checkoutsim.load``), because importing it monkey-patches
the whole process with gevent.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
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
from checkoutsim.cli.errors import UserError, user_errors
from checkoutsim.cli.real_output import live_table, real_json, render_grid, render_real
from checkoutsim.cli.remote import register_remote
from checkoutsim.cli.report import OutOption, ReportFlag, write_and_announce
from checkoutsim.experiments.grid import MAX_POINTS, grid_points, summarise_grid
from checkoutsim.real.backends import BackendChoice, BackendError, choose
from checkoutsim.real.overload import withheld_reason
from checkoutsim.results.agreement import RULES
from checkoutsim.scenario import files as scenarios

if TYPE_CHECKING:
    from checkoutsim.load.options import LoadOptions, VariantRun

#: Added to the model's seed to give the real body its own under ``compare --independent``.
INDEPENDENT_SEED_OFFSET = 1_000_000

#: ``loadtest``'s exit code when a verdict was withheld because the host was overloaded.
OVERLOADED_EXIT = 3

_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?!s))?(?:(\d+(?:\.\d+)?)s)?$")


def parse_duration(text: str) -> float:
    """Seconds in ``30``, ``30s``, ``2m``, ``1m30s`` or ``1h``."""
    text = text.strip().lower()
    try:
        seconds = float(text)
    except ValueError:
        match = _DURATION.match(text)
        if not match or not any(match.groups()):
            raise UserError(f"--run-time {text!r}: expected e.g. 30s, 2m or 1m30s") from None
        hours, minutes, secs = (float(part) if part else 0.0 for part in match.groups())
        seconds = hours * 3600 + minutes * 60 + secs
    if not 0 < seconds <= 86_400:
        raise UserError(f"--run-time {text!r}: must be between 0 and 24 hours")
    return seconds


RunTimeOption = Annotated[
    str | None,
    typer.Option("--run-time", help="Wall-clock load length, e.g. 30s (real.run_time_s)."),
]
UsersOption = Annotated[
    int | None,
    typer.Option("--users", min=1, help="Locust users (default: enough for the schedule)."),
]
RateOption = Annotated[
    float | None,
    typer.Option(
        "--rate", min=0.001, help="Checkout intents per wall second (replaces the scenario's)."
    ),
]


StoreOption = Annotated[
    str | None,
    typer.Option(
        "--store",
        envvar="CHECKOUTSIM_STORE",
        show_envvar=True,
        help="sqlite:PATH (default) or postgresql://HOST/DATABASE.",
    ),
]
LocksOption = Annotated[
    str | None,
    typer.Option(
        "--locks",
        envvar="CHECKOUTSIM_LOCKS",
        show_envvar=True,
        help="database (default) or redis://HOST:PORT/DB.",
    ),
]


def _backend(store: str | None, locks: str | None) -> BackendChoice:
    """Validate ``--store`` and ``--locks`` before anything runs (exit 2 on a bad one)."""
    try:
        return choose(store, locks)
    except BackendError as error:
        raise UserError(str(error)) from None


def _load(
    scenario: str, overrides: list[str] | None, variants: list[str] | None
) -> scenarios.Scenario:
    """Load a scenario (the real body runs every variant the model does)."""
    return scenarios.load(scenario, overrides or [], variants or [])


def _options(
    run_time: str | None,
    rate: float | None,
    users: int | None,
    seed: int,
    **extra: Any,
) -> LoadOptions:
    from checkoutsim.load.options import LoadOptions

    return LoadOptions(
        run_time_s=parse_duration(run_time) if run_time else None,
        rate_per_s=rate,
        users=users,
        seed=seed,
        **extra,
    )


def run_real(loaded: scenarios.Scenario, options: LoadOptions, show: bool) -> list[VariantRun]:
    """Load-test every variant of a scenario, with the live table if ``show``."""
    from checkoutsim.load.loadtest import run_variant
    from checkoutsim.load.options import LoadError

    runs = []
    with live_table(show) as table:
        for variant in loaded.variants:
            try:
                runs.append(run_variant(variant, options, table.update))
            except LoadError as error:
                raise UserError(str(error)) from None
    return runs


def register_real(app: typer.Typer) -> None:
    """Add ``loadtest``, ``compare`` and ``serve`` to ``app`` (once, however often called)."""
    known = {command.name for command in app.registered_commands}
    for name, function in (("loadtest", loadtest), ("compare", compare), ("serve", serve)):
        if name not in known:
            app.command(name)(function)

    register_remote(app)


@user_errors
def loadtest(
    scenario: ScenarioArgument,
    variants: VariantOption = None,
    users: UsersOption = None,
    rate: RateOption = None,
    run_time: RunTimeOption = None,
    workers: Annotated[
        int, typer.Option("--workers", min=0, help="Locust worker processes sharing the store.")
    ] = 0,
    web: Annotated[bool, typer.Option("--web", help="Serve Locust's web UI on 127.0.0.1.")] = False,
    web_port: Annotated[int, typer.Option("--web-port", min=1, max=65535)] = 8089,
    as_json: JsonOption = False,
    html: Annotated[
        Path | None, typer.Option("--html", help="Write Locust's HTML report (one per variant).")
    ] = None,
    target: Annotated[
        str | None,
        typer.Option("--target", help="Drive `checkoutsim serve` at this URL instead."),
    ] = None,
    seed: SeedOption = 1,
    overrides: SetOption = None,
    report: ReportFlag = False,
    out_directory: OutOption = None,
    store: StoreOption = None,
    locks: LocksOption = None,
    master: Annotated[
        bool, typer.Option("--master", help="Be a Locust master for `loadtest-worker`s.")
    ] = False,
    expect_workers: Annotated[
        int, typer.Option("--expect-workers", min=1, help="Workers the master waits for.")
    ] = 1,
    master_bind_host: Annotated[
        str,
        typer.Option(
            "--master-bind-host",
            help="Address the master listens on (127.0.0.1; give 0.0.0.0 for other machines).",
        ),
    ] = "127.0.0.1",
    master_port: Annotated[int, typer.Option("--master-port", min=1, max=65535)] = 5557,
) -> None:
    """Hammer the real checkout (SQLite + fake gateway) with Locust, then audit it.

    Exit code 3: the host could not keep up (arrivals started late or the
    service's steps overran their budgets, past 10% of the shopper time-out),
    so at least one variant's verdict is withheld ("safe": null); 2: bad input.
    """
    _backend(store, locks)
    loaded = _load(scenario, overrides, variants)
    if target is not None and not re.match(r"^https?://[^/\s]+/?$", target):
        raise UserError(f"--target {target!r}: expected http://HOST:PORT")
    if target is not None and workers:
        raise UserError("--target and --workers cannot be combined")
    if target is not None and not variants:
        loaded = _served_variant(loaded, target)
    options = _options(
        run_time,
        rate,
        users,
        seed,
        workers=workers,
        target=target,
        web=web,
        web_port=web_port,
        html=html is not None,
        store=store,
        locks=locks,
        master=master,
        expect_workers=expect_workers if master else 0,
        master_bind_host=master_bind_host,
        master_port=master_port,
    )
    if web:
        err.print(f"Locust web UI: http://127.0.0.1:{web_port}", highlight=False)
    runs = run_real(loaded, options, show=not as_json)
    if master:
        from checkoutsim.load.remote import dismiss_workers

        dismiss_workers(options)
    if html is not None:
        _write_html(html, runs)
    if report:
        histories = {run.name: [run.history] for run in runs}
        write_and_announce(real_json(loaded, options, runs), histories, out_directory, loaded)
    if as_json:
        emit_json(real_json(loaded, options, runs))
    else:
        render_real(loaded, runs, options)
    if any(withheld_reason(run.load.get("health")) for run in runs):
        raise typer.Exit(OVERLOADED_EXIT)


def _served_variant(loaded: scenarios.Scenario, target: str) -> scenarios.Scenario:
    """Keep only the variant the server at ``target`` serves."""
    from checkoutsim.load.loadtest import get_json

    try:
        health = get_json(f"{target.rstrip('/')}/health", timeout_s=5)
    except OSError as error:
        raise UserError(f"--target {target}: not reachable ({error})") from None
    return loaded.select([str(health.get("variant"))])


def _write_html(path: Path, runs: list[VariantRun]) -> None:
    """One HTML report per variant: ``path`` itself when there is one variant."""
    for run in runs:
        if run.html is None:
            continue
        target = path if len(runs) == 1 else path.with_name(f"{path.stem}-{run.name}{path.suffix}")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(run.html, encoding="utf-8")
        err.print(f"HTML report written to {target}", highlight=False)


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
) -> tuple[Any, list[VariantRun], list[dict[str, Any]], scenarios.Scenario]:
    """Both bodies at one set of parameters: the model's result, the real runs, the rows
    (every metric judged) and the scenario as the model ran it."""
    from checkoutsim.experiments.runner import run_scenario
    from checkoutsim.load.options import run_settings

    # The model runs exactly what the real run plays: the same length and rates.
    stretched = replace(
        loaded,
        variants=tuple(replace(v, settings=run_settings(v, options)) for v in loaded.variants),
    )
    sim = run_scenario(stretched, seed, replications, keep_histories=keep_histories)
    runs = run_real(loaded, options, show=show)
    rows = [
        compare_row(
            run.name,
            sim_variant.metrics,
            run.metrics,
            run.load,
            variant.settings.real.time_scale,
        )
        for sim_variant, run, variant in zip(sim.variants, runs, stretched.variants, strict=True)
    ]
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
        for row in _compare_once(loaded, options, seed, 1, False, False)[2]:
            rows.append(
                {
                    "point": point.index,
                    "overrides": list(point.overrides),
                    "name": row["name"],
                    "agree": row["agree"],
                    "disagree": row["disagree"],
                    "withheld": row["withheld"],
                    "evidence": row["evidence"],
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


def _seconds(name: str, help_text: str) -> Any:
    """A ``serve`` time-out option: seconds, from 0.1 to an hour."""
    return typer.Option(name, min=0.1, max=3600.0, help=help_text)


HeaderTimeoutOption = Annotated[
    float,
    _seconds("--header-timeout", "Seconds a client has to send a request's line and headers."),
]
BodyTimeoutOption = Annotated[
    float, _seconds("--body-timeout", "Seconds a client has to send a body, after its headers.")
]
IdleTimeoutOption = Annotated[
    float, _seconds("--idle-timeout", "Seconds a kept-alive connection waits for its next request.")
]
SendTimeoutOption = Annotated[
    float, _seconds("--send-timeout", "Seconds a client has to take its answer.")
]


@user_errors
def serve(
    scenario: ScenarioArgument,
    variant: Annotated[
        str | None, typer.Option("--variant", "-v", help="Variant to serve (default: the first).")
    ] = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="0 picks a free port.")
    ] = 8080,
    db: Annotated[
        Path | None,
        typer.Option(
            "--db", help="Shop database file (reopened if it exists; default: temporary)."
        ),
    ] = None,
    seed: SeedOption = 1,
    overrides: SetOption = None,
    store: StoreOption = None,
    locks: LocksOption = None,
    max_connections: Annotated[
        int,
        typer.Option("--max-connections", min=1, help="Connections served at once; more get 503."),
    ] = 4096,
    header_timeout: HeaderTimeoutOption = 10.0,
    body_timeout: BodyTimeoutOption = 10.0,
    idle_timeout: IdleTimeoutOption = 60.0,
    send_timeout: SendTimeoutOption = 30.0,
) -> None:
    """Serve the checkout over HTTP: POST /checkout, GET /audit, /stock, /health."""
    choice = _backend(store, locks)
    if db is not None and (choice.postgres or choice.sqlite_folder is not None):
        raise UserError(f"--db {db}: only with the default SQLite store, not --store {store}")
    loaded = _load(scenario, overrides, [variant] if variant else [])
    chosen = loaded.variants[0]
    from checkoutsim.load.bounded import ServeLimits, fit_to_open_files

    asked = ServeLimits(max_connections, header_timeout, body_timeout, idle_timeout, send_timeout)
    limits, open_files = fit_to_open_files(asked)
    if limits.max_connections < asked.max_connections:
        err.print(
            f"--max-connections {asked.max_connections}: lowered to {limits.max_connections}"
            f" to fit the open-file limit ({open_files})",
            highlight=False,
            soft_wrap=True,
        )
    _log_to_stderr()
    if not choice.default:
        from checkoutsim.load.backed import serve_backed

        serve_backed(loaded.name, chosen, host, port, choice, seed, _announce, limits)
        return
    from checkoutsim.load.server import serve_forever

    serve_forever(loaded.name, chosen, host, port, db, seed, _announce, limits)


def _log_to_stderr() -> None:
    """Send the server's error log (internal errors, with their reference) to stderr."""
    import logging
    import sys

    logger = logging.getLogger("checkoutsim")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.WARNING)


def _announce(url: str, where: Any, recovered: dict[str, int]) -> None:
    """Tell the user (and scripts waiting for it) where the server listens and keeps state."""
    err.print(f"serving on {url}", highlight=False, soft_wrap=True)
    if isinstance(where, str):
        where = f"PostgreSQL schemas {where} (shop) and {where}_gateway (ledger)"
    else:
        where = f"shop {where.shop}, ledger {where.gateway}"
    err.print(where, highlight=False, soft_wrap=True)
    if any(recovered.values()):
        err.print(f"recovered unfinished sagas: {recovered}", highlight=False, soft_wrap=True)
