"""``pgbench``'s TPC-B figure on the server a bench measures, as its anchor.

``pgbench`` is PostgreSQL's own load generator, in C: what the server does
with TPC-B-like transactions (three ``UPDATE``s, a ``SELECT`` and an
``INSERT`` between ``BEGIN`` and ``END``) when the client costs next to
nothing. It runs in a schema of its own (``PGOPTIONS`` sets the search path),
which is dropped afterwards, so a shared database is left as it was.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

#: How to get ``pgbench`` when it is missing (it ships with PostgreSQL's client tools).
INSTALL_HINT = (
    "pgbench not found: install PostgreSQL's client tools (Debian/Ubuntu: apt-get install"
    " postgresql-contrib or postgresql-client; macOS: brew install libpq) to print its figure"
)
#: Clients and threads, as in the issue's anchor (``pgbench -c 8 -j 2``).
CLIENTS = 8
THREADS = 2

_TPS = re.compile(
    r"^tps = ([0-9.]+) \((?:without initial connection|excluding connections establishing)",
    re.MULTILINE,
)
_TPS_ANY = re.compile(r"^tps = ([0-9.]+)", re.MULTILINE)


class PgbenchError(RuntimeError):
    """pgbench ran but printed no figure (its output's last lines in the message)."""


def parse_tps(output: str) -> float:
    """The transactions per second ``pgbench`` printed (without connection time, if given)."""
    match = _TPS.search(output) or _TPS_ANY.search(output)
    if match is None:
        tail = " | ".join(output.strip().splitlines()[-3:])
        raise PgbenchError(f"pgbench printed no tps figure: {tail}")
    return float(match.group(1))


def available() -> bool:
    """Is ``pgbench`` on the ``PATH``?"""
    return shutil.which("pgbench") is not None


class Pgbench:
    """TPC-B tables (scale 1) in a schema of their own, for timed runs; dropped on exit.

    ``with Pgbench(url, schema) as bench: bench.tps(5.0)``. Raises
    ``PgbenchError`` (or ``subprocess`` and ``psycopg`` errors) when pgbench or
    the server fails.
    """

    def __init__(self, url: str, schema: str) -> None:
        self.url = url
        self.schema = schema

    def __enter__(self) -> Pgbench:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as connection:
            connection.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
        try:
            _pgbench(self.url, self.schema, ["-i", "-s", "1", "-q"], "")
        except BaseException:
            self._drop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._drop()

    def _drop(self) -> None:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')

    def tps(self, seconds: float, async_commit: bool = False) -> float:
        """TPC-B transactions per second over ``seconds`` (whole seconds, at least one).

        ``async_commit`` runs it with ``synchronous_commit=off``, as the
        checkout's sessions run (``checkoutsim.real.postgres.SESSION``).
        """
        duration = str(max(1, round(seconds)))
        arguments = ["-c", str(CLIENTS), "-j", str(THREADS), "-T", duration]
        options = "-c synchronous_commit=off" if async_commit else ""
        return parse_tps(_pgbench(self.url, self.schema, arguments, options))


def _pgbench(url: str, schema: str, arguments: list[str], options: str) -> str:
    """Run pgbench on ``url`` with ``schema`` first on the search path; its output."""
    environment = dict(os.environ, PGOPTIONS=f"-c search_path={schema} {options}".strip())
    completed = subprocess.run(
        ["pgbench", *arguments, url],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
    )
    output = completed.stdout + completed.stderr
    if completed.returncode != 0:
        tail = " | ".join(output.strip().splitlines()[-3:])
        raise PgbenchError(f"pgbench {' '.join(arguments)} failed: {tail}")
    return output
