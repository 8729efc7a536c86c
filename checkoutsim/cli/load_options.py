"""What the load commands share: their options, the backend and scenario checks, and the run.

``loadtest``, ``compare``, ``serve``, ``chaos`` and ``probe`` take the same
``--run-time``, ``--rate``, ``--users``, ``--store`` and ``--locks``; Locust is
imported only inside ``run_real`` (``checkoutsim.load``), because importing it
monkey-patches the whole process with gevent.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any

import typer

from checkoutsim.cli.errors import UserError
from checkoutsim.cli.real_output import live_table
from checkoutsim.real.backends import BackendChoice, BackendError, choose
from checkoutsim.scenario import files as scenarios

if TYPE_CHECKING:
    from checkoutsim.load.options import LoadOptions, VariantRun

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
        help="sqlite:PATH (default) or postgresql://HOST/DB.",
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
