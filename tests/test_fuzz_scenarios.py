"""Bad scenario files: never a traceback, always exit 2 naming the file and the field.

``BAD_SCENARIOS`` is the catalogue of hand-picked bad inputs with the answer
each one gets (asserted, so the list stays true); hypothesis then generates
malformed TOML, wrong types, unknown keys and extreme values around it. The
generated corpus of ``tests/fuzz_corpus.py`` (wrong types for every field,
NaN and infinities, huge numbers, deep nesting, encodings, absurd loads, bad
command lines) must each give exit 2 and exactly one line: in process here,
and (``slow``) each in a process of its own within 10 s and 500 MB.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from checkoutsim.cli.main import app
from checkoutsim.scenario.files import MAX_FILE_BYTES, available
from tests.fuzz_corpus import FILE, GOOD, HEADER, Case, corpus

BASE_TEXT = available()["double-click"].read_text(encoding="utf-8")
BASE = tomllib.loads(BASE_TEXT)
RUNNER = CliRunner()


def toml_string(text: str) -> str:
    """A TOML basic string: raw non-ASCII (JSON's surrogate pairs are not TOML), DEL escaped."""
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def toml_value(value: Any) -> str:
    """A value in TOML syntax (strings in JSON's escaping, which TOML accepts)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        inner = ", ".join(f"{toml_string(str(k))} = {toml_value(v)}" for k, v in value.items())
        return "{" + inner + "}"
    raise TypeError(type(value))


def toml_document(data: dict[str, Any]) -> str:
    """A scenario dict as TOML: top-level scalars, then one table per section."""
    lines = [f"{key} = {toml_value(v)}" for key, v in data.items() if not isinstance(v, dict)]
    lines = [line for line in lines if not line.startswith("variants =")]
    for key, value in data.items():
        if isinstance(value, dict):
            lines.append(f"[{key}]")
            lines += [f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()]
    for variant in data.get("variants", []):
        lines.append("[[variants]]")
        lines += [f"{json.dumps(k)} = {toml_value(v)}" for k, v in variant.items()]
    return "\n".join(lines) + "\n"


def validate(path: Path) -> tuple[int, str]:
    """Run ``checkoutsim validate`` on a file; fail the test on any traceback."""
    result = RUNNER.invoke(app, ["validate", str(path)])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"traceback for {path.read_text()[:300]!r}") from result.exception
    return result.exit_code, result.output


def _rate(value: str) -> str:
    """The base scenario with ``load.rate_per_s`` set to ``value`` (TOML syntax)."""
    return BASE_TEXT.replace("rate_per_s = 40.0", f"rate_per_s = {value}")


#: (what is wrong, TOML text, what the one-line error must say)
BAD_SCENARIOS: list[tuple[str, str, str]] = [
    ("not TOML at all", "name = = 3", "invalid TOML"),
    ("unterminated string", 'name = "flash', "invalid TOML"),
    ("empty file", "", "name: Field required"),
    ("unknown top-level key", BASE_TEXT + "\ncolour = 'red'\n", "colour"),
    ("unknown section key", BASE_TEXT.replace("[load]", "[load]\nspeed = 3"), "load.speed"),
    ("wrong type", _rate("'fast'"), "rate_per_s"),
    ("negative rate", _rate("-5.0"), "rate_per_s"),
    ("infinite rate", _rate("inf"), "rate_per_s"),
    ("NaN rate", _rate("nan"), "rate_per_s"),
    (
        "huge stock",
        BASE_TEXT.replace("stock_per_sku = 1000", "stock_per_sku = 99999999999999999"),
        "catalog",
    ),
    ("bad variant name", BASE_TEXT + '\n[[variants]]\nname = "Bad Name!"\n', "variants"),
    (
        "variant sets an unknown field",
        BASE_TEXT + '\n[[variants]]\nname = "x"\nset = { "load.nope" = 1 }\n',
        "load.nope",
    ),
    ("code in a value", _rate('\'__import__("os").system("true")\''), "rate_per_s"),
]


@pytest.mark.parametrize(
    ("problem", "text", "expected"), BAD_SCENARIOS, ids=[case[0] for case in BAD_SCENARIOS]
)
def test_each_catalogued_bad_file_gets_exit_2_naming_file_and_field(
    tmp_path: Path, problem: str, text: str, expected: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    code, output = validate(path)
    assert code == 2, (problem, output)
    assert str(path) in output.replace("\n", "")
    assert expected in output.replace("\n", ""), (problem, output)


def test_a_huge_file_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    path = tmp_path / "huge.toml"
    path.write_text(BASE_TEXT + "#" * (MAX_FILE_BYTES + 1), encoding="utf-8")
    code, output = validate(path)
    assert code == 2 and "more than" in output


def test_a_binary_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "binary.toml"
    path.write_bytes(b"\xff\xfe\x00name = 1")
    code, output = validate(path)
    assert code == 2 and "UTF-8" in output


FUZZ = settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
SCALARS = st.one_of(
    st.none().map(lambda _: "null-ish"),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
)
VALUES = st.one_of(
    SCALARS,
    st.lists(SCALARS, max_size=3),
    st.dictionaries(st.text(max_size=8), SCALARS, max_size=2),
)
SECTIONS = sorted(key for key, value in BASE.items() if isinstance(value, dict))


@FUZZ
@given(text=st.text(max_size=400))
def test_random_text_never_crashes(tmp_path: Path, text: str) -> None:
    path = tmp_path / "random.toml"
    path.write_text(text, encoding="utf-8")
    code, output = validate(path)
    assert code == 2 and str(path) in output.replace("\n", "")


@FUZZ
@given(section=st.sampled_from(SECTIONS), data=st.data(), value=VALUES)
def test_any_value_in_any_field_is_accepted_or_named(
    tmp_path: Path, section: str, data: st.DataObject, value: Any
) -> None:
    field = data.draw(st.sampled_from(sorted(BASE[section])), label="field")
    mutated = json.loads(json.dumps(BASE))
    mutated[section][field] = value
    path = tmp_path / "mutated.toml"
    path.write_text(toml_document(mutated), encoding="utf-8")
    code, output = validate(path)
    flat = output.replace("\n", "")
    assert code in (0, 2), output
    if code == 2:
        assert str(path) in flat and section in flat, output


@FUZZ
@given(section=st.sampled_from(SECTIONS), key=st.from_regex(r"[a-z][a-z_]{0,12}", fullmatch=True))
def test_unknown_keys_are_named(tmp_path: Path, section: str, key: str) -> None:
    mutated = json.loads(json.dumps(BASE))
    if key in mutated[section]:
        return
    mutated[section][key] = 1
    path = tmp_path / "unknown.toml"
    path.write_text(toml_document(mutated), encoding="utf-8")
    code, output = validate(path)
    assert code == 2 and f"{section}.{key}" in output.replace("\n", ""), output


def test_the_toml_writer_round_trips_the_base_scenario(tmp_path: Path) -> None:
    path = tmp_path / "same.toml"
    path.write_text(toml_document(BASE), encoding="utf-8")
    assert validate(path)[0] == 0


# The generated corpus (tests/fuzz_corpus.py): every case exit 2, one line.

CORPUS = corpus()
CORPUS_IDS = [f"{index:03d}-{case.label[:50]}" for index, case in enumerate(CORPUS)]
#: The longest error line the command line prints.
LONGEST_LINE = 240


def command_line(case: Case, directory: Path) -> list[str]:
    """The case's arguments, its file (if any) written into ``directory``."""
    if case.file is None:
        return list(case.args)
    path = directory / "case.toml"
    path.write_bytes(case.file)
    return [str(path) if arg == FILE else arg for arg in case.args]


def assert_one_error_line(case: Case, code: int, stdout: str, stderr: str) -> None:
    """Exit 2, nothing on stdout, exactly one ``checkoutsim: error:`` line on stderr."""
    assert code == 2, (case.label, code, stdout[:300], stderr[:300])
    assert stdout == "", (case.label, stdout[:300])
    assert stderr.endswith("\n") and stderr.count("\n") == 1, (case.label, stderr[:600])
    assert stderr.startswith("checkoutsim: error: "), (case.label, stderr[:300])
    assert len(stderr.rstrip("\n")) <= LONGEST_LINE, (case.label, len(stderr))


def test_the_corpus_is_large_and_its_bases_are_valid(tmp_path: Path) -> None:
    assert len(CORPUS) >= 300
    for name, text in (
        ("header", HEADER.encode()),
        ("good", GOOD),
        ("bom", b"\xef\xbb\xbf" + GOOD),
    ):
        path = tmp_path / f"{name}.toml"
        path.write_bytes(text)
        result = RUNNER.invoke(app, ["show", str(path), "--json"])
        assert result.exit_code == 0, (name, result.output)


@pytest.mark.parametrize("case", CORPUS, ids=CORPUS_IDS)
def test_every_corpus_case_exits_2_with_one_line(tmp_path: Path, case: Case) -> None:
    result = RUNNER.invoke(app, command_line(case, tmp_path))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"traceback for {case.label}") from result.exception
    assert_one_error_line(case, result.exit_code, result.stdout, result.stderr)
    if case.field:
        # A wrong value for a setting is named by its section and field.
        section, _, field = case.field.rpartition(".")
        assert field in result.stderr and section in result.stderr, (case.label, result.stderr)


