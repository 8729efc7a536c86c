"""The cost table: each line checked against a hand calculation from the shipped TOML.

The hand calculation reads ``prices.toml`` with :mod:`tomllib` itself (not through
``capacity.prices``) and writes each line's arithmetic out here, so a slip in the
cost module (a wrong price, hours, a missing replica) shows as a mismatch.
"""

from __future__ import annotations

import json
import math
import tomllib
from importlib import resources
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from checkoutsim.capacity.cache import DEFAULTS as CACHE_DEFAULTS
from checkoutsim.capacity.cost import CostTable, price_plan
from checkoutsim.capacity.plan import CapacityError, plan
from checkoutsim.capacity.prices import KINDS, Price, default_prices, load_prices
from tests.test_capacity import command_line


def shipped() -> dict[str, float]:
    """The shipped prices, read straight from the file."""
    text = (resources.files("checkoutsim.capacity") / "prices.toml").read_text(encoding="utf-8")
    return {name: entry["value"] for name, entry in tomllib.loads(text).items()}


def by_hand(volume: str) -> dict[str, float]:
    """Each line's $/month, computed here from the plan's counts and the TOML's values."""
    price = shipped()
    sized = plan(volume)
    count = {tier.tier: tier.count for tier in sized.tiers}
    hours = price["hours_per_month"]  # 730
    orders_per_month = sized.orders_per_day * hours / 24
    primaries = count["order_db"] + count["inventory_db"]
    replica_copies = count["kafka"] * price["kafka_replication_factor"]
    brokers = max(
        price["kafka_minimum_brokers"],
        math.ceil(replica_copies / price["kafka_partitions_per_broker"]),
    )
    # The Redis nodes are the stock cache's (capacity.cache), written out again: one GET
    # per page view and one SET per miss, at half a node's throughput (at 50% busy an
    # M/M/1 node queues 1 / (2 × 80,000) s, well under the 1 ms bound, so the target sets it).
    cache = {item.name: item.value for item in CACHE_DEFAULTS}
    views = sized.peak_orders_per_s * cache["stock_cache.page_views_per_order"]
    operations = views * (2 - cache["stock_cache.hit_rate"])
    redis_nodes = math.ceil(
        operations / (cache["stock_cache.node_ops_per_s"] * cache["stock_cache.target_utilisation"])
    )
    assert sized.cache is not None and redis_nodes == sized.cache["count"]
    return {
        "app servers": count["app"] * price["app_server"] * hours,
        "database primaries": primaries * price["database_primary"] * hours,
        "database replicas": primaries
        * price["replicas_per_primary"]
        * price["database_replica"]
        * hours,
        "Kafka brokers": brokers * price["kafka_broker"] * hours,
        "Redis nodes": redis_nodes * price["redis_node"] * hours,
        "egress traffic": orders_per_month
        * price["bytes_per_order"]
        / 1e9
        * price["egress_per_gb"],
        "gateway fees": orders_per_month
        * (price["order_value"] * price["gateway_percent"] / 100 + price["gateway_fixed"]),
        "gateway accounts": count["payment_gateway"] * price["gateway_account_monthly"],
    }


@pytest.mark.parametrize("volume", ["10M", "100M"])
def test_every_line_matches_a_hand_calculation_from_the_toml(volume: str) -> None:
    cost = plan(volume).cost
    assert cost is not None
    expected = by_hand(volume)
    assert {line.line: line.monthly_usd for line in cost.lines} == pytest.approx(expected)
    orders_per_month = float(volume.removesuffix("M")) * 1e6 * 730 / 24
    assert cost.orders_per_month == pytest.approx(orders_per_month)
    assert cost.total_monthly_usd == pytest.approx(sum(expected.values()))
    for line in cost.lines:
        assert line.per_order_usd == pytest.approx(expected[line.line] / orders_per_month)
        assert line.share == pytest.approx(expected[line.line] / sum(expected.values()))
    assert cost.dominant == max(expected, key=expected.__getitem__)


