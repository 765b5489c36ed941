"""The archive's rules on the demo connection (the same request→payload code the emulator serves):
staleness, window planning, migrations, missing-day reasons, replacement without doubling, the
in-memory archives per identity, the Parquet export and the offline CLI."""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd
import pytest

from creditlens import reports
from creditlens.archive import Archive, ArchiveBusy, ArchiveError, ensure, read_range
from creditlens.archive.memory import MemoryArchives
from creditlens.archive.parquet import export_parquet
from creditlens.archive.schema import MIGRATIONS, SCHEMA_VERSION, schema_version
from creditlens.archive.sync import (
    STALE_AFTER,
    days_to_fetch,
    is_stale,
    plan_windows,
    settled_at,
    sync_window_days,
    utc_now,
)
from creditlens.archive.view import NOT_SYNCED, PAST_RETENTION, missing_spans
from creditlens.cli import main
from creditlens.dates import RETENTION_DAYS
from creditlens.errors import PortalError
from creditlens.fake.demo_org import OrgSpec, build_demo_org
from creditlens.portal import Identity, PortalConnection, connect_demo
from creditlens.windows import UsageWindow

D = dt.date
NOW = dt.datetime(2026, 6, 30, 12, 0)
TODAY = NOW.date()


def day(offset: int) -> dt.date:
    return TODAY + dt.timedelta(days=offset)


# -- staleness and planning -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("the_day", "fetched", "stale"),
    [
        (day(0), NOW - dt.timedelta(minutes=1), True),  # today is always provisional
        (day(-1), NOW - dt.timedelta(minutes=30), False),  # within the last 3 days, fetched this hour
        (day(-3), NOW - dt.timedelta(hours=2), True),  # within the last 3 days, fetched over an hour ago
        (day(-10), dt.datetime.combine(day(-10), dt.time(23)), True),  # fetched before it settled: once more
        (day(-10), dt.datetime.combine(day(-5), dt.time(1)), False),  # fetched after it settled: final
    ],
)
def test_a_day_is_stale_only_while_arcgis_online_may_revise_it(the_day, fetched, stale):
    assert is_stale(the_day, fetched, TODAY, NOW) is stale


def test_settling_is_three_days_after_the_day_ends():
    assert settled_at(D(2026, 1, 31)) == dt.datetime(2026, 2, 4)
    assert dt.timedelta(hours=1) == STALE_AFTER


def test_only_missing_and_stale_days_are_planned_in_windows_of_at_most_the_limit():
    coverage = {day(-d): NOW for d in range(1, 5)}  # fetched just now
    coverage[day(-40)] = NOW
    needed = days_to_fetch(day(-100), day(0), coverage, TODAY, NOW)
    assert day(-40) not in needed and day(-2) not in needed and day(0) in needed
    windows = plan_windows(needed, max_days=30)
    assert windows == [
        UsageWindow(day(-100), day(-71)),
        UsageWindow(day(-70), day(-41)),
        UsageWindow(day(-39), day(-10)),
        UsageWindow(day(-9), day(-5)),
        UsageWindow(day(0), day(0)),
    ]
    covered = [d for w in windows for d in (w.start + dt.timedelta(days=i) for i in range(w.days))]
    assert sorted(covered) == sorted(needed) and len(covered) == len(set(covered))


def test_windows_shrink_with_the_org_so_one_decoded_reply_stays_bounded():
    assert sync_window_days(300) == 60
    assert 10 <= sync_window_days(10_000) <= 30
    assert 1 <= sync_window_days(50_000) < sync_window_days(10_000)


# -- schema ------------------------------------------------------------------------------------------------
def test_a_version_1_archive_is_migrated_and_keeps_its_rows(tmp_path, small_org):
    path = tmp_path / f"{small_org.org_id}.duckdb"
    con = duckdb.connect(str(path))
    for statement in MIGRATIONS[0]:
        con.execute(statement)
    con.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    con.execute("INSERT INTO coverage VALUES (DATE '2026-01-01', TIMESTAMP '2026-01-05 00:00')")
    con.close()
    archive = Archive(small_org.org_id, tmp_path)
    with archive.writing(timeout_s=1) as writer:
        assert schema_version(writer) == SCHEMA_VERSION == 2
        assert writer.execute("SELECT count(*) FROM syncs").fetchone()[0] == 0
    with archive.reading() as reader:
        assert reader.execute("SELECT day FROM coverage").fetchall() == [(D(2026, 1, 1),)]


