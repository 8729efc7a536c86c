"""Reading the CPU for ``real.overload``: the process's own time and its cores' totals.

Linux only (``/proc/stat`` and ``sched_getaffinity``); elsewhere there is no
reading and the run's health says the cores were not measured. The cores are
the ones the calling thread may run on: after ``real.one_core_per_process``
pins the service, that is its one core, shared with whatever else the host
schedules there.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from checkoutsim.real.overload import CpuReading

STAT = Path("/proc/stat")
#: Clock ticks per second of ``/proc/stat`` (USER_HZ).
TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_reading(stat: Path = STAT) -> CpuReading | None:
    """The process's CPU time and its cores' busy and idle time now, or None if unreadable."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    cores = os.sched_getaffinity(0)
    try:
        text = stat.read_text()
    except OSError:
        return None
    busy = idle = 0
    for line in text.splitlines():
        name, _, rest = line.partition(" ")
        if not name.startswith("cpu") or not name[3:].isdigit() or int(name[3:]) not in cores:
            continue
        # user nice system idle iowait irq softirq steal ...; guest time is inside user.
        fields = [int(value) for value in rest.split()[:8]]
        idle_ticks = fields[3] + (fields[4] if len(fields) > 4 else 0)
        busy += sum(fields) - idle_ticks
        idle += idle_ticks
    return CpuReading(
        at_s=time.perf_counter(),
        own_s=time.process_time(),
        cores=len(cores),
        busy_s=busy / TICKS,
        idle_s=idle / TICKS,
    )
