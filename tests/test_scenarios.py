"""Scenario files: loading, overrides, variants, and one-line errors for bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from checkoutsim.scenario import files as scenarios
from checkoutsim.scenario.files import ScenarioError

GOOD = """
name = "tiny"
title = "A tiny scenario"
question = "Does it load?"

[load]
rate_per_s = 5.0
duration_s = 2.0

[[variants]]
name = "a"
set = { "inventory.strategy" = "naive" }

[[variants]]
name = "b"
set = { "inventory.strategy" = "atomic", "inventory.query.p50_s" = 0.001 }
"""


def write(tmp_path: Path, text: str, name: str = "tiny.toml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_every_shipped_scenario_validates() -> None:
    found = scenarios.available()
    assert {"flash-sale", "double-click", "order-failure"} <= set(found)
    for name, path in found.items():
        loaded = scenarios.load(str(path))
        assert loaded.name == name, f"{path} declares name {loaded.name!r}"
        assert loaded.question.endswith("?")
        assert len(loaded.variants) >= 2


def test_variants_apply_their_overrides_to_the_base(tmp_path: Path) -> None:
    loaded = scenarios.load(write(tmp_path, GOOD))
    a, b = loaded.variants
    assert a.settings.inventory.strategy == "naive"
    assert b.settings.inventory.strategy == "atomic"
    assert b.settings.inventory.query.p50_s == 0.001
    assert a.settings.load.rate_per_s == b.settings.load.rate_per_s == 5.0


def test_cli_overrides_apply_to_every_variant_and_win(tmp_path: Path) -> None:
    loaded = scenarios.load(
        write(tmp_path, GOOD), ["load.rate_per_s=9", "inventory.strategy=fenced"]
    )
    assert [v.settings.load.rate_per_s for v in loaded.variants] == [9.0, 9.0]
    assert {v.settings.inventory.strategy for v in loaded.variants} == {"fenced"}


def test_select_keeps_named_variants_in_order(tmp_path: Path) -> None:
    loaded = scenarios.load(write(tmp_path, GOOD), variants=["b", "a"])
    assert [v.name for v in loaded.variants] == ["b", "a"]
    with pytest.raises(ScenarioError, match="no variant 'c'"):
        scenarios.load(write(tmp_path, GOOD), variants=["c"])


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("rate_per_s = 5.0", "rate_per_s = -5.0"), "load.rate_per_s: Input should be greater"),
        (("rate_per_s = 5.0", 'rate_per_s = "fast"'), "load.rate_per_s: Input should be a valid"),
        (("rate_per_s = 5.0", "rate_per_s = 5.0\nspeed = 3"), "load.speed: unknown field (got 3)"),
        (("[load]", "[lode]"), "lode: unknown section; did you mean 'load'?"),
        (("rate_per_s = 5.0", "rate_per_sec = 5.0"), "did you mean 'rate_per_s'?"),
        (
            ('"inventory.strategy" = "naive"', '"inventory.strategy" = "yolo"'),
            "variants[0] (a): inventory.strategy: Input should be",
        ),
        (
            ('"inventory.strategy" = "naive"', '"inventory.strategi" = "naive"'),
            "variants[0] (a): inventory.strategi: unknown field",
        ),
        (('name = "tiny"', 'name = "Tiny Scenario!"'), "name: String should match pattern"),
        (('name = "b"', 'name = "a"'), "duplicate variant names"),
        # The typo first, not the "title: Field required" that follows from it.
        (("title = ", "titel = "), "titel: unknown field (got 'A tiny scenario'); did you mean"),
        (("[load]", "[load\n"), "invalid TOML"),
    ],
)
def test_bad_files_give_one_line_naming_file_and_field(
    tmp_path: Path, change: tuple[str, str], expected: str
) -> None:
    path = write(tmp_path, GOOD.replace(*change, 1))
    with pytest.raises(ScenarioError) as caught:
        scenarios.load(path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(path)
    assert expected in message


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("load.rate_per_s", "expected section.key=value"),
        ("rate=3", "is not of the form section.key"),
        ("load.rate=3", "load.rate: unknown field"),
        ("lode.rate_per_s=3", "no settings section 'lode'"),
        ("load.rate_per_s=-1", "--set: load.rate_per_s: Input should be greater"),
    ],
)
def test_bad_overrides_are_named(tmp_path: Path, override: str, expected: str) -> None:
    with pytest.raises(ScenarioError, match=expected.replace("[", r"\[").replace(".", r"\.")):
        scenarios.load(write(tmp_path, GOOD), [override])


def test_override_values_are_read_as_toml_then_as_text() -> None:
    assert scenarios.parse_override("a.b=3") == ("a.b", 3)
    assert scenarios.parse_override("a.b=0.5") == ("a.b", 0.5)
    assert scenarios.parse_override("a.b=true") == ("a.b", True)
    assert scenarios.parse_override("a.b=naive") == ("a.b", "naive")
    assert scenarios.parse_override("a.b=[[0, 1.0]]") == ("a.b", [[0, 1.0]])


def test_unknown_names_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="no scenario by that name"):
        scenarios.load("no-such-scenario")
    with pytest.raises(ScenarioError, match="no such scenario file"):
        scenarios.load(str(tmp_path / "missing.toml"))


def test_huge_and_binary_files_are_refused(tmp_path: Path) -> None:
    huge = tmp_path / "huge.toml"
    huge.write_text("# " + "x" * (scenarios.MAX_FILE_BYTES + 10), encoding="utf-8")
    with pytest.raises(ScenarioError, match="more than"):
        scenarios.load(str(huge))
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00name")
    with pytest.raises(ScenarioError, match="is UTF-16 text"):
        scenarios.load(str(binary))
    binary.write_bytes(b"name = \xff\xfe")
    with pytest.raises(ScenarioError, match="not UTF-8"):
        scenarios.load(str(binary))


def test_latency_p99_below_p50_is_refused(tmp_path: Path) -> None:
    text = GOOD + "\n[gateway]\nlatency = { p50_s = 1.0, p99_s = 0.5 }\n"
    with pytest.raises(ScenarioError, match=r"gateway\.latency: p99_s"):
        scenarios.load(write(tmp_path, text))


def test_the_schema_names_every_strategy_the_policy_core_has() -> None:
    from typing import get_args

    from checkoutsim.policy.inventory import STRATEGIES as INVENTORY
    from checkoutsim.policy.payment import STRATEGIES as PAYMENT
    from checkoutsim.scenario.settings import InventoryStrategy, PaymentStrategy

    assert set(get_args(InventoryStrategy)) == set(INVENTORY)
    assert set(get_args(PaymentStrategy)) == set(PAYMENT)


def test_named_scenarios_are_found_from_any_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A user runs checkoutsim from their own folder: every shipped scenario is still named."""
    shipped = {path.stem for path in (Path(__file__).parent.parent / "scenarios").glob("*.toml")}
    monkeypatch.chdir(tmp_path)
    assert shipped and shipped <= set(scenarios.available())


