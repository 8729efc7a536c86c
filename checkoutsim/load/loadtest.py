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
from pathlib import Path
from typing import Any

from checkoutsim.load import session
from checkoutsim.load.backed import run_backed
from checkoutsim.load.distributed import run_master
from checkoutsim.load.drive import _play, _start_origin, assemble, drive_in_process
from checkoutsim.load.options import (
    LoadError,
    LoadOptions,
    VariantRun,
    run_settings,
    session_options,
)
from checkoutsim.load.runtime import GeventRuntime
from checkoutsim.load.schedule import plan
from checkoutsim.load.session import Progress
from checkoutsim.load.shoppers import ShopperRun
from checkoutsim.load.users import HttpShopper
from checkoutsim.real.records import ServerFacts
from checkoutsim.real.service import CheckoutService, StorePaths, store_parent
from checkoutsim.scenario.files import Variant
from checkoutsim.scenario.settings import Settings


def run_variant(
    variant: Variant, options: LoadOptions, progress: Progress | None = None
) -> VariantRun:
    """Load-test one variant the way ``options`` says, and audit it."""
    settings = run_settings(variant, options)
    if options.master or options.store or options.locks:
        backed = run_backed(variant, settings, options, progress)
        if backed is not None:
            return backed
    if options.target:
        return _run_http(variant, settings, options, progress)
    if options.workers > 0:
        return run_master(variant, settings, options, progress)
    return _run_local(variant, settings, options, progress)


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
