"""Usage errors as a user meets them: one line on stderr, exit 2, no box, and a
suggestion whenever a known name is close to the mistyped one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from checkoutsim.cli.main import app
from checkoutsim.scenario.files import available
from checkoutsim.scenario.suggest import closest, closest_key, did_you_mean, known_names

runner = CliRunner()

#: (arguments, what the line must say). Each is a mistake a user makes at the prompt.
CASES = [
    (["run"], "Missing argument 'SCENARIO'"),
    (["run", "flash-sale", "--output", "x"], "no option --output; did you mean '--out'?"),
    (["run", "flash-sale", "--jsn"], "no option --jsn; did you mean '--json'?"),
    (["rn", "flash-sale"], "no command 'rn'; did you mean 'run'?"),
    (["walkthrough", "--level", "L7"], "'L7' is not one of L4, L5, L6"),
    (["walkthrough", "--level", "l55"], "did you mean 'L5'?"),
    (
        ["walkthrough", "overseling"],
        "no walkthrough topic 'overseling'; did you mean 'overselling'?",
    ),
    (["run", "flash-sal"], "no scenario by that name; did you mean 'flash-sale'?"),
    (["show", "gateway-outag"], "did you mean 'gateway-outage'?"),
    (["run", "flash-sale", "--variant", "naiv"], "no variant 'naiv'; did you mean 'naive'?"),
    (["run", "flash-sale", "--set", "gateway.latncy=1"], "did you mean 'gateway.latency'?"),
    (
        ["run", "flash-sale", "--set", "lod.rate_per_s=1"],
        "no settings section 'lod'; did you mean 'load'?",
    ),
    (["run", "flash-sale", "--set", "inventory.strategy=atomc"], "did you mean 'atomic'?"),
    # A field in the wrong section is suggested where it lives, as a whole word of its name.
    (
        ["run", "flash-sale", "--set", "inventory.stok=5"],
        "inventory.stok: unknown field (value 5); did you mean 'catalog.stock_per_sku'?",
    ),
    # The section the user named wins: "rate" is a word of load.rate_per_s.
    (["run", "flash-sale", "--set", "load.rate=5"], "did you mean 'load.rate_per_s'?"),
    (["run", "flash-sale", "--seed", "x"], "Invalid value for '--seed'"),
    (["sweep", "flash-sale"], "Missing option '--param'"),
    (["sweep", "flash-sale", "--param", "nosuch.key=1:2:2"], "--param: nosuch.key: no settings"),
    (["sweep", "flash-sale", "--param", "load.rate_per_s=-5:-1:2"], "--param: load.rate_per_s:"),
    (["capacity", "--orders-per-dya", "10M"], "did you mean '--orders-per-day'?"),
    (["bench", "--http"], "--http and --store measure the real implementation: add --real"),
    (
        ["bench", "--real", "--http", "--store", "postgresql://127.0.0.1/x"],
        "--http and --store cannot be combined",
    ),
]


@pytest.mark.parametrize(("args", "expected"), CASES, ids=[" ".join(a) for a, _ in CASES])
def test_usage_errors_are_one_line_exit_2_with_a_suggestion(args: list[str], expected: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.startswith("checkoutsim: error: ")
    assert result.stderr.count("\n") == 1, result.stderr  # one line, no box
    assert "╭" not in result.stderr and "Traceback" not in result.stderr
    assert expected in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["run", "xyzzy"],
        ["frobnicate"],
        ["run", "flash-sale", "--zzzzzz"],
        ["run", "flash-sale", "--variant", "qqqq"],
    ],
)
def test_nothing_close_is_suggested_as_nothing(args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert "did you mean" not in result.stderr


@pytest.mark.parametrize("given", ["l5", "L5", " l5"])
def test_level_is_case_insensitive_and_shown_upper_case(given: str) -> None:
    from checkoutsim.cli.walkthrough import parse_level

    assert parse_level(given) == "L5"


def test_help_shows_choices_upper_case_and_no_bool_types() -> None:
    for args in (["--help"], ["run", "--help"], ["walkthrough", "--help"], ["show", "--help"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        assert "<bool>" not in result.stdout, args
    assert "L4|L5|L6" in runner.invoke(app, ["walkthrough", "--help"]).stdout


def test_suggestions_ignore_case_and_keep_the_known_spelling() -> None:
    assert closest("FLASH-SALE", ["flash-sale", "lock-pause"]) == "flash-sale"
    assert closest("lockpause", ["flash-sale", "lock-pause"]) == "lock-pause"
    assert closest("zzz", ["flash-sale", "lock-pause"]) is None
    assert did_you_mean("naiv", ["naive"]) == "; did you mean 'naive'?"
    assert did_you_mean("naiv", []) == ""


@pytest.mark.parametrize("args", [["run", "zzz"], ["show", "nope"]])
def test_an_unknown_scenario_gives_the_count_and_the_command_that_lists_them(
    args: list[str],
) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    line = result.stderr
    assert line.count("\n") == 1 and "more characters" not in line, line
    assert f"({len(available())} scenarios; checkoutsim list shows them all)" in line
    # The command named there does list every scenario.
    listed = runner.invoke(app, ["list"], env={"COLUMNS": "200"})
    assert listed.exit_code == 0
    assert all(name in listed.stdout for name in available())


def test_known_names_are_listed_whole_or_counted_never_cut() -> None:
    assert known_names(["naive", "atomic"], "variant", "x") == " (known: naive, atomic)"
    many = [f"scenario-number-{index}" for index in range(20)]
    assert known_names(many, "scenario", "checkoutsim list") == (
        " (20 scenarios; checkoutsim list shows them all)"
    )
    assert known_names([], "scenario", "checkoutsim list") == " (no scenario found)"


def test_a_key_is_suggested_from_its_own_section_first_then_from_the_others() -> None:
    keys = ["load.rate_per_s", "catalog.stock_per_sku", "gateway.decline_rate"]
    assert closest_key("rate", keys, "load.") == "load.rate_per_s"
    assert closest_key("rate", keys, "gateway.") == "gateway.decline_rate"
    assert closest_key("stok", keys, "inventory.") == "catalog.stock_per_sku"
    assert closest_key("zzzz", keys, "load.") is None


def test_version_prints_the_package_version() -> None:
    from checkoutsim import __version__

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout == f"checkoutsim {__version__}\n"


def test_shell_completion_is_offered_and_completes_commands_and_options() -> None:
    help_text = runner.invoke(app, ["--help"]).stdout
    assert "--install-completion" in help_text and "--show-completion" in help_text
    script = runner.invoke(app, ["--show-completion", "bash"], prog_name="checkoutsim")
    assert script.exit_code == 0 and "_CHECKOUTSIM_COMPLETE=complete_bash" in script.stdout
    completed = runner.invoke(
        app,
        [],
        prog_name="checkoutsim",
        env={
            "_CHECKOUTSIM_COMPLETE": "complete_bash",
            "COMP_WORDS": "checkoutsim run flash-sale --se",
            "COMP_CWORD": "3",
        },
    )
    assert completed.stdout.split() == ["--seed", "--set"]


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("checkoutsim ru", ["run"]),
        ("checkoutsim run flash-sale --se", ["--seed", "--set"]),
        ("checkoutsim run fl", ["flash-sale", "flash-sale-wild"]),
        ("checkoutsim loadtest double-click -v ", ["no_key", "check_then_charge", "key_first"]),
        ("checkoutsim run flash-sale --variant o", ["optimistic"]),
        ("checkoutsim walkthrough sa", ["saga-vs-2pc"]),
    ],
)
def test_completion_knows_scenarios_variants_and_topics(words: str, expected: list[str]) -> None:
    completed = runner.invoke(
        app,
        [],
        prog_name="checkoutsim",
        env={
            "_CHECKOUTSIM_COMPLETE": "complete_bash",
            "COMP_WORDS": words,
            "COMP_CWORD": str(len(words.split(" ")) - 1),
        },
    )
    assert sorted(completed.stdout.split()) == sorted(expected)


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The real entry point in a subprocess (the consoles read NO_COLOR when made)."""
    return subprocess.run(
        [sys.executable, "-m", "checkoutsim", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "COLUMNS": "100", **env},
    )


