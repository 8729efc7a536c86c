"""Was the host busy during a probe? Its load average against its cores.

A probe's target and its load generator share the host with whatever else
runs there. When the 1-minute load average passes the number of cores, every
process (the target's, the load generator's) also waited for a core, and the
latencies measured say more about the host than about the target: the run says
so, and ``--predict`` names it as the likely cause of a latency it missed.
"""

from __future__ import annotations

import os
from typing import Any


def load_average() -> float:
    """The host's 1-minute load average (runnable and waiting processes)."""
    return os.getloadavg()[0]


def host_load(before: float) -> dict[str, Any]:
    """The load average ``before`` the run and now, against the cores; busy past them."""
    after = load_average()
    cores = os.cpu_count() or 1
    return {
        "load_1m_before": round(before, 2),
        "load_1m_after": round(after, 2),
        "cores": cores,
        "busy": max(before, after) > cores,
    }


def busy_note(load: dict[str, Any]) -> str:
    """One line saying the host was busy, for a run whose latencies are inflated."""
    return (
        f"host busy: load average {load['load_1m_before']:g} before the run and "
        f"{load['load_1m_after']:g} after, on {load['cores']} cores; answers also waited "
        "for a core, so latencies (and their prediction) say more about the host than the "
        "target: judge them from a quieter run"
    )