def test_the_figures_at_ten_million_written_out() -> None:
    """One volume with the numbers typed in: 42 servers, 14 primaries, $2.04 a charge."""
    cost = plan("10M").cost
    assert cost is not None
    assert cost.line("app servers").monthly_usd == pytest.approx(42 * 0.384 * 730)
    assert cost.line("database primaries").monthly_usd == pytest.approx(14 * 0.712 * 730)
    assert cost.line("gateway fees").per_order_usd == pytest.approx(0.029 * 60 + 0.30)
    assert cost.dominant == "gateway fees"
    assert cost.infrastructure_dominant == "app servers"


def test_every_shipped_price_names_its_source_and_date() -> None:
    prices = default_prices()
    assert set(prices) == set(KINDS)
    for price in prices.values():
        assert price.source.strip() and price.unit.strip(), price.name
        # A published figure names its page and date; anything else says what it is.
        published = "page" in price.source and "as of 2024-06" in price.source
        stated = price.source.startswith(("rule of thumb", "assumed", "cloud price lists"))
        assert published or stated, price.name
        if price.unit.startswith("$") and price.name != "order_value":
            assert published and "list price" in price.source, price.name


def test_a_prices_file_replaces_what_it_names(tmp_path: Path) -> None:
    path = tmp_path / "negotiated.toml"
    path.write_text('gateway_percent = 2.0\n[gateway_fixed]\nvalue = 0.2\nsource = "deal"\n')
    prices = load_prices(path)
    assert prices["gateway_percent"].value == 2.0
    assert str(path) in prices["gateway_percent"].source
    assert prices["gateway_fixed"].source == "deal"
    assert prices["app_server"] == default_prices()["app_server"]
    cost = plan("10M", prices=prices).cost
    assert cost is not None
    assert cost.line("gateway fees").per_order_usd == pytest.approx(0.02 * 60 + 0.2)


_PRICED = [name for name, kind in KINDS.items() if kind == "price"]


@settings(max_examples=40, deadline=None)
@given(
    name=st.sampled_from(_PRICED),
    value=st.floats(min_value=0.001, max_value=1000, allow_nan=False),
)
def test_doubling_a_price_doubles_only_what_it_prices(name: str, value: float) -> None:
    """Every line is linear in its prices; the totals are the sum of the lines."""
    sized = plan("10M")
    assert sized.cache is not None
    counts = {tier.tier: tier.count for tier in sized.tiers} | {"redis": sized.cache["count"]}
    prices = dict(default_prices())

    def cost_at(amount: float) -> CostTable:
        prices[name] = Price(name, amount, prices[name].unit, "test")
        return price_plan(counts, sized.orders_per_day, prices)

    once, twice = cost_at(value), cost_at(2 * value)
    for before, after in zip(once.lines, twice.lines, strict=True):
        if name in before.prices and not (
            name == "gateway_fixed" or name == "gateway_percent"
        ):  # the fee is percent + fixed: each part alone is not proportional
            assert after.monthly_usd == pytest.approx(2 * before.monthly_usd)
        elif name not in before.prices:
            assert after.monthly_usd == pytest.approx(before.monthly_usd)
    for table in (once, twice):
        lines = [line.monthly_usd for line in table.lines]
        assert table.total_monthly_usd == pytest.approx(sum(lines))
        top = max(table.lines, key=lambda line: line.monthly_usd)
        assert table.line(table.dominant).monthly_usd == top.monthly_usd


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('[gateway_percent]\nvalue = "abc"\n', ["gateway_percent.value", "'abc'"]),
        ("gateway_percent = 150\n", ["gateway_percent.value", "150"]),
        ("app_server = -1\n", ["app_server.value", "-1"]),
        ("app_server = 1e308\n", ["app_server.value", "1e+308"]),
        ("kafka_minimum_brokers = 1e300\n", ["kafka_minimum_brokers.value", "1e+300"]),
        ("replicas_per_primary = 1.5\n", ["replicas_per_primary.value", "1.5"]),
        ("gateway_percnt = 2.5\n", ["gateway_percnt", "2.5", "did you mean 'gateway_percent'"]),
        ('[app_server]\nvalue = 1\nunit = "$/day"\n', ["app_server.unit", "'$/day'"]),
        ('[app_server]\nsource = "x"\n', ["app_server", "no value"]),
        ("[app_server\n", ["not valid TOML"]),
    ],
)
def test_a_bad_prices_file_is_one_line_naming_file_field_and_value(
    tmp_path: Path, text: str, words: list[str]
) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(text)
    with pytest.raises(CapacityError) as raised:
        load_prices(path)
    message = str(raised.value)
    assert "\n" not in message and message.startswith(f"{path}: ")
    for word in words:
        assert word in message
    result = CliRunner().invoke(
        command_line(), ["capacity", "--orders-per-day", "10M", "--prices", str(path)]
    )
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [f"checkoutsim: error: --prices: {message}"]


