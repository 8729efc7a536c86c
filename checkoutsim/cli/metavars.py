"""What ``--help`` calls each option's value: ``--run-time DURATION``, not ``--run-time <str>``.

typer names a value by its Python type (``<str>``, ``<int range>``, ``<path>``),
which says nothing about what to type. Every command's parameters get a name
here when they have none of their own: first by option (one table, so the same
option reads the same in every command), then by type. Flags take no value, so
they show none. An argument shows its name only: typer would add its type.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: The value's name for each option, whichever command it belongs to.
BY_OPTION: dict[str, str] = {
    "--adapter": "FILE",
    "--body-timeout": "SECONDS",
    "--clients": "N",
    "--cluster": "URL",
    "--csv": "FOLDER",
    "--db": "FILE",
    "--expect-workers": "N",
    "--grid": "N",
    "--header-timeout": "SECONDS",
    "--host": "HOST",
    "--html": "FILE",
    "--idle-timeout": "SECONDS",
    "--jobs": "N",
    "--kills": "N",
    "--locks": "URL",
    "--master-bind-host": "HOST",
    "--master-host": "HOST",
    "--master-port": "PORT",
    "--max-connections": "N",
    "--orders-per-day": "N",
    "--out": "FOLDER",
    "--output": "FOLDER",
    "--peak-factor": "FACTOR",
    "--port": "PORT",
    "--rate": "PER_SECOND",
    "--recovery-kills": "N",
    "--replications": "N",
    "--run-time": "DURATION",
    "--scenario": "SCENARIO",
    "--seed": "N",
    "--send-timeout": "SECONDS",
    "--store": "URL",
    "--target": "URL",
    "--users": "N",
    "--variant": "NAME",
    "--web-port": "PORT",
    "--workers": "N",
}

#: The names of arguments (typer shows an argument's Python name otherwise).
BY_ARGUMENT: dict[str, str] = {
    "scenario": "SCENARIO",
    "target": "SCENARIO|RESULT.json",
    "url": "URL",
}


def by_type(param: Any) -> str:
    """A value's name from its Python type, for an option neither table names."""
    annotation = getattr(param.type_descriptor, "annotation", None)
    if annotation is int:
        return "N"
    if annotation is float:
        return "NUMBER"
    if isinstance(annotation, type) and issubclass(annotation, Path):
        return "PATH"
    return "TEXT"


def _no_type(ctx: Any) -> None:
    """An argument's type column: empty (its name already says what it is)."""
    return None


def name_values(command: Any, ctx: Any) -> Any:
    """Give every parameter of ``command`` a value name for ``--help``; return ``command``.

    Parameters that already have a metavar keep it. ``--help`` itself is made per
    command, then kept, so it is included.
    """
    if command is None:
        return None
    for param in command.get_params(ctx):
        if getattr(param, "is_flag", False):
            if param.metavar is None:
                param.metavar = ""
            continue
        if param.param_type_name == "argument":
            if param.metavar is None:
                param.metavar = BY_ARGUMENT.get(param.name, param.name.upper())
            # typer prints an argument's type beside its name, always; an instance
            # attribute is the only way to leave it out without forking its help.
            param.display_type_rich = _no_type
            continue
        if param.metavar is None:
            long_names = [name for name in param.opts if name.startswith("--")]
            param.metavar = next(
                (BY_OPTION[name] for name in long_names if name in BY_OPTION), by_type(param)
            )
    return command
