"""``checkoutsim probe`` against the reference shops of ``tests/targets``, over real sockets.

Each shop runs in a child process, and so does each probe (Locust monkey-patches
whoever imports it). The oversell is cross-checked against a witness the probe
does not compute from the answers: the shop's own stock after the run.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from tests.probe_targets import (
    POOL_THREADS,
    PREFORK_WORKERS,
    TARGETS,
    Shop,
    cli,
    free_port,
    probe_json,
    running,
)

RACY = [
    ("flask", "flask-racy"),
    ("sqlite", "sqlite-racy"),
    ("redis", "redis-racy"),
    ("pool", "pool-racy"),
    ("prefork", "prefork-racy"),
]
SAFE = [
    ("flask", "flask-safe"),
    ("sqlite", "sqlite-safe"),
    ("redis", "redis-safe"),
    ("pool", "pool-safe"),
    ("prefork", "prefork-safe"),
]


def metrics_of(document: dict) -> dict:
    assert document["mode"] == "probe"
    return document["variants"][0]["metrics"]


def one_error_line(result) -> str:
    assert result.returncode == 2, (result.returncode, result.stdout[-500:], result.stderr[-2000:])
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def test_a_small_probe_measures_the_racy_flask_shop(tmp_path: Path) -> None:
    with running("flask", tmp_path) as url:
        document = probe_json(url, TARGETS / "flask-racy.toml", "--rate", "300", "--run-time", "1s")
    metrics = metrics_of(document)
    assert (
        metrics["checkouts"]
        == metrics["orders"] + metrics["sold_out"] + metrics["errors"] + metrics["timed_out"]
    )
    assert metrics["stock"] == 100
    # The shop's own counter is the witness: every confirmed unit was taken off it.
    assert metrics["stock_after"] == metrics["stock"] - metrics["units_sold"]
    assert metrics["oversold_units"] == max(0, metrics["units_sold"] - 100)
    assert metrics["negative_stock_units"] == max(0, -metrics["stock_after"])
    assert metrics["latency_p50_s"] > 0


def _capped_race(tmp_path: Path, kind: str, bound: int) -> dict:
    """Probe shop ``kind``'s racy endpoint at 1,000 a second with a 50 ms payment and
    ``--predict``; assert measured and predicted oversell are each at most ``bound``."""
    with running(kind, tmp_path, pause_s=0.05) as url:
        document = probe_json(
            url, TARGETS / f"{kind}-racy.toml", "--rate", "1000", "--run-time", "1s", "--predict"
        )
    measured = metrics_of(document)
    predicted = document["prediction"]["metrics"]
    assert measured["stock_after"] == measured["stock"] - measured["units_sold"]
    assert 0 <= measured["oversold_units"] <= bound
    assert 0 <= predicted["oversold_units"] <= bound
    return document


def test_a_thread_pool_caps_the_race_and_the_prediction_knows_it(tmp_path: Path) -> None:
    # The pool shop pays for 50 ms holding its thread: at 1,000 checkouts a second
    # only its 8 threads' checks can be in the window at once, so it oversells at
    # most 7 units; a model without the pool let every check in (52 predicted
    # where 7 were measured). Both bounds are hard, whatever the host's speed.
    document = _capped_race(tmp_path, "pool", POOL_THREADS - 1)
    assert any("request threads" in line for line in document["prediction"]["assumptions"])


def test_forked_sync_workers_cap_the_race_and_the_prediction_knows_it(tmp_path: Path) -> None:
    # Written after the model, as a check of it: gunicorn-style sync workers, 4
    # processes on one socket, each serving one request at a time; its adapter
    # says request_threads = 4, as a user who runs gunicorn -w 4 knows.
    _capped_race(tmp_path, "prefork", PREFORK_WORKERS - 1)


def test_unreachable_target_is_one_line(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    line = one_error_line(cli("probe", url, "--adapter", str(TARGETS / "flask-racy.toml")))
    assert "not reachable" in line and url in line


def test_a_remote_target_is_refused(tmp_path: Path) -> None:
    line = one_error_line(
        cli("probe", "http://192.0.2.1:80", "--adapter", str(TARGETS / "flask-racy.toml"))
    )
    assert "this machine" in line


def test_wrong_pointer_and_html_answers_are_one_line(tmp_path: Path) -> None:
    racy = (TARGETS / "flask-racy.toml").read_text()
    pointer = tmp_path / "pointer.toml"
    pointer.write_text(racy.replace('pointer = "/stock"', 'pointer = "/units"'))
    html = tmp_path / "html.toml"
    html.write_text(racy.replace('path = "/stock"', 'path = "/inventory"'))
    with running("flask", tmp_path) as url:
        wrong = one_error_line(cli("probe", url, "--adapter", str(pointer)))
        page = one_error_line(cli("probe", url, "--adapter", str(html)))
    assert "stock.pointer '/units'" in wrong and "'units'" in wrong and "stock" in wrong
    assert "text/html, not JSON" in page and "404" in page


def test_a_bad_adapter_is_one_line_before_any_load(tmp_path: Path) -> None:
    adapter = tmp_path / "bad.toml"
    adapter.write_text((TARGETS / "flask-racy.toml").read_text().replace("[stock]", "[stocks]"))
    line = one_error_line(cli("probe", "http://127.0.0.1:1", "--adapter", str(adapter)))
    assert line.startswith(f"checkoutsim: error: {adapter}: [stock] is missing")


@pytest.mark.slow
def test_a_target_that_stops_answering_ends_the_run_with_what_was_measured(
    tmp_path: Path,
) -> None:
    with running("flask", tmp_path) as shop:
        # The probe runs in a child process; the shop dies once it has sold 20 units.
        killer = threading.Thread(target=_kill_after_sales, args=(shop, 20), daemon=True)
        killer.start()
        try:
            result = cli(
                "probe",
                shop,
                "--adapter",
                str(TARGETS / "flask-racy.toml"),
                "--rate",
                "100",
                "--run-time",
                "8s",
                "--json",
            )
        finally:
            shop.process.kill()
    assert result.returncode == 3, result.stderr[-2000:]
    document = json.loads(result.stdout)
    metrics = metrics_of(document)
    assert "stopped answering" in document["load"]["stopped"]
    assert metrics["orders"] > 0 and metrics["not_started"] > 0
    assert metrics["stock_after"] is None
    assert document["variants"][0]["verdict"]["safe"] in (None, False)
    assert "stock after the run unknown" in " ".join(document["notes"])


def _kill_after_sales(shop: Shop, units: int) -> None:
    """Kill the shop's process once its stock has fallen by ``units`` (or after 60 s)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and shop.process.poll() is None:
        try:
            with urllib.request.urlopen(f"{shop}/stock", timeout=2) as answer:
                if json.loads(answer.read())["stock"] <= 100 - units:
                    break
        except OSError:
            pass
        time.sleep(0.02)  # polling another process's counter
    shop.process.kill()


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "adapter"), RACY)
@pytest.mark.parametrize("rate", ["250", "1000"])
def test_racy_shops_oversell_and_their_stock_agrees(
    tmp_path: Path, kind: str, adapter: str, rate: str
) -> None:
    with running(kind, tmp_path) as url:
        metrics = metrics_of(
            probe_json(url, TARGETS / f"{adapter}.toml", "--rate", rate, "--run-time", "1s")
        )
    assert metrics["oversold_units"] > 0
    # check, then decrement: every confirmed unit comes off, so the stock goes negative.
    assert metrics["stock_after"] == metrics["stock"] - metrics["units_sold"]
    assert metrics["negative_stock_units"] == metrics["oversold_units"]


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "adapter"), SAFE)
def test_safe_shops_never_oversell(tmp_path: Path, kind: str, adapter: str) -> None:
    with running(kind, tmp_path) as url:
        metrics = metrics_of(
            probe_json(url, TARGETS / f"{adapter}.toml", "--rate", "1000", "--run-time", "1s")
        )
    assert metrics["oversold_units"] == 0 and metrics["units_sold"] <= 100
    # The shop's own stock agrees: never below zero, down by exactly what was confirmed.
    assert metrics["stock_after"] == metrics["stock"] - metrics["units_sold"] >= 0
    # The load outlasts the stock; answers that were not errors sold all of it.
    assert metrics["stock_after"] == 0 or metrics["errors"] > 0


def _serve(directory: Path, variant: str):
    """``checkoutsim serve flash-sale --variant VARIANT`` on a free port (test_serve_limits')."""
    from tests.test_serve_limits import start

    return start(directory, "--variant", variant)


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["naive", "atomic"])
def test_probe_against_serve_agrees_with_its_own_audit(tmp_path: Path, variant: str) -> None:
    from tests.test_serve_limits import stop

    server = _serve(tmp_path, variant)
    try:
        url = f"http://127.0.0.1:{server.port}"
        document = probe_json(url, "serve", "--rate", "300", "--run-time", "1s")
        with urllib.request.urlopen(f"{url}/audit", timeout=30) as answer:
            audit = json.loads(answer.read())["metrics"]
    finally:
        stop(server)
    metrics = metrics_of(document)
    # The service's audit (its orders against its stock) is the witness.
    assert metrics["orders"] == audit["orders"]
    assert metrics["oversold_units"] == audit["oversold_units"]
    assert (metrics["oversold_units"] > 0) == (variant == "naive")
