"""The probe's must-show campaign: every reference shop, racy and safe, at three rates.

Run from the repository root (it takes a few minutes and loads the host):

    PYTHONPATH=$PWD python -m tests.probe_campaign [--pause 0.1] [--stock 20] [--out FILE]

Each run starts a fresh shop (``tests/probe_targets.running``) with a payment
of ``--pause`` seconds, probes it with ``probe --predict --json`` at
``--rate R --run-time 1s`` against a copy of the shop's adapter that resets to
``--stock`` units and states the pause as its race window, and prints one
Markdown row. The JSON of every run goes to ``--out`` (one document a line).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from tests.probe_targets import TARGETS, cli, running

ENDPOINTS = ("racy", "safe")
SHOPS = ("flask", "sqlite", "redis", "pool", "prefork")
RATES = (50, 250, 1000)
HEADER = (
    "| adapter | rate /s | load before | checkouts | orders | oversold | stock after"
    " | predicted oversold | oversold verdict | p50 ms | predicted p50 ms | p50 verdict"
    " | client ms | pace /s | workers | utilisation | p50 range ms | host |"
)


def adapter_copy(name: str, stock: int, pause_s: float, folder: Path) -> Path:
    """The shipped adapter ``name`` resetting to ``stock`` units, with the pause as its window."""
    text = (TARGETS / f"{name}.toml").read_text(encoding="utf-8")
    text = text.replace("json = { stock = 100 }", f"json = {{ stock = {stock} }}")
    text = text.replace("\nstock = 100\n", f"\nstock = {stock}\n")
    text = text.replace("race_window_s = 0.010", f"race_window_s = {pause_s}")
    path = folder / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def row(name: str, rate: int, load: float, document: dict[str, Any]) -> str:
    """One Markdown row of the campaign's table."""
    metrics = document["variants"][0]["metrics"]
    prediction = document.get("prediction", {})
    predicted = prediction.get("metrics", {})
    verdicts = prediction.get("verdicts", {})
    host = document["load"]["health"].get("host_load", {})
    calibration = prediction.get("calibration", {})
    client = calibration.get("client_overhead_s")
    burst = calibration.get("burst")
    pace = "-" if not burst else f"{burst[0] / burst[1]:.0f}"
    if calibration.get("pace_from") == "at_rate":
        pace += " (at rate)"
    assumptions = prediction.get("assumptions", [])
    workers = assumptions[1].split(" ")[0] if len(assumptions) > 1 else "-"
    share = prediction.get("utilisation")
    edge = prediction.get("at_capacity")

    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value * 1000:.1f}"

    cells = [
        name,
        str(rate),
        f"{load:.1f}",
        str(metrics["checkouts"]),
        str(metrics["orders"]),
        f"**{metrics['oversold_units']}**",
        str(metrics["stock_after"]),
        str(predicted.get("oversold_units", prediction.get("unsupported", "-"))),
        verdicts.get("oversold_units", "-"),
        ms(metrics["latency_p50_s"]),
        ms(predicted.get("latency_p50_s")),
        verdicts.get("latency_p50_s", "-") + _edge_words(edge),
        ms(client),
        pace,
        workers,
        "-" if share is None else f"{share:.2f}",
        "-" if edge is None else "–".join(ms(end) for end in edge["p50_range_s"]),
        "busy" if host.get("busy") else "quiet",
    ]
    return "| " + " | ".join(cells) + " |"


def _edge_words(edge: dict[str, Any] | None) -> str:
    """At capacity: the point prediction's own verdict, and whether the range held the p50."""
    if edge is None:
        return ""
    where = {True: "inside", False: "outside", None: "not comparable"}[edge["measured_inside"]]
    return f" (point: {edge['point_verdict']}; measured {where} the range)"


def main() -> None:
    """Run the campaign and print its table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pause", type=float, default=0.1)
    parser.add_argument("--stock", type=int, default=20)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--shops", default=",".join(SHOPS))
    parser.add_argument("--endpoints", default=",".join(ENDPOINTS))
    parser.add_argument("--rates", default=",".join(str(rate) for rate in RATES))
    arguments = parser.parse_args()
    print(HEADER)
    print("|" + "---|" * HEADER.count(" | ") + "---|")
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        for endpoint in arguments.endpoints.split(","):
            for shop in arguments.shops.split(","):
                name = f"{shop}-{endpoint}"
                adapter = adapter_copy(name, arguments.stock, arguments.pause, folder)
                for rate in [int(rate) for rate in arguments.rates.split(",")]:
                    with running(shop, folder, arguments.pause) as url:
                        load = os.getloadavg()[0]
                        result = cli(
                            "probe", url, "--adapter", str(adapter), "--rate", str(rate),
                            "--run-time", "1s", "--predict", "--json",
                        )  # fmt: skip
                    if result.returncode not in (0, 3):
                        print(f"| {name} | {rate} | failed: {result.stderr.strip()[-200:]} |")
                        continue
                    document = json.loads(result.stdout)
                    print(row(name, rate, load, document), flush=True)
                    if arguments.out is not None:
                        with arguments.out.open("a", encoding="utf-8") as output:
                            output.write(json.dumps(document) + "\n")


if __name__ == "__main__":
    main()
