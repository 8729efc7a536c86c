"""The real implementation's commands: ``loadtest``, ``compare`` and ``serve``.

``register_real(app)`` adds them to the main typer app. Each lives in its own
module (``cli/loadtest.py``, ``cli/compare.py``, ``cli/serve.py``; what they
share in ``cli/load_options.py``); the names are re-exported here so that
``from checkoutsim.cli.real import ...`` keeps working.
"""

from __future__ import annotations

import typer

from checkoutsim.cli.compare import INDEPENDENT_SEED_OFFSET, compare, independent_seed
from checkoutsim.cli.load_options import (
    LocksOption,
    RateOption,
    RunTimeOption,
    StoreOption,
    UsersOption,
    _backend,
    _load,
    _options,
    parse_duration,
    run_real,
)
from checkoutsim.cli.loadtest import OVERLOADED_EXIT, loadtest
from checkoutsim.cli.remote import register_remote
from checkoutsim.cli.serve import serve

__all__ = [
    "INDEPENDENT_SEED_OFFSET",
    "OVERLOADED_EXIT",
    "LocksOption",
    "RateOption",
    "RunTimeOption",
    "StoreOption",
    "UsersOption",
    "_backend",
    "_load",
    "_options",
    "compare",
    "independent_seed",
    "loadtest",
    "parse_duration",
    "register_real",
    "run_real",
    "serve",
]


def register_real(app: typer.Typer) -> None:
    """Add ``loadtest``, ``compare`` and ``serve`` to ``app`` (once, however often called)."""
    known = {command.name for command in app.registered_commands}
    for name, function in (("loadtest", loadtest), ("compare", compare), ("serve", serve)):
        if name not in known:
            app.command(name)(function)

    register_remote(app)
