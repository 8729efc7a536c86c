"""The ``checkoutsim`` entry point: every command group registered on the app, then run.

The command modules import the app from ``cli/app.py`` and never this module, so
registering them here makes no import circle.
"""

from __future__ import annotations

import gc

from checkoutsim.cli.app import app
from checkoutsim.cli.capacity import register_capacity
from checkoutsim.cli.chaos import register_chaos
from checkoutsim.cli.probe import register_probe
from checkoutsim.cli.real import register_real
from checkoutsim.cli.report import register_report
from checkoutsim.cli.walkthrough import register_walkthrough

# isort: split
# Imported for their @app.command registrations, in the order --help lists them.
import checkoutsim.cli.scenarios

# isort: split
import checkoutsim.cli.experiments  # noqa: F401

# UserError and user_errors live in checkoutsim.cli.errors; the command modules
# import them from here too.


def main() -> None:
    """Console-script entry point."""
    # What is imported by now lives as long as the process: freezing it keeps
    # the garbage collector from walking it again in every full collection,
    # which a simulation's millions of short-lived events set off often
    # (about 6% of a flash-sale run's instructions).
    gc.freeze()
    app()


def _register_commands() -> None:
    """Add the commands that live in their own modules."""
    register_real(app)
    register_capacity(app)
    register_chaos(app)
    register_probe(app)
    register_report(app)
    register_walkthrough(app)


_register_commands()
