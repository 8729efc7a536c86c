"""Safe defaults: loopback binding, no code execution of user data, escaped report text."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

from typer.testing import CliRunner

import checkoutsim
from checkoutsim.cli.main import app
from checkoutsim.scenario.files import available

PACKAGE = Path(checkoutsim.__file__).parent
FORBIDDEN_CALLS = {"eval", "exec", "compile", "__import__"}
FORBIDDEN_MODULES = {"pickle", "cPickle", "marshal", "shelve", "dill"}


def test_serve_binds_loopback_unless_told_otherwise() -> None:
    from checkoutsim.cli import real as cli_real

    assert inspect.signature(cli_real.serve).parameters["host"].default == "127.0.0.1"


def test_no_module_evaluates_executes_or_unpickles_anything() -> None:
    offences = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            called = isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            if called and node.func.id in FORBIDDEN_CALLS:  # type: ignore[union-attr]
                offences.append(f"{path}:{node.lineno} calls {node.func.id}")
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [alias.name for alias in node.names]
                if isinstance(node, ast.ImportFrom) and node.module:
                    names.append(node.module)
                for name in names:
                    if name.split(".")[0] in FORBIDDEN_MODULES:
                        offences.append(f"{path}:{node.lineno} imports {name}")
    assert offences == []


def test_markup_in_a_scenario_title_is_shown_as_text(tmp_path: Path) -> None:
    text = available()["double-click"].read_text(encoding="utf-8")
    evil = "[/oops] [bold red]<script>alert(1)</script>"
    path = tmp_path / "evil.toml"
    path.write_text(
        text.replace('title = "Double click: shoppers press Pay twice"', f'title = "{evil}"'),
        encoding="utf-8",
    )
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    from checkoutsim.cli.compare_view import render_compare
    from checkoutsim.scenario.files import load

    loaded = load(str(path), [], ["key_first"])
    # Rendering the title must not raise a markup error, and must show it verbatim.
    from checkoutsim.cli.app import out

    with out.capture() as captured:
        render_compare(loaded, {"variants": []})
    assert "[/oops]" in captured.get()
