"""Capacity plans: the interview-prep scaling table, assumptions, findings, parsing, CLI."""

from __future__ import annotations

import json
import math

import pytest
import typer
from typer.testing import CliRunner

from checkoutsim.capacity import plan as capacity
from checkoutsim.capacity.plan import CapacityError, parse_orders_per_day, plan
from checkoutsim.cli.capacity import parse_overrides, register_capacity


@pytest.fixture(scope="module")
def ten_million() -> capacity.CapacityPlan:
    return plan("10M")


@pytest.fixture(scope="module")
def hundred_million() -> capacity.CapacityPlan:
    return plan("100M")


def test_ten_million_matches_the_scaling_table(ten_million: capacity.CapacityPlan) -> None:
    assert ten_million.average_orders_per_s == pytest.approx(115.74, abs=0.01)
    assert ten_million.peak_orders_per_s == pytest.approx(1000.0)
    assert abs(ten_million.tier("app").count - 41) <= 0.1 * 41
    assert ten_million.tier("order_db").count == 10
    assert ten_million.tier("kafka").count == 10


def test_hundred_million_matches_the_scaling_table(hundred_million: capacity.CapacityPlan) -> None:
    assert hundred_million.peak_orders_per_s == pytest.approx(10_000.0)
    assert abs(hundred_million.tier("app").count - 400) <= 0.1 * 400
    assert hundred_million.tier("order_db").count == 100
    assert hundred_million.tier("kafka").count == 100


def test_every_tier_meets_its_targets(hundred_million: capacity.CapacityPlan) -> None:
    values = {a.name: a.value for a in hundred_million.assumptions}
    for tier in hundred_million.tiers:
        assert tier.count >= 1
        assert 0 < tier.utilisation <= values[f"{tier.tier}.target_utilisation"] + 1e-9
        assert tier.mean_wait_s <= values[f"{tier.tier}.max_mean_wait_s"]
        assert tier.p99_wait_s >= tier.mean_wait_s or tier.p99_wait_s == 0.0


def test_gateway_needs_many_accounts(ten_million: capacity.CapacityPlan) -> None:
    # 1,000 orders/s × 2 calls = 2,000 calls/s; at 80% of 100/s an account takes 80/s.
    assert ten_million.tier("payment_gateway").count == 25
    assert ten_million.tier("payment_gateway").demand_per_s == pytest.approx(2000.0)


def test_json_has_the_documented_shape(ten_million: capacity.CapacityPlan) -> None:
    data = ten_million.to_dict()
    text = json.dumps(data, allow_nan=False)  # must be valid JSON as it stands
    assert json.loads(text)["mode"] == "capacity"
    assert list(data)[:5] == [
        "mode",
        "orders_per_day",
        "average_orders_per_s",
        "peak_orders_per_s",
        "peak_factor",
    ]
    assert data["peak_factor"] == pytest.approx(8.64)
    assert [tier["tier"] for tier in data["tiers"]] == [
        "app",
        "inventory_db",
        "order_db",
        "kafka",
        "payment_gateway",
    ]
    for tier in data["tiers"]:
        assert {"tier", "count", "utilisation", "mean_wait_s", "unit", "why"} <= set(tier)
    assert {a["name"] for a in data["assumptions"]} == {a.name for a in capacity.DEFAULTS}
    for assumption in data["assumptions"]:
        assert set(assumption) == {"name", "value", "unit", "source"}
        assert assumption["unit"] and len(assumption["source"]) > 10
    assert any("Stripe" in a["source"] for a in data["assumptions"])


def test_frame_has_one_row_per_tier(ten_million: capacity.CapacityPlan) -> None:
    frame = ten_million.to_frame()
    assert list(frame["tier"]) == [tier.tier for tier in ten_million.tiers]
    assert {"count", "utilisation", "mean_wait_s", "unit", "why"} <= set(frame.columns)


def test_findings_name_the_gateway_limit(ten_million: capacity.CapacityPlan) -> None:
    gateway = next(f for f in ten_million.findings if "rate limit" in f)
    assert "100 operations/s" in gateway
    assert "2,000 calls/s" in gateway
    assert "20.0×" in gateway
    assert "25 accounts" in gateway
    assert "never drains" in gateway  # even the daily average exceeds one account


