"""Every command's ``--help`` at 80 columns: each value named for what it is, nothing cut.

typer names a value by its Python type (``--run-time <str>``, ``--port <int range>``);
``cli/metavars.py`` names it for what to type (``DURATION``, ``PORT``). At 80
columns (what a pipe gets) no help line may be wider, and no cell may end in
an ellipsis.
"""

from __future__ import annotations

import re

import pytest
import typer
from typer.testing import CliRunner

from checkoutsim.cli.main import app
from checkoutsim.cli.metavars import BY_OPTION, by_type

COMMANDS = sorted(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
#: typer's own type names, e.g. ``<str>``, ``<int range>``, ``<path>``, ``<bool>``.
TYPE_NAME = re.compile(r"<(?:str|int|float|bool|path|file|text|list\[[a-z]+\])(?: range)?>")


def help_text(*words: str) -> str:
    result = CliRunner().invoke(app, [*words, "--help"], env={"COLUMNS": "80", "NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("command", ["", *COMMANDS])
def test_help_names_every_value_and_fits_80_columns(command: str) -> None:
    text = help_text(*([command] if command else []))
    assert not TYPE_NAME.search(text), TYPE_NAME.findall(text)
    lines = text.splitlines()
    assert all(len(line) <= 80 for line in lines), [line for line in lines if len(line) > 80]
    assert "…" not in text, [line for line in lines if "…" in line]


def test_values_are_named_for_what_to_type() -> None:
    loadtest = help_text("loadtest")
    for option, name in [("--run-time", "DURATION"), ("--target", "URL"), ("--html", "FILE")]:
        assert re.search(rf"{option}\s+{name}\b", loadtest), option
    serve = help_text("serve")
    assert re.search(r"--idle-timeout\s+SECONDS", serve)
    assert re.search(r"--port\s+PORT", serve)
    probe = help_text("probe")
    assert re.search(r"│\s+\*\s+URL\s+The target", probe), "the argument shows its name, no type"


def test_an_option_no_table_names_is_named_by_its_type() -> None:
    class Described:
        def __init__(self, annotation: object) -> None:
            self.type_descriptor = type("Descriptor", (), {"annotation": annotation})()

    assert [by_type(Described(kind)) for kind in (int, float, str)] == ["N", "NUMBER", "TEXT"]
    assert all(name == name.upper() for name in BY_OPTION.values())
