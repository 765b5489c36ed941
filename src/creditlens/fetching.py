"""Fetching members and usage from a :class:`PortalConnection` into tidy frames.

Usage is fetched in windows of at most 60 UTC days, a few at a time. Each window is parsed as soon
as it lands and its decoded reply dropped, which bounds memory. A window that still fails after
one re-login (token expiry) and one retry is reported by its dates, never silently dropped.
``arcgis`` already retries 429/5xx five times per request, so our own retry is a single one.

Memory: a decoded reply costs about 400 bytes per (row, bucket), some 360 MB for a 60-day window
of a 10k-member org, so how many windows are in flight depends on their size
(:mod:`creditlens.windowed_fetch` runs them, within a deadline and until a cancel). The garbage
collector is paused while a reply is decoded and parsed (see :mod:`creditlens.gcpause`).
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from creditlens import gcpause
from creditlens.errors import CreditLensError, PortalError, UsagePayloadError
from creditlens.portal import PortalConnection, usage_path
from creditlens.usage_parsing import check_reply_span, concat_usage, parse_usage_reply, usage_rows
from creditlens.windowed_fetch import (  # noqa: F401 - the deadline, control and failure names are the fetcher's too
    DEFAULT_DEADLINE_S,
    FetchControl,
    ProgressCallback,
    SinkGate,
    Stopped,
    WindowFailure,
    default_deadline_s,
    run_windows,
)
from creditlens.windows import UsageWindow, split_windows

log = logging.getLogger(__name__)

MEMBER_PAGE = 100
DEFAULT_WORKERS = 3
RETRY_PAUSE_S = 1.0


@dataclass
class UsageResult:
    """Usage for a range, with every window that could not be fetched named."""

    start: dt.date
    end: dt.date
    frame: pd.DataFrame
    windows: list[UsageWindow]
    failures: list[WindowFailure] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.failures

    @property
    def missing_windows(self) -> list[UsageWindow]:
        return [f.window for f in self.failures]

    def warning(self) -> str | None:
        """One sentence naming the missing windows, or None when nothing is missing."""
        if self.complete:
            return None
        spans = "; ".join(f.describe() for f in self.failures)
        return f"Incomplete: {len(self.failures)} of {len(self.windows)} windows could not be loaded ({spans})."


# -- members ------------------------------------------------------------------------------------
USER_TYPE_NAMES = {
    "creatorUT": "Creator",
    "GISProfessionalBasicUT": "Professional",
    "GISProfessionalStdUT": "Professional",
    "GISProfessionalAdvUT": "Professional Plus",
    "viewerUT": "Viewer",
    "mobileWorkerUT": "Mobile Worker",
    "fieldWorkerUT": "Mobile Worker",
    "contributorUT": "Contributor",
    "editorUT": "Contributor",
    "storytellerUT": "Storyteller",
    "insightsAnalystUT": "Insights Analyst",
}
ROLE_NAMES = {"org_admin": "Administrator", "org_publisher": "Publisher", "org_user": "User"}

MEMBER_COLUMNS = (
    "username",
    "full_name",
    "email",
    "role",
    "user_type",
    "created",
    "last_login",
    "disabled",
    "assigned_credits",
    "available_credits",
    "storage_bytes",
)


def fetch_members(conn: PortalConnection) -> pd.DataFrame:
    """Every member of the org, paged 100 at a time, with role and user type by human name."""
    users = _fetch_all_pages(
        conn, "portals/self/users", "users", {"sortField": "username", "sortOrder": "asc", "excludeSystemUsers": "true"}
    )
    roles = {r.get("id"): r.get("name") for r in _fetch_all_pages(conn, "portals/self/roles", "roles", {})}
    return members_frame(users, roles)


def _fetch_all_pages(conn: PortalConnection, path: str, key: str, params: dict[str, str]) -> list[dict]:
    items: list[dict] = []
    start = 1
    relogged = False
    for _ in range(100_000):  # a hard stop against a server that never says -1
        try:
            page = conn.post(path, {**params, "start": str(start), "num": str(MEMBER_PAGE)})
        except PortalError as exc:
            # The same re-login the usage windows get: a portal restart or revoked sessions must not
            # leave the member list broken until the user signs out (issue 10, item 5).
            if not exc.is_token_expired or relogged:
                raise
            log.info("token expired while paging %s; signing in again", path)
            conn.relogin()
            relogged = True
            continue
        batch = page.get(key) or []
        if not isinstance(batch, list):
            raise PortalError(f"The portal's {key} list has an unexpected shape.")
        items.extend(b for b in batch if isinstance(b, dict))
        next_start = int(page.get("nextStart", -1) or -1)
        if next_start <= start or not batch:
            break
        start = next_start
    return items


def members_frame(users: list[dict], role_names: dict | None = None) -> pd.DataFrame:
    """A frame of member records as ``portals/self/users`` returns them."""
    role_names = role_names or {}
    rows = []
    for u in users:
        role_id = u.get("roleId") or u.get("role")
        rows.append(
            {
                "username": str(u.get("username") or ""),
                "full_name": str(u.get("fullName") or ""),
                "email": str(u.get("email") or ""),
                "role": role_names.get(role_id) or ROLE_NAMES.get(str(u.get("role")), str(u.get("role") or "")),
                "user_type": USER_TYPE_NAMES.get(
                    str(u.get("userLicenseTypeId")), str(u.get("userLicenseTypeId") or "")
                ),
                "created": _ms_to_time(u.get("created")),
                "last_login": _ms_to_time(u.get("lastLogin")),
                "disabled": bool(u.get("disabled")),
                "assigned_credits": _allocation(u.get("assignedCredits")),
                # Without an allocation ArcGIS Online sends -1 (budgeting on) or null (off) here too.
                "available_credits": _number(u.get("availableCredits"))
                if not np.isnan(_allocation(u.get("assignedCredits")))
                else float("nan"),
                "storage_bytes": _number(u.get("storageUsage")),
            }
        )
    frame = pd.DataFrame(rows, columns=list(MEMBER_COLUMNS))
    return frame.drop_duplicates("username").reset_index(drop=True)


def _ms_to_time(value) -> pd.Timestamp:
    number = _number(value)
    if np.isnan(number) or number <= 0:
        return pd.NaT  # -1 means never signed in
    return pd.Timestamp(int(number), unit="ms")


def _number(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _allocation(value) -> float:
    """Assigned credits; None and -1 both mean 'no allocation'."""
    number = _number(value)
    return float("nan") if np.isnan(number) or number < 0 else number


# -- usage --------------------------------------------------------------------------------------
USER_GROUPBY = "username,userorgid,stype,etype"
ORG_GROUPBY = "stype"


def usage_params(
    window: UsageWindow, groupby: str, variables: str = "credits,num", period: str = "1d"
) -> dict[str, str]:
    """The usage endpoint's query for one window, the one place it is built: the window's first and last UTC
    millisecond, buckets of ``period`` ("1d", or "1h" for at most one day), the measures and the grouping."""
    return {
        "startTime": str(window.start_ms),
        "endTime": str(window.end_ms),
        "period": period,
        "vars": variables,
        "groupby": groupby,
    }


def fetch_usage(
    conn: PortalConnection,
    start: dt.date,
    end: dt.date,
    progress: ProgressCallback | None = None,
    max_workers: int = DEFAULT_WORKERS,
    control: FetchControl | None = None,
) -> UsageResult:
    """Daily usage per (username, userOrgId, stype, etype) for ``start``..``end`` (UTC, inclusive)."""
    return _fetch_windows(conn, start, end, USER_GROUPBY, progress, max_workers, control)


def fetch_org_totals(
    conn: PortalConnection,
    start: dt.date,
    end: dt.date,
    max_workers: int = DEFAULT_WORKERS,
    control: FetchControl | None = None,
) -> pd.DataFrame:
    """Org-wide credits and operations by stype, from a query that does not group by user."""
    result = _fetch_windows(conn, start, end, ORG_GROUPBY, None, max_workers, control)
    if not result.complete:
        raise CreditLensError(result.warning())
    return org_totals_by_stype(result.frame)


def org_totals_by_stype(frame: pd.DataFrame) -> pd.DataFrame:
    """Credits and operations per stype of a tidy frame, largest first."""
    totals = frame.groupby("stype", observed=True, as_index=False)[["credits", "num"]].sum()
    totals["stype"] = totals["stype"].astype(str)
    return totals.sort_values("credits", ascending=False, ignore_index=True)


#: Receives one window's usage per user and its org totals by stype, in the fetching thread.
WindowSink = Callable[[UsageWindow, pd.DataFrame, pd.DataFrame], None]


def fetch_windows_into(
    conn: PortalConnection,
    windows: list[UsageWindow],
    sink: WindowSink,
    progress: ProgressCallback | None = None,
    max_workers: int = DEFAULT_WORKERS,
    control: FetchControl | None = None,
) -> list[WindowFailure]:
    """Fetch each window's usage and org totals and hand both to ``sink``; the windows that failed.

    Nothing is kept here: each window's frames go to ``sink`` (the archive writes them in one
    transaction) as soon as both have landed, so memory holds only the windows in flight. No sink
    call starts after the deadline or a cancel, so a window named as failed was never written.
    """

    def fetch(window: UsageWindow) -> tuple[pd.DataFrame, int]:
        usage, points = _fetch_window(conn, window, USER_GROUPBY)
        totals, _ = _fetch_window(conn, window, ORG_GROUPBY)
        with gate:
            if gate.closed:
                raise Stopped()
            sink(window, usage, totals)
            gate.written.add(window)
        return usage.iloc[:0], points

    gate = SinkGate()
    done: dict[UsageWindow, pd.DataFrame] = {}
    return run_windows(windows, fetch, done, progress, max_workers, control or FetchControl(), gate)


def _fetch_windows(
    conn: PortalConnection,
    start: dt.date,
    end: dt.date,
    groupby: str,
    progress: ProgressCallback | None,
    max_workers: int,
    control: FetchControl | None = None,
) -> UsageResult:
    windows = split_windows(start, end)
    frames: dict[UsageWindow, pd.DataFrame] = {}
    failures = run_windows(
        windows, lambda w: _fetch_window(conn, w, groupby), frames, progress, max_workers, control or FetchControl()
    )
    ordered = [frames[w] for w in windows if w in frames]
    return UsageResult(start, end, concat_usage(ordered), windows, failures)


def _fetch_window(conn: PortalConnection, window: UsageWindow, groupby: str) -> tuple[pd.DataFrame, int]:
    """One window's frame and its reply's size in (row, bucket) points.

    Re-login once on token expiry, retry once on a transient fault or an unreadable reply.
    """
    params = usage_params(window, groupby)
    relogged = retried = False
    while True:
        try:
            # The decoded reply lives only inside this block: parsed, then dropped before the
            # collector runs again.
            with gcpause.paused():
                reply = conn.post(usage_path(conn), params)
                check_reply_span(reply, window)
                points = _reply_points(reply, window)
                frame = parse_usage_reply(reply, window)
                del reply
            return _settled(frame), points
        except PortalError as exc:
            if exc.is_token_expired and not relogged:
                log.info("token expired during %s; signing in again", window.label())
                conn.relogin()
                relogged = True
                continue
            if exc.is_token_expired:
                message = "The sign-in expired and signing in again did not help. Sign out and in."
                raise PortalError(message, exc.code) from None
            if exc.is_permission or retried:
                raise
            retried = True
        except UsagePayloadError:
            if retried:
                raise
            retried = True
        log.info("retrying usage window %s", window.label())
        time.sleep(RETRY_PAUSE_S)


def _settled(frame: pd.DataFrame) -> pd.DataFrame:
    """The same frame made of objects allocated now that the decoded reply is gone.

    Python's small-object allocator returns a 1 MiB arena to the system only when every object in
    it is freed. The frame's key strings and its pandas and numpy objects were allocated among the
    reply's millions of strings and lists, so each would keep an arena of the freed reply resident;
    remade here they pack into a few. Key strings are interned: every window shares one copy.
    """
    columns = {}
    for name in frame.columns:
        column = frame[name]
        if isinstance(column.dtype, pd.CategoricalDtype):
            categories = [sys.intern("".join((c, "#"))[:-1]) for c in column.cat.categories]
            columns[name] = pd.Categorical.from_codes(
                column.cat.codes.to_numpy().copy(), categories=pd.Index(categories, dtype=object), validate=False
            )
        else:
            columns[name] = column.to_numpy().copy()
    return pd.DataFrame(columns)


def _reply_points(reply: object, window: UsageWindow) -> int:
    """(row, bucket) points of a reply, for sizing concurrency; 0 when it has no readable rows."""
    try:
        return len(usage_rows(reply)) * window.days
    except UsagePayloadError:
        return 0
