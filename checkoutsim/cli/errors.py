"""How the command line reports a user's mistake: one line on stderr, exit code 2.

Every error a user can cause (a bad scenario file, a bad ``--set``, a limit
exceeded, an output path that cannot be written, a mistyped option) ends here.
The line names what was wrong and is cut to ``MAX_LINE`` characters, so a
400 KB key cannot become a 400 KB line; control characters are shown escaped,
so the line stays one line whatever the input held.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn, TypeVar

import typer

# typer carries its own copy of click; its usage errors derive from these classes.
from typer._click.exceptions import ClickException, NoSuchOption, UsageError
from typer.core import TyperGroup

from checkoutsim.cli.metavars import name_values
from checkoutsim.scenario.inputs import InputError
from checkoutsim.scenario.limits import LimitError
from checkoutsim.scenario.suggest import did_you_mean

#: The longest error line printed, in characters (the prefix included).
MAX_LINE = 240
PREFIX = "checkoutsim: error: "
#: The exit code of every error a user caused.
USAGE_EXIT = 2

F = TypeVar("F", bound=Callable[..., Any])


class UserError(Exception):
    """A problem with what the user asked for; shown as one line, exit code 2."""


def one_line(message: str, limit: int = MAX_LINE - len(PREFIX)) -> str:
    """``message`` on one line (control characters escaped), at most ``limit`` characters."""
    flat = " ".join(
        "".join(
            character if character.isprintable() else repr(character)[1:-1] for character in part
        )
        for part in str(message).split()
    )
    if len(flat) <= limit:
        return flat
    cut = ""
    for _ in range(3):  # the note's own length changes how much it must cut
        cut = f"... ({len(flat) - (limit - len(cut)):,} more characters)"
    return flat[: limit - len(cut)] + cut


def print_error(message: object) -> None:
    """Write ``message`` to stderr as one ``checkoutsim: error:`` line."""
    sys.stderr.write(PREFIX + one_line(str(message)) + "\n")
    sys.stderr.flush()


def fail(message: object) -> NoReturn:
    """Print ``message`` as the one error line and exit with code 2."""
    print_error(message)
    raise typer.Exit(USAGE_EXIT)


def describe_os_error(error: OSError) -> str:
    """``path: reason`` for a failure to read or write a path."""
    reason = error.strerror or str(error) or type(error).__name__
    return f"{error.filename}: {reason}" if error.filename is not None else reason


#: What a command may raise that is the user's doing, not a bug.
USER_ERRORS: tuple[type[Exception], ...] = (InputError, LimitError, UserError)


def user_errors(function: F) -> F:
    """Turn the user's errors (and failures on a named path) into one line and exit 2."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except USER_ERRORS as error:
            fail(error)
        except OSError as error:
            # Only a failure on a path the user named; anything else is a bug.
            if error.filename is None:
                raise
            fail(describe_os_error(error))

    return wrapper  # type: ignore[return-value]


def usage_message(error: ClickException) -> str:
    """A usage error's text, prefixed with the command it is about, with a suggestion.

    click suggests options its own way ("Possible options: ..."); every name a
    user mistypes is suggested by one rule (:mod:`checkoutsim.scenario.suggest`).
    """
    context = getattr(error, "ctx", None)
    where = f"{context.command_path}: " if context is not None else ""
    if isinstance(error, NoSuchOption) and context is not None:
        known = [
            name
            for param in context.command.get_params(context)
            for name in (*param.opts, *param.secondary_opts)
            if name.startswith("--")
        ]
        return f"{where}no option {error.option_name}{did_you_mean(error.option_name, known)}"
    return where + error.format_message()


@contextmanager
def one_line_usage_errors() -> Iterator[None]:
    """Show typer's (click's) usage errors as one line with exit code 2."""
    try:
        yield
    except ClickException as error:
        fail(usage_message(error))


class OneLineErrorGroup(TyperGroup):
    """The command group: usage errors (unknown option, bad number) as one line, exit 2."""

    def make_context(self, *args: Any, **kwargs: Any) -> Any:
        """Parse the group's own options, with one-line usage errors."""
        with one_line_usage_errors():
            return super().make_context(*args, **kwargs)

    def invoke(self, ctx: Any) -> Any:
        """Parse and run a command, with one-line usage errors."""
        with one_line_usage_errors():
            return super().invoke(ctx)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        """The command called ``cmd_name``, each value named in its help (``cli/metavars.py``)."""
        return name_values(super().get_command(ctx, cmd_name), ctx)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        """The group's help, its own flags (``--version``) shown without a value."""
        name_values(self, ctx)
        super().format_help(ctx, formatter)

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        """The command named first in ``args``; an unknown name is suggested a known one."""
        if args and self.get_command(ctx, args[0]) is None and not args[0].startswith("-"):
            names = [name for name, command in self.commands.items() if not command.hidden]
            raise UsageError(f"no command {args[0]!r}{did_you_mean(args[0], names)}", ctx)
        return super().resolve_command(ctx, args)
