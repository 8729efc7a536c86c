"""``checkoutsim loadtest``: a scenario's variants under Locust, audited.

Each variant gets a fresh database pair, a fresh service and a fresh Locust
``Environment``. The scenario's arrival process is played as an open-model
schedule on the wall clock (compressed by ``real.time_scale``), then in-flight
sagas get the scenario's drain time to finish, then the databases are audited
and summarised into the same metrics contract as the model.

Three ways to run: in this process (the default), against ``checkoutsim serve``
over HTTP (``target``), or with a Locust master and worker processes sharing the
database files (``workers``).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from checkoutsim import audit
from checkoutsim.config import Settings
from checkoutsim.history import History
from checkoutsim.load import session
from checkoutsim.load.runtime import GeventRuntime
from checkoutsim.load.schedule import for_run, plan, shoppers_needed
from checkoutsim.load.session import Progress, SessionOptions, SessionResult
from checkoutsim.load.shoppers import ShopperRun, told_from_response
from checkoutsim.load.users import HttpShopper, InProcessShopper
from checkoutsim.real import overload, records
from checkoutsim.real.records import ServerFacts
from checkoutsim.real.service import CheckoutService, StorePaths, store_parent
from checkoutsim.scenario import Variant

#: Most Locust users a run starts unless told otherwise (greenlets are cheap, not free).
MAX_AUTO_USERS = 5000


class LoadError(Exception):
    """A load test could not run as asked (bad target, workers that never came up)."""


@dataclass(frozen=True)
class LoadOptions:
    """How to load-test: wall-clock length and rate, users, transport, reports."""

    run_time_s: float | None = None
    rate_per_s: float | None = None
    users: int | None = None
    workers: int = 0
    target: str | None = None
    web: bool = False
    web_port: int = 8089
    html: bool = False
    seed: int = 1
    #: ``--store`` and ``--locks`` (``checkoutsim.real.backends``); None: the defaults.
    store: str | None = None
    locks: str | None = None
    #: ``--master``: wait for ``expect_workers`` ``loadtest-worker`` processes on ``port``.
    master: bool = False
    expect_workers: int = 0
    master_bind_host: str = "127.0.0.1"
    master_port: int = 5557


@dataclass
class VariantRun:
    """One variant's audited result."""

    name: str
    description: str
    metrics: dict[str, float]
    checks: list[audit.Check]
    load: dict[str, Any]
    history: History
    html: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def run_settings(variant: Variant, options: LoadOptions) -> Settings:
    """The variant's settings for this run's wall-clock length and rate."""
    settings = variant.settings
    run_time = options.run_time_s if options.run_time_s is not None else settings.real.run_time_s
    return for_run(settings, run_time, options.rate_per_s)


def users_for(settings: Settings, options: LoadOptions) -> int:
    """Users asked for, or enough to carry the schedule (at least ``real.users``)."""
    if options.users is not None:
        return options.users
    return max(settings.real.users, min(shoppers_needed(settings), MAX_AUTO_USERS))


def run_variant(
    variant: Variant, options: LoadOptions, progress: Progress | None = None
) -> VariantRun:
    """Load-test one variant the way ``options`` says, and audit it."""
    settings = run_settings(variant, options)
    if options.master or options.store or options.locks:
        from checkoutsim.load.backed import run_backed

        backed = run_backed(variant, settings, options, progress)
        if backed is not None:
            return backed
    if options.target:
        return _run_http(variant, settings, options, progress)
    if options.workers > 0:
        from checkoutsim.load.distributed import run_master

        return run_master(variant, settings, options, progress)
    return _run_local(variant, settings, options, progress)


def session_options(
    settings: Settings, options: LoadOptions, host: str | None = None
) -> SessionOptions:
    """Locust session options for a run."""
    return SessionOptions(
        users=users_for(settings, options),
        web=options.web,
        web_port=options.web_port,
        html=options.html,
        host=host,
    )


def _run_local(
    variant: Variant, settings: Settings, options: LoadOptions, progress: Progress | None
) -> VariantRun:
    """Service, users and audit all in this process."""
    directory = Path(tempfile.mkdtemp(prefix="checkoutsim-", dir=store_parent(settings)))
    runtime = GeventRuntime.for_settings(settings, process=0)
    try:
        service = CheckoutService(
            settings, StorePaths.in_directory(directory), runtime, options.seed, process=0
        )

        return drive_in_process(service, runtime, variant, settings, options, progress)
    finally:
        runtime.close()
        shutil.rmtree(directory, ignore_errors=True)


