"""A service and its runtime on the chosen backend, for this process or a worker."""

from __future__ import annotations

from pathlib import Path

from checkoutsim.load.green import GreenletRuntime
from checkoutsim.load.options import LoadError
from checkoutsim.load.runtime import GeventRuntime
from checkoutsim.real.backends import BackendChoice, RunBackend
from checkoutsim.real.service import CheckoutService, StorePaths
from checkoutsim.scenario.settings import Settings


def make_runtime(
    choice: BackendChoice, settings: Settings, origin: float, process: int | None = None
) -> GeventRuntime:
    """Greenlets for a server store, real threads for SQLite (its calls block).

    ``process`` as in ``GeventRuntime.for_settings``: the index of a process
    that serves checkouts, whose threads then stay on one core.
    """
    kind = GreenletRuntime if choice.postgres else GeventRuntime
    return kind.for_settings(settings, origin, process)


def open_service(
    settings: Settings,
    directory: Path,
    runtime: GeventRuntime,
    seed: int,
    process: int,
    backend: RunBackend,
) -> CheckoutService:
    """One process's service over the run's backend (in ``directory`` for SQLite files)."""
    try:
        return CheckoutService(
            settings, StorePaths.in_directory(directory), runtime, seed, process, backend=backend
        )
    except Exception as error:
        if type(error).__module__.startswith(("psycopg", "redis")):
            # The driver's message can run to several lines: its first says why.
            reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
            raise LoadError(f"cannot open the store: {reason}") from None
        raise
