"""Load tests on a chosen backend: ``--store postgresql://...``, ``--locks redis://...``.

The in-process run is the default load test's (``checkoutsim.load.loadtest``)
with the run's state on the chosen backend: a fresh namespace (schemas, key
prefix) per variant, created before the run and dropped after the audit. With a
PostgreSQL store the service's calls run in greenlets (``GreenletRuntime``:
their sockets are cooperative); SQLite keeps its thread pool. ``--master`` and
``--workers N`` with a server store go to ``checkoutsim.load.remote``.
``serve_backed`` is ``checkoutsim serve`` on such a backend.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from checkoutsim.load.backend_service import make_runtime, open_service
from checkoutsim.load.bounded import ServeLimits
from checkoutsim.load.drive import drive_in_process
from checkoutsim.load.options import LoadError, LoadOptions, VariantRun
from checkoutsim.load.remote import run_master
from checkoutsim.load.runtime import GeventRuntime
from checkoutsim.load.session import Progress
from checkoutsim.policy.inventory import WILD_STRATEGIES
from checkoutsim.real.backends import BackendChoice, BackendError, RunBackend, choose
from checkoutsim.real.service import CheckoutService, StorePaths, store_parent
from checkoutsim.scenario.files import Variant
from checkoutsim.scenario.settings import Settings


def run_backed(
    variant: Variant, settings: Settings, options: LoadOptions, progress: Progress | None
) -> VariantRun | None:
    """Run one variant on the chosen backend; None when the defaults serve it unchanged."""
    try:
        choice = choose(options.store, options.locks)
    except BackendError as error:
        raise LoadError(str(error)) from None
    strategy = settings.inventory.strategy
    if strategy in WILD_STRATEGIES and (choice.postgres or choice.redis):
        raise LoadError(
            f"inventory.strategy {strategy!r} runs on the SQLite store only so far;"
            " drop --store postgresql://... and --locks redis://..."
        )
    if options.master or (options.workers > 0 and not choice.default):
        if not choice.postgres:
            raise LoadError(
                "--master and --workers with --store/--locks need a server store"
                " (--store postgresql://...): workers share state through it"
            )

        return run_master(variant, settings, options, choice, progress)
    if choice.default or options.target:
        return None
    return run_local(variant, settings, options, choice, progress)


def run_local(
    variant: Variant,
    settings: Settings,
    options: LoadOptions,
    choice: BackendChoice,
    progress: Progress | None,
) -> VariantRun:
    """Service, users and audit in this process, with state on the chosen backend."""
    with served(choice, settings, options.seed, "checkoutsim-") as (service, runtime, _):
        return drive_in_process(service, runtime, variant, settings, options, progress)


@contextmanager
def served(
    choice: BackendChoice, settings: Settings, seed: int, prefix: str
) -> Iterator[tuple[CheckoutService, GeventRuntime, Any]]:
    """A fresh namespace on the chosen backend and this process's service over it.

    Yields the service, its runtime and where the store is (the namespace for
    PostgreSQL, the files for SQLite); afterwards the runtime is closed, the
    namespace dropped and the temporary folder removed.
    """
    folder = choice.sqlite_folder or store_parent(settings)
    folder.mkdir(parents=True, exist_ok=True)
    directory = Path(tempfile.mkdtemp(prefix=prefix, dir=folder))
    backend = RunBackend(choice)
    runtime = make_runtime(choice, settings, time.time(), process=0)
    try:
        service = open_service(settings, directory, runtime, seed, 0, backend)
        where = backend.namespace if choice.postgres else StorePaths.in_directory(directory)
        yield service, runtime, where
    finally:
        runtime.close()
        backend.drop()
        shutil.rmtree(directory, ignore_errors=True)


def serve_backed(
    scenario: str,
    variant: Variant,
    host: str,
    port: int,
    choice: BackendChoice,
    seed: int,
    announce: Callable[[str, Any, dict[str, int]], None],
    limits: ServeLimits,
) -> None:
    """``checkoutsim serve`` on a chosen backend, until SIGINT or SIGTERM.

    The server gets a fresh namespace (announced as its store), dropped when it
    stops cleanly; a server killed outright leaves it for inspection.
    """
    from checkoutsim.load.server import serve_until_stopped

    with served(choice, variant.settings, seed, "checkoutsim-serve-") as opened:
        service, runtime, where = opened
        serve_until_stopped(
            service,
            runtime,
            scenario,
            variant.name,
            (host, port),
            lambda url: announce(url, where, {}),
            limits,
        )
