"""Real-time runs shared by several test modules: each distinct command runs once per session.

A ``compare`` of a named scenario at short settings takes tens of seconds of wall
time; the per-scenario agreement test, the report test and the gateway-outage
behaviour test read the same run instead of each making their own.
"""

from __future__ import annotations

import functools
import subprocess
import tempfile
import weakref
from pathlib import Path

from tests.test_real_load import cli

#: The gateway-outage run: 4 wall seconds at time scale 0.02 play 200 model seconds,
#: so the scenario's own outage (60 s to 180 s) falls inside it; 100 shoppers a second.
GATEWAY_OUTAGE = ("--run-time", "4s", "--set", "real.time_scale=0.02", "--rate", "100")

_reports = tempfile.TemporaryDirectory(prefix="checkoutsim-shared-")
weakref.finalize(_reports, _reports.cleanup)


#: Scenarios whose shared run also writes its report (for tests/test_real_report.py);
#: the others skip the figures, which take seconds to draw.
REPORTED = frozenset({"double-click"})


@functools.cache
def compare(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``checkoutsim compare NAME ARGS --json``, run once per session.

    For a scenario in ``REPORTED`` with ``--report --out report_directory(name, *args)``.
    """
    report = ("--report", "--out", str(report_directory(name, *args)))
    return cli("compare", name, *args, "--json", *(report if name in REPORTED else ()))


def report_directory(name: str, *args: str) -> Path:
    """Where the shared run of ``compare NAME ARGS`` writes its report."""
    key = abs(hash((name, *args)))
    return Path(_reports.name) / f"{name}-{key}"