@pytest.mark.parametrize("volume", ["10M", "100M"])
def test_the_command_prints_the_cost_table_the_dominant_line_and_sources(volume: str) -> None:
    result = CliRunner().invoke(
        command_line(), ["capacity", "--orders-per-day", volume], env={"COLUMNS": "1000"}
    )
    assert result.exit_code == 0, result.output
    cost = plan(volume).cost
    assert cost is not None
    assert f"Dominant line: {cost.dominant}" in result.stdout
    assert f"${cost.total_monthly_usd:,.0f}" in result.stdout
    for line in cost.lines:
        assert f"${line.monthly_usd:,.0f}" in result.stdout, line.line
    text = " ".join(result.stdout.split())
    for price in cost.prices:
        assert " ".join(price.source.split()[:6]) in text, price.name


def test_the_json_carries_the_cost_and_its_sources() -> None:
    result = CliRunner().invoke(command_line(), ["capacity", "--orders-per-day", "100M", "--json"])
    assert result.exit_code == 0, result.output
    cost = json.loads(result.stdout)["cost"]
    expected = by_hand("100M")
    assert {line["line"]: line["monthly_usd"] for line in cost["lines"]} == pytest.approx(expected)
    assert cost["dominant"] == "gateway fees"
    assert all(price["source"] for price in cost["prices"])


@settings(max_examples=20, deadline=None)
@given(
    hit_rate=st.floats(min_value=0.01, max_value=0.99),
    views=st.integers(min_value=1, max_value=200),
)
def test_the_cost_table_prices_the_redis_nodes_the_plan_sizes(hit_rate: float, views: int) -> None:
    """One Redis sizing: the cost line's count is the stock cache tier's, whatever drives it."""
    sized = plan(
        "100M",
        assumptions={"stock_cache.hit_rate": hit_rate, "stock_cache.page_views_per_order": views},
    )
    assert sized.cache is not None and sized.cost is not None
    line = sized.cost.line("Redis nodes")
    assert line.count == sized.cache["count"]
    assert line.monthly_usd == pytest.approx(line.count * 0.206 * 730)


def test_a_prices_file_of_zeros_names_no_dominant_line(tmp_path: Path) -> None:
    path = tmp_path / "free.toml"
    free = [name for name, kind in KINDS.items() if kind in ("price", "percent")]
    path.write_text("".join(f"{name} = 0\n" for name in free), encoding="utf-8")
    result = CliRunner().invoke(
        command_line(),
        ["capacity", "--orders-per-day", "10M", "--prices", str(path)],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    assert "Dominant line: none (every line costs $0 a month)" in result.stdout
    cost = plan("10M", prices=load_prices(path)).cost
    assert cost is not None and cost.dominant is None and cost.infrastructure_dominant is None
    assert cost.findings == ("Every line costs $0 a month at these prices: no line dominates.",)
    # Infrastructure free, the fee not: the fee dominates, and no infrastructure line is named.
    path.write_text("".join(f"{name} = 0\n" for name in free if name != "gateway_percent"))
    fees = plan("10M", prices=load_prices(path)).cost
    assert fees is not None and fees.dominant == "gateway fees"
    assert fees.infrastructure_dominant is None
