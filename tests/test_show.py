"""``checkoutsim show``: the resolved settings as TOML that reads back as the same scenario."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from checkoutsim.cli.main import app
from checkoutsim.scenario import files as scenarios
from checkoutsim.scenario.toml_text import readable, to_toml

runner = CliRunner()


def latencies(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Every latency table in ``data`` (a table with a ``distribution`` key)."""
    found = [data] if "distribution" in data else []
    for value in data.values():
        if isinstance(value, dict):
            found += latencies(value)
    return found


@pytest.mark.parametrize("name", sorted(scenarios.available()))
def test_show_prints_toml_that_loads_back_as_the_same_scenario(name: str, tmp_path: Path) -> None:
    result = runner.invoke(app, ["show", name])
    assert result.exit_code == 0, result.output
    document = tomllib.loads(result.stdout)  # the standard library's reader, not ours
    original = scenarios.load(name)
    assert document["name"] == original.name
    assert [v["name"] for v in document["variants"]] == [v.name for v in original.variants]
    # Each latency as its distribution's own figures, nothing derived beside them.
    for latency in latencies(document):
        if latency["distribution"] == "lognormal":
            assert set(latency) == {"distribution", "p50_s", "p99_s"}
        else:
            assert set(latency) == {"distribution", "mean_s"}
    copy = tmp_path / f"{name}.toml"
    copy.write_text(result.stdout, encoding="utf-8")
    again = scenarios.load(str(copy))
    for before, after in zip(original.variants, again.variants, strict=True):
        assert readable(after.settings) == readable(before.settings), before.name
        assert after.description == before.description


def test_show_with_set_shows_the_override_and_still_reads_back(tmp_path: Path) -> None:
    args = ["--set", "inventory.strategy=atomic", "--set", "load.duration_s=5"]
    result = runner.invoke(app, ["show", "flash-sale", *args])
    assert result.exit_code == 0, result.output
    assert "# --set inventory.strategy='atomic', load.duration_s=5" in result.stdout
    copy = tmp_path / "flash-sale.toml"
    copy.write_text(result.stdout, encoding="utf-8")
    original = scenarios.load("flash-sale", args[1::2])
    again = scenarios.load(str(copy))
    for before, after in zip(original.variants, again.variants, strict=True):
        assert readable(after.settings) == readable(before.settings)


def test_show_says_what_each_variant_changes() -> None:
    text = runner.invoke(app, ["show", "gateway-outage"]).stdout
    assert 'set = { "breakers.gateway.enabled" = true, "queue.enabled" = true }' in text
    assert "mean_s" not in text.split("[gateway.latency]")[1].split("\n\n")[0]
    assert not text.lstrip().startswith("{")  # not JSON unless asked


scalars = st.one_of(
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False),
    st.text(max_size=30),
)
keys = st.text(min_size=1, max_size=12)
tables = st.recursive(
    st.dictionaries(keys, scalars | st.lists(scalars, max_size=3), max_size=4),
    lambda children: st.dictionaries(keys, children, max_size=3),
    max_leaves=12,
)


@given(tables)
def test_any_table_of_plain_values_reads_back_unchanged(data: dict[str, Any]) -> None:
    assert tomllib.loads(to_toml(data)) == data
