"""A range read from the archive: its frames, read together, and exactly which days it lacks and why."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pandas as pd

from creditlens.archive import reading
from creditlens.archive.store import Archive
from creditlens.archive.sync import SyncReport, oldest_fetchable, utc_now
from creditlens.fetching import UsageResult, WindowFailure
from creditlens.windows import UsageWindow, split_windows

PAST_RETENTION = "before this archive began and past ArcGIS Online's two-year retention"
GAP_PAST_RETENTION = "missing from this archive and past ArcGIS Online's two-year retention"
NOT_SYNCED = "not synced yet"
NOT_REFRESHED = "could not be refreshed, so it shows what was archived earlier"


@dataclass(frozen=True)
class MissingSpan:
    """Consecutive days the archive does not hold, with the reason."""

    start: dt.date
    end: dt.date
    reason: str

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def label(self) -> str:
        span = self.start.isoformat() if self.start == self.end else f"{self.start} to {self.end}"
        return f"{span}: {self.reason}"


@dataclass
class ArchivedRange:
    """Everything a page or an export needs for ``start``..``end``, read in one go from one archive state."""

    archive: Archive
    start: dt.date
    end: dt.date
    missing: list[MissingSpan]
    summary: pd.DataFrame  # tidy rows summed over the range per series (day = start)
    org_totals: pd.DataFrame
    members: pd.DataFrame  # the latest snapshot (empty when read without members)
    history_start: dt.date | None
    last_synced: dt.datetime | None
    state: str | None = None  # the archive state read: later reads (daily rows, former members) read it too
    _lazy: dict = field(default_factory=dict, repr=False)

    @property
    def complete(self) -> bool:
        return not self.missing

    @property
    def missing_days(self) -> int:
        return sum(s.days for s in self.missing)

    def warning(self) -> str | None:
        if self.complete:
            return None
        spans = "; ".join(s.label() for s in self.missing)
        return f"Incomplete: {self.missing_days} day(s) of the range are missing or out of date ({spans})."

    def _read_once(self, name: str, read) -> pd.DataFrame:
        if name not in self._lazy:
            with self.archive.reading(self.state) as con:
                self._lazy[name] = read(con)
        return self._lazy[name]

    def daily(self) -> pd.DataFrame:
        """The tidy daily rows of the range (read on first use: trends and drill-downs need days)."""
        return self._read_once("daily", lambda con: reading.usage_frame(con, self.start, self.end))

    @property
    def service_days(self) -> pd.DataFrame:
        """Tidy rows summed per (day, stype) in SQL: the org's service trend without the daily rows."""
        return self._read_once("service_days", lambda con: reading.daily_by_stype(con, self.start, self.end))

    @property
    def former_members(self) -> pd.DataFrame:
        """Usernames the archive saw in an earlier member snapshot but not in the latest: name, last seen."""
        return self._read_once("former_members", reading.former_members)

    def usage_result(self, daily: bool = True) -> UsageResult:
        """The range as the fetcher's :class:`UsageResult`, each missing span a failure with its reason."""
        failures = [WindowFailure(UsageWindow(s.start, s.end), s.reason) for s in self.missing]
        frame = self.daily() if daily else self.summary
        return ArchivedUsage(self.start, self.end, frame, split_windows(self.start, self.end), failures)

    def history_caption(self) -> str:
        """ "History from <first day> · last synced <time> UTC", as plain text."""
        first = self.history_start.isoformat() if self.history_start else "—"
        synced = self.last_synced.strftime("%Y-%m-%d %H:%M") if self.last_synced else "never"
        return f"History from {first} · last synced {synced} UTC"


class ArchivedUsage(UsageResult):
    """A :class:`UsageResult` whose failures are spans of days missing from the archive."""

    def warning(self) -> str | None:
        if self.complete:
            return None
        spans = "; ".join(f.describe() for f in self.failures)
        days = sum(f.window.days for f in self.failures)
        return f"Incomplete: {days} day(s) of the range are missing or out of date ({spans})."


def read_range(
    archive: Archive,
    start: dt.date,
    end: dt.date,
    *,
    today: dt.date | None = None,
    sync: SyncReport | None = None,
    with_members: bool = True,
) -> ArchivedRange:
    """Read ``start``..``end`` (end clipped to today) and name each missing day's reason.

    ``sync`` is the report of the ``ensure`` that preceded the read: its failed windows give the
    reason for days it could not fetch. The range's per-series sums, org totals and (unless
    ``with_members`` is False, as for a comparison period) the member snapshot are read together.
    """
    today = today or utc_now().date()
    end = min(end, today)
    with archive.reading_state() as (state, con):
        covered = reading.covered_days(con, start, end)
        history_start, last_synced = reading.history(con)
        data = {
            "summary": reading.usage_by_series(con, start, end),
            "org_totals": reading.org_totals(con, start, end),
            "members": reading.members(con) if with_members else reading.members(con).iloc[:0],
        }
    missing = missing_spans(start, end, covered, today, history_start, sync)
    return ArchivedRange(
        archive, start, end, missing, history_start=history_start, last_synced=last_synced, state=state, **data
    )


def missing_spans(
    start: dt.date,
    end: dt.date,
    covered: set[dt.date],
    today: dt.date,
    history_start: dt.date | None,
    sync: SyncReport | None = None,
) -> list[MissingSpan]:
    """The uncovered days of ``start``..``end`` as spans of one reason each."""
    oldest = oldest_fetchable(today)
    failed = {}
    for failure in sync.failures if sync else []:
        for offset in range(failure.window.days):
            failed[failure.window.start + dt.timedelta(days=offset)] = failure.message
    spans: list[MissingSpan] = []
    for offset in range(max(0, (end - start).days + 1)):
        day = start + dt.timedelta(days=offset)
        if day in covered and day not in failed:
            continue
        if day in covered:  # archived earlier, but this sync's refresh failed: it may be out of date
            reason = f"{NOT_REFRESHED} ({failed[day]})"
        elif day < oldest:
            reason = PAST_RETENTION if history_start is None or day < history_start else GAP_PAST_RETENTION
        else:
            reason = failed.get(day, NOT_SYNCED)
        last = spans[-1] if spans else None
        if last and last.reason == reason and last.end + dt.timedelta(days=1) == day:
            spans[-1] = MissingSpan(last.start, day, reason)
        else:
            spans.append(MissingSpan(day, day, reason))
    return spans
