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
is on (the default). The cores it may use are ranked by how many processes
elsewhere on the host are already held to each one alone (fewest first, then
in order): a lone process takes the first, worker ``i`` of a ``--workers`` run
the ``i``-th, so that two workers get two cores, and a second run started
beside a pinned one does not share its core (both took the first core it could
use, before).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

TASKS = Path("/proc/self/task")
PROC = Path("/proc")
#: The kernel's thread-starting thread: its children (per-core kernel threads) are not runs.
KTHREADD = 2


def core_for(process: int, siblings: bool = False, proc: Path = PROC) -> int | None:
    """The core for service process ``process`` (0, 1, ...); None where pinning cannot help.

    That is on a platform without ``sched_setaffinity`` (or without ``/proc``
    to reach every thread), or where this process may only use one core anyway.
    ``siblings``: this is one of a run's workers, which all have one parent and
    are not counted against each other (they spread by index; one pinned before
    another looks would otherwise shift the ranking under it).
    """
    if not hasattr(os, "sched_setaffinity") or not TASKS.is_dir():
        return None
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) <= 1:
        return None
    skip_parent = os.getppid() if siblings else None
    return pick_core(allowed, held_elsewhere(allowed, proc, skip_parent), process)


def pick_core(allowed: Sequence[int], held: Mapping[int, int], process: int) -> int:
    """The ``process``-th of the ``allowed`` cores, fewest ``held`` processes first."""
    ranked = sorted(allowed, key=lambda core: (held.get(core, 0), core))
    return ranked[process % len(ranked)]


def held_elsewhere(
    allowed: Collection[int], proc: Path = PROC, skip_parent: int | None = None
) -> Counter[int]:
    """How many other processes are held to each of the ``allowed`` cores alone.

    Read from each process's affinity (its main thread's, which a pinned run
    sets with every other thread's). Not counted: this process, kernel threads
    (pinned per core by design), and the children of ``skip_parent``.
    """
    own = os.getpid()
    held: Counter[int] = Counter()
    try:
        entries = list(proc.iterdir())
    except OSError:
        return held  # no process table to read: every core looks free
    for entry in entries:
        if not entry.name.isdigit() or int(entry.name) in (own, KTHREADD):
            continue
        try:
            cores = os.sched_getaffinity(int(entry.name))
            parent = _parent(entry)
        except (OSError, ValueError):
            continue  # ended since the listing, or not ours to read
        if len(cores) != 1 or parent in (KTHREADD, skip_parent):
            continue
        core = next(iter(cores))
        if core in allowed:
            held[core] += 1
    return held


def _parent(entry: Path) -> int:
    """The parent pid in ``/proc/PID/stat`` (after the command, which may hold spaces)."""
    text = (entry / "stat").read_text()
    try:
        return int(text[text.rindex(")") + 2 :].split()[1])
    except (IndexError, ValueError) as error:
        # A malformed line (a process mid-exit): read as unreadable, like a vanished one.
        raise OSError(f"unreadable {entry / 'stat'}") from error


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