def drive_in_process(
    service: CheckoutService,
    runtime: GeventRuntime,
    variant: Variant,
    settings: Settings,
    options: LoadOptions,
    progress: Progress | None,
) -> VariantRun:
    """Play the schedule against an open in-process service, then audit it.

    Shared by every store backend: only how the service is opened differs.
    """

    def send(key: str, body: dict[str, Any]) -> str:
        return told_from_response(*service.api.checkout(key, body))

    run = ShopperRun(plan(settings, options.seed), settings, send, options.seed)
    samples: list[tuple[float, ...]] = []
    jobs = session.background_jobs(service, runtime, settings, samples, lambda: len(run.requests))
    opts = session_options(settings, options)
    env = session.environment([InProcessShopper], opts, run)
    runner = env.create_local_runner()
    origin = _start_origin(opts.users)
    runtime.time.origin = origin
    run.start_at(origin)
    history = session.start(env, runner, opts)
    _play(
        run,
        settings,
        lambda: len(runtime.background) + runtime.offload(service.parked_depth),
        env,
        variant.name,
        samples,
        progress,
    )
    run.mark_running()
    result = session.finish(env, runner, history, options.html)
    for job in jobs:
        job.kill()
    run.requests.kill(block=True, timeout=5)
    runtime.drain(1.0)
    runtime.quiesce()
    service.save_counters()
    facts = records.collect(service.store, service.ledger)
    service.close()
    return assemble(
        variant, settings, run.records, facts, samples, result, opts.users, runtime.steps
    )


def _start_origin(users: int) -> float:
    """When the schedule's clock starts: after the users have had time to spawn."""
    return time.time() + 0.2 + users / 20_000


def _play(
    run: ShopperRun,
    settings: Settings,
    background: Any,
    env: Any,
    name: str,
    samples: list[tuple[float, ...]],
    progress: Progress | None,
) -> None:
    """Wait out the schedule and the drain, reporting progress.

    The drain ends early once every shopper has an answer and ``background()``
    (late gateway work, payments still parked in the retry queue) is 0.
    """
    assert run.origin_perf is not None
    scale = settings.real.time_scale
    load_end = run.origin_perf + settings.load.duration_s * scale
    hard_end = load_end + settings.load.drain_s * scale

    sweeper = settings.saga
    sweep_s = (sweeper.sweeper_min_age_s + sweeper.sweeper_interval_s) * scale
    quiet_since: list[float] = []

    def done() -> bool:
        now = time.perf_counter()
        if not (now >= load_end and run.finished and len(run.requests) == 0):
            quiet_since.clear()
            return False
        if not quiet_since:
            quiet_since.append(now)
        # With a sweeper, payments whose outcome stayed unknown are its to settle:
        # the drain gives it one pass past its minimum age after the last saga ended.
        swept = sweeper.sweeper_interval_s == 0 or now >= quiet_since[0] + sweep_s
        return swept and background() == 0

    session.wait(
        hard_end,
        done,
        lambda: snapshot(name, settings, env, run.origin_perf, samples, run.planned),
        progress,
    )


def snapshot(
    name: str,
    settings: Settings,
    env: Any,
    origin_perf: float | None,
    samples: list[tuple[float, ...]],
    planned: int,
) -> dict[str, Any]:
    """What the live table shows: progress, rate, latency, orders so far."""
    total = env.stats.total
    elapsed = time.perf_counter() - origin_perf if origin_perf is not None else 0.0
    run_time = settings.load.duration_s * settings.real.time_scale
    last = samples[-1] if samples else None
    return {
        "variant": name,
        "phase": "load" if elapsed < run_time else "drain",
        "elapsed_s": max(0.0, elapsed),
        "run_time_s": run_time,
        "planned": planned,
        "answered": total.num_requests,
        "failures": total.num_failures,
        "requests_per_s": total.current_rps,
        "p50_ms": total.get_response_time_percentile(0.5) if total.num_requests else None,
        "p99_ms": total.get_response_time_percentile(0.99) if total.num_requests else None,
        "orders": last[4] if last else 0,
        "available": last[1] if last else None,
    }


