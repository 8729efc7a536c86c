"""What a load test is asked to do and what it hands back: options, the run record, its
error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from checkoutsim.load.schedule import for_run, shoppers_needed
from checkoutsim.load.session import SessionOptions
from checkoutsim.results import audit
from checkoutsim.results.history import History
from checkoutsim.scenario.files import Variant
from checkoutsim.scenario.settings import Settings

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
