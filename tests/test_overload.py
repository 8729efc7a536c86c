"""Telling an overloaded host from an unsafe design: lag, overrun, threshold, withheld verdict."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from checkoutsim.load.host_cpu import cpu_reading
from checkoutsim.policy.inventory import has_race_window
from checkoutsim.real.overload import (
    HANDOFF_SHARE,
    LAG_SHARE,
    OVERRUN_SHARE,
    RACE_FLOOR_S,
    RACE_NOT_MEASURED,
    RACE_SHARE,
    CpuReading,
    CpuShare,
    StepTimes,
    judge,
    race_rule_status,
    race_window_s,
    race_withheld_reason,
    summary,
    withheld_reason,
)
from checkoutsim.report.page import agreement_rows, verdict_rows
from tests.test_agreement import CLEAN as CLEAN_METRICS
from tests.test_real_load import cli, overloaded

#: A shopper time-out of 1 wall second: the limits are 100 ms each.
TIMEOUT_S = 1.0


def _steps(*pairs: tuple[float, float]) -> StepTimes:
    steps = StepTimes()
    for budget, took in pairs:
        steps.record(budget, took)
    return steps


def test_a_schedule_played_on_time_is_trusted() -> None:
    lags = [0.001] * 990 + [0.02] * 10  # a few arrivals 20 ms late
    health = judge(lags, _steps((0.05, 0.051), (0.2, 0.203)), TIMEOUT_S)
    assert not health.overloaded and health.reason is None
    assert health.schedule_lag.p50_s == 0.001 and health.schedule_lag.max_s == 0.02
    assert health.step_overrun.max_s is not None and abs(health.step_overrun.max_s - 0.003) < 1e-9
    assert health.lag_limit_s == LAG_SHARE * TIMEOUT_S and health.steps == 2


def test_arrivals_that_fell_behind_make_the_run_overloaded() -> None:
    lags = [0.001] * 900 + [0.5] * 100  # the last tenth started half a second late
    health = judge(lags, _steps((0.05, 0.05)), TIMEOUT_S)
    assert health.overloaded
    assert health.schedule_lag.p99_s == 0.5
    assert health.reason is not None and "arrivals started late" in health.reason
    assert "steps overran" not in health.reason


def test_steps_past_their_budgets_make_the_run_overloaded_even_on_schedule() -> None:
    steps = _steps(*[(0.01, 0.01)] * 50, *[(0.01, 0.31)] * 50)  # half took 300 ms too long
    health = judge([0.0] * 100, steps, TIMEOUT_S)
    assert health.overloaded and health.reason is not None
    assert "steps overran their budgets" in health.reason
    assert health.step_overrun.p99_s is not None and abs(health.step_overrun.p99_s - 0.3) < 1e-9


def test_a_step_that_ends_early_overruns_by_nothing_and_unmeasured_steps_are_not_judged() -> None:
    assert _steps((0.1, 0.05)).overruns == [0.0]
    health = judge([0.0, 0.01], None, TIMEOUT_S)
    assert not health.overloaded and health.step_overrun.p99_s is None
    assert "step overrun: not measured" in summary(health.as_json())


@given(
    lags=st.lists(st.floats(0, 10), min_size=1, max_size=200),
    overruns=st.lists(st.floats(0, 10), max_size=200),
    timeout=st.floats(0.01, 100),
)
def test_overloaded_exactly_when_a_p99_passes_its_share_of_the_time_out(
    lags: list[float], overruns: list[float], timeout: float
) -> None:
    steps = _steps(*[(0.0, overrun) for overrun in overruns])
    health = judge(lags, steps, timeout)
    lag_over = health.schedule_lag.p99_s is not None and (
        health.schedule_lag.p99_s > LAG_SHARE * timeout
    )
    step_over = health.step_overrun.p99_s is not None and (
        health.step_overrun.p99_s > OVERRUN_SHARE * timeout
    )
    assert health.overloaded == (lag_over or step_over)
    assert (withheld_reason(health.as_json()) is None) == (not health.overloaded)
    assert health.schedule_lag.max_s == max(lags)


def test_work_that_waited_for_a_service_thread_makes_the_run_overloaded() -> None:
    steps = _steps((0.05, 0.05))
    for waited in [0.001] * 95 + [0.4] * 5:  # a starved pool: 5% waited 400 ms
        steps.record_handoff(waited)
    health = judge([0.0] * 100, steps, TIMEOUT_S)
    assert health.overloaded and health.reason is not None
    assert "waited for a service thread: p99 400" in health.reason
    assert health.handoff_limit_s == HANDOFF_SHARE * TIMEOUT_S
    assert "thread hand-off wait p50 1.0 ms" in summary(health.as_json())
    quick = _steps((0.05, 0.05))
    quick.record_handoff(0.002)
    assert not judge([0.0], quick, TIMEOUT_S).overloaded


def _reading(at: float, own: float, busy: float, idle: float, cores: int = 1) -> CpuReading:
    return CpuReading(at_s=at, own_s=own, cores=cores, busy_s=busy, idle_s=idle)


def test_other_processes_on_a_core_with_nothing_idle_make_the_host_busy() -> None:
    # 10 s on one core: the service ran 5.5 s, the core was busy 10 s: others took 45%.
    share = CpuShare.between(_reading(100, 20, 500, 300), _reading(110, 25.5, 510, 300))
    assert share is not None
    assert (round(share.own, 3), round(share.others, 3), share.idle) == (0.55, 0.45, 0.0)
    assert share.busy_host
    health = judge([0.0], _steps((0.05, 0.05)), TIMEOUT_S, share)
    assert health.overloaded and health.reason is not None
    assert health.reason.startswith("host busy: other processes took 45% of the 1 core")
    assert "cores: own 55%, other processes 45%, idle 0%" in summary(health.as_json())
    assert withheld_reason(health.as_json()) == f"host busy / behind schedule ({health.reason})"


def test_other_processes_that_left_the_core_idle_time_did_not_starve_the_service() -> None:
    # Two cores, 10 s: own 8 s, busy 14 s (others 6 s, 30%), idle 6 s (30%).
    share = CpuShare.between(_reading(0, 0, 0, 0, cores=2), _reading(10, 8, 14, 6, cores=2))
    assert share is not None and round(share.others, 3) == 0.3 and round(share.idle, 3) == 0.3
    assert not share.busy_host
    assert not judge([0.0], None, TIMEOUT_S, share).overloaded
    # A quiet core: the service alone, nothing for anyone else.
    quiet = CpuShare.between(_reading(0, 0, 0, 0), _reading(10, 6, 6, 4))
    assert quiet is not None and quiet.others == 0.0 and not quiet.busy_host
    # A light service beside a busy neighbour: the core is full, but it got its 15%.
    light = CpuShare.between(_reading(0, 0, 0, 0), _reading(10, 1.5, 10, 0))
    assert light is not None and round(light.others, 3) == 0.85 and not light.busy_host
    assert CpuShare.between(_reading(5, 0, 0, 0), _reading(5, 0, 0, 0)) is None


def test_the_cores_are_read_from_proc_stat_for_the_cores_the_process_may_use(
    tmp_path: Path,
) -> None:
    cores = sorted(os.sched_getaffinity(0))
    stat = tmp_path / "stat"
    lines = ["cpu  9 9 9 9 9 9 9 9 0 0"]  # the total line is not a core
    # user nice system idle iowait irq softirq steal guest guest_nice, in ticks
    lines += [f"cpu{core} 100 0 50 300 20 0 10 5 0 0" for core in cores]
    lines.append(f"cpu{max(cores) + 1} 1000 0 0 0 0 0 0 0 0 0")  # a core it may not use
    stat.write_text("\n".join([*lines, "intr 1 2 3"]) + "\n")
    reading = cpu_reading(stat)
    assert reading is not None and reading.cores == len(cores)
    ticks = os.sysconf("SC_CLK_TCK")
    assert reading.busy_s == pytest.approx(len(cores) * 165 / ticks)
    assert reading.idle_s == pytest.approx(len(cores) * 320 / ticks)
    assert cpu_reading(tmp_path / "missing") is None


#: A shopper time-out of 0.01 model seconds (half a wall millisecond at 0.05):
#: no host plays arrivals that closely, so the run must call itself overloaded.
IMPATIENT = [
    "--run-time", "1s", "--rate", "100", "--set", "real.time_scale=0.05",
    "--set", "shopper.timeout_s=0.01", "--set", "catalog.skus=8",
]  # fmt: skip


def test_an_overloaded_load_test_withholds_its_verdict_and_exits_3() -> None:
    result = cli("loadtest", "saga-vs-2pc", "-v", "saga", *IMPATIENT, "--json")
    assert result.returncode == 3, result.stderr[-2000:]
    (variant,) = json.loads(result.stdout)["variants"]
    assert overloaded(variant)
    assert variant["verdict"] == {
        "safe": None,
        "violations": {},
        "withheld": variant["verdict"]["withheld"],
    }
    health = variant["load"]["health"]
    assert health["schedule_lag"]["p99_s"] > health["lag_limit_s"]
    text = cli("loadtest", "saga-vs-2pc", "-v", "saga", *IMPATIENT)
    assert text.returncode == 3
    assert "no verdict: host busy / behind schedule (" in " ".join(text.stdout.split())
    assert "unsafe" not in text.stdout
    assert "Exit code 3" in cli("loadtest", "--help").stdout


def test_compare_gives_no_agreement_for_an_overloaded_variant() -> None:
    result = cli("compare", "saga-vs-2pc", "-v", "saga", *IMPATIENT, "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    (row,) = json.loads(result.stdout)["variants"]
    assert row["agree"] is None and row["withheld"].startswith("host busy / behind schedule")
    assert all(line["agree"] is None for line in row["evidence"])
    assert row["health"]["overloaded"] is True


def test_the_report_shows_an_overloaded_run_without_a_violation() -> None:
    metrics = {"checkouts": 10, "orders": 3, "orphan_payments": 7, "oversold_units": 0}
    withheld = "host busy / behind schedule (arrivals started late)"
    loadtest = {
        "mode": "real",
        "variants": [
            {"name": "saga", "metrics": metrics, "verdict": {"safe": None, "withheld": withheld}}
        ],
    }
    table = verdict_rows(loadtest)
    (row,) = table["rows"]
    safety = row["cells"][table["header"].index("safety")]
    assert safety["text"] == "no verdict: host busy / behind schedule"
    assert safety["tone"] == "withheld"
    assert row["line"] == "no verdict: host busy / behind schedule"
    assert not any(cell["tone"] == "bad" for cell in row["cells"])
    comparison = {
        "mode": "compare",
        "variants": [
            {"name": "saga", "sim": metrics, "real": metrics, "agree": None, "withheld": withheld}
        ],
    }
    (line,) = agreement_rows(comparison)
    assert line["real"] == "no verdict: host busy / behind schedule"
    assert line["model"].startswith("unsafe")


def test_a_race_window_is_the_gap_and_one_round_trip_in_wall_seconds() -> None:
    assert race_window_s(0.002, 0.001, 1.0) == pytest.approx(0.003)
    assert race_window_s(0.002, 0.001, 0.5) == pytest.approx(0.0025)


def test_timers_late_by_more_than_half_a_race_window_withhold_the_verdict() -> None:
    # Figures of two real runs at one grid point (2.1 ms round trip, 0.9 ms gap):
    # idle host, timers' p50 0.4 ms late; ten busy processes beside it, 3.5 ms.
    window = race_window_s(0.00212, 0.00091, 1.0)
    idle = judge([0.0005], _steps((0.25, 0.2504)), TIMEOUT_S).as_json()
    busy = judge([0.0096], _steps((0.25, 0.2535)), TIMEOUT_S).as_json()
    assert not busy["overloaded"]  # the run-level limits miss it: they are 100 ms here
    assert race_withheld_reason(idle, window) is None
    reason = race_withheld_reason(busy, window)
    assert reason is not None and "3.0 ms window" in reason
    assert race_withheld_reason(None, window) is None
    assert race_withheld_reason(busy, 0.0) is None


@given(st.floats(0.0, 0.1), st.floats(0.0001, 0.1))
def test_the_race_rule_withholds_exactly_past_its_share(late_s: float, window_s: float) -> None:
    health = judge([0.0], _steps((0.1, 0.1 + late_s)), TIMEOUT_S).as_json()
    lateness = health["step_overrun"]["p50_s"]
    withheld = race_withheld_reason(health, window_s) is not None
    assert withheld == (lateness > max(RACE_SHARE * window_s, RACE_FLOOR_S))
    # An idle host's lateness (0.4 to 0.6 ms at p50) never withholds a verdict.
    if lateness <= RACE_FLOOR_S:
        assert not withheld


def test_idle_lateness_at_the_shortest_window_keeps_the_verdict() -> None:
    # 0.5 ms round trip, no gap: half the window is 0.25 ms, below an idle
    # host's 0.4 to 0.6 ms; the floor keeps such runs judged.
    window = race_window_s(0.0005, 0.0, 1.0)
    idle = judge([0.0005], _steps((0.25, 0.2506)), TIMEOUT_S).as_json()
    assert race_withheld_reason(idle, window) is None
    busy = judge([0.0096], _steps((0.25, 0.2535)), TIMEOUT_S).as_json()
    assert race_withheld_reason(busy, window) is not None


def test_only_strategies_with_a_read_to_write_window_have_a_race_rule() -> None:
    for strategy in ("naive", "check_then_decrement", "lock_ttl"):
        assert has_race_window(strategy)
    assert has_race_window("mutex", processes=2) and not has_race_window("mutex")
    # A CHECK constraint turns the window into errors, never into oversold units.
    assert not has_race_window("check_then_decrement", check_constraint=True)
    for strategy in ("atomic", "decrement_then_check", "queue_per_sku", "select_for_update",
                     "stock_buckets", "optimistic", "fenced"):  # fmt: skip
        assert not has_race_window(strategy)


def test_a_run_without_step_timings_says_the_race_rule_was_not_measured() -> None:
    window = race_window_s(0.002, 0.001, 1.0)
    remote = judge([0.0005], None, TIMEOUT_S).as_json()  # --workers, --target
    assert race_rule_status(remote, window) == RACE_NOT_MEASURED
    local = judge([0.0005], _steps((0.25, 0.2504)), TIMEOUT_S).as_json()
    assert race_rule_status(local, window) is None
    assert race_rule_status(remote, None) is None  # no window, nothing to measure


def test_a_race_withholds_the_invariants_and_keeps_rates_and_latencies() -> None:
    from checkoutsim.cli.compare_view import compare_row

    busy = judge([0.0096], _steps((0.25, 0.2535)), TIMEOUT_S).as_json()
    metrics = {**CLEAN_METRICS, "oversold_units": 40, "latency_p50_s": 3.0}
    model = {**CLEAN_METRICS, "oversold_units": 0}
    row = compare_row("naive", model, metrics, {"health": busy}, 1.0,
                      race_window_s=race_window_s(0.002, 0.001, 1.0))  # fmt: skip
    assert row["withheld"] is None and row["invariants_withheld"] is not None
    judged = {line["metric"]: line["agree"] for line in row["evidence"] if line["judged"]}
    assert judged["oversold_units"] is None
    assert judged["latency_p50_s"] is False
    assert row["agree"] is False and row["disagree"] == ["latency_p50_s"]
    # Without a window (atomic, ...) the same run's invariants are judged.
    row = compare_row("atomic", model, metrics, {"health": busy}, 1.0, race_window_s=None)
    assert row["invariants_withheld"] is None
    assert "oversold_units" in row["disagree"]


#: Run in a child process: Locust monkey-patches the process that imports it.
HANDOFF_PROBE = """
import time
import locust  # noqa: F401
from checkoutsim.load.runtime import GeventRuntime
runtime = GeventRuntime(time.time(), 1.0, threads=2, general_threads=2)
answers = [runtime.offload(lambda n: n * 2, n) for n in range(3)]
runtime.offload_inventory(lambda: None)  # the inventory queue is the model's: not a hand-off
handoffs = runtime.steps.handoffs
print(answers, len(handoffs), all(0.0 <= wait < 60.0 for wait in handoffs))
runtime.close()
"""


def test_each_hand_off_to_the_service_pool_records_its_wait() -> None:
    completed = subprocess.run(
        [sys.executable, "-c", HANDOFF_PROBE], capture_output=True, text=True, timeout=120
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert completed.stdout.strip().splitlines()[-1] == "[0, 2, 4] 3 True"