def test_findings_flag_the_single_primary(ten_million: capacity.CapacityPlan) -> None:
    primary = next(f for f in ten_million.findings if "single primary" in f)
    assert "7,000 writes/s" in primary
    assert "10 order shards" in primary


def test_findings_show_the_hot_row(
    ten_million: capacity.CapacityPlan, hundred_million: capacity.CapacityPlan
) -> None:
    small = next(f for f in ten_million.findings if "lock contention" in f)
    assert "50% busy" in small and "Split" not in small
    large = next(f for f in hundred_million.findings if "lock contention" in f)
    assert "cannot keep up" in large
    assert "at least 10 rows" in large


def test_findings_compare_with_the_scaling_table(
    ten_million: capacity.CapacityPlan, hundred_million: capacity.CapacityPlan
) -> None:
    assert any("41 servers" in f and "42 (+2.4%)" in f for f in ten_million.findings)
    assert any("not the 10×" in f for f in hundred_million.findings)
    assert not any(
        "Against the common interview-prep scaling table" in f for f in plan("50M").findings
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10M", 1e7),
        ("100M", 1e8),
        ("1e7", 1e7),
        ("100000000", 1e8),
        ("2.5M", 2.5e6),
        ("500k", 5e5),
        ("500K", 5e5),
        ("10,000,000", 1e7),
        (" 1_000k ", 1e6),
        (2e6, 2e6),
    ],
)
def test_orders_per_day_forms(text: str | float, expected: float) -> None:
    assert parse_orders_per_day(text) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["abc", "", "10MM", "2,5M", "inf", "nan", "-5", "0", "1e11", "M"])
def test_orders_per_day_garbage_is_rejected(text: str) -> None:
    with pytest.raises(CapacityError, match="cannot read") as caught:
        parse_orders_per_day(text)
    assert repr(text) in str(caught.value)
    assert "\n" not in str(caught.value)


def test_override_changes_the_plan_and_marks_the_source() -> None:
    slower = plan("10M", assumptions={"app.service_time_s": "0.08"})
    assert slower.tier("app").count == 84  # twice the work: ceil(400 / 0.6 / 8)
    source = next(a.source for a in slower.assumptions if a.name == "app.service_time_s")
    assert source.startswith("set by the user (default 0.04")


def test_peak_factor_shorthand() -> None:
    assert plan("10M", peak_factor=4.32).peak_orders_per_s == pytest.approx(500.0)
    with pytest.raises(CapacityError, match="given twice"):
        plan("10M", peak_factor=4.0, assumptions={"traffic.peak_factor": 5})


def test_generous_gateway_needs_one_account() -> None:
    relaxed = plan("10M", assumptions={"payment_gateway.rate_limit_per_account": 10_000})
    assert relaxed.tier("payment_gateway").count == 1
    assert any("one account" in f and "carries" in f for f in relaxed.findings)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"app.servce_time_s": "0.04"}, "unknown assumption 'app.servce_time_s' (given '0.04')"),
        ({"app.servce_time_s": "0.04"}, "did you mean 'app.service_time_s'"),
        (
            {"nonsense": "1"},
            "none close among the 26 that checkoutsim capacity prints",
        ),  # len(DEFAULTS)
        ({"app.service_time_s": "fast"}, "'app.service_time_s' must be a number > 0, got 'fast'"),
        ({"app.target_utilisation": "1"}, "between 0 and 1"),
        ({"app.workers_per_server": "2.5"}, "whole number"),
        ({"traffic.peak_factor": "0.5"}, ">= 1"),
        ({"kafka.events_per_order": "-1"}, "> 0"),
        # Finite but absurd: an error, not a count hundreds of digits long.
        ({"inventory_db.writes_per_order": "1e300"}, "inventory_db tier would need over"),
        ({"kafka.events_per_order": "1e300"}, "kafka tier would need over 10,000,000"),
        ({"stock_cache.page_views_per_order": "1e300"}, "stock_cache tier would need over"),
    ],
)
def test_bad_overrides_are_rejected(overrides: dict[str, str], message: str) -> None:
    with pytest.raises(CapacityError) as caught:
        plan("10M", assumptions=overrides)
    assert message in str(caught.value)


