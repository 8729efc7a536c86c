"""Keeping a service process on one core: every thread moves, new threads follow, release undoes it.

It runs in a child process, so that pinning never touches the test runner's threads.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from checkoutsim.load.affinity import core_for

CHECK = """
import os, threading
from checkoutsim.load.affinity import Pinned, TASKS, core_for

def every_thread():
    cores = {}
    for entry in TASKS.iterdir():
        try:
            cores[int(entry.name)] = frozenset(os.sched_getaffinity(int(entry.name)))
        except ProcessLookupError:
            # A thread that Python has joined can still be listed for a moment
            # while the kernel tears it down; it has no cores to check.
            continue
    return cores

before = os.sched_getaffinity(0)
started, stop = threading.Event(), threading.Event()
early = threading.Thread(target=lambda: (started.set(), stop.wait()), daemon=True)
early.start()
started.wait()
core = core_for(1)
assert core in before and core == sorted(before)[1 % len(before)], (core, before)
pinned = Pinned(core)
# Threads already running moved too, not only the one that asked.
assert set(every_thread().values()) == {frozenset({core})}, every_thread()
seen = []
late = threading.Thread(target=lambda: seen.append(os.sched_getaffinity(0)))
late.start()
late.join()
assert seen == [{core}], seen
pinned.release()
assert set(every_thread().values()) == {frozenset(before)}, every_thread()
stop.set()
early.join()
print("ok")
"""


@pytest.mark.skipif(core_for(0) is None, reason="this platform or process cannot pin threads")
def test_pinning_moves_every_thread_and_release_gives_the_cores_back() -> None:
    result = subprocess.run(
        [sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "ok"
