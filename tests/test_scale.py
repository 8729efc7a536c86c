"""Sweeps, the scale scenarios' tier check, and running tasks on other executors."""

from __future__ import annotations

import json
import math
import random

import pytest
from typer.testing import CliRunner

from checkoutsim.capacity import queueing
from checkoutsim.cli.main import app
from checkoutsim.experiments import executors
from checkoutsim.experiments.runner import run_scenario
from checkoutsim.experiments.scale import check
from checkoutsim.experiments.sweep import parse_axis, run_sweep
from checkoutsim.report import page
from checkoutsim.scenario import files as scenarios
from checkoutsim.scenario.files import ScenarioError
from checkoutsim.scenario.settings import Scale
from checkoutsim.sim.tiers import simulate_station

runner = CliRunner()
SHORT = ["load.duration_s=4", "load.drain_s=4"]


def test_parse_axis_gives_evenly_spaced_points() -> None:
    axis = parse_axis("load.rate_per_s=100:5000:8")
    assert axis.param == "load.rate_per_s"
    assert axis.values == (100, 800, 1500, 2200, 2900, 3600, 4300, 5000)
    assert parse_axis("gateway.error_rate=0:0.5:3").values == (0.0, 0.25, 0.5)
    for bad in ("load.rate_per_s=1:2", "load.rate_per_s=a:2:3", "load.rate_per_s=1:2:0", "x"):
        with pytest.raises(ScenarioError, match="--param"):
            parse_axis(bad)


def test_sweep_frame_has_a_row_per_variant_and_point_and_finds_knees() -> None:
    axis = parse_axis("load.rate_per_s=20:400:3")
    result = run_sweep("flash-sale", [axis], SHORT, ["lock_ttl", "atomic"], seed=2)
    frame = result.frame
    assert len(frame) == 2 * 3
    assert set(frame["variant"]) == {"lock_ttl", "atomic"}
    assert sorted(set(frame["load.rate_per_s"])) == [20, 210, 400]
    knees = {knee["variant"]: knee for knee in result.knees}
    assert set(knees) == {"lock_ttl", "atomic"}
    objective = result.scenario.base.objective
    for name, knee in knees.items():
        rows = frame[frame["variant"] == name].sort_values("load.rate_per_s")
        breached = rows[
            (rows["latency_p99_s"] > objective.latency_p99_s)
            | (rows["failure_rate"] > objective.failure_rate)
        ]
        expected = None if breached.empty else breached["load.rate_per_s"].iloc[0]
        assert knee["knee"] == expected, name
    data = json.loads(json.dumps(result.to_json()))
    assert data["mode"] == "sweep" and len(data["rows"]) == 6


def test_sweep_with_two_processes_gives_the_same_frame() -> None:
    axis = parse_axis("load.rate_per_s=50:150:2")
    serial = run_sweep("double-click", [axis], SHORT, ["no_key"], seed=3)
    parallel = run_sweep("double-click", [axis], SHORT, ["no_key"], seed=3, jobs=2)
    assert serial.frame.equals(parallel.frame)


def test_sweep_cli_prints_each_variants_knee() -> None:
    result = runner.invoke(
        app,
        [
            "sweep",
            "flash-sale",
            "--param",
            "load.rate_per_s=50:300:2",
            "--variant",
            "atomic",
            *[f"--set={item}" for item in SHORT],
        ],
    )
    assert result.exit_code == 0, result.output
    assert "knee · atomic" in result.stdout


def test_station_simulation_matches_erlang_c() -> None:
    measured = simulate_station(90.0, 10.0, 10, 150_000, random.Random(4))
    expected = queueing.mean_wait(90.0, 10.0, 10)
    assert measured.utilisation == pytest.approx(0.9, rel=0.02)
    assert measured.mean_wait_s == pytest.approx(expected, rel=0.12)


@pytest.mark.parametrize(("orders_per_day", "peak"), [(1e7, 1_000), (1e8, 10_000)])
def test_scale_check_agrees_with_the_capacity_model(orders_per_day: float, peak: int) -> None:
    report = check(Scale(orders_per_day=orders_per_day, customers_per_tier=100_000), seed=1)
    assert report.plan.peak_orders_per_s == pytest.approx(peak, rel=0.01)
    by_tier = {tier.tier: tier for tier in report.tiers}
    assert set(by_tier) == {
        "app",
        "inventory_db",
        "order_db",
        "kafka",
        "payment_gateway",
        "hot_sku_row",
    }
    for tier in report.tiers:
        if tier.saturated:
            continue
        assert tier.sim_utilisation == pytest.approx(tier.model_utilisation, rel=0.05), tier.tier
        assert tier.agree, tier
    assert report.bottleneck.split()[0] in by_tier


def test_at_100m_the_hot_row_is_the_first_bottleneck() -> None:
    report = check(Scale(orders_per_day=1e8, customers_per_tier=20_000), seed=1)
    hot = next(tier for tier in report.tiers if tier.tier == "hot_sku_row")
    assert hot.saturated and math.isinf(hot.model_mean_wait_s)
    assert report.bottleneck.startswith("hot_sku_row")


def test_scale_run_reports_tiers_and_each_strategys_saturation() -> None:
    loaded = scenarios.load("scale-10m", ["scale.customers_per_tier=20000", *SHORT])
    result = run_scenario(loaded, seed=1)
    assert result.scale is not None
    data = result.to_json()
    assert data["scale"]["peak_orders_per_s"] == pytest.approx(1_000, rel=0.01)
    capacity = {v.name: v.metrics["row_capacity_per_s"] for v in result.variants}
    # A lock around four round trips holds the row longer than one UPDATE does.
    assert capacity["atomic"] > 2 * capacity["lock_ttl"]


def test_dask_local_cluster_gives_the_same_numbers_bit_for_bit() -> None:
    distributed = pytest.importorskip("distributed", reason="Dask is an optional extra")
    loaded = scenarios.load("order-failure", SHORT, ["saga"])
    local = run_scenario(loaded, seed=5, replications=2)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        remote = run_scenario(loaded, seed=5, replications=2, executor=client.get_executor())
    assert [v.runs for v in remote.variants] == [v.runs for v in local.variants]


def test_unreachable_cluster_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # Nothing listens on port 9: a short wait says so as well as the default 10 s.
    monkeypatch.setattr(executors, "CONNECT_TIMEOUT_S", 1.0)
    result = runner.invoke(
        app,
        [
            "run",
            "flash-sale",
            "--cluster",
            "tcp://127.0.0.1:9",
            *[part for item in SHORT for part in ("--set", item)],
        ],
    )
    assert result.exit_code == 2


def test_row_capacity_is_null_where_nothing_held_a_row() -> None:
    """naive writes blind and holds no row, so no ceiling was measured: null in
    the JSON and ``-`` in the report's table (both said 0, a ceiling of nothing).
    atomic's conditional update holds the row and has its figure."""
    loaded = scenarios.load("flash-sale", SHORT, ["naive", "atomic"])
    data = run_scenario(loaded, seed=1).to_json()
    metrics = {variant["name"]: variant["metrics"] for variant in data["variants"]}
    assert metrics["naive"]["row_capacity_per_s"] is None
    assert metrics["atomic"]["row_capacity_per_s"] > 0
    assert '"row_capacity_per_s": null' in json.dumps(data)
    table = page.metrics_table(data)
    row = next(row for row in table["rows"] if row["name"] == "row_capacity_per_s")
    assert row["cells"][0] == "-"
    assert row["cells"][1] not in ("-", "0.00")