def test_set_strings_are_split() -> None:
    assert parse_overrides(["app.service_time_s=0.04", " kafka.events_per_order = 3 "]) == {
        "app.service_time_s": "0.04",
        "kafka.events_per_order": "3",
    }
    with pytest.raises(CapacityError, match="expected name=value"):
        parse_overrides(["app.service_time_s"])


def test_absurd_app_load_is_refused_not_computed() -> None:
    with pytest.raises(CapacityError, match="workers"):
        plan("10B", assumptions={"app.service_time_s": 1000})


def command_line() -> typer.Typer:
    """A throwaway app with only the capacity command, as checkoutsim.cli.main would wire it."""
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)

    @app.callback()
    def main() -> None:
        """Keep ``capacity`` a subcommand."""

    register_capacity(app)
    return app


def test_cli_json_prints_only_the_plan() -> None:
    result = CliRunner().invoke(
        command_line(),
        ["capacity", "--orders-per-day", "100M", "--set", "app.workers_per_server=16", "--json"],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["peak_orders_per_s"] == pytest.approx(10_000.0)
    app = next(tier for tier in data["tiers"] if tier["tier"] == "app")
    assert app["count"] == 209  # 3,334 workers / 16 per server


def test_cli_table_shows_tiers_assumptions_and_findings() -> None:
    result = CliRunner().invoke(command_line(), ["capacity", "--orders-per-day", "10M"])
    assert result.exit_code == 0, result.output
    for text in ("Tiers at the peak", "Assumptions", "Findings", "payment_gateway", "Stripe"):
        assert text in result.stdout


@pytest.mark.parametrize(
    ("arguments", "option", "value"),
    [
        (["--orders-per-day", "lots"], "--orders-per-day", "lots"),
        (["--orders-per-day", "10M", "--peak-factor", "high"], "--peak-factor", "high"),
        (["--orders-per-day", "10M", "--peak-factor", "0.5"], "--peak-factor", "0.5"),
        (["--orders-per-day", "10M", "--set", "app.cores=8"], "--set", "app.cores"),
        (["--orders-per-day", "10M", "--set", "app.service_time_s=x"], "--set", "'x'"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(
    arguments: list[str], option: str, value: str
) -> None:
    result = CliRunner().invoke(command_line(), ["capacity", *arguments])
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"checkoutsim: error: {option}: ")
    assert value in lines[0]
    assert "Traceback" not in result.output


def test_the_words_say_what_the_source_is(ten_million: capacity.CapacityPlan) -> None:
    # A reader cannot look up "the material (Q5)"; the source is named plainly.
    texts = [*ten_million.findings, *(a.source for a in ten_million.assumptions)]
    assert not any("material" in text or "Q5" in text for text in texts)
    assert any("common interview-prep scaling table" in text for text in texts)
    gateway = next(text for text in ten_million.findings if "Queue payments" in text)
    assert "builds a backlog of 114,000 calls a minute" in gateway and " gains " not in gateway


def test_the_stock_cache_nodes_follow_the_read_rate_hit_rate_and_node_throughput() -> None:
    result = plan(
        "100M",
        assumptions={"stock_cache.hit_rate": 0.8, "stock_cache.node_ops_per_s": 50_000},
    )
    cache = result.cache
    assert cache is not None
    reads = result.peak_orders_per_s * 20
    # One GET per view plus one SET per miss; the store keeps the misses.
    assert cache["demand_per_s"] == pytest.approx(reads * 1.2)
    assert cache["store_reads_per_s"] == pytest.approx(reads * 0.2)
    # At 50% of 50,000 operations/s per node (the 1 ms wait bound does not bind here).
    assert cache["count"] == math.ceil(reads * 1.2 / 25_000)
    assert cache["utilisation"] <= 0.5
    sources = {assumption.name: assumption.source for assumption in result.cache_assumptions}
    assert "set by the user" in sources["stock_cache.hit_rate"]
    assert "Redis documentation" in sources["stock_cache.node_ops_per_s"]


def test_a_bad_stock_cache_assumption_is_one_error_naming_it() -> None:
    with pytest.raises(CapacityError, match=r"stock_cache\.hit_rate"):
        plan("10M", assumptions={"stock_cache.hit_rate": 1.5})
    with pytest.raises(CapacityError, match=r"did you mean 'stock_cache\.hit_rate'"):
        plan("10M", assumptions={"stock_cache.hit_rat": 0.9})
