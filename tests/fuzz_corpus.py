"""A generated corpus of malformed scenario files, ``--set`` values and command lines.

Each ``Case`` is something a user (or an attacker) could hand the command line:
every one must be refused with exit code 2 and exactly one error line. The
corpus is deterministic (no randomness), so a failure names the same case on
every run. Wrong values are generated per field from the settings model's own
types, so a field added later gets its share of the corpus without edits here.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

from checkoutsim.scenario.settings import Settings

#: The placeholder in ``Case.args`` for the path of the case's file.
FILE = "{file}"
#: A valid scenario with nothing but its metadata: every setting at its default.
HEADER = 'name = "fuzz"\ntitle = "A fuzzed scenario"\nquestion = "Is every bad input refused?"\n'


@dataclass(frozen=True)
class Case:
    """One bad input: the command line (``FILE`` stands for ``file``'s path) and a file."""

    label: str
    args: tuple[str, ...]
    file: bytes | None = None
    #: The setting the case gets wrong, which the error line must name ("" if none).
    field: str = ""


def leaf_fields(model: type[BaseModel] = Settings, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Every setting that is not itself a section, as (dotted name, annotation)."""
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from leaf_fields(annotation, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", annotation


def wrong_values(annotation: Any) -> list[str]:
    """TOML values that no field of this type may accept (strict, finite, bounded)."""
    origin = typing.get_origin(annotation)
    arguments = typing.get_args(annotation)
    if annotation is bool:
        return ['"yes"', "1", '"true"', "0.0", "[true]"]
    if annotation is int:
        return ['"10"', "1.5", "true", "nan", "99999999999999999999", "[1]", "{ a = 1 }"]
    if annotation is float:
        return ['"1e3"', "nan", "inf", "-inf", "true", "1e400", "[1.0]", '"0x10"', "-nan"]
    if annotation is str:
        return ['"a\\u0000b"', "7", "[1]", '"\\u0007bell"']
    if origin is Literal:
        return ["7", '"no-such-choice"', "true", f'"{str(arguments[0]).upper()}"']
    if origin in (typing.Union, types.UnionType):  # float | None
        return ['"1e3"', "nan", "inf", "false"]
    if origin is dict:
        return ['{ x = "1e3" }', "{ x = nan }", '"abc"', "{ x = inf }"]
    if origin is list:
        item = arguments[0]
        if typing.get_origin(item) is typing.Annotated:  # piecewise: [[start_s, rate]]
            return [
                "[[nan, 1.0]]",
                "[[0.0, nan]]",
                "[[inf, 1.0]]",
                "[[0.0, inf]]",
                '[["1e3", 1.0]]',
                "[[0.0, 1.0, 2.0]]",
                "[[5.0, 1.0], [1.0, 1.0]]",
                "[[-1.0, 1.0]]",
                "[[1e9, 1.0]]",
                "[[0.0, 1e7]]",
            ]
        return [  # outages and brown-outs
            '[{ service = "gateway", start_s = nan, end_s = 1.0 }]',
            '[{ service = "gateway", start_s = 0.0, end_s = inf }]',
            '[{ service = "nobody", start_s = 0.0, end_s = 1.0 }]',
            '[{ service = "gateway", start_s = "0", end_s = 1.0 }]',
            "[1]",
            '"soon"',
        ]
    raise TypeError(f"no wrong values for {annotation!r}")


def file_setting(dotted: str, value: str) -> bytes:
    """A scenario file that sets one (possibly nested) setting to ``value``."""
    section, _, key = dotted.rpartition(".")
    return f"{HEADER}\n[{section}]\n{key} = {value}\n".encode()


def field_cases() -> list[Case]:
    """Wrong values for every setting, alternately in a file and on ``--set``."""
    cases = []
    for dotted, annotation in leaf_fields():
        for index, value in enumerate(wrong_values(annotation)[:4]):
            if index % 2 == 0:
                arguments: tuple[str, ...] = ("show", FILE)
                cases.append(
                    Case(f"file {dotted}={value}", arguments, file_setting(dotted, value), dotted)
                )
            else:
                arguments = ("show", "double-click", "--set", f"{dotted}={value}")
                cases.append(Case(f"--set {dotted}={value}", arguments, None, dotted))
    return cases


def nested(depth: int, kind: str) -> str:
    """A value nested ``depth`` levels deep: arrays, inline tables or both in turn."""
    if kind == "array":
        return "[" * depth + "1" + "]" * depth
    if kind == "table":
        return "{ a = " * depth + "1" + " }" * depth
    opening = "".join("[" if level % 2 else "{ a = " for level in range(depth))
    closing = "".join("]" if level % 2 else " }" for level in reversed(range(depth)))
    return opening + "1" + closing


def nesting_cases() -> list[Case]:
    """Deep arrays, inline tables, dotted keys and table headers, in files and ``--set``."""
    cases = []
    for depth in (21, 30, 100, 500, 5_000, 100_000):
        for kind in ("array", "table", "mixed"):
            value = nested(depth, kind)
            cases.append(
                Case(
                    f"file {kind} x{depth}", ("show", FILE), file_setting("load.rate_per_s", value)
                )
            )
            cases.append(
                Case(
                    f"--set {kind} x{depth}",
                    ("show", "double-click", "--set", f"load.piecewise={value}"),
                )
            )
        dotted = ".".join(["a"] * depth)
        cases.append(
            Case(f"dotted key x{depth}", ("show", FILE), f"{HEADER}{dotted} = 1\n".encode())
        )
        cases.append(
            Case(f"table header x{depth}", ("show", FILE), f"{HEADER}[{dotted}]\n".encode())
        )
        cases.append(
            Case(
                f"variant set x{depth}",
                ("show", FILE),
                _variant(f'"load.piecewise" = {nested(min(depth, 30), "array")}'),
            )
        )
    return cases


def _variant(assignment: str) -> bytes:
    """A file with one variant whose ``set`` holds ``assignment``."""
    return f'{HEADER}\n[[variants]]\nname = "v"\nset = {{ {assignment} }}\n'.encode()


GOOD = (HEADER + "\n[load]\nrate_per_s = 10.0\n").encode()


def encoding_cases() -> list[Case]:
    """UTF-16 and UTF-32 (with and without marks), Latin-1, NUL bytes, broken BOMs."""
    text = GOOD.decode()
    blobs = {
        "utf-16 with mark": text.encode("utf-16"),
        "utf-16-le no mark": text.encode("utf-16-le"),
        "utf-16-be no mark": text.encode("utf-16-be"),
        "utf-16-be with mark": b"\xfe\xff" + text.encode("utf-16-be"),
        "utf-32 with mark": text.encode("utf-32"),
        "utf-32-be with mark": b"\x00\x00\xfe\xff" + text.encode("utf-32-be"),
        "latin-1": (text + 'description = "caf\xe9"\n').encode("latin-1"),
        "cp1252 quotes": (text + 'description = "\u201chi\u201d"\n').encode("cp1252"),
        "NUL byte in a string": GOOD.replace(b"fuzz", b"fu\x00zz", 1),
        "NUL byte at the end": GOOD + b"\x00",
        "binary noise": bytes(range(256)) * 4,
        "BOM then garbage": b"\xef\xbb\xbf" + b"name = = 1",
        "two BOMs": b"\xef\xbb\xbf\xef\xbb\xbf" + GOOD,
        "BOM mid-file": GOOD + b"\xef\xbb\xbf" + b"x = 1\n",
        "lone surrogate (CESU)": GOOD + b'description = "\xed\xa0\x80"\n',
        "overlong UTF-8": GOOD + b'description = "\xc0\xaf"\n',
        "truncated UTF-8": GOOD + b'description = "\xe2\x82"\n',
        "empty file": b"",
        "only a BOM": b"\xef\xbb\xbf",
        "over 1 MB of comment": GOOD + b"#" + b"x" * 1_000_001,
        "over 1 MB in a string": GOOD + b'description = "' + b"x" * 1_000_001 + b'"\n',
        "CR line endings only": GOOD.replace(b"\n", b"\r"),
        "escaped NUL in the title": GOOD.replace(b"A fuzzed", b"A \\u0000 fuzzed"),
        "escaped ESC in a key": GOOD + b'"a\\u001b[31m" = 1\n',
    }
    return [Case(label, ("show", FILE), blob) for label, blob in blobs.items()]


def value_cases() -> list[Case]:
    """Absurd sizes, durations and loads; cross-field rules; unknown keys; huge numbers."""
    sets = [
        "load.duration_s=1e7",
        "load.duration_s=86401",
        "load.drain_s=1e7",
        "load.drain_s=86400.5",
        "load.duration_s=1e308",
        "load.duration_s=0",
        "load.rate_per_s=1e6",
        "load.rate_per_s=20000",
        "load.burst_size=2000000",
        "load.burst_at_s=1e9",
        "load.burst_at_s=nan",
        "load.burst_at_s=inf",
        "load.max_arrivals=0",
        "catalog.hot_skus=51",
        "catalog.hot_skus=1000001",
        "catalog.skus=1000001",
        "saga.reservation_ttl_s=1e-9",
        "saga.reservation_ttl_s=0.00001",
        "saga.sweeper_interval_s=0.0001",
        "saga.sweeper_interval_s=1e-300",
        "scale.customers_per_tier=100000000",
        "load.rate_per_s=" + "9" * 4_301,
        "load.rate_per_s=" + "9" * 20,
        "load.rate_per_s=-" + "9" * 5_000,
        "load.rate_per_s=0x" + "f" * 40,
        "load.rate_per_s=1" + "0" * 400 + ".0",
        "load.rate_per_s=1e99999",
        "load.rate_per_s=fast",
        "load.rate_per_s=12abc",
        "load.rate_per_s='1e3'",
        'load.rate_per_s="50"',
        "load.rate_per_s=",
        "load.rate_per_s=[",
        'load.rate_per_s="unterminated',
        "load.rate_per_s=1\n2",
        "shopper.retry_same_key=yes",
        "shopper.retry_same_key=on",
        "shopper.retry_same_key=1",
        "inventory.strategy=NAIVE",
        "inventory.strategy=__import__('os')",
        'real.store_dir="a\\u0000b"',
        "load.colour=3",
        "colour.rate=3",
        "load.rate_per_s.deeper=1",
        "load=3",
        "load.piecewise=[[0,1],[100,2]]",
        "load.piecewise=[[nan,1]]",
        "load.piecewise=[[0,nan]]",
        "load.piecewise=[[0,1e6]]",
        "x" * 400_000 + ".y=1",
        "load." + "k" * 300 + "=1",
        "a.b.c.d.e.f.g.h.i.j.k=1",
        "load.rate_per_s",
        "=1",
        "load.rate_per_s=" + "[" * 30 + "]" * 30,
        "load.rate_per_s=" + "x" * 1_000_001,
        "load.rate_per_s=\ud800",
        "load.rate_per_s=1\x00",
        "real.store_dir=/tmp/a\x1bb",
        # What Python makes of a byte that is not UTF-8 in a command-line argument.
        "load.rate_per_s=\udcff",
        "real.store_dir=\udcff",
    ]
    cases = [Case(f"--set {text[:60]}", ("show", "double-click", "--set", text)) for text in sets]
    retries = ("--set", "load.rate_per_s=2000", "--set", "shopper.retries_on_timeout=100")
    cases.append(Case("--set retries x checkouts", ("show", "double-click", *retries)))
    files = {
        "unknown top-level key": HEADER + "colour = 'red'\n",
        "unknown section": HEADER + "[colour]\nred = 1\n",
        "unknown key in a section": HEADER + "[load]\nspeed = 3\n",
        "unknown key in a latency": HEADER + "[gateway.latency]\nmedian = 3\n",
        "a 400 KB key": HEADER + "[load]\n" + "k" * 400_000 + " = 1\n",
        "a 400 KB quoted key": HEADER + '"' + "k" * 400_000 + '" = 1\n',
        "a 400 KB name": HEADER.replace('"fuzz"', '"' + "f" * 400_000 + '"'),
        "name is a number": HEADER.replace('"fuzz"', "7"),
        "name with spaces": HEADER.replace('"fuzz"', '"Bad Name"'),
        "title empty": HEADER.replace('"A fuzzed scenario"', '""'),
        "no question": 'name = "fuzz"\ntitle = "t"\n',
        "variants not a list": HEADER + "variants = 3\n",
        "variant without a name": HEADER + "[[variants]]\ndescription = 'x'\n",
        "duplicate variants": HEADER + "[[variants]]\nname='a'\n[[variants]]\nname='a'\n",
        "variant sets an unknown field": HEADER
        + _variant('"load.nope" = 1').decode()[len(HEADER) :],
        "variant sets NaN": _variant('"load.rate_per_s" = nan').decode(),
        "variant sets a string number": _variant('"load.rate_per_s" = "1e3"').decode(),
        "variant sets a huge integer": _variant('"catalog.skus" = ' + "9" * 4_400).decode(),
        "65 variants": HEADER + "".join(f"[[variants]]\nname = 'v{i}'\n" for i in range(65)),
        "piecewise after the duration": HEADER
        + "[load]\nduration_s = 10.0\npiecewise = [[0.0, 1.0], [20.0, 2.0]]\n",
        "burst after the duration": HEADER
        + "[load]\nduration_s = 10.0\nburst_at_s = 10.0\nburst_size = 5\n",
        "a week of 1e-6 per second": HEADER + "[load]\nduration_s = 604800.0\nrate_per_s = 1e-6\n",
        "duplicate key": HEADER + "[load]\nrate_per_s = 1.0\nrate_per_s = 2.0\n",
        "duplicate table": HEADER + "[load]\n[load]\n",
        "not TOML": "name = = 3\n",
        "JSON instead": '{"name": "fuzz"}\n',
        "YAML instead": "name: fuzz\ntitle: t\n",
        "10,001 piecewise steps": HEADER
        + "[load]\nduration_s = 86400.0\npiecewise = ["
        + ", ".join(f"[{i}.0, 1.0]" for i in range(10_001))
        + "]\n",
        "1,001 outages": HEADER
        + "[faults]\noutages = ["
        + ", ".join(
            f'{{service = "gateway", start_s = {i}.0, end_s = {i}.5}}' for i in range(1_001)
        )
        + "]\n",
        "assumption NaN at scale": HEADER
        + "[scale]\norders_per_day = 1e6\nassumptions = { 'app.service_time_s' = nan }\n",
        "unknown assumption at scale": HEADER
        + "[scale]\norders_per_day = 1e6\nassumptions = { 'no.such' = 1.0 }\n",
        "orders per day 1e13": HEADER + "[scale]\norders_per_day = 1e13\n",
    }
    cases += [Case(label, ("show", FILE), text.encode()) for label, text in files.items()]
    return cases


def argument_cases() -> list[Case]:
    """Bad command lines: options, paths and limits that are not settings."""
    lines = [
        ("run", "double-click", "--bogus"),
        ("run", "double-click", "--seed", "abc"),
        ("run", "double-click", "--seed", "-1"),
        ("run", "double-click", "--seed", "9" * 5_000),
        ("run", "double-click", "-r", "0"),
        ("run", "double-click", "-r", "100000"),
        ("run", "double-click", "-r", "1e3"),
        ("run", "double-click", "--jobs", "0"),
        ("run", "double-click", "--jobs", "100000"),
        ("run", "double-click", "--set"),
        ("run", "double-click", "--set", "no-equals-sign"),
        ("run", "double-click", "--set", "Load.Rate=1"),
        ("run", "double-click", "--variant", "no-such-variant"),
        ("run", "no-such-scenario"),
        ("run", "/no/such/file.toml"),
        ("run", "/proc"),
        ("run", "/dev/zero"),
        ("run", "/dev/null"),
        ("run", "x" * 5_000),
        ("run", "a\x00b.toml"),
        ("run", "double-click", "--csv", "a\x00b"),
        ("show", "double-click", "--set", "load.rate_per_s=1", "--set", "load.rate_per_s=nan"),
        ("sweep", "double-click", "--param", "load.rate_per_s=1:10:0"),
        ("sweep", "double-click", "--param", "load.rate_per_s=nan:10:3"),
        ("sweep", "double-click", "--param", "load.rate_per_s=1:inf:3"),
        ("sweep", "double-click", "--param", "load.rate_per_s=1:10"),
        (
            "sweep",
            "double-click",
            "--param",
            "load.rate_per_s=1:10:1000",
            "--param",
            "catalog.skus=1:100:100",
        ),
        ("sweep", "double-click", "--param", "load.rate_per_s=1:10:2", "-r", "5000"),
        ("sweep", "double-click", "--param", "load.duration_s=1:1e7:2"),
        ("sweep", "double-click", "--param", "load.rate_per_s=1:10:1000", "-r", "40"),
        ("validate",),
        ("no-such-command",),
        ("show",),
        ("show", "double-click", "--json", "--json=yes"),
    ]
    return [Case("args " + " ".join(line)[:60], line) for line in lines]


def corpus() -> list[Case]:
    """Every case, in a fixed order."""
    return [*field_cases(), *nesting_cases(), *encoding_cases(), *value_cases(), *argument_cases()]
