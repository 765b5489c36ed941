"""Keeping an archive in step with the portal: fetch only missing or stale days, one window at a time.

A day is *stale* while ArcGIS Online may still revise it: today always, and a day fetched before it
had settled (within 3 days of its end) once that fetch is more than an hour old. A day fetched
after it settled is final and never fetched again. Stale days are replaced, never added to.
"""

from __future__ import annotations

import ctypes
import dataclasses
import datetime as dt
import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from creditlens import fetching
from creditlens.archive import reading
from creditlens.archive.errors import ArchiveError
from creditlens.archive.store import Archive, SeriesIndex, coverage_map, replace_window, set_meta, write_snapshot
from creditlens.dates import RETENTION_DAYS
from creditlens.fetching import DEFAULT_WORKERS, FetchControl, WindowFailure
from creditlens.portal import PortalConnection
from creditlens.windows import MAX_WINDOW_DAYS, UsageWindow

#: Days after its end during which ArcGIS Online may still revise a day's usage.
SETTLE_DAYS = 3
#: A fetch of an unsettled day is good for this long.
STALE_AFTER = dt.timedelta(hours=1)
#: How long a second sync of the same org waits for the first before giving up.
DEFAULT_LOCK_WAIT_S = 30.0
#: (row, bucket) points per usage window while syncing. A decoded reply costs about 400 bytes per
#: point, so this keeps a window around 120 MB of Python objects: a 10k-member org gets 17-day
#: windows (sync peak measured in docs/performance.md), a small org keeps the 60-day maximum.
SYNC_POINT_BUDGET = 300_000
#: Usage rows per member in a reply grouped by user, stype and etype (measured on the demo org).
ROWS_PER_MEMBER = 1.7

WindowCallback = Callable[["WindowEvent"], None]


@dataclass(frozen=True)
class WindowEvent:
    """One window written or failed, for a progress line."""

    window: UsageWindow
    done: int
    total: int
    added: int = 0
    refreshed: int = 0
    error: str | None = None


@dataclass
class SyncReport:
    """What one ``ensure`` did."""

    start: dt.date
    end: dt.date
    windows: list[UsageWindow] = field(default_factory=list)
    failures: list[WindowFailure] = field(default_factory=list)
    days_added: int = 0
    days_refreshed: int = 0
    usage_requests: int = 0
    other_requests: int = 0
    members_refreshed: bool = False

    @property
    def complete(self) -> bool:
        return not self.failures

    def summary(self) -> str:
        failed = f", {len(self.failures)} window(s) failed" if self.failures else ""
        return (
            f"{self.days_added} day(s) added, {self.days_refreshed} refreshed, {self.usage_requests} usage "
            f"request(s) ({self.other_requests} other){failed}"
        )


def utc_now() -> dt.datetime:
    """Now in UTC as a naive timestamp, the way the archive stores times."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def settled_at(day: dt.date) -> dt.datetime:
    """When ArcGIS Online stops revising ``day``: ``SETTLE_DAYS`` after the day ends (UTC)."""
    return dt.datetime.combine(day + dt.timedelta(days=1 + SETTLE_DAYS), dt.time())


def is_stale(
    day: dt.date,
    fetched_at: dt.datetime,
    today: dt.date,
    now: dt.datetime,
    refresh_today_after: dt.timedelta = dt.timedelta(0),
) -> bool:
    """Whether an archived day must be fetched again."""
    if day >= today:
        return now - fetched_at >= refresh_today_after
    return fetched_at < settled_at(day) and now - fetched_at > STALE_AFTER


def days_to_fetch(
    start: dt.date,
    end: dt.date,
    coverage: dict[dt.date, dt.datetime],
    today: dt.date,
    now: dt.datetime,
    refresh_today_after: dt.timedelta = dt.timedelta(0),
) -> list[dt.date]:
    """The days of ``start``..``end`` that are missing from the archive or stale."""
    days = []
    for offset in range((end - start).days + 1):
        day = start + dt.timedelta(days=offset)
        fetched = coverage.get(day)
        if fetched is None or is_stale(day, fetched, today, now, refresh_today_after):
            days.append(day)
    return days


def plan_windows(days: list[dt.date], max_days: int = MAX_WINDOW_DAYS) -> list[UsageWindow]:
    """Runs of consecutive days, each split into windows of at most ``max_days``."""
    ordered = sorted(set(days))
    windows: list[UsageWindow] = []
    i = 0
    while i < len(ordered):
        j = i
        while (
            j + 1 < len(ordered)
            and ordered[j + 1] == ordered[j] + dt.timedelta(days=1)
            and (ordered[j + 1] - ordered[i]).days < max_days
        ):
            j += 1
        windows.append(UsageWindow(ordered[i], ordered[j]))
        i = j + 1
    return windows


def sync_window_days(member_count: int) -> int:
    """Days per usage window that keep one decoded reply within :data:`SYNC_POINT_BUDGET`."""
    rows = max(1.0, ROWS_PER_MEMBER * member_count + 50)
    return int(max(1, min(MAX_WINDOW_DAYS, SYNC_POINT_BUDGET // rows)))


def oldest_fetchable(today: dt.date) -> dt.date:
    return today - dt.timedelta(days=RETENTION_DAYS - 1)


class _CountingTransport:
    """Counts the requests a sync makes, usage apart from the rest."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.usage = self.other = 0
        self._lock = threading.Lock()

    def post(self, path: str, params: dict[str, str]) -> dict:
        with self._lock:
            if path.rstrip("/").endswith("/usage"):
                self.usage += 1
            else:
                self.other += 1
        return self.inner.post(path, params)

    def relogin(self) -> None:
        self.inner.relogin()


