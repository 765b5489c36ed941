"""Issue 10, CLI side: one line on stderr and a non-zero exit where a traceback used to be (item 7), a
future end date refused instead of silently cut (item 11), an ``--allow-partial`` file that says so
itself (item 11), and secrets masked without mangling the message (item 8)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from creditlens import fetching
from creditlens.cli import COMMANDS, command_module, main
from creditlens.cli.common import INCOMPLETE_COLUMN

TODAY = dt.datetime.now(dt.UTC).date()
DEMO = [
    "export",
    "--demo",
    "--demo-members",
    "20",
    "--start",
    (TODAY - dt.timedelta(days=6)).isoformat(),
    "--end",
    TODAY.isoformat(),
    "--report",
    "leaderboard",
]


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str) -> bool:
    return err.count("\n") == 1 and err.startswith("creditlens: ") and "Traceback" not in err


# -- item 7 -------------------------------------------------------------------------------------------
def test_out_naming_an_existing_folder_is_one_line_and_leaves_no_part_file(capsys, tmp_path):
    folder = tmp_path / "reports"
    folder.mkdir()
    code, out, err = run(capsys, *DEMO, "--out", str(folder))
    assert code != 0 and out == ""
    assert one_line(err) and "is a folder" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reports"]  # no reports.part beside it
    assert list(folder.iterdir()) == []


def unwritable_target(tmp_path: Path) -> Path:
    """A file name in a folder this process may not write to (root ignores permission bits)."""
    if os.geteuid() == 0:
        return Path("/sys/creditlens-report.csv")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    return locked / "report.csv"


def test_an_unwritable_out_is_one_line(capsys, tmp_path):
    target = unwritable_target(tmp_path)
    code, out, err = run(capsys, *DEMO, "--out", str(target))
    assert code != 0 and out == ""
    assert one_line(err) and f"Could not write {target}" in err
    assert not target.with_name(target.name + ".part").exists()


def test_a_closed_stdout_pipe_is_one_line_and_a_non_zero_exit():
    code = "import sys; from creditlens.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *DEMO], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    proc.stdout.close()  # the reader is gone before anything was written, like `| head -c 0`
    err = proc.stderr.read()
    assert proc.wait(timeout=120) != 0
    assert one_line(err), err
    assert "Standard output was closed" in err


# -- item 11 ------------------------------------------------------------------------------------------
def test_a_future_end_date_is_refused_not_silently_cut(capsys):
    later = (TODAY + dt.timedelta(days=5)).isoformat()
    args = [*DEMO[: DEMO.index("--end") + 1], later, "--report", "leaderboard"]
    code, out, err = run(capsys, *args)
    assert code != 0 and out == ""
    assert one_line(err)
    assert f"The range ends in the future ({later}); today is {TODAY} (UTC)" in err


@pytest.fixture(scope="module")
def emulator(small_org, emulator_factory):
    return emulator_factory([small_org])


def test_an_allow_partial_file_carries_its_own_incomplete_marker(capsys, tmp_path, monkeypatch, emulator, small_org):
    monkeypatch.setattr(fetching, "RETRY_PAUSE_S", 0.05)
    start, end = small_org.last_day - dt.timedelta(days=119), small_org.last_day
    bad = fetching.split_windows(start, end)[0]
    emulator.faults.add("html_error", times=None, when=lambda p: p.get("startTime") == str(bad.start_ms))
    monkeypatch.setenv("CREDITLENS_PASSWORD", small_org.passwords[small_org.admin_username])
    out = tmp_path / "board.csv"
    try:
        code, _, err = run(
            capsys,
            "export",
            "--portal",
            emulator.url,
            "--username",
            small_org.admin_username,
            "--ca-bundle",
            emulator.ca_bundle,
            "--start",
            start.isoformat(),
            "--end",
            end.isoformat(),
            "--report",
            "leaderboard",
            "--allow-partial",
            "--out",
            str(out),
        )
    finally:
        emulator.faults.clear()
    assert code == 0 and "warning" in err
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    assert rows and next(iter(rows[0])) == INCOMPLETE_COLUMN  # the first column, on every row
    assert {row[INCOMPLETE_COLUMN] for row in rows} == {rows[0][INCOMPLETE_COLUMN]}
    assert bad.label() in rows[0][INCOMPLETE_COLUMN]


def test_a_complete_file_has_no_incomplete_marker(capsys):
    code, out, _ = run(capsys, *DEMO)
    assert code == 0
    assert INCOMPLETE_COLUMN not in next(csv.reader(io.StringIO(out)))


# -- item 8 through the CLI ----------------------------------------------------------------------------
def test_the_password_1_leaves_the_unreachable_host_readable(capsys, monkeypatch):
    monkeypatch.setenv("CREDITLENS_PASSWORD", "1")
    args = ["export", "--portal", "https://127.0.0.1:1", "--username", "u", "--start", DEMO[5], "--end", DEMO[7]]
    code, _, err = run(capsys, *args, "--report", "usage")
    assert code != 0 and one_line(err)
    assert "Could not reach 127.0.0.1:1." in err


# -- the command list stays one line per command ------------------------------------------------------
def test_every_registered_command_has_a_parser_and_a_runner():
    modules = [command_module(entry) for entry in COMMANDS]
    assert all(callable(m.add_parser) and callable(m.run) for m in modules)
    assert len({m.__name__ for m in modules}) == len(modules)


# -- item 9 through the CLI ----------------------------------------------------------------------------
def test_a_portal_url_with_a_password_is_not_repeated_on_stderr(capsys, monkeypatch):
    monkeypatch.setenv("CREDITLENS_PASSWORD", "pw")
    for url in ("http://admin:Tr0ub4dor-9@myorg.maps.arcgis.com", "https://admin:Tr0ub4dor-9@127.0.0.1:1"):
        args = ["export", "--portal", url, "--username", "u", "--start", DEMO[5], "--end", DEMO[7]]
        code, _, err = run(capsys, *args, "--report", "usage")
        assert code != 0 and one_line(err)
        assert "Tr0ub4dor-9" not in err and "admin:" not in err