def _runnable(case: Case) -> bool:
    """Whether the case's arguments can be passed to a new process at all."""
    try:
        return all(
            len(arg) < 100_000 and "\x00" not in arg and os.fsencode(arg) for arg in case.args
        )
    except UnicodeEncodeError:
        return False


#: Each case in a process of its own must finish within these: seconds of CPU
#: (what the process itself spent, fair on a busy machine), peak resident memory,
#: and a wall-clock bound that only catches a hang.
CASE_SECONDS = 10.0
CASE_MEGABYTES = 500
CASE_WALL_SECONDS = 60.0


@pytest.mark.slow
@pytest.mark.parametrize(
    "case", [case for case in CORPUS if _runnable(case)], ids=lambda case: case.label[:50]
)
def test_every_corpus_case_in_its_own_process_is_quick_and_small(
    tmp_path: Path, case: Case
) -> None:
    arguments = [
        arg.replace("show", "run", 1) if index == 0 else arg
        for index, arg in enumerate(command_line(case, tmp_path))
    ]
    environment = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        started = time.monotonic()
        process = subprocess.Popen(
            [sys.executable, "-m", "checkoutsim", *arguments],
            stdout=stdout,
            stderr=stderr,
            env=environment,
        )
        # Killed past the wall-clock bound, so a hang fails the test, not the suite.
        timer = threading.Timer(CASE_WALL_SECONDS, process.kill)
        timer.start()
        _, status, usage = os.wait4(process.pid, 0)
        timer.cancel()
        elapsed = time.monotonic() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        stdout.seek(0)
        stderr.seek(0)
        out_text = stdout.read().decode("utf-8", "replace")
        err_text = stderr.read().decode("utf-8", "replace")
    assert elapsed <= CASE_WALL_SECONDS, (case.label, elapsed)
    assert usage.ru_utime + usage.ru_stime <= CASE_SECONDS, (case.label, usage)
    assert usage.ru_maxrss <= CASE_MEGABYTES * 1024, (case.label, usage.ru_maxrss)
    assert_one_error_line(case, process.returncode, out_text, err_text)
