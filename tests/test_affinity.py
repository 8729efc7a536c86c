"""Keeping a service process on one core: every thread moves, new threads follow, release undoes it.

It runs in a child process, so that pinning never touches the test runner's threads.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from checkoutsim.load.affinity import core_for, held_elsewhere, pick_core

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
# Which one depends on what else the host holds to its cores (see the tests below).
assert core in before, (core, before)
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


def test_cores_are_ranked_by_processes_held_to_them_then_in_order() -> None:
    assert pick_core([0, 1], {}, 0) == 0
    assert pick_core([0, 1], {}, 1) == 1
    # A run already holds core 0: a lone process takes 1, a second worker 0.
    assert pick_core([0, 1], {0: 1}, 0) == 1
    assert pick_core([0, 1], {0: 1}, 1) == 0
    assert pick_core([2, 5, 7], {2: 3, 5: 1, 7: 1}, 0) == 5
    assert pick_core([2, 5, 7], {2: 3, 5: 1, 7: 1}, 4) == 7


@pytest.mark.skipif(
    core_for(0) is None or len(os.sched_getaffinity(0)) < 2,
    reason="this platform or process cannot pin threads to two cores",
)
def test_a_second_run_does_not_take_the_core_a_pinned_one_holds(tmp_path: Path) -> None:
    """A process held to the first core (a run started before) sends a lone
    process to the next one; both took the first core before. Read from a
    ``/proc`` holding only that process, so other processes on the host do not
    count."""
    allowed = sorted(os.sched_getaffinity(0))
    other = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )
    try:
        os.sched_setaffinity(other.pid, {allowed[0]})
        entry = tmp_path / str(other.pid)
        entry.mkdir()
        (entry / "stat").write_text(Path(f"/proc/{other.pid}/stat").read_text())
        assert held_elsewhere(allowed, tmp_path) == {allowed[0]: 1}
        assert core_for(0, proc=tmp_path) == allowed[1]
        # Its siblings (one parent: this test) are a run's own workers, not another run.
        assert held_elsewhere(allowed, tmp_path, skip_parent=os.getpid()) == {}
    finally:
        other.communicate(b"")
