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
from dataclasses import dataclass

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


@dataclass(frozen=True)
class PgbenchFigures:
    """TPC-B transactions per second: server defaults, and with ``synchronous_commit=off``."""

    tps: float
    tps_async_commit: float
    clients: int
    seconds: float


def available() -> bool:
    """Is ``pgbench`` on the ``PATH``?"""
    return shutil.which("pgbench") is not None


def run(url: str, schema: str, seconds: float) -> PgbenchFigures:
    """Initialise TPC-B tables (scale 1) in ``schema`` of ``url``'s database and time them.

    The schema is created first and dropped at the end. Raises ``PgbenchError``
    (or ``subprocess`` errors) when pgbench fails.
    """
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    try:
        _pgbench(url, schema, ["-i", "-s", "1", "-q"], "")
        duration = str(max(1, round(seconds)))
        common = ["-c", str(CLIENTS), "-j", str(THREADS), "-T", duration]
        tps = parse_tps(_pgbench(url, schema, common, ""))
        # The checkout's sessions commit without waiting for the disk (see
        # ``checkoutsim.real.postgres.SESSION``); the same for pgbench, for a like-for-like row.
        relaxed = parse_tps(_pgbench(url, schema, common, "-c synchronous_commit=off"))
    finally:
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    return PgbenchFigures(tps, relaxed, CLIENTS, float(duration))


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
