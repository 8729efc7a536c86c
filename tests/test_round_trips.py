"""Round trips a checkout makes on PostgreSQL, and the bench's pgbench parser.

The trace samples are recorded output of libpq (``PQtrace``, timestamps
suppressed) and of ``pgbench`` 15; the live case needs a PostgreSQL server
(skipped with the reason when none answers, as the contract suites are).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from checkoutsim.load.bench import bench_settings
from checkoutsim.load.pgbench import PgbenchError, parse_tps
from checkoutsim.load.round_trips import backend_pids, count_round_trips, traced
from checkoutsim.real.backends import RunBackend
from checkoutsim.real.runtime import ThreadRuntime
from checkoutsim.real.service import CheckoutService, StorePaths
from checkoutsim.real.timebase import WallTime
from tests.backend_support import choice_for, require

#: A prepared statement's first use (Parse, then Bind/Execute), then a
#: transaction of one statement: BEGIN, the statement, COMMIT. Five waits.
TRACE = """F\t22\tParse\t "_pg3_0" "select 1" 0
F\t4\tSync
B\t4\tParseComplete
B\t5\tReadyForQuery\t I
F\t20\tBind\t "" "_pg3_0" 0 0 1 0
F\t6\tDescribe\t P ""
F\t9\tExecute\t "" 0
F\t4\tSync
B\t4\tBindComplete
B\t33\tRowDescription\t 1 "?column?" NNNN 0 NNNN 4 -1 0
B\t11\tDataRow\t 1 1 '1'
B\t13\tCommandComplete\t "SELECT 1"
B\t5\tReadyForQuery\t I
F\t10\tQuery\t "BEGIN"
B\t10\tCommandComplete\t "BEGIN"
B\t5\tReadyForQuery\t T
F\t28\tBind\t "" "_pg3_1" 1 1 1 2 '\\x00\\x02' 1 0
F\t6\tDescribe\t P ""
F\t9\tExecute\t "" 0
F\t4\tSync
B\t4\tBindComplete
B\t11\tDataRow\t 1 1 '2'
B\t13\tCommandComplete\t "SELECT 1"
B\t5\tReadyForQuery\t T
F\t11\tQuery\t "COMMIT"
B\t11\tCommandComplete\t "COMMIT"
B\t5\tReadyForQuery\t I
"""

#: Enough checkouts for every pooled connection to have prepared every statement.
WARM_CHECKOUTS = 40

PGBENCH = """pgbench (15.20 (Debian 15.20-0+deb12u1))
starting vacuum...end.
transaction type: <builtin: TPC-B (sort of)>
scaling factor: 1
query mode: simple
number of clients: 8
number of threads: 2
maximum number of tries: 1
duration: 10 s
number of transactions actually processed: 27811
number of failed transactions: 0 (0.000%)
latency average = 2.877 ms
initial connection time = 7.984 ms
tps = 2780.693185 (without initial connection time)
"""


def test_each_wait_for_the_server_is_one_round_trip() -> None:
    assert count_round_trips(TRACE) == 5


def test_a_trace_without_answers_counts_nothing() -> None:
    assert count_round_trips("") == 0
    assert count_round_trips('F\t10\tQuery\t "BEGIN"\n') == 0


def test_pgbench_tps_is_read_from_its_output() -> None:
    assert parse_tps(PGBENCH) == pytest.approx(2780.693185)
    # Older pgbench prints the figure twice; the one without connection time wins.
    older = (
        "tps = 100.5 (including connections establishing)\n"
        "tps = 120.25 (excluding connections establishing)\n"
    )
    assert parse_tps(older) == pytest.approx(120.25)


def test_pgbench_output_without_a_figure_is_an_error_naming_it() -> None:
    with pytest.raises(PgbenchError, match="no tps figure"):
        parse_tps("pgbench: error: connection to server failed\n")


def test_a_postgresql_checkout_is_eight_round_trips(tmp_path: Path) -> None:
    """Key row, reservation, payment row, gateway claim, capture, payment, order, answer."""
    require("postgresql")
    backend = RunBackend(choice_for("postgresql"))
    config = bench_settings()
    service = CheckoutService(
        config,
        StorePaths.in_directory(tmp_path),
        ThreadRuntime(WallTime(time.time(), config.real.time_scale)),
        backend=backend,
    )
    try:
        # Warm: the intent block, and each statement's first use on each pooled
        # connection, which prepares it (one more round trip, once per connection).
        for number in range(WARM_CHECKOUTS):
            assert service.api.checkout(f"w{number}", {"sku": "sku-0", "quantity": 1})[0] == 200
        checkouts = 5
        with traced([service.shop_db, service.ledger.db]) as tally:
            for number in range(checkouts):
                status, body = service.api.checkout(f"k{number}", {"sku": "sku-0", "quantity": 1})
                assert (status, body["status"]) == (200, "ordered")
        assert tally.connections > 0
        assert tally.round_trips == 8 * checkouts
        # One server process per pooled connection, each a different one.
        pids = backend_pids([service.shop_db, service.ledger.db])
        assert len(pids) == len(set(pids)) == tally.connections
        assert all(pid > 0 for pid in pids)
    finally:
        service.close()
        backend.drop()


def test_without_pgbench_the_bench_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from checkoutsim.load import bench_server, pgbench

    monkeypatch.setattr(pgbench.shutil, "which", lambda name: None)
    window = bench_server.LoopFigures(100.0, None, None, None)
    monkeypatch.setattr(bench_server, "closed_loop", lambda *arguments: window)
    best, windows, figures = bench_server.measure_against_pgbench(
        "postgresql://127.0.0.1/unused", bench_settings(), 1.0, rounds=2
    )
    assert (best, len(windows)) == (window, 2)
    assert set(figures) == {"pgbench"}
    assert figures["pgbench"].startswith("pgbench not found: install")


def test_machine_busy_seconds_are_a_share_of_the_total() -> None:
    from checkoutsim.load.bench_server import machine_busy_seconds

    if not Path("/proc/stat").exists():
        pytest.skip("no /proc/stat here")
    first = machine_busy_seconds()
    assert first is not None
    busy, total = first
    assert 0 < busy <= total