def test_no_color_leaves_out_every_escape_code() -> None:
    # FORCE_COLOR makes rich style its output although it goes to a pipe here;
    # NO_COLOR must win over it, on stdout and stderr alike.
    quick = ["--set", "load.duration_s=5", "--set", "load.drain_s=5"]
    for args in (
        ["list"],
        ["--help"],
        ["show", "gateway-outage"],
        ["run", "double-click", "--variant", "no_key", *quick],
        ["walkthrough", "--level", "L7"],
    ):
        plain = run_cli(*args, env={"FORCE_COLOR": "1", "NO_COLOR": "1"})
        assert plain.returncode in (0, 2), plain.stderr
        assert "\x1b" not in plain.stdout + plain.stderr, args
    # The control: without NO_COLOR the same command is styled, so the check can fail.
    coloured = run_cli("list", env={"FORCE_COLOR": "1", "NO_COLOR": ""})
    assert "\x1b[" in coloured.stdout


def test_validate_lists_every_problem_on_its_own_line_a_misspelled_section_first(
    tmp_path: Path,
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n[catalg]\nstock_per_sku = 1\n[load]\nrate_per_s = -1\n')
    result = runner.invoke(app, ["validate", str(bad)])
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert lines == [
        f"checkoutsim: error: {bad}: catalg: unknown section; did you mean 'catalog'?",
        f"checkoutsim: error: {bad}: title: Field required",
        f"checkoutsim: error: {bad}: question: Field required",
        f"checkoutsim: error: {bad}: load.rate_per_s: Input should be greater than 0 (got -1)",
    ], result.stderr
    # Other commands keep one line: the first problem and a count of the rest.
    ran = runner.invoke(app, ["run", str(bad)])
    assert ran.exit_code == 2
    assert ran.stderr == (
        f"checkoutsim: error: {bad}: catalg: unknown section; did you mean 'catalog'?"
        " (and 3 more problems)\n"
    )


def test_validate_lists_the_problems_of_every_variant(tmp_path: Path) -> None:
    bad = tmp_path / "variants.toml"
    bad.write_text(
        'name = "x"\ntitle = "t"\nquestion = "q"\n'
        '[[variants]]\nname = "a"\nset = { "load.rat" = 1 }\n'
        '[[variants]]\nname = "b"\nset = { "load.rate_per_s" = -1 }\n'
    )
    result = runner.invoke(app, ["validate", str(bad)])
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 2, result.stderr
    assert "variants[0] (a): load.rat: unknown field" in lines[0]
    assert "did you mean 'load.rate_per_s'?" in lines[0]
    assert "variants[1] (b): load.rate_per_s: Input should be greater than 0" in lines[1]


def test_an_unknown_capacity_name_gives_a_count_the_capacity_output_bears_out(
    tmp_path: Path,
) -> None:
    from checkoutsim.capacity.assumptions import DEFAULTS
    from checkoutsim.capacity.prices import KINDS

    base = ["capacity", "--orders-per-day", "10M"]
    prices = tmp_path / "prices.toml"
    prices.write_text("[zzzzzzzz]\nvalue = 1\n")
    for args, count in (
        ([*base, "--set", "zzzzzz=1"], len(DEFAULTS)),
        ([*base, "--prices", str(prices)], len(KINDS)),
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 2
        assert result.stderr.count("\n") == 1 and "more characters" not in result.stderr
        assert f"none close among the {count} that checkoutsim capacity prints" in result.stderr
    printed = runner.invoke(app, base, env={"COLUMNS": "200"})
    assert printed.exit_code == 0
    assert all(assumption.name in printed.stdout for assumption in DEFAULTS)
    assert all(kind in printed.stdout for kind in KINDS)


def test_validate_lists_problems_up_to_a_bound_and_counts_the_rest(tmp_path: Path) -> None:
    from checkoutsim.cli.scenarios import MAX_PROBLEMS_LISTED

    bad = tmp_path / "many.toml"
    fields = "".join(f"unknown_{index} = 1\n" for index in range(MAX_PROBLEMS_LISTED + 7))
    bad.write_text('name = "x"\ntitle = "t"\nquestion = "q"\n[load]\n' + fields)
    result = runner.invoke(app, ["validate", str(bad)])
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == MAX_PROBLEMS_LISTED + 1
    assert all("unknown field" in line for line in lines[:-1])
    assert lines[-1] == f"checkoutsim: error: {bad}: and 7 more problems"


def test_scenario_and_variant_names_are_matched_without_regard_to_case() -> None:
    result = runner.invoke(app, ["run", "FLASH-SALE", "-v", "ATOMIC", "--json"])
    assert result.exit_code == 0, result.output
    assert '"name": "atomic"' in result.output
