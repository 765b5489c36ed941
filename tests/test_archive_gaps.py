"""The archive's remaining "Done when" gaps, through the real ``arcgis`` client against the HTTPS emulator.

- ``creditlens sync`` with windows that keep failing exits 3 naming them, and a rerun fills them in;
- ``sync`` without ``--start`` holds exactly what its ``--help`` promises;
- a reader of a file archive while a sync of the same org writes it sees one whole archive state;
- the progress display never mixes into a report's data.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import pty
import subprocess
import threading
import time
from pathlib import Path

import pytest
from archive_checks import CLI, assert_same_tables, child_env, source_args, sync_command, tables

from creditlens import fetching, reports
from creditlens.archive import Archive, ArchiveBusy, ensure, read_range
from creditlens.archive.sync import oldest_fetchable, utc_now
from creditlens.cli import main
from creditlens.dates import RETENTION_DAYS
from creditlens.fake.demo_org import OrgSpec, build_demo_org
from creditlens.portal import connect
from creditlens.windows import MAX_WINDOW_DAYS, UsageWindow, day_to_ms

pytestmark = pytest.mark.integration

TODAY = utc_now().date()
DAY = dt.timedelta(days=1)
BAR = "[#"  # how the terminal progress bar starts once a window is done


@pytest.fixture(scope="module")
def org():
    """40 members and more history than the portal keeps, so the two-year default is a real cut."""
    return build_demo_org(OrgSpec(members=40, days=800, seed=31, end_day=TODAY, url_key="gapstown"))


@pytest.fixture(scope="module")
def emulator(org, emulator_factory):
    return emulator_factory([org])


@pytest.fixture
def conn(emulator, org):
    emulator.faults.clear()
    yield connect(emulator.url, org.admin_username, org.passwords[org.admin_username], ca_bundle=emulator.ca_bundle)
    emulator.faults.clear()


@pytest.fixture
def password(monkeypatch, org):
    monkeypatch.setenv("CREDITLENS_PASSWORD", org.passwords[org.admin_username])
    monkeypatch.setattr(fetching, "RETRY_PAUSE_S", 0.05)


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def days_of(start: dt.date, end: dt.date) -> set[dt.date]:
    return {start + dt.timedelta(days=i) for i in range((end - start).days + 1)}


def usage_starts(emulator) -> list[dt.date]:
    """The first day of each usage request a sync sent (not the sign-in's own probe), in order."""
    epoch = dt.date(1970, 1, 1)
    sent = [r for r in emulator.requests if r["path"].endswith("/usage") and r["params"]["vars"] == "credits,num"]
    return [epoch + dt.timedelta(milliseconds=int(r["params"]["startTime"])) for r in sent]


def coverage(archive: Archive) -> set[dt.date]:
    with archive.reading() as con:
        return {r[0] for r in con.execute("SELECT day FROM coverage").fetchall()}


def test_a_sync_with_failing_windows_exits_3_naming_them_and_a_rerun_fills_them(
    capsys, password, conn, emulator, org, tmp_path
):
    start = TODAY - dt.timedelta(days=4 * MAX_WINDOW_DAYS - 1)  # four full windows, the last ending today
    windows = [
        UsageWindow(start + i * MAX_WINDOW_DAYS * DAY, start + ((i + 1) * MAX_WINDOW_DAYS - 1) * DAY) for i in range(4)
    ]
    bad = windows[1:3]
    bad_starts = {str(day_to_ms(w.start)) for w in bad}
    emulator.faults.add("html_error", times=None, when=lambda params: params.get("startTime") in bad_starts)
    sync = ["sync", *source_args(emulator, org), "--archive", str(tmp_path / "archive"), "--start", start.isoformat()]

    code, out, err = run_cli(capsys, *sync)

    assert code == 3
    assert "Traceback" not in out + err
    warnings = [line for line in err.splitlines() if "not archived" in line]
    assert len(warnings) == 2
    for window, line in zip(bad, sorted(warnings), strict=True):
        assert line.startswith(f"creditlens: warning: not archived: {window.label()}: ")
    failed_lines = [line for line in out.splitlines() if "FAILED" in line]
    assert sorted(line.split(" ", 2)[2].split(":")[0] for line in failed_lines) == [w.label() for w in bad]
    assert "2 window(s) failed" in out
    archive = Archive(org.org_id, tmp_path / "archive")
    assert coverage(archive) == days_of(windows[0].start, windows[0].end) | days_of(windows[3].start, TODAY)
    partial = read_range(archive, start, TODAY)
    assert [(s.start, s.end) for s in partial.missing] == [(bad[0].start, bad[1].end)]
    assert partial.summary["credits"].sum() == pytest.approx(
        org.total_credits(start, TODAY) - org.total_credits(bad[0].start, bad[1].end), rel=1e-9
    )

    emulator.faults.clear()  # the portal recovers
    emulator.clear_requests()
    code, out, err = run_cli(capsys, *sync)

    assert code == 0, err
    assert f"Done: {2 * MAX_WINDOW_DAYS} day(s) added, 1 refreshed" in out  # the gap, and today (provisional)
    fetched = usage_starts(emulator)
    assert sorted(set(fetched)) == sorted([*(w.start for w in bad), TODAY])
    assert len(fetched) == 2 * 3  # per user and org totals, for each of the three
    assert "6 usage request(s)" in out
    reference = Archive(org.org_id, tmp_path / "reference")
    assert ensure(reference, conn, start, TODAY).complete
    assert_same_tables(tables(archive), tables(reference))
    data = read_range(archive, start, TODAY)
    assert data.complete
    assert data.summary["credits"].sum() == pytest.approx(org.total_credits(start, TODAY), rel=1e-9)
    assert reports.totals_check(data.summary, data.org_totals).ok


# -- the default range ------------------------------------------------------------------------------------------
def test_sync_without_start_holds_the_two_years_its_help_promises(capsys, password, emulator, org, tmp_path):
    with pytest.raises(SystemExit):
        main(["sync", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "default: everything the portal keeps, two years" in help_text
    oldest = oldest_fetchable(TODAY)
    assert (TODAY - oldest).days + 1 == RETENTION_DAYS
    assert org.first_day < oldest  # the org has older usage, which the portal no longer serves
    emulator.clear_requests()

    code, out, err = run_cli(capsys, "sync", *source_args(emulator, org), "--archive", str(tmp_path))

    assert code == 0, err
    assert f", {oldest} to {TODAY} (UTC)" in out.splitlines()[0]
    assert f"Done: {RETENTION_DAYS} day(s) added, 0 refreshed" in out
    assert min(usage_starts(emulator)) == oldest
    archive = Archive(org.org_id, tmp_path)
    assert coverage(archive) == days_of(oldest, TODAY)
    data = read_range(archive, oldest, TODAY)
    assert data.complete
    assert data.summary["credits"].sum() == pytest.approx(org.total_credits(oldest, TODAY), rel=1e-9)


# -- a reader while a sync writes -------------------------------------------------------------------------------
def assert_consistent(data, org, allowed: set[dt.date]) -> set[dt.date]:
    """A read is one whole archive state: its numbers are exactly those of the days it says it holds."""
    missing = set().union(*(days_of(s.start, s.end) for s in data.missing)) if data.missing else set()
    held = days_of(data.start, data.end) - missing
    assert held <= allowed
    expected = sum(org.total_credits(day, day) for day in held)
    assert data.summary["credits"].sum() == pytest.approx(expected, rel=1e-9, abs=1e-9)
    assert data.org_totals["credits"].sum() == pytest.approx(expected, rel=1e-9, abs=1e-9)
    daily = data.daily()
    assert set(daily["day"].dt.date) <= held
    assert daily["credits"].sum() == pytest.approx(expected, rel=1e-9, abs=1e-9)
    return held


def child_sync(emulator, org, directory: Path, start: dt.date) -> subprocess.Popen:
    command = sync_command(emulator, org, directory, start)
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env(org))


def test_a_reader_while_another_process_syncs_sees_one_whole_archive_state(conn, emulator, org, tmp_path):
    start, synced = TODAY - dt.timedelta(days=359), TODAY - dt.timedelta(days=119)
    archive = Archive(org.org_id, tmp_path)
    ensure(archive, conn, synced, TODAY)  # published: the last 120 days
    before = read_range(archive, start, TODAY)
    assert assert_consistent(before, org, days_of(start, TODAY)) == days_of(synced, TODAY)
    emulator.faults.add("slow", times=None, delay_s=0.4)  # the child's windows land one by one
    child = child_sync(emulator, org, tmp_path, start)
    lines: list[str] = []
    first_window = threading.Event()

    def drain() -> None:
        for line in child.stdout:
            lines.append(line)
            if "window 1/" in line:
                first_window.set()

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    during, busy = [], []
    try:
        assert first_window.wait(timeout=120), lines
        while child.poll() is None:  # a window is committed in the child's file; read until it ends
            try:
                during.append(read_range(archive, start, TODAY))
            except ArchiveBusy as exc:  # allowed, as long as it is one clear line
                busy.append(str(exc))
            time.sleep(0.05)
        child.wait(timeout=120)
    finally:
        child.kill()
        emulator.faults.clear()
    reader.join(timeout=30)
    err = child.stderr.read()
    child.stderr.close()
    assert child.returncode == 0, err
    assert during, "no read happened while the sync wrote"
    for data in during:  # daily() is read after the sync published: it must still be the same state
        held = assert_consistent(data, org, days_of(start, TODAY))
        assert held >= days_of(synced, TODAY)
    assert all("\n" not in message and "Another sync" in message for message in busy)
    after = read_range(archive, start, TODAY)
    assert after.complete
    assert assert_consistent(after, org, days_of(start, TODAY)) == days_of(start, TODAY)


def test_a_reader_during_the_first_sync_of_a_file_archive_sees_it_empty_then_whole(conn, org, tmp_path):
    start = TODAY - dt.timedelta(days=179)
    archive = Archive(org.org_id, tmp_path)
    reads = []

    def read_mid_sync(event) -> None:  # in the sync's own process, between its windows, lock held
        reads.append(read_range(Archive(org.org_id, tmp_path), start, TODAY))

    report = ensure(archive, conn, start, TODAY, on_window=read_mid_sync, max_workers=1)
    assert report.complete and len(reads) == len(report.windows) == 3
    for data in reads:  # nothing published yet: nothing held, every day named as not synced
        assert assert_consistent(data, org, days_of(start, TODAY)) == set()
        assert data.missing_days == 180
    assert assert_consistent(read_range(archive, start, TODAY), org, days_of(start, TODAY)) == days_of(start, TODAY)


# -- the progress display ---------------------------------------------------------------------------------------
def export_args(emulator, org, directory: Path, start: dt.date) -> list[str]:
    return [
        "export",
        *source_args(emulator, org),
        "--archive",
        str(directory),
        "--start",
        start.isoformat(),
        "--end",
        TODAY.isoformat(),
        "--report",
        "usage",
    ]


def test_the_progress_bar_goes_to_the_terminal_on_stderr_never_into_the_report(emulator, org, tmp_path):
    start = TODAY - dt.timedelta(days=2 * MAX_WINDOW_DAYS - 1)
    main_fd, terminal = pty.openpty()  # stderr is a terminal, stdout a pipe: `creditlens export ... > report.csv`
    env = {**os.environ, "CREDITLENS_PASSWORD": org.passwords[org.admin_username]}
    child = subprocess.Popen(
        [*CLI, *export_args(emulator, org, tmp_path, start)], stdout=subprocess.PIPE, stderr=terminal, env=env
    )
    os.close(terminal)
    try:
        shown: list[bytes] = []

        def read_terminal() -> None:
            while True:
                try:
                    chunk = os.read(main_fd, 4096)
                except OSError:  # the terminal closed with the child
                    return
                if not chunk:
                    return
                shown.append(chunk)

        watcher = threading.Thread(target=read_terminal, daemon=True)
        watcher.start()
        out, _ = child.communicate(timeout=120)  # the report is larger than a pipe holds
        watcher.join(timeout=30)
        assert child.returncode == 0, shown
    finally:
        child.kill()  # a no-op once it has exited
        os.close(main_fd)
    out = out.decode()
    on_terminal = b"".join(shown).decode()
    assert on_terminal.count("window ") == 2 and BAR in on_terminal and "2/2" in on_terminal
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0][:2] == ["day", "username"] and len(rows) > 1
    assert all(len(row) == len(rows[0]) for row in rows)
    assert "window " not in out and BAR not in out


def test_progress_lines_stay_out_of_out_files_and_bars_out_of_logs(capsys, password, emulator, org, tmp_path):
    start = TODAY - dt.timedelta(days=MAX_WINDOW_DAYS - 1)
    target = tmp_path / "usage.csv"
    code, out, err = run_cli(capsys, *export_args(emulator, org, tmp_path / "a", start), "--out", str(target))
    assert code == 0, err
    assert out == "" and "window 1/1" in err and BAR not in err  # stderr is not a terminal: no bar
    text = target.read_text()
    assert text.startswith("day,username,") and "window " not in text
    code, out, err = run_cli(
        capsys, "sync", *source_args(emulator, org), "--archive", str(tmp_path / "b"), "--start", start.isoformat()
    )
    assert code == 0, err
    assert "window 1/" in out and BAR not in out  # a sync's log (cron's >> file) gets plain lines