def ensure(
    archive: Archive,
    conn: PortalConnection,
    start: dt.date,
    end: dt.date,
    *,
    today: dt.date | None = None,
    now: dt.datetime | None = None,
    on_window: WindowCallback | None = None,
    control: FetchControl | None = None,
    lock_timeout_s: float = DEFAULT_LOCK_WAIT_S,
    refresh_today_after: dt.timedelta = dt.timedelta(0),
    members_max_age: dt.timedelta = STALE_AFTER,
    max_workers: int = DEFAULT_WORKERS,
) -> SyncReport:
    """Fetch what ``start``..``end`` lacks (within the portal's retention) into the archive.

    Days older than the retention cannot be fetched; whatever the archive holds of them stays.
    Raises :class:`~creditlens.archive.errors.ArchiveBusy` when another sync of the org holds the
    lock longer than ``lock_timeout_s``.
    """
    if conn.identity.org_id != archive.org_id:
        raise ArchiveError(
            f"This archive belongs to org {archive.org_id}, but the sign-in is for org {conn.identity.org_id}."
        )
    stamp = (lambda: now) if now is not None else utc_now  # a test's clock stamps its fetches too
    now = now or utc_now()
    today = today or now.date()
    end = min(end, today)
    report = SyncReport(start, end)
    fetch_start = max(start, oldest_fetchable(today))
    counting = _CountingTransport(conn.transport)
    counted = dataclasses.replace(conn, transport=counting)

    def needed_days(con) -> list[dt.date]:
        if fetch_start > end:
            return []
        return days_to_fetch(fetch_start, end, coverage_map(con), today, now, refresh_today_after)

    # Nothing to do is decided without the writer lock, so an up-to-date archive is never blocked
    # by (nor blocks) a sync elsewhere, and publishes nothing.
    with archive.reading() as con:
        if not needed_days(con) and not _members_stale(con, today, now, members_max_age):
            return report
    with archive.writing(lock_timeout_s) as con:
        members = _refresh_members(con, counted, today, now, members_max_age, report)
        coverage = coverage_map(con)
        needed = needed_days(con)  # again, under the lock: another sync may have fetched them meanwhile
        report.windows = plan_windows(needed, sync_window_days(members))
        series = SeriesIndex(con)
        done = [0]

        def write(window: UsageWindow, usage, totals) -> None:
            cursor = con.cursor()
            try:
                replace_window(cursor, series, window, usage, totals, stamp())
            finally:
                cursor.close()
            del usage, totals
            release_freed_memory()
            refreshed = sum(1 for d in _days(window) if d in coverage)
            report.days_refreshed += refreshed
            report.days_added += window.days - refreshed
            done[0] += 1
            if on_window:
                on_window(WindowEvent(window, done[0], len(report.windows), window.days - refreshed, refreshed))

        report.failures = fetching.fetch_windows_into(counted, report.windows, write, None, max_workers, control)
        for failure in report.failures:
            done[0] += 1
            if on_window:
                on_window(WindowEvent(failure.window, done[0], len(report.windows), error=failure.message))
        report.usage_requests, report.other_requests = counting.usage, counting.other
        _record_sync(con, now, stamp(), report)
    return report


def is_due(
    archive: Archive,
    start: dt.date,
    end: dt.date,
    *,
    today: dt.date | None = None,
    now: dt.datetime | None = None,
    refresh_today_after: dt.timedelta = dt.timedelta(0),
    members_max_age: dt.timedelta = STALE_AFTER,
) -> bool:
    """Whether ``ensure`` would fetch anything for the range (read only; no lock, no request)."""
    now = now or utc_now()
    today = today or now.date()
    end = min(end, today)
    fetch_start = max(start, oldest_fetchable(today))
    with archive.reading() as con:
        if _members_stale(con, today, now, members_max_age):
            return True
        if fetch_start > end:
            return False
        return bool(days_to_fetch(fetch_start, end, coverage_map(con), today, now, refresh_today_after))


def _members_stale(con, today: dt.date, now: dt.datetime, max_age: dt.timedelta) -> bool:
    """Whether today's member snapshot is missing or older than ``max_age``."""
    fetched = reading.history_meta(con, "members_fetched_at")
    count = con.execute("SELECT count(*) FROM members WHERE snapshot_day = ?", [today]).fetchone()[0]
    return fetched is None or not count or now - fetched >= max_age


def _refresh_members(con, conn: PortalConnection, today: dt.date, now: dt.datetime, max_age, report) -> int:
    """Take today's member snapshot unless a recent one exists; the member count."""
    if not _members_stale(con, today, now, max_age):
        return int(con.execute("SELECT count(*) FROM members WHERE snapshot_day = ?", [today]).fetchone()[0])
    members = fetching.fetch_members(conn)
    write_snapshot(con, today, members, now)
    report.members_refreshed = True
    return len(members)


def release_freed_memory() -> None:
    """Hand memory freed by a window's decoded reply back to the system before the next one lands.

    glibc keeps freed blocks in its arenas (one per thread), so without this the peak grows window
    by window as each reply lands in a different part of the heap; elsewhere this does nothing.
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim():
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


def _record_sync(con, started: dt.datetime, finished: dt.datetime, report: SyncReport) -> None:
    con.execute(
        "INSERT INTO syncs VALUES (?, ?, ?, ?, ?, ?)",
        [started, finished, report.days_added, report.days_refreshed, report.usage_requests, len(report.failures)],
    )
    set_meta(con, "last_synced_at", finished.isoformat())


def _days(window: UsageWindow) -> list[dt.date]:
    return [window.start + dt.timedelta(days=i) for i in range(window.days)]
