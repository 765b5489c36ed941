"""The archive through the real ``arcgis`` client against the HTTPS emulator (issue 11, "Done when").

Syncs run in this process (``ensure``) or as the ``creditlens sync`` command in a child process,
which is what lets a test kill one with SIGKILL in the middle of a window.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import signal
import subprocess
import threading
import time

import pandas as pd
import pytest
from archive_checks import assert_same_tables, child_env, sync_command, tables

from creditlens import reports
from creditlens.archive import Archive, ensure, read_range
from creditlens.archive.sync import utc_now
from creditlens.archive.view import PAST_RETENTION
from creditlens.cli import main
from creditlens.dates import RETENTION_DAYS
from creditlens.fake.demo_org import OrgSpec, build_demo_org
from creditlens.fetching import fetch_members, fetch_usage
from creditlens.portal import connect

pytestmark = pytest.mark.integration

TODAY = utc_now().date()


def sign_in(emulator, org):
    return connect(emulator.url, org.admin_username, org.passwords[org.admin_username], ca_bundle=emulator.ca_bundle)


def usage_requests(emulator) -> list[dict]:
    return [r for r in emulator.requests if r["path"].endswith("/usage")]


# -- a long-lived org of its own, whose clock the tests may move -----------------------------------------------
@pytest.fixture(scope="module")
def org():
    return build_demo_org(OrgSpec(members=60, days=300, seed=21, end_day=TODAY, url_key="archivetown"))


@pytest.fixture(scope="module")
def emulator(org, emulator_factory):
    return emulator_factory([org])


@pytest.fixture
def conn(emulator, org):
    emulator.faults.clear()
    yield sign_in(emulator, org)
    emulator.faults.clear()


def test_a_second_sync_makes_at_most_two_usage_requests(conn, emulator, org, tmp_path):
    archive = Archive(org.org_id, tmp_path)
    start = TODAY - dt.timedelta(days=179)
    emulator.clear_requests()
    first = ensure(archive, conn, start, TODAY)
    assert first.complete and first.days_added == 180
    assert len(usage_requests(emulator)) == first.usage_requests == 2 * len(first.windows) == 6
    emulator.clear_requests()
    second = ensure(archive, conn, start, TODAY)
    sent = usage_requests(emulator)
    assert len(sent) == second.usage_requests <= 2
    assert {r["params"]["groupby"] for r in sent} == {"username,userorgid,stype,etype", "stype"}
    assert second.days_added == 0 and second.days_refreshed == 1  # today, still provisional
    data = read_range(archive, start, TODAY, sync=second)
    assert data.complete
    assert data.summary["credits"].sum() == pytest.approx(org.total_credits(start, TODAY), rel=1e-9)
    assert reports.totals_check(data.summary, data.org_totals).ok


def test_the_archive_gives_the_numbers_of_a_live_fetch(conn, org, tmp_path):
    start = TODAY - dt.timedelta(days=89)
    archive = Archive(org.org_id, tmp_path)
    ensure(archive, conn, start, TODAY)
    data = read_range(archive, start, TODAY)
    live = fetch_usage(conn, start, TODAY)
    members = fetch_members(conn)
    pd.testing.assert_frame_equal(
        reports.leaderboard(data.summary, data.members, org.org_id),
        reports.leaderboard(live.frame, members, org.org_id),
        check_exact=False,
        rtol=1e-12,
    )
    pd.testing.assert_frame_equal(
        reports.usage_rows(data.daily()),
        reports.usage_rows(live.frame),
        check_exact=False,
        rtol=1e-12,
        check_categorical=False,
    )


def test_a_member_deleted_between_syncs_is_a_former_member_with_the_snapshot_name(emulator, org, tmp_path):
    conn = sign_in(emulator, org)
    archive = Archive(org.org_id, tmp_path)
    start = TODAY - dt.timedelta(days=59)
    yesterday = TODAY - dt.timedelta(days=1)
    ensure(archive, conn, start, TODAY, today=yesterday)
    before = read_range(archive, start, yesterday, today=yesterday)
    totals = reports.per_user_totals(before.summary, before.members, org.org_id)
    fixed = {org.admin_username, f"{org.spec.url_key}_analyst", f"{org.spec.url_key}_viewer"}
    spenders = totals[(totals["status"] == reports.MEMBER) & ~totals["username"].isin(fixed)]
    name = spenders.sort_values("credits", ascending=False)["username"].iloc[0]
    leaver = next(m for m in org.members if m["username"] == name)
    org.members.remove(leaver)  # deleted in the portal between the two syncs
    try:
        ensure(archive, conn, start, TODAY, today=TODAY)
        data = read_range(archive, start, TODAY, today=TODAY)
    finally:
        org.members.append(leaver)
    assert name not in set(data.members["username"])
    rec = reports.reconcile_members(data.summary, data.members, org.org_id)
    assert rec.table.set_index("username").loc[name, "status"] == reports.FORMER
    former = data.former_members.set_index("username")
    assert list(former.index) == [name]
    assert former.loc[name, "full_name"] == leaver["fullName"] != ""
    assert pd.Timestamp(former.loc[name, "last_seen"]).date() == yesterday


def test_a_range_longer_than_the_retention_is_served_whole_from_the_archive(emulator_factory, tmp_path):
    end = TODAY
    old = build_demo_org(OrgSpec(members=30, days=800, seed=4, end_day=end, url_key="oldtown"))
    emulator = emulator_factory([old])
    earlier = end - dt.timedelta(days=100)
    old.last_day = earlier  # the portal's clock, 100 days ago: it still holds what is now past retention
    archive = Archive(old.org_id, tmp_path)
    conn = sign_in(emulator, old)
    ensure(archive, conn, old.first_day, earlier, today=earlier)
    old.last_day = end  # the clock moves on; the oldest 100 days fall out of the portal's retention
    conn = sign_in(emulator, old)
    ensure(archive, conn, end - dt.timedelta(days=RETENTION_DAYS - 1), end, today=end)
    start = old.first_day  # 800 days: more than the portal keeps
    data = read_range(archive, start, end, today=end)
    assert data.complete, data.warning()
    assert data.summary["credits"].sum() == pytest.approx(old.total_credits(start, end), rel=1e-9)
    assert reports.totals_check(data.summary, data.org_totals).ok
    live = fetch_usage(conn, end - dt.timedelta(days=RETENTION_DAYS - 1), end)
    assert live.frame["credits"].sum() < data.summary["credits"].sum()  # the portal alone has lost the oldest days
    fresh = Archive(old.org_id, tmp_path / "fresh")
    ensure(fresh, conn, end - dt.timedelta(days=RETENTION_DAYS - 1), end, today=end)
    partial = read_range(fresh, start, end, today=end)
    assert [(s.start, s.end, s.reason) for s in partial.missing] == [
        (start, end - dt.timedelta(days=RETENTION_DAYS), PAST_RETENTION)
    ]


# -- the CLI in child processes: SIGKILL, and two syncs at once ---------------------------------------------------
def wait_for_line(process: subprocess.Popen, text: str, timeout_s: float = 120) -> list[str]:
    lines = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if text in line:
            return lines
    raise AssertionError(f"no line with {text!r} in {lines}")


def test_a_sync_killed_mid_window_then_run_again_gives_identical_tables(conn, emulator, org, tmp_path):
    start = TODAY - dt.timedelta(days=239)  # four 60-day windows
    reference = Archive(org.org_id, tmp_path / "reference")
    ensure(reference, conn, start, TODAY)
    killed_dir = tmp_path / "killed"
    emulator.faults.add("slow", times=None, delay_s=1.0)  # every usage request takes a second
    child = subprocess.Popen(
        sync_command(emulator, org, killed_dir, start), stdout=subprocess.PIPE, text=True, env=child_env(org)
    )
    try:
        wait_for_line(child, "window 1/4")
        time.sleep(0.5)  # the next windows are in flight, their requests half answered
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        child.kill()
        child.stdout.close()
    emulator.faults.clear()
    killed = Archive(org.org_id, killed_dir)
    partial, whole = tables(killed), tables(reference)
    days = set(partial["coverage"]["day"])
    assert 60 <= len(days) < 240  # at least one window committed, not all
    for name in ("usage", "org_totals"):  # what was committed is whole windows, exactly as the reference has them
        pd.testing.assert_frame_equal(
            partial[name].reset_index(drop=True),
            whole[name][whole[name]["day"].isin(days)].reset_index(drop=True),
            obj=name,
        )
    rerun = subprocess.run(
        sync_command(emulator, org, killed_dir, start), capture_output=True, text=True, env=child_env(org), timeout=300
    )
    assert rerun.returncode == 0, rerun.stderr
    assert f"Done: {240 - len(days)} day(s) added, 0 refreshed" in rerun.stdout
    assert_same_tables(tables(killed), tables(reference))


def test_two_syncs_of_one_org_one_waits_the_other_exits_clearly_and_nothing_doubles(conn, emulator, org, tmp_path):
    start = TODAY - dt.timedelta(days=119)
    reference = Archive(org.org_id, tmp_path / "reference")
    ensure(reference, conn, start, TODAY)
    shared = Archive(org.org_id, tmp_path / "shared")
    holding, release = threading.Event(), threading.Event()

    def hold_after_first_window(event):
        holding.set()
        release.wait(timeout=120)  # the first sync stays in the middle of its run, lock held

    first = threading.Thread(
        target=ensure, args=(shared, conn, start, TODAY), kwargs={"on_window": hold_after_first_window}
    )
    first.start()
    patient = None
    try:
        assert holding.wait(timeout=60)
        impatient = subprocess.run(
            sync_command(emulator, org, shared.directory, start, "--lock-wait", "0.5"),
            capture_output=True,
            text=True,
            env=child_env(org),
            timeout=120,
        )
        patient = subprocess.Popen(
            sync_command(emulator, org, shared.directory, start, "--lock-wait", "120"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=child_env(org),
        )
        wait_for_line(patient, "Syncing org")
        time.sleep(1.0)  # the patient one is waiting for the lock now
        assert patient.poll() is None
    finally:
        release.set()
        first.join(timeout=120)
    out, err = patient.communicate(timeout=180)
    assert impatient.returncode == 1 and impatient.stdout.count("window") == 0
    assert impatient.stderr.count("\n") == 1 and "Another sync of org" in impatient.stderr
    assert "waited 0.5 s" in impatient.stderr and "Traceback" not in impatient.stderr
    assert patient.returncode == 0, err
    assert "Done: 0 day(s) added, 0 refreshed" in out  # it waited, then found the first had archived it all
    assert_same_tables(tables(shared), tables(reference))


# -- the same numbers with and without an archive ---------------------------------------------------------------
def test_cli_numbers_are_identical_with_and_without_an_archive(capsys, emulator, org, tmp_path, monkeypatch):
    monkeypatch.setenv("CREDITLENS_PASSWORD", org.passwords[org.admin_username])
    start, end = (TODAY - dt.timedelta(days=99)).isoformat(), TODAY.isoformat()
    source = ["--portal", emulator.url, "--username", org.admin_username, "--ca-bundle", emulator.ca_bundle]
    directory = str(tmp_path / "archive")
    for report in ("leaderboard", "reconciliation", "usage", "members"):
        outputs = []
        for extra in ([*source], [*source, "--archive", directory], ["--archive", directory, "--offline"]):
            code = main(["export", *extra, "--start", start, "--end", end, "--report", report])
            out, err = capsys.readouterr()
            assert code == 0, err
            outputs.append(out)
        assert outputs[0] == outputs[1] == outputs[2], report
        rows = list(csv.DictReader(io.StringIO(outputs[0])))
        assert rows
    live = fetch_usage(sign_in(emulator, org), dt.date.fromisoformat(start), TODAY)
    board = {
        r["username"]: float(r["credits"]) for r in csv.DictReader(io.StringIO(outputs_for(capsys, source, start, end)))
    }
    expected = reports.leaderboard(live.frame, fetch_members(sign_in(emulator, org)), org.org_id)
    for username, credits in zip(expected["username"], expected["credits"], strict=True):
        assert board[username] == pytest.approx(credits, abs=1e-4)


def outputs_for(capsys, source, start, end) -> str:
    assert main(["export", *source, "--start", start, "--end", end, "--report", "leaderboard"]) == 0
    return capsys.readouterr().out
