"""The real bench's figures: CPU use per window, and every figure from one run.

Importing the load modules lets Locust monkey-patch the process, so the checks
that need them run in a child process; ``real_bench`` already measures in one.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

CPU_SECONDS_CHECK = """
import os, time
from checkoutsim.load.distributed import cpu_seconds
before = cpu_seconds([os.getpid()])
deadline = time.process_time() + 0.3
while time.process_time() < deadline:
    pass
after = cpu_seconds([os.getpid()])
assert before is not None and after is not None, (before, after)
assert 0.2 <= after - before <= 1.0, (before, after)
# A process that is gone cannot be counted: no figure rather than an understated one.
gone = subprocess.Popen([sys.executable, "-c", "pass"])
gone.wait()
assert cpu_seconds([os.getpid(), gone.pid]) is None
print("ok")
"""


def test_cpu_seconds_counts_busy_time_and_refuses_a_gone_process() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "import subprocess, sys\n" + CPU_SECONDS_CHECK],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("ok")


@pytest.mark.slow
def test_real_bench_reports_cores_and_load_with_the_speedup() -> None:
    from checkoutsim.load.bench import real_bench

    figures = real_bench(seconds=1.0)["real"]
    assert figures["checkouts_per_s"] > 0
    assert figures["workers2_checkouts_per_s"] > 0
    assert figures["workers2_speedup"] == pytest.approx(
        figures["workers2_checkouts_per_s"] / figures["checkouts_per_s"], rel=0.01
    )
    assert figures["checkouts_any_core_per_s"] > 0
    # Two workers on stores of their own: nothing shared, and no one lock to bound them.
    assert figures["workers2_own_files_per_s"] > 0
    assert figures["workers2_lock_bound_per_s"] > 0
    assert figures["disk_checkouts_per_s"] > 0
    for key in ("checkouts_cores", "workers2_cores"):
        assert figures[key] is None or figures[key] > 0
    assert figures["cpu_count"] >= 1
    assert len(figures["load_average_1m"]) == 2


def test_lock_figures_are_per_checkout_and_bound_the_rate() -> None:
    from checkoutsim.load.bench import lock_figures

    figures = {"groups": 50, "writes": 200, "waited_s": 0.05, "held_s": 0.25, "checkouts": 1000}
    result = lock_figures(figures, "two")
    assert result["two_lock_held_ms_per_checkout"] == pytest.approx(0.25)
    assert result["two_lock_waited_ms_per_checkout"] == pytest.approx(0.05)
    # The lock, held 0.25 ms a checkout by one process at a time, allows 4,000 a second.
    assert result["two_lock_bound_per_s"] == pytest.approx(4000.0)
    assert result["two_writes_per_group"] == pytest.approx(4.0)
    assert lock_figures(None, "two") == {}
    assert lock_figures({**figures, "checkouts": 0}, "two") == {}


def test_the_disk_run_moves_the_files_out_of_shared_memory() -> None:
    import tempfile
    from pathlib import Path

    from checkoutsim.load.bench import bench_settings, file_system, on_disk
    from checkoutsim.real.service import store_parent

    disk = on_disk(bench_settings())
    assert store_parent(disk) == Path(tempfile.gettempdir())
    if not Path("/proc/mounts").exists():
        pytest.skip("no /proc/mounts here")
    assert file_system(Path("/")) not in ("unknown", "")
    if Path("/dev/shm").is_dir():
        assert file_system(Path("/dev/shm")) == "tmpfs"


@pytest.mark.slow
def test_http_bench_puts_serve_beside_the_bare_app() -> None:
    from checkoutsim.load.bench_http import http_bench

    figures = http_bench(seconds=1.0)["real"]
    assert figures["http_checkouts_per_s"] > 0 and figures["bare_wsgi_per_s"] > 0
    assert figures["share_of_bare_wsgi"] == pytest.approx(
        figures["http_checkouts_per_s"] / figures["bare_wsgi_per_s"], rel=0.01
    )
    assert len(figures["http_rounds_per_s"]) == figures["rounds"]
    # The in-process checkout, in the same rounds: the bound HTTP cannot pass.
    assert len(figures["in_process_rounds_per_s"]) == figures["rounds"]
    assert figures["in_process_checkouts_per_s"] > 0
    assert figures["share_of_in_process"] == pytest.approx(
        figures["http_checkouts_per_s"] / figures["in_process_checkouts_per_s"], rel=0.01
    )
