"""Output paths: every failure to write is one line naming the path, exit 2, nothing half-written.

The command line checks each output folder before any work (by making and
removing a temporary folder there, since permission bits do not tell, and
root may pass them), and writes through temporary files and renames, so a
failure part-way leaves neither a partial file nor a stray temporary one.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from checkoutsim.cli.main import app
from checkoutsim.report import files
from checkoutsim.report.files import folder_problem, staged_directory, write_text_atomic

RUNNER = CliRunner()


def one_error_line(arguments: list[str]) -> str:
    """Run the command line; assert exit 2, no traceback, one error line; return it."""
    result = RUNNER.invoke(app, arguments)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"traceback for {arguments}") from result.exception
    assert result.exit_code == 2, (arguments, result.output)
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("checkoutsim: error: ")
    return result.stderr


@pytest.fixture()
def a_file(tmp_path: Path) -> Path:
    path = tmp_path / "a-file"
    path.write_text("keep me\n")
    return path


def test_proc_is_refused_for_every_output_option() -> None:
    for arguments in (
        ["run", "flash-sale", "--csv", "/proc/x"],
        ["run", "flash-sale", "--report", "--out", "/proc/nope"],
        ["report", "flash-sale", "--out", "/proc/nope"],
        ["sweep", "flash-sale", "--param", "load.rate_per_s=10:20:2", "--csv", "/proc/x"],
        ["capacity", "--orders-per-day", "1e6", "--report", "--out", "/proc/nope"],
    ):
        line = one_error_line(arguments)
        assert "/proc/" in line and "cannot write" in line, line


def test_an_existing_file_is_not_an_output_folder(a_file: Path) -> None:
    for arguments in (
        ["run", "flash-sale", "--csv", str(a_file)],
        ["report", "flash-sale", "--out", str(a_file)],
        ["run", "flash-sale", "--report", "--out", str(a_file)],
    ):
        line = one_error_line(arguments)
        assert str(a_file) in line and "not a folder" in line, line
    assert a_file.read_text() == "keep me\n"


def test_a_folder_under_a_file_is_refused(a_file: Path) -> None:
    line = one_error_line(["run", "flash-sale", "--csv", str(a_file / "frames")])
    assert "not a folder" in line


def test_a_read_only_file_system_is_refused() -> None:
    # sysfs refuses new entries even to root, unlike a folder without write permission.
    line = one_error_line(["report", "flash-sale", "--out", "/sys/checkoutsim-report"])
    assert "/sys/checkoutsim-report" in line and "cannot write" in line


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into folders without write permission")
def test_a_folder_without_write_permission_is_refused(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    line = one_error_line(["run", "flash-sale", "--csv", str(locked / "frames")])
    assert "cannot write" in line


def test_a_nul_byte_in_an_output_path_is_refused() -> None:
    line = one_error_line(["report", "flash-sale", "--out", "re\x00port"])
    assert "NUL" in line or "null" in line


def test_unreadable_and_malformed_result_files_are_one_line(tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    huge = tmp_path / "huge.json"
    huge.write_text('{"mode": ' + "9" * 5_000 + "}")
    for target in (tmp_path / "missing.json", deep, huge, tmp_path):
        line = one_error_line(["report", str(target) if target != tmp_path else f"{target}.json"])
        assert "checkoutsim: error:" in line


def test_the_folder_check_passes_a_writable_folder_and_leaves_nothing(tmp_path: Path) -> None:
    assert folder_problem(tmp_path / "new" / "deeper") is None
    assert folder_problem(tmp_path) is None
    assert list(tmp_path.iterdir()) == []


def test_an_atomic_write_that_fails_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "result.json"
    target.write_text("old\n")

    def refuse(source: str, destination: str) -> None:
        raise OSError(28, "No space left on device", source)

    monkeypatch.setattr(files.os, "replace", refuse)
    with pytest.raises(OSError) as raised:
        write_text_atomic(target, "new\n")
    # The error names the path the user gave, not the temporary file.
    assert raised.value.filename == str(target)
    assert target.read_text() == "old\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["result.json"]


def test_a_staged_folder_that_fails_part_way_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "frames"
    with pytest.raises(RuntimeError), staged_directory(target) as staging:
        (staging / "half.csv").write_text("a,b\n")
        raise RuntimeError("the run failed")
    assert list(tmp_path.iterdir()) == []


def test_a_staged_folder_that_turns_into_a_file_names_the_target(tmp_path: Path) -> None:
    target = tmp_path / "frames"
    with pytest.raises(OSError) as raised, staged_directory(target) as staging:
        (staging / "metrics.csv").write_text("a\n")
        target.write_text("someone else's file\n")
    assert raised.value.filename == str(target)
    assert target.read_text() == "someone else's file\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["frames"]


def test_a_run_writes_its_frames_whole(tmp_path: Path) -> None:
    folder = tmp_path / "frames"
    result = RUNNER.invoke(
        app, ["run", "flash-sale", "--variant", "atomic", "--csv", str(folder), "--json"]
    )
    assert result.exit_code == 0, result.output
    names = sorted(path.name for path in folder.iterdir())
    assert "metrics.csv" in names and "atomic-checkouts.csv" in names
    assert not [path for path in tmp_path.iterdir() if path.name.startswith(".")]
