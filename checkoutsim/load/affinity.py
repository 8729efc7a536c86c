"""Keeping the threads of a process that runs the service on one core.

CPython runs one thread's Python at a time (the GIL), and the service's threads
hand it over thousands of times a second: at every database call, every group
commit, every result handed back to the hub. When the threads sit on different
cores, each hand-over wakes a thread on another core, which costs an
inter-processor interrupt, and on a virtual machine an exit to the hypervisor;
the process then burns most of its CPU in the kernel's scheduler. Kept on one
core, the same hand-overs are plain context switches. The races stay real: the
threads still interleave at every database call and at every preemption.

Processes that run the service pin themselves when ``real.one_core_per_process``
is on (the default): a lone process takes the first core it may use, worker
``i`` of a ``--workers`` run the ``i``-th, so that two workers get two cores.
"""

from __future__ import annotations

import os
from pathlib import Path

TASKS = Path("/proc/self/task")


def core_for(process: int) -> int | None:
    """The core for service process ``process`` (0, 1, ...); None where pinning cannot help.

    That is on a platform without ``sched_setaffinity`` (or without ``/proc``
    to reach every thread), or where this process may only use one core anyway.
    """
    if not hasattr(os, "sched_setaffinity") or not TASKS.is_dir():
        return None
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) <= 1:
        return None
    return allowed[process % len(allowed)]


class Pinned:
    """Every thread of this process on ``core``, until ``release`` gives back the cores it had.

    Threads started later inherit the core from the thread that starts them.
    """

    def __init__(self, core: int) -> None:
        self.core = core
        self._before = os.sched_getaffinity(0)
        _set_every_thread({core})

    def release(self) -> None:
        """Let every thread of this process run on the cores it could use before."""
        _set_every_thread(self._before)


def _set_every_thread(cores: set[int]) -> None:
    for entry in TASKS.iterdir():
        try:
            os.sched_setaffinity(int(entry.name), cores)
        except (OSError, ValueError):
            # The thread ended since the listing; nothing to move.
            continue