def assemble(
    variant: Variant,
    settings: Settings,
    shopper_records: list[list[Any]],
    facts: ServerFacts,
    samples: list[tuple[float, ...]],
    result: SessionResult,
    users: int,
    steps: overload.StepTimes | None = None,
) -> VariantRun:
    """Audit the run and compute the metrics contract (plus wall-clock figures).

    ``steps`` are the service's step overruns when it ran in this process;
    with the schedule lag they say whether the host kept up (``load.health``).
    """
    load = settings.load
    scale = settings.real.time_scale
    end = load.duration_s + load.drain_s
    _close_unanswered(shopper_records, settings.shopper.timeout_s, end)
    checkouts = records.checkout_frame(shopper_records)
    # The shoppers are numbered by their keys; the server's intents are its own.
    facts = records.by_shopper(facts)
    running = [key for row in shopper_records if len(row) > 9 for key in row[9]]
    history = records.build_history(checkouts, facts, samples, end, settings.faults, running)
    checks = records.real_audit(history, facts)
    metrics = records.real_metrics(history, facts, checks, load.duration_s)
    latency = checkouts["latency_s"].dropna().to_numpy() * scale
    lags = np.asarray([record[8] for record in shopper_records], dtype=float)
    wall = {
        "time_scale": scale,
        "run_time_s": load.duration_s * scale,
        "drain_s": load.drain_s * scale,
        "users": users,
        "intents": len(shopper_records),
        "requests": result.requests,
        "failures": result.failures,
        "intents_per_s": len(shopper_records) / max(load.duration_s * scale, 1e-9),
        "latency_wall_p50_s": float(np.percentile(latency, 50)) if latency.size else None,
        "latency_wall_p99_s": float(np.percentile(latency, 99)) if latency.size else None,
        "start_lag_p99_s": float(np.percentile(lags, 99)) if lags.size else None,
        "told": dict(Counter(str(record[6]) for record in shopper_records)),
        "health": overload.judge(lags, steps, settings.shopper.timeout_s * scale).as_json(),
    }
    return VariantRun(
        variant.name, variant.description, metrics, checks, wall, history, result.html
    )


def _close_unanswered(rows: list[list[Any]], timeout_s: float, end_s: float) -> None:
    """Shoppers still waiting when the run ends have given up if their time-out passed."""
    for row in rows:
        if row[7] < 0 and row[1] + timeout_s <= end_s:
            row[6] = "timed_out"
            row[7] = row[1] + timeout_s


# --- against checkoutsim serve ---------------------------------------------------------


def get_json(url: str, timeout_s: float = 30.0) -> dict[str, Any]:
    """GET a JSON document (the server is ours: small, trusted answers)."""
    with urllib.request.urlopen(url, timeout=timeout_s) as response:
        return json.loads(response.read())


def _run_http(
    variant: Variant, settings: Settings, options: LoadOptions, progress: Progress | None
) -> VariantRun:
    """Drive ``checkoutsim serve`` with Locust's FastHttpUser, then fetch its audit."""
    target = (options.target or "").rstrip("/")
    try:
        health = get_json(f"{target}/health", timeout_s=5)
    except OSError as error:
        raise LoadError(f"--target {target}: not reachable ({error})") from None
    if health.get("variant") != variant.name:
        raise LoadError(
            f"--target {target} serves variant {health.get('variant')!r}, not {variant.name!r}"
        )
    if not health.get("fresh", False):
        raise LoadError(
            f"--target {target} has already taken checkouts; restart serve for a clean audit"
        )
    if abs(float(health["time_scale"]) - settings.real.time_scale) > 1e-12:
        raise LoadError(f"--target {target} runs at time scale {health['time_scale']}")
    run = ShopperRun(plan(settings, options.seed), settings, None, options.seed)  # type: ignore[arg-type]
    opts = session_options(settings, options, host=target)
    env = session.environment([HttpShopper], opts, run)
    runner = env.create_local_runner()
    origin = _start_origin(opts.users)
    run.start_at(origin)
    # The server's clock has its own origin: shift its times onto ours.
    offset = (
        get_json(f"{target}/health")["now_s"] + (origin - time.time()) / settings.real.time_scale
    )
    history = session.start(env, runner, opts)
    samples: list[tuple[float, ...]] = []
    _play(run, settings, lambda: 0, env, variant.name, samples, progress)
    run.mark_running()
    result = session.finish(env, runner, history, options.html)
    run.requests.kill(block=False)
    facts = ServerFacts.from_json(get_json(f"{target}/audit?history=1")["history"]).shifted(offset)
    return assemble(variant, settings, run.records, facts, samples, result, opts.users)