def test_an_archive_from_a_newer_version_is_refused_clearly(tmp_path):
    con = duckdb.connect(str(tmp_path / "abc.duckdb"))
    con.execute("CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
    con.execute("INSERT INTO meta VALUES ('schema_version', '99')")
    con.close()
    with pytest.raises(ArchiveError, match="newer Credit Lens"), Archive("abc", tmp_path).writing(timeout_s=1):
        pass


def test_an_org_id_is_never_a_path(tmp_path):
    with pytest.raises(ArchiveError, match="not an organization id"):
        Archive("../etc", tmp_path)


# -- sync and read ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def org():
    return build_demo_org(OrgSpec(members=40, days=200, seed=9, end_day=TODAY))


def test_a_range_reads_back_with_the_numbers_of_todays_fetch(org):
    archive = Archive(org.org_id)
    conn = connect_demo(org=org)
    start = day(-119)
    sync = ensure(archive, conn, start, TODAY, today=TODAY, now=NOW)
    assert sync.complete and sync.days_added == 120 and sync.days_refreshed == 0
    data = read_range(archive, start, TODAY, today=TODAY, sync=sync)
    assert data.complete and data.warning() is None
    assert data.summary["credits"].sum() == pytest.approx(org.total_credits(start, TODAY), rel=1e-12)
    assert data.daily()["credits"].sum() == pytest.approx(org.total_credits(start, TODAY), rel=1e-12)
    check = reports.totals_check(data.summary, data.org_totals)
    assert check.ok and check.org_total > 0
    assert set(data.members["username"]) == {m["username"] for m in org.members}
    assert data.history_caption().startswith(f"History from {start} · last synced ")


def test_stale_days_are_replaced_never_added_to(org):
    archive = Archive(org.org_id)
    conn = connect_demo(org=org)
    ensure(archive, conn, day(-9), TODAY, today=TODAY, now=NOW)
    first = read_range(archive, day(-9), TODAY, today=TODAY)
    later = NOW + dt.timedelta(hours=2)  # the last 3 days and today are stale again
    again = ensure(archive, conn, day(-9), TODAY, today=TODAY, now=later)
    assert again.days_refreshed == 4 and again.days_added == 0
    second = read_range(archive, day(-9), TODAY, today=TODAY)
    assert second.summary["credits"].sum() == pytest.approx(first.summary["credits"].sum(), rel=1e-12)
    assert len(second.daily()) == len(first.daily())
    assert second.org_totals["credits"].sum() == pytest.approx(first.org_totals["credits"].sum(), rel=1e-12)


class FailingWindow:
    """The demo portal, failing every usage request that starts at ``start_ms``."""

    def __init__(self, inner, start_ms: int) -> None:
        self.inner, self.start_ms = inner, start_ms

    def post(self, path, params):
        if path.endswith("/usage") and params.get("startTime") == str(self.start_ms):
            raise PortalError("The portal kept failing (HTTP 502) after several retries.")
        return self.inner.post(path, params)

    def relogin(self):
        return None


def test_a_failed_window_is_named_with_its_reason_and_filled_by_the_next_sync(org, monkeypatch):
    monkeypatch.setattr("creditlens.fetching.RETRY_PAUSE_S", 0.01)
    archive = Archive(org.org_id)
    demo = connect_demo(org=org)
    bad = UsageWindow(day(-119), day(-60))
    broken = PortalConnection(demo.identity, demo.org, demo.user, FailingWindow(demo.transport, bad.start_ms))
    sync = ensure(archive, broken, day(-119), TODAY, today=TODAY, now=NOW)
    assert [f.window for f in sync.failures] == [bad]
    data = read_range(archive, day(-119), TODAY, today=TODAY, sync=sync)
    assert not data.complete
    assert [(s.start, s.end) for s in data.missing] == [(bad.start, bad.end)]
    assert "HTTP 502" in data.missing[0].reason and "60 day(s)" in data.warning()
    assert data.usage_result().missing_windows == [bad]
    later = ensure(archive, demo, day(-119), TODAY, today=TODAY, now=NOW + dt.timedelta(minutes=5))
    assert later.windows[0] == bad and later.complete
    assert read_range(archive, day(-119), TODAY, today=TODAY).complete


def test_missing_days_say_why():
    today = D(2026, 6, 30)
    oldest = today - dt.timedelta(days=RETENTION_DAYS - 1)
    covered = {oldest + dt.timedelta(days=i) for i in range(10)}
    spans = missing_spans(oldest - dt.timedelta(days=5), oldest + dt.timedelta(days=12), covered, today, oldest)
    assert [(s.start, s.end, s.reason) for s in spans] == [
        (oldest - dt.timedelta(days=5), oldest - dt.timedelta(days=1), PAST_RETENTION),
        (oldest + dt.timedelta(days=10), oldest + dt.timedelta(days=12), NOT_SYNCED),
    ]
    assert "before this archive began and past ArcGIS Online's two-year retention" in spans[0].label()


def test_a_sync_for_another_org_is_refused(org, small_org):
    with pytest.raises(ArchiveError, match="belongs to org"):
        ensure(Archive(small_org.org_id), connect_demo(org=org), TODAY, TODAY, today=TODAY)


def test_a_second_writer_of_an_in_memory_archive_is_refused_clearly(org):
    archive = Archive(org.org_id)
    with archive.writing(timeout_s=1), pytest.raises(ArchiveBusy, match="Another sync of org"):
        ensure(archive, connect_demo(org=org), TODAY, TODAY, today=TODAY, lock_timeout_s=0.2)
    assert not archive.sync_running()


def test_in_memory_archives_are_per_identity_and_bounded():
    archives = MemoryArchives(max_entries=2)
    alice, bob, carol = (Identity("https://x.example", "org1", name) for name in ("alice", "bob", "carol"))
    first = archives.get(alice)
    assert archives.get(alice) is first and archives.get(bob) is not first
    archives.get(carol)
    assert len(archives) == 2 and archives.get(alice) is not first  # the least recently used was dropped


# -- Parquet and the offline CLI -----------------------------------------------------------------------------------
def test_the_parquet_export_is_hive_partitioned_by_month_and_adds_up(org, tmp_path):
    archive = Archive(org.org_id, tmp_path / "archive")
    ensure(archive, connect_demo(org=org), day(-89), TODAY, today=TODAY, now=NOW)
    counts = export_parquet(archive, tmp_path / "pq")
    months = sorted(p.name for p in (tmp_path / "pq" / "usage" / f"org_id={org.org_id}").iterdir())
    assert months == sorted({f"month={d:%Y-%m}" for d in pd.date_range(day(-89), TODAY)})
    usage = duckdb.sql(
        f"SELECT org_id, sum(credits) AS c, count(*) AS n FROM read_parquet('{tmp_path}/pq/usage/**/*.parquet', "
        "hive_partitioning = true) GROUP BY org_id"
    ).fetchall()
    assert usage[0][0] == org.org_id and usage[0][2] == counts["usage"]
    assert usage[0][1] == pytest.approx(org.total_credits(day(-89), TODAY), rel=1e-12)
    again = export_parquet(archive, tmp_path / "pq")  # a second export replaces, never adds
    assert again == counts
    rows = duckdb.sql(f"SELECT count(*) FROM read_parquet('{tmp_path}/pq/usage/**/*.parquet')").fetchall()[0][0]
    assert rows == counts["usage"]


def run_cli(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_offline_export_reads_the_archive_and_fails_on_what_it_lacks(capsys, tmp_path):
    directory = str(tmp_path / "arch")
    today = utc_now().date()
    start = (today - dt.timedelta(days=20)).isoformat()
    demo = ["--demo", "--demo-members", "30"]
    code, out, err = run_cli(capsys, "sync", *demo, "--archive", directory, "--start", start)
    assert code == 0 and "window 1/1" in out and "21 day(s) added" in out and "usage request(s)" in out
    args = ["export", "--archive", directory, "--offline", "--start", start, "--end", today.isoformat()]
    code, offline, err = run_cli(capsys, *args, "--report", "leaderboard")
    assert code == 0 and err == ""
    code, live, _ = run_cli(
        capsys, "export", *demo, "--start", start, "--end", today.isoformat(), "--report", "leaderboard"
    )
    assert code == 0 and offline == live
    early = (today - dt.timedelta(days=30)).isoformat()
    code, out, err = run_cli(
        capsys, "export", "--archive", directory, "--offline", "--start", early, "--end", start, "--report", "usage"
    )
    assert code == 1 and out == "" and "does not cover the range" in err and "not synced yet" in err


def test_offline_export_errors_are_one_line(capsys, tmp_path):
    today = utc_now().date().isoformat()
    base = ["export", "--offline", "--start", today, "--end", today, "--report", "usage"]
    code, _, err = run_cli(capsys, *base, "--archive", str(tmp_path))
    assert code == 1 and "No archive in" in err and err.count("\n") == 1
    for org_id in ("orgA", "orgB"):
        with Archive(org_id, tmp_path).writing(timeout_s=1):
            pass  # an empty archive of each
    code, _, err = run_cli(capsys, *base, "--archive", str(tmp_path))
    assert code == 1 and "several orgs" in err and "orgA, orgB" in err
    code, _, err = run_cli(capsys, *base, "--archive", str(tmp_path), "--org", "orgA")
    assert code == 1 and "does not cover the range" in err and "not synced yet" in err
    code, _, err = run_cli(capsys, *base)
    assert code == 1 and "--offline reads an archive" in err


def test_an_up_to_date_archive_is_read_without_the_writer_lock_or_a_request(org):
    archive = Archive(org.org_id)
    conn = connect_demo(org=org)
    ensure(archive, conn, day(-29), TODAY, today=TODAY, now=NOW)
    soon = NOW + dt.timedelta(minutes=5)
    with archive.writing(timeout_s=1):  # another sync holds the lock
        report = ensure(
            archive, conn, day(-29), TODAY, today=TODAY, now=soon, refresh_today_after=dt.timedelta(minutes=10)
        )
    assert report.windows == [] and report.usage_requests == report.other_requests == 0
    with pytest.raises(ArchiveBusy), archive.writing(timeout_s=1):
        ensure(archive, conn, day(-29), TODAY, today=TODAY, now=soon, lock_timeout_s=0.1)  # today is due


def test_a_day_whose_refresh_failed_is_not_shown_as_complete(org, monkeypatch):
    monkeypatch.setattr("creditlens.fetching.RETRY_PAUSE_S", 0.01)
    archive = Archive(org.org_id)
    demo = connect_demo(org=org)
    ensure(archive, demo, day(-9), TODAY, today=TODAY, now=NOW)
    today_window = UsageWindow(TODAY, TODAY)
    broken = PortalConnection(demo.identity, demo.org, demo.user, FailingWindow(demo.transport, today_window.start_ms))
    sync = ensure(archive, broken, day(-9), TODAY, today=TODAY, now=NOW + dt.timedelta(minutes=5))
    assert [f.window for f in sync.failures] == [today_window]
    data = read_range(archive, day(-9), TODAY, today=TODAY, sync=sync)
    assert not data.complete and [(s.start, s.end) for s in data.missing] == [(TODAY, TODAY)]
    assert "could not be refreshed" in data.warning() and "HTTP 502" in data.warning()
    assert data.summary["credits"].sum() == pytest.approx(org.total_credits(day(-9), TODAY), rel=1e-12)