def test_scenario_files_is_split_and_its_names_still_import_from_it() -> None:
    """files.py had grown past 400 lines: finding files, overrides and the
    one-line problems are modules of their own, and the names callers import
    from ``scenario.files`` are the same objects."""
    from checkoutsim.scenario import errors, files, locations, overrides, problems

    assert files.ScenarioError is errors.ScenarioError
    assert files.parse_override is overrides.parse_override
    assert files.available is locations.available
    assert files.scenario_dirs is locations.scenario_dirs
    for module in (files, errors, locations, overrides, problems):
        assert module.__file__ is not None
        assert len(Path(module.__file__).read_text().splitlines()) < 400, module.__name__


def test_a_set_only_unselected_variants_cannot_take_is_no_error_of_the_run() -> None:
    # The retry queue charges the primary only: a failover router cannot take it.
    sets = ["queue.enabled=true"]
    chosen = scenarios.load("gateway-failover", sets, ["primary_only"])
    assert [variant.name for variant in chosen.variants] == ["primary_only"]
    assert chosen.variants[0].settings.queue.enabled
    # The variant asked for is still checked, and named, alone.
    with pytest.raises(ScenarioError) as refused:
        scenarios.load("gateway-failover", sets, ["SAFE_FAILOVER"])
    message = str(refused.value)
    assert "(safe_failover)" in message and "naive_failover" not in message
    assert "more problems" not in message
    # With no selection every variant is checked, each problem listed.
    with pytest.raises(ScenarioError) as every:
        scenarios.load("gateway-failover", sets, [])
    assert len(every.value.problems) == 3


def test_a_variant_broken_without_any_set_is_still_an_error(tmp_path: Path) -> None:
    text = Path("scenarios/gateway-failover.toml").read_text(encoding="utf-8")
    broken = text.replace(
        'set = { "gateways.routing" = "weighted" }',
        'set = { "gateways.routing" = "weighted", "load.rate_per_s" = -5 }',
        1,
    )
    assert broken != text
    path = tmp_path / "broken.toml"
    path.write_text(broken, encoding="utf-8")
    # An unrelated --set must not hide it, whichever variant is asked for.
    with pytest.raises(ScenarioError, match="weighted"):
        scenarios.load(str(path), ["load.duration_s=30"], ["primary_only"])


def test_a_misspelt_variant_is_named_against_every_variant_of_the_file() -> None:
    with pytest.raises(ScenarioError) as refused:
        scenarios.load("gateway-failover", ["queue.enabled=true"], ["naive_failvoer"])
    message = str(refused.value)
    assert "naive_failover" in message  # the suggestion, though the --set left it out
    for name in ("safe_failover", "weighted", "primary_only"):
        assert name in message
