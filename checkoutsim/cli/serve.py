"""``checkoutsim serve``: the real checkout over HTTP, bounded in connections and time.

The server itself lives in ``checkoutsim.load`` (imported only when the command
runs); this module validates the options and announces where it listens.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from checkoutsim.cli.app import ScenarioArgument, SeedOption, SetOption, err
from checkoutsim.cli.errors import UserError, user_errors
from checkoutsim.cli.load_options import LocksOption, StoreOption, _backend, _load


def _seconds(name: str, help_text: str) -> Any:
    """A ``serve`` time-out option: seconds, from 0.1 to an hour."""
    return typer.Option(name, min=0.1, max=3600.0, help=help_text)


HeaderTimeoutOption = Annotated[
    float,
    _seconds("--header-timeout", "Seconds a client has to send a request's line and headers."),
]
BodyTimeoutOption = Annotated[
    float, _seconds("--body-timeout", "Seconds a client has to send a body, after its headers.")
]
IdleTimeoutOption = Annotated[
    float, _seconds("--idle-timeout", "Seconds a kept-alive connection waits for its next request.")
]
SendTimeoutOption = Annotated[
    float, _seconds("--send-timeout", "Seconds a client has to take its answer.")
]


@user_errors
def serve(
    scenario: ScenarioArgument,
    variant: Annotated[
        str | None, typer.Option("--variant", "-v", help="Variant to serve (default: the first).")
    ] = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="0 picks a free port.")
    ] = 8080,
    db: Annotated[
        Path | None,
        typer.Option(
            "--db", help="Shop database file (reopened if it exists; default: temporary)."
        ),
    ] = None,
    seed: SeedOption = 1,
    overrides: SetOption = None,
    store: StoreOption = None,
    locks: LocksOption = None,
    max_connections: Annotated[
        int,
        typer.Option("--max-connections", min=1, help="Connections served at once; more get 503."),
    ] = 4096,
    header_timeout: HeaderTimeoutOption = 10.0,
    body_timeout: BodyTimeoutOption = 10.0,
    idle_timeout: IdleTimeoutOption = 60.0,
    send_timeout: SendTimeoutOption = 30.0,
) -> None:
    """Serve the checkout over HTTP: POST /checkout, GET /audit, /stock, /health."""
    choice = _backend(store, locks)
    if db is not None and (choice.postgres or choice.sqlite_folder is not None):
        raise UserError(f"--db {db}: only with the default SQLite store, not --store {store}")
    loaded = _load(scenario, overrides, [variant] if variant else [])
    chosen = loaded.variants[0]
    from checkoutsim.load.bounded import ServeLimits, fit_to_open_files

    asked = ServeLimits(max_connections, header_timeout, body_timeout, idle_timeout, send_timeout)
    limits, open_files = fit_to_open_files(asked)
    if limits.max_connections < asked.max_connections:
        err.print(
            f"--max-connections {asked.max_connections}: lowered to {limits.max_connections}"
            f" to fit the open-file limit ({open_files})",
            highlight=False,
            soft_wrap=True,
        )
    _log_to_stderr()
    if not choice.default:
        from checkoutsim.load.backed import serve_backed

        serve_backed(loaded.name, chosen, host, port, choice, seed, _announce, limits)
        return
    from checkoutsim.load.server import serve_forever

    serve_forever(loaded.name, chosen, host, port, db, seed, _announce, limits)


def _log_to_stderr() -> None:
    """Send the server's error log (internal errors, with their reference) to stderr."""
    import logging
    import sys

    logger = logging.getLogger("checkoutsim")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.WARNING)


def _announce(url: str, where: Any, recovered: dict[str, int]) -> None:
    """Tell the user (and scripts waiting for it) where the server listens and keeps state."""
    err.print(f"serving on {url}", highlight=False, soft_wrap=True)
    if isinstance(where, str):
        where = f"PostgreSQL schemas {where} (shop) and {where}_gateway (ledger)"
    else:
        where = f"shop {where.shop}, ledger {where.gateway}"
    err.print(where, highlight=False, soft_wrap=True)
    if any(recovered.values()):
        err.print(f"recovered unfinished sagas: {recovered}", highlight=False, soft_wrap=True)
