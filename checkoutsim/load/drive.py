"""Drive a service with in-process shoppers and assemble the audited run: the steps every
way of running a load test shares.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import numpy as np

from checkoutsim.load import session
from checkoutsim.load.host_cpu import cpu_reading
from checkoutsim.load.options import LoadOptions, VariantRun, session_options
from checkoutsim.load.runtime import GeventRuntime
from checkoutsim.load.schedule import plan
from checkoutsim.load.session import Progress, SessionResult
from checkoutsim.load.shoppers import ShopperRun, told_from_response
from checkoutsim.load.sweeper_watch import SweeperPasses, SweeperWatch
from checkoutsim.load.users import InProcessShopper
from checkoutsim.real import overload, records
from checkoutsim.real.records import ServerFacts
from checkoutsim.real.service import CheckoutService
from checkoutsim.results.money import gateway_fees, priced
from checkoutsim.results.stage_cost import priced_deployment
from checkoutsim.scenario.files import Variant
from checkoutsim.scenario.settings import Settings


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
    passes = SweeperPasses()
    jobs = session.background_jobs(
        service, runtime, settings, samples, lambda: len(run.requests), passes
    )
    opts = session_options(settings, options)
    env = session.environment([InProcessShopper], opts, run)
    runner = env.create_local_runner()
    origin = _start_origin(opts.users)
    runtime.time.origin = origin
    run.start_at(origin)
    history = session.start(env, runner, opts)
    # The cores' shares over the schedule and the drain: was the host busy?
    before = cpu_reading()
    _play(
        run,
        settings,
        lambda: len(runtime.background) + runtime.offload(service.parked_depth),
        env,
        variant.name,
        samples,
        progress,
        SweeperWatch(
            now_s=runtime.time.now,
            late_landed_s=lambda: runtime.late_landed_s,
            passes=passes,
            has_work=lambda: runtime.offload(service.sweeper_has_work),
        ),
    )
    after = cpu_reading()
    cpu = overload.CpuShare.between(before, after) if before and after else None
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
        variant, settings, run.records, facts, samples, result, opts.users, runtime.steps, cpu
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
    sweeper_watch: SweeperWatch | None = None,
) -> None:
    """Wait out the schedule and the drain, reporting progress.

    The drain ends early once every shopper has an answer and ``background()``
    (late gateway work, payments still parked in the retry queue) is 0. With a
    sweeper, the payments whose outcome stayed unknown are its to settle, as the
    model's sweeper settles them in its full drain: the drain waits for a pass
    past their minimum age (``SweeperWatch.settled``) or, without a watch (a
    remote target), for the time one takes after the last saga ended.
    """
    assert run.origin_perf is not None
    scale = settings.real.time_scale
    load_end = run.origin_perf + settings.load.duration_s * scale
    hard_end = load_end + settings.load.drain_s * scale

    sweeper = settings.saga
    sweep_s = (sweeper.sweeper_min_age_s + sweeper.sweeper_interval_s) * scale
    # (wall clock, model clock) when the shop last went quiet.
    quiet_since: list[tuple[float, float]] = []

    def done() -> bool:
        now = time.perf_counter()
        if not (now >= load_end and run.finished and len(run.requests) == 0):
            quiet_since.clear()
            return False
        if not quiet_since:
            quiet_since.append((now, sweeper_watch.now_s() if sweeper_watch else 0.0))
        if background() != 0:
            return False
        if sweeper.sweeper_interval_s == 0:
            return True
        if sweeper_watch is None:
            return now >= quiet_since[0][0] + sweep_s
        # Not a fixed wait: a pass's look-up can start just after a wait of
        # min age + interval ends (passes drift by the look-up's own time), and a
        # capture can land after the shop went quiet; either left an orphan the
        # model, which drains in full, never has.
        return sweeper_watch.settled(quiet_since[0][1], sweeper.sweeper_min_age_s)

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
    cpu: overload.CpuShare | None = None,
) -> VariantRun:
    """Audit the run and compute the metrics contract (plus wall-clock figures).

    ``steps`` are the service's step overruns and hand-off waits when it ran in
    this process, ``cpu`` its cores' shares; with the schedule lag they say
    whether the host kept up (``load.health``).
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
    # Priced as the model prices its runs, so compare shows both bodies' lost revenue.
    metrics.update(priced(metrics, settings.money.order_value))
    fees = settings.gateways.fees()
    metrics.update(gateway_fees(history.ledger, fees, settings.money.order_value))
    if settings.money.price_deployment:  # and what the variant runs, as the model does
        metrics.update(priced_deployment(settings, metrics))
    # Requests that raised instead of answering: a crash, counted apart from outcomes.
    metrics["driver_exceptions"] = sum(int(row[10]) for row in shopper_records if len(row) > 10)
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
        "health": overload.judge(lags, steps, settings.shopper.timeout_s * scale, cpu).as_json(),
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
