"""``checkoutsim loadtest-worker``: a Locust worker for ``loadtest --master`` on another machine.

``register_remote(app)`` adds the command. Locust (and its monkey-patching) is
imported only when the command runs.
"""

from __future__ import annotations

from typing import Annotated

import typer

from checkoutsim.cli.errors import user_errors


def register_remote(app: typer.Typer) -> None:
    """Add ``loadtest-worker`` to ``app`` (once, however often called)."""
    if "loadtest-worker" not in {command.name for command in app.registered_commands}:
        app.command("loadtest-worker")(loadtest_worker)


@user_errors
def loadtest_worker(
    master_host: Annotated[
        str, typer.Option("--master-host", help="Host of `loadtest --master`.")
    ] = "127.0.0.1",
    master_port: Annotated[int, typer.Option("--master-port", min=1, max=65535)] = 5557,
    once: Annotated[bool, typer.Option("--once", help="Serve one variant, then exit.")] = False,
) -> None:
    """Serve a master's load tests: each variant's slice of shoppers, on the shared store."""
    from checkoutsim.load.remote_worker import serve

    serve(master_host, master_port, once)
