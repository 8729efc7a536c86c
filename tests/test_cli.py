"""The command line as a user meets it: output shapes, exit codes, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from checkoutsim.cli.main import app

runner = CliRunner()
QUICK = ["--set", "load.duration_s=5", "--set", "load.drain_s=5"]


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the real console entry point in a subprocess, with ``env`` added to ours."""
    return subprocess.run(
        [sys.executable, "-m", "checkoutsim", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, **(env or {})},
    )


def test_run_json_has_the_documented_shape() -> None:
    result = runner.invoke(app, ["run", "flash-sale", "--seed", "3", "--json", *QUICK])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["scenario"] == "flash-sale" and data["mode"] == "sim"
    assert data["seed"] == 3 and data["replications"] == 1
    assert data["parameters"]["overrides"] == {"load.duration_s": 5, "load.drain_s": 5}
    names = [variant["name"] for variant in data["variants"]]
    assert names == ["naive", "lock_ttl", "fenced", "optimistic", "atomic"]
    for variant in data["variants"]:
        metrics = variant["metrics"]
        for key in (
            "checkouts",
            "orders",
            "oversold_units",
            "duplicate_charges",
            "orphan_payments",
            "latency_p99_s",
            "throughput_orders_per_s",
            "breaker_open_s",
            "retry_queue_max_depth",
            "success_rate",
        ):
            assert key in metrics, key
        assert set(variant["ci95"]) == set(metrics)
        assert variant["verdict"]["safe"] == (metrics["oversold_units"] == 0)


def test_replications_give_confidence_intervals_that_contain_the_mean() -> None:
    result = runner.invoke(
        app, ["run", "double-click", "-r", "3", "--json", "--variant", "no_key", *QUICK]
    )
    assert result.exit_code == 0, result.output
    variant = json.loads(result.stdout)["variants"][0]
    low, high = variant["ci95"]["duplicate_charges"]
    assert low <= variant["metrics"]["duplicate_charges"] <= high
    assert low < high  # three different streams do not give three equal counts


def test_jobs_give_the_same_numbers_as_one_process() -> None:
    args = ["run", "order-failure", "-r", "2", "--json", *QUICK]
    serial = json.loads(runner.invoke(app, [*args, "--jobs", "1"]).stdout)
    parallel = json.loads(runner.invoke(app, [*args, "--jobs", "2"]).stdout)
    assert serial["variants"] == parallel["variants"]


def test_table_shows_verdicts_beside_numbers() -> None:
    result = runner.invoke(app, ["run", "flash-sale", *QUICK])
    assert result.exit_code == 0, result.output
    assert "unsafe:" in result.stdout and "oversold" in result.stdout
    # A cell that says exactly "safe": the substring is also in "unsafe:".
    verdicts = next(line for line in result.stdout.splitlines() if "│ safety" in line)
    cells = [cell.strip() for cell in verdicts.split("│")[2:-1]]
    assert cells[0].startswith("unsafe") and "safe" in cells[1:]
    assert "latency_p99_s" in result.stdout


def test_csv_writes_frames(tmp_path: Path) -> None:
    target = tmp_path / "frames"
    result = runner.invoke(app, ["run", "double-click", "--csv", str(target), "--json", *QUICK])
    assert result.exit_code == 0, result.output
    names = {path.name for path in target.iterdir()}
    assert "metrics.csv" in names and "key_first-checkouts.csv" in names
    assert "no_key-ledger.csv" in names and "atomic-timeline.csv" not in names
    assert not list(tmp_path.glob(".frames-*"))  # no staging folder left behind


def test_list_and_show() -> None:
    listed = runner.invoke(app, ["list"])
    assert listed.exit_code == 0 and "flash-sale" in listed.stdout
    shown = runner.invoke(app, ["show", "flash-sale", "--json", "--set", "catalog.skus=3"])
    data = json.loads(shown.stdout)
    assert data["variants"]["naive"]["settings"]["catalog"]["skus"] == 3
    assert data["variants"]["atomic"]["settings"]["inventory"]["strategy"] == "atomic"


def test_validate_reports_each_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "bad"\ntitle = "t"\nquestion = "q?"\n[load]\nrate_per_s = 0\n')
    result = run_cli("validate", "flash-sale", str(bad))
    assert result.returncode == 2
    assert "ok: flash-sale" in result.stdout
    assert result.stderr.strip().count("\n") == 0
    assert f"{bad}: load.rate_per_s" in result.stderr and "(got 0)" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["run", "no-such-scenario"],
        ["run", "flash-sale", "--set", "inventory.workers=0"],
        ["run", "flash-sale", "--set", "nonsense"],
        ["run", "flash-sale", "--variant", "nope"],
        ["show", "/tmp/does-not-exist.toml"],
    ],
)
def test_user_errors_are_one_line_exit_2_no_traceback(args: list[str]) -> None:
    result = run_cli(*args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("checkoutsim: error: ")
    assert result.stderr.strip().count("\n") == 0
    assert result.stdout == ""


def test_python_dash_m_entry_point_runs() -> None:
    result = run_cli("run", "order-failure", "--json", "--variant", "saga", *QUICK)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["variants"][0]["name"] == "saga"
