"""The report: ``checkoutsim report`` on scenarios and on saved run, compare, capacity and
sweep results; what each writes, what the page says, and that scenario text stays text."""

from __future__ import annotations

import functools
import json
import struct
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from checkoutsim.capacity import plan as capacity
from checkoutsim.experiments.runner import run_scenario
from checkoutsim.report import build
from checkoutsim.report.frames import ReportError
from checkoutsim.results.encoding import json_safe
from checkoutsim.scenario import files as scenarios

SHORT = ["load.duration_s=5", "load.drain_s=5"]


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    """The real CLI app with the report command on it (registered once, whoever asks)."""
    from checkoutsim.cli.main import app as cli_app
    from checkoutsim.cli.report import register_report

    register_report(cli_app)
    return cli_app


@pytest.fixture(scope="module")
def invoke(app: typer.Typer) -> Callable[..., Any]:
    """Run the CLI in-process; return the click result."""

    def run(*arguments: str) -> Any:
        return CliRunner().invoke(app, list(arguments))

    return run


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's header (and proof that it is one)."""
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


class TableRows(HTMLParser):
    """The text of each cell of each body row of the table with a given id."""

    def __init__(self, table_id: str) -> None:
        super().__init__()
        self.table_id, self.inside, self.in_body = table_id, False, False
        self.rows: list[list[str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table" and ("id", self.table_id) in attrs:
            self.inside = True
        elif self.inside and tag == "tbody":
            self.in_body = True
        elif self.in_body and tag == "tr":
            self.rows.append([])
        elif self.in_body and tag in ("td", "th"):
            self.rows[-1].append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "table" and self.inside:
            self.inside = self.in_body = False

    def handle_data(self, data: str) -> None:
        if self.in_body and self.rows and self.rows[-1]:
            self.rows[-1][-1] += data.strip()


def table(index: Path, table_id: str) -> list[list[str]]:
    parser = TableRows(table_id)
    parser.feed(index.read_text(encoding="utf-8"))
    return parser.rows


def pngs(index: Path) -> list[str]:
    return sorted(path.name for path in index.parent.glob("*.png"))


@pytest.fixture(scope="module")
def flash_report(invoke: Callable[..., Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("flash") / "report"
    result = invoke("report", "flash-sale", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert str(out / "index.html") in result.output
    return out / "index.html"


def test_scenario_report_has_page_pngs_and_their_csvs(flash_report: Path) -> None:
    names = pngs(flash_report)
    assert len(names) >= 4
    assert {"latency_cdf.png", "outcomes.png", "stock.png", "invariants.png"} <= set(names)
    for name in names:
        width, height = png_size(flash_report.parent / name)
        assert width >= 800 and height >= 200
        csv = (flash_report.parent / name).with_suffix(".csv")
        assert csv.stat().st_size > 0, f"no data beside {name}"
    page = flash_report.read_text(encoding="utf-8")
    for name in names:
        assert f'src="{name}"' in page
    assert "How do you prevent inventory overselling?" in page
    assert "https://" not in page and "http://" not in page  # nothing to fetch


def test_scenario_report_shows_every_verdict_with_its_numbers(flash_report: Path) -> None:
    from tests.test_report_cells import CellCounts

    saved = json.loads((flash_report.parent / "result.json").read_text())
    parsed = CellCounts("verdicts")
    parsed.feed(flash_report.read_text(encoding="utf-8"))
    column = {label.split(" ")[0]: index for index, label in enumerate(parsed.header)}
    rows = {row[0]: row for row in parsed.rows}
    assert list(rows) == [variant["name"] for variant in saved["variants"]]
    for variant in saved["variants"]:
        row, metrics = rows[variant["name"]], variant["metrics"]
        for key in ("oversold_units", "duplicate_charges", "orphan_payments", "orders"):
            assert row[column[key]] == f"{metrics[key]:,}", key
        safety = row[column["safety"]]
        if variant["verdict"]["safe"]:
            assert safety == "safe"
        else:
            assert safety.startswith("unsafe: oversold")
            assert f"{metrics['oversold_units']}" in safety
        objective = "met" if variant["verdict"]["objective_met"] else "missed"
        assert row[column["objective"]] == objective
    assert rows["naive"][column["safety"]] != "safe"  # the textbook read-check-write oversells


def test_scenario_report_lists_resolved_parameters_seed_and_versions(flash_report: Path) -> None:
    page = flash_report.read_text(encoding="utf-8")
    assert "rate_per_s" in page and "stock_per_sku" in page
    versions = dict(row[:2] for row in table(flash_report, "versions"))
    assert versions["seed"] == "1"
    assert versions["replications"] == "1"
    for package in ("checkoutsim (made this report)", "simpy", "matplotlib", "pandas", "jinja2"):
        assert versions[package] not in ("", "not installed")


def test_saved_run_result_draws_what_it_can_and_names_the_rest(
    invoke: Callable[..., Any], flash_report: Path, tmp_path: Path
) -> None:
    result = invoke("report", str(flash_report.parent / "result.json"), "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    index = tmp_path / "index.html"
    assert pngs(index) == ["invariants.png"]
    page = index.read_text(encoding="utf-8")
    assert 'id="missing"' in page and "latency CDF per variant" in page
    assert len(table(index, "verdicts")) == 5


@functools.cache
def small_run(seed: int, replications: int) -> dict[str, Any]:
    """A short flash sale, naive against atomic (cached: several tests read it, none edit it)."""
    loaded = scenarios.load("flash-sale", SHORT, ["naive", "atomic"])
    return run_scenario(loaded, seed=seed, replications=replications).to_json()


def test_compare_result_draws_invariants_and_model_versus_real(
    invoke: Callable[..., Any], tmp_path: Path
) -> None:
    # Stand-in for `compare --json`: two seeded model runs play model and real.
    model, real = small_run(1, 3), small_run(2, 1)
    compare = {
        "scenario": "flash-sale",
        "mode": "compare",
        "parameters": model["parameters"],
        "variants": [
            {"name": one["name"], "sim": one["metrics"], "real": two["metrics"], "agree": True}
            for one, two in zip(model["variants"], real["variants"], strict=True)
        ],
    }
    path = tmp_path / "compare.json"
    path.write_text(json.dumps(json_safe(compare)))
    result = invoke("report", str(path), "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    index = tmp_path / "out" / "index.html"
    assert pngs(index) == ["invariants.png", "model_vs_real.png"]
    rows = table(index, "verdicts")
    assert [(row[0], row[1]) for row in rows] == [
        ("naive", "model"),
        ("naive", "real"),
        ("atomic", "model"),
        ("atomic", "real"),
    ]
    assert [row[-1] for row in table(index, "agreement")] == ["yes", "yes"]


def test_run_with_replications_draws_confidence_intervals(tmp_path: Path) -> None:
    index = build.write_report(small_run(1, 3), None, tmp_path)
    frame = (tmp_path / "invariants.csv").read_text().splitlines()
    assert frame[0] == "variant,source,metric,value,low,high"
    naive = next(line for line in frame if line.startswith("naive,model,oversold_units"))
    value, low, high = (float(part) for part in naive.split(",")[3:])
    assert low < value < high
    from tests.test_report_cells import CellCounts

    parsed = CellCounts("verdicts")
    parsed.feed(index.read_text(encoding="utf-8"))
    oversold = parsed.header.index("oversold_units")
    assert "±" in parsed.rows[0][oversold]  # naive's count varies over replications


def test_capacity_result_draws_counts_and_load_curves_with_knees(
    invoke: Callable[..., Any], tmp_path: Path
) -> None:
    result = invoke("capacity", "--orders-per-day", "10M", "--json")
    assert result.exit_code == 0, result.output
    path = tmp_path / "capacity.json"
    path.write_text(result.output)
    result = invoke("report", str(path), "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    index = tmp_path / "out" / "index.html"
    assert pngs(index) == ["capacity_counts.png", "capacity_load.png"]
    import pandas as pd

    counts = pd.read_csv(tmp_path / "out" / "capacity_counts.csv")
    at_plan = counts[counts.orders_per_day == 10_000_000].set_index("tier")["count"]
    expected = capacity.plan(10_000_000)
    assert {tier.tier: tier.count for tier in expected.tiers} == at_plan.to_dict()
    assert set(counts.tier) == {"app", "inventory_db", "order_db", "kafka", "payment_gateway"}
    load = pd.read_csv(tmp_path / "out" / "capacity_load.csv")
    knees = load.groupby("tier")["knee_orders_per_s"].first()
    # One M/M/1 queue per partition: p99 doubles at 50% busy, and Kafka is planned at 80%,
    # so its knee is 50/80 of the planned peak.
    assert knees["kafka"] == pytest.approx(1000 * 0.5 / 0.8, rel=1e-3)
    assert knees["app"] > 1000  # a pool of 336 workers bends much later
    assert len(table(index, "tiers")) == 5


def sweep_result() -> dict[str, Any]:
    """A `sweep --json` shaped result from three short runs at rising arrival rates."""
    rows, rates = [], [40.0, 120.0, 360.0]
    for rate in rates:
        loaded = scenarios.load(
            "flash-sale", [*SHORT, f"load.rate_per_s={rate}"], ["naive", "atomic"]
        )
        for variant in run_scenario(loaded).to_json()["variants"]:
            rows.append({"variant": variant["name"], "load.rate_per_s": rate, **variant["metrics"]})
    return json_safe(
        {
            "scenario": "flash-sale",
            "mode": "sweep",
            "seed": 1,
            "replications": 1,
            "parameters": {},
            "axes": [{"param": "load.rate_per_s", "values": rates}],
            "objective": {"latency_p99_s": 2.0, "failure_rate": 0.01},
            "rows": rows,
            "knees": [
                {
                    "variant": "naive",
                    "param": "load.rate_per_s",
                    "knee": 120.0,
                    "reason": "fixture: first rate whose p99 exceeds the objective",
                },
                {
                    "variant": "atomic",
                    "param": "load.rate_per_s",
                    "knee": None,
                    "reason": "fixture: no rate exceeded the objective",
                },
            ],
        }
    )


def test_sweep_result_draws_capacity_curves_and_lists_knees(
    invoke: Callable[..., Any], tmp_path: Path
) -> None:
    path = tmp_path / "sweep.json"
    path.write_text(json.dumps(sweep_result()))
    result = invoke("report", str(path), "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    index = tmp_path / "out" / "index.html"
    assert pngs(index) == ["sweep_capacity.png", "sweep_invariants.png", "sweep_outcomes.png"]
    knees = table(index, "knees")
    assert knees[0][:3] == ["naive", "load.rate_per_s", "120.0"]
    assert knees[1][2] == "none found"
    verdicts = table(index, "verdicts")
    assert len(verdicts) == 6
    assert {row[2] for row in verdicts if row[0] == "atomic"} == {"safe"}


def test_scenario_text_is_shown_never_run(invoke: Callable[..., Any], tmp_path: Path) -> None:
    path = tmp_path / "xss.toml"
    path.write_text(
        'name = "xss"\n'
        'title = "<script>alert(1)</script> sale"\n'
        'question = "Does <b>markup</b> run?"\n'
        'description = "<img src=x onerror=alert(2)> & friends"\n'
        "[load]\nrate_per_s = 5.0\nduration_s = 5.0\ndrain_s = 5.0\n"
        '[[variants]]\nname = "atomic"\ndescription = "<script>alert(3)</script>"\n'
        'set = { "inventory.strategy" = "atomic" }\n'
    )
    result = invoke("report", str(path), "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    page = (tmp_path / "out" / "index.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt; sale" in page
    assert "Does &lt;b&gt;markup&lt;/b&gt; run?" in page
    assert "&lt;img src=x onerror=alert(2)&gt; &amp; friends" in page
    assert "<script" not in page.lower() and "<img src=x" not in page and "<b>" not in page


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "not a JSON result"),
        ('{"mode": "nope"}', "'mode' is 'nope'"),
        ('{"mode": "sim", "variants": []}', "non-empty 'variants'"),
        ("[1, 2]", "expected a JSON object"),
    ],
)
def test_bad_result_files_are_one_line_errors(
    invoke: Callable[..., Any], tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    result = invoke("report", str(path), "--out", str(tmp_path / "out"))
    assert result.exit_code == 2
    assert message in result.output
    assert not (tmp_path / "out").exists()


def test_a_result_saved_under_another_name_is_still_a_result(tmp_path: Path) -> None:
    from checkoutsim.cli.report import is_result_file

    saved = tmp_path / "result.txt"
    saved.write_text('  {"mode": "sim"}')
    assert is_result_file(str(saved))
    assert is_result_file("missing.json")
    assert not is_result_file("flash-sale")
    assert not is_result_file(str(tmp_path / "missing.txt"))


def test_scenario_options_are_refused_for_a_saved_result(
    invoke: Callable[..., Any], tmp_path: Path
) -> None:
    result = invoke("report", str(tmp_path / "missing.json"), "--seed", "3")
    assert result.exit_code == 2 and "--seed" in result.output
    result = invoke("report", str(tmp_path / "missing.json"))
    assert result.exit_code == 2 and "cannot read" in result.output


def test_a_failure_half_way_leaves_no_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_arguments: Any) -> tuple[list[Any], list[str]]:
        class Broken:
            name, title, caption = "broken", "broken", "broken"

            def save(self, directory: Path) -> None:
                (directory / "broken.png").write_bytes(b"half")
                raise OSError("disk full")

            def pixel_size(self) -> tuple[int, int]:
                return 1, 1

        return [Broken()], []

    monkeypatch.setattr(build, "charts_for", broken)
    with pytest.raises(OSError, match="disk full"):
        build.write_report(small_run(1, 3), None, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_default_folder_is_named_after_the_scenario_and_time(tmp_path: Path) -> None:
    moment = datetime(2025, 1, 2, 3, 4, 5)
    first = build.default_directory("flash-sale", moment, tmp_path)
    assert first == tmp_path / "flash-sale-20250102-030405"
    first.mkdir()
    assert build.default_directory("flash-sale", moment, tmp_path).name.endswith("-2")
    assert build.default_directory("../etc", moment, tmp_path).parent == tmp_path


def test_write_report_refuses_what_is_not_a_result() -> None:
    with pytest.raises(ReportError):
        build.write_report({"mode": "sim"})


def test_report_command_registers_once(app: typer.Typer) -> None:
    from checkoutsim.cli.report import register_report

    register_report(app)
    assert [command.name for command in app.registered_commands].count("report") == 1


def test_report_flag_helper_writes_and_names_the_report_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from checkoutsim.cli.report import write_and_announce

    index = write_and_announce(capacity.plan("2M").to_dict(), None, tmp_path / "out")
    captured = capsys.readouterr()
    assert captured.out == ""  # stdout stays free for --json
    assert str(index) in captured.err.replace("\n", "")
    assert pngs(index) == ["capacity_counts.png", "capacity_load.png"]


def test_templates_ship_inside_the_package() -> None:
    from importlib.resources import files

    templates = files("checkoutsim.report") / "templates"
    assert (templates / "report.html.j2").is_file()
    assert (templates / "style.css").is_file()


def test_commands_that_do_not_draw_do_not_import_matplotlib() -> None:
    code = (
        "import sys, checkoutsim.cli.report, checkoutsim.report.build,"
        " checkoutsim.experiments.runner;"
        "print('matplotlib' in sys.modules)"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert output.stdout.strip() == "False"
