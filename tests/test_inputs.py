"""The readers and limits behind scenario input: what they accept, refuse and print.

The corpus in ``test_fuzz_scenarios`` shows every bad input is one line; these
tests pin the edges: the limits accept their own value and refuse the next,
the nesting scan never under-counts what the TOML parser would recurse into,
and the error line is one line of bounded length whatever it carries.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from checkoutsim.cli.errors import MAX_LINE, PREFIX, one_line
from checkoutsim.scenario import inputs, limits
from checkoutsim.scenario.inputs import InputError
from checkoutsim.scenario.settings import Settings


def depth_of(value: Any) -> int:
    """How deeply arrays and tables nest inside ``value`` (a scalar is 0)."""
    if isinstance(value, list):
        return 1 + max((depth_of(item) for item in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth_of(item) for item in value.values()), default=0)
    return 0


def toml_of(value: Any) -> str:
    """``value`` in TOML's inline syntax (strings in JSON's escaping, which TOML reads)."""
    if isinstance(value, list):
        return "[" + ", ".join(toml_of(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {toml_of(v)}" for k, v in value.items()) + "}"
    if isinstance(value, str):
        return json.dumps(value)
    return str(value)


TRICKY_TEXT = st.text(alphabet="[]{}\"'#\\.=,ab\n", max_size=12)
NESTED = st.recursive(
    st.one_of(st.integers(-5, 5), TRICKY_TEXT),
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(TRICKY_TEXT, children, max_size=2)
    ),
    max_leaves=30,
)


@settings(max_examples=200, deadline=None)
@given(value=NESTED)
def test_the_nesting_scan_never_counts_less_than_the_parser_nests(value: Any) -> None:
    text = f"value = {toml_of(value)}\n"
    parsed = tomllib.loads(text)["value"]
    assert inputs.nesting_depth(text) >= depth_of(parsed)


def test_brackets_and_dots_inside_strings_and_comments_do_not_count() -> None:
    text = 'a = "[[[[{{{{" # [[[[[[\nb = \'a.b.c.d.e.f\'\nc = """\n[[[[\n"""\n'
    assert inputs.nesting_depth(text) == 0


def test_a_utf8_byte_order_mark_is_skipped_and_utf16_is_named() -> None:
    assert inputs.decode(b"\xef\xbb\xbfname = 1", "f") == "name = 1"
    with pytest.raises(InputError, match="is UTF-16 text"):
        inputs.decode("name = 1".encode("utf-16"), "f")
    with pytest.raises(InputError, match="is UTF-32 text"):
        inputs.decode("name = 1".encode("utf-32"), "f")


def test_integers_are_held_to_64_bits() -> None:
    assert inputs.parse_toml(f"a = {2**63 - 1}", "f")["a"] == 2**63 - 1
    with pytest.raises(InputError, match="64-bit"):
        inputs.parse_toml(f"a = {2**63}", "f")
    with pytest.raises(InputError, match="4,300 digits"):
        inputs.parse_toml("a = " + "9" * 4_301, "f")


def test_set_values_are_toml_and_bare_words_are_strings() -> None:
    assert inputs.parse_set_value("1e3", "--set x") == 1000.0
    assert inputs.parse_set_value('"1e3"', "--set x") == "1e3"
    assert inputs.parse_set_value("[[0, 1.5]]", "--set x") == [[0, 1.5]]
    assert inputs.parse_set_value("naive", "--set x") == "naive"
    assert inputs.parse_set_value("/tmp/store dir", "--set x") == "/tmp/store dir"
    with pytest.raises(InputError):
        inputs.parse_set_value("12abc", "--set x")


def test_a_file_at_the_size_limit_is_read_and_one_byte_more_is_not(tmp_path: Path) -> None:
    path = tmp_path / "big.toml"
    head = b'name = "big"\n#'
    path.write_bytes(head + b"x" * (inputs.MAX_BYTES - len(head)))
    assert inputs.read_toml_file(path) == {"name": "big"}
    path.write_bytes(head + b"x" * (inputs.MAX_BYTES - len(head) + 1))
    with pytest.raises(InputError, match="more than 1,000,000"):
        inputs.read_toml_file(path)


def test_the_error_line_is_one_bounded_line() -> None:
    line = PREFIX + one_line("key " + "k" * 400_000 + "\nsecond line\x1b[31m")
    assert "\n" not in line and "\x1b" not in line
    assert len(line) <= MAX_LINE
    assert line.endswith("more characters)")
    kept = line.removeprefix(PREFIX).split("... (")[0]
    dropped = int(line.rsplit("(", 1)[1].split(" ")[0].replace(",", ""))
    assert len(kept) + dropped == len("key " + "k" * 400_000 + " second line\\x1b[31m")
    assert one_line("short\n message") == "short message"


def settings_with(**load: Any) -> Settings:
    """Settings whose load section is ``load``, validated as a file's would be."""
    return Settings.model_validate({"load": load})


def test_the_checkout_limit_accepts_its_own_value_and_refuses_more() -> None:
    assert settings_with(rate_per_s=100.0, duration_s=10_000.0).load.expected_arrivals() == (
        limits.MAX_CHECKOUTS
    )
    with pytest.raises(ValidationError, match="1,000,001 checkouts"):
        settings_with(rate_per_s=100.0, duration_s=10_000.01)
    with pytest.raises(ValidationError, match="checkouts"):
        settings_with(rate_per_s=1.0, duration_s=10.0, piecewise=[[0, 1.0], [5, 1e6]])


def test_simulated_time_is_bounded_whatever_the_rate() -> None:
    assert settings_with(rate_per_s=1e-6, duration_s=86_400.0, drain_s=86_400.0)
    with pytest.raises(ValidationError, match="86400"):
        settings_with(rate_per_s=1e-6, duration_s=86_400.5)
    with pytest.raises(ValidationError, match="86400"):
        settings_with(drain_s=1e7)


def test_loops_that_tick_with_simulated_seconds_are_bounded() -> None:
    def check(section: str, **values: Any) -> None:
        Settings.model_validate(
            {"load": {"duration_s": 1000.0, "drain_s": 1000.0}, section: values}
        )

    check("saga", reservation_ttl_s=0.025)  # 2,000 s at 2.5 ms: 800,000 ticks
    with pytest.raises(ValidationError, match="reaper"):
        check("saga", reservation_ttl_s=0.019)  # 1,052,632 ticks
    with pytest.raises(ValidationError, match="sweeper"):
        check("saga", sweeper_interval_s=0.001)


def test_strict_types_and_finite_numbers() -> None:
    for load in ({"rate_per_s": "1e3"}, {"rate_per_s": True}, {"burst_at_s": float("inf")}):
        with pytest.raises(ValidationError):
            Settings.model_validate({"load": load})
    with pytest.raises(ValidationError):
        Settings.model_validate({"shopper": {"retry_same_key": "yes"}})
    with pytest.raises(ValidationError, match="hot_skus"):
        Settings.model_validate({"catalog": {"skus": 2, "hot_skus": 3}})
    with pytest.raises(ValidationError, match="NUL"):
        Settings.model_validate({"real": {"store_dir": "a\x00b"}})
    # A whole number is still a float, and a TOML array still a piecewise step.
    loaded = Settings.model_validate({"load": {"rate_per_s": 5, "piecewise": [[0, 2]]}})
    assert loaded.load.rate_per_s == 5.0 and loaded.load.piecewise == [(0.0, 2.0)]
