"""Fetching members and usage from a :class:`PortalConnection` into tidy frames.

Usage is fetched in windows of at most 60 UTC days, a few at a time. Each window is parsed as soon
as it lands and its decoded reply dropped, which bounds memory. A window that still fails after
one re-login (token expiry) and one retry is reported by its dates, never silently dropped.
``arcgis`` already retries 429/5xx five times per request, so our own retry is a single one.

Memory: a decoded reply costs about 400 bytes per (row, bucket), some 360 MB for a 60-day window
of a 10k-member org, so how many windows are in flight depends on their size. The first window
is fetched alone; its size sets how many may be in flight after it (``DECODED_BUDGET_BYTES``),
from ``max_workers`` for a small org down to one at a time for a large one. The garbage collector
is paused while a reply is decoded and parsed (see :mod:`creditlens.gcpause`).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from creditlens import gcpause
from creditlens.errors import CreditLensError, PortalError, UsagePayloadError, redact
from creditlens.portal import PortalConnection, usage_path
from creditlens.usage_parsing import check_reply_span, concat_usage, parse_usage_reply, usage_rows
from creditlens.windows import UsageWindow, split_windows

log = logging.getLogger(__name__)

MEMBER_PAGE = 100
DEFAULT_WORKERS = 3
RETRY_PAUSE_S = 1.0
#: Decoded JSON per (row, bucket) of a ``vars=credits,num`` reply (lists and strings), measured.
DECODED_BYTES_PER_POINT = 400
#: Decoded replies allowed in memory at once; more windows wait rather than multiply the peak.
DECODED_BUDGET_BYTES = 300 * 2**20

ProgressCallback = Callable[[int, int], None]  # (windows done, windows total)


@dataclass(frozen=True)
class WindowFailure:
    window: UsageWindow
    message: str

    def describe(self) -> str:
        return f"{self.window.label()}: {self.message}"


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
#: The overall deadline of one fetch unless ``CREDITLENS_FETCH_DEADLINE_S`` says otherwise.
DEFAULT_DEADLINE_S = 300.0
USER_GROUPBY = "username,userorgid,stype,etype"
ORG_GROUPBY = "stype"


def usage_params(window: UsageWindow, groupby: str, variables: str = "credits,num") -> dict[str, str]:
    return {
        "startTime": str(window.start_ms),
        "endTime": str(window.end_ms),
        "period": "1d",
        "vars": variables,
        "groupby": groupby,
    }


def default_deadline_s(environ: dict[str, str] | None = None) -> float:
    """``CREDITLENS_FETCH_DEADLINE_S`` when it is a positive number, else :data:`DEFAULT_DEADLINE_S`."""
    text = (environ if environ is not None else os.environ).get("CREDITLENS_FETCH_DEADLINE_S", "")
    try:
        value = float(text)
    except ValueError:
        return DEFAULT_DEADLINE_S
    return value if value > 0 else DEFAULT_DEADLINE_S


@dataclass
class FetchControl:
    """How long a fetch may take overall, and an event that stops it early (the app's Cancel)."""

    deadline_s: float | None = None  # None: :func:`default_deadline_s`
    cancel: threading.Event | None = None

    def __post_init__(self) -> None:
        seconds = self.deadline_s if self.deadline_s is not None else default_deadline_s()
        self.deadline_s = seconds
        self._ends = time.monotonic() + seconds

    def remaining_s(self) -> float:
        return self._ends - time.monotonic()

    @property
    def cancelled(self) -> bool:
        return self.cancel is not None and self.cancel.is_set()

    def stop_reason(self) -> str | None:
        """Why windows not yet loaded are missing, or None while the fetch may go on."""
        if self.cancelled:
            return "Cancelled before this window had loaded."
        if self.remaining_s() <= 0:
            return f"Not loaded within the fetch deadline of {self.deadline_s:g} s."
        return None


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
                raise _Stopped()
            sink(window, usage, totals)
            gate.written.add(window)
        return usage.iloc[:0], points

    gate = _SinkGate()
    done: dict[UsageWindow, pd.DataFrame] = {}
    return _run_windows(windows, fetch, done, progress, max_workers, control or FetchControl(), gate)


class _Stopped(Exception):
    """A window finished after the fetch was stopped: it is reported missing and not written."""


class _SinkGate:
    """Closed once the fetch stops; a window holding it finishes writing before the gate closes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.closed = False
        self.written: set[UsageWindow] = set()

    def __enter__(self) -> _SinkGate:
        self._lock.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self._lock.release()

    def close(self) -> None:
        with self._lock:
            self.closed = True


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
    failures = _run_windows(
        windows, lambda w: _fetch_window(conn, w, groupby), frames, progress, max_workers, control or FetchControl()
    )
    ordered = [frames[w] for w in windows if w in frames]
    return UsageResult(start, end, concat_usage(ordered), windows, failures)


def _run_windows(
    windows: list[UsageWindow],
    fetch: Callable[[UsageWindow], tuple[pd.DataFrame, int]],
    frames: dict[UsageWindow, pd.DataFrame],
    progress: ProgressCallback | None,
    max_workers: int,
    control: FetchControl,
    gate: _SinkGate | None = None,
) -> list[WindowFailure]:
    """Fetch every window into ``frames``; the failures, sorted, each logged without secrets.

    The first window is fetched alone: its size decides how many of the others may be in flight
    at once. Each batch gets a pool of exactly that many threads, so a large org's windows are all
    decoded on one thread, whose freed memory the next window reuses.
    """
    failures: list[WindowFailure] = []
    if progress:
        progress(0, len(windows))
    points = _fetch_batch(windows[:1], fetch, 1, frames, failures, progress, len(windows), control, gate)
    limit = _windows_in_flight(points, max_workers)
    _fetch_batch(windows[1:], fetch, limit, frames, failures, progress, len(windows), control, gate)
    for failure in failures:
        # Server-side trace of what the page or the CLI told the person (issue 10, item 11).
        log.warning("usage window %s not loaded: %s", failure.window.label(), redact(failure.message))
    return sorted(failures, key=lambda f: f.window)


def _fetch_batch(
    windows: list[UsageWindow],
    fetch: Callable[[UsageWindow], tuple[pd.DataFrame, int]],
    workers: int,
    frames: dict[UsageWindow, pd.DataFrame],
    failures: list[WindowFailure],
    progress: ProgressCallback | None,
    total: int,
    control: FetchControl,
    gate: _SinkGate | None,
) -> int | None:
    """Fetch ``windows`` with ``workers`` threads into ``frames``/``failures``; the first one's size.

    Waits no longer than the deadline and stops at a cancel: windows still in flight then are named
    as failed, and their threads are left to end on their own (their results are dropped).
    """
    if not windows:
        return None
    first_points = None
    pool = ThreadPoolExecutor(max_workers=max(1, min(workers, len(windows))))
    futures: dict[Future, UsageWindow] = {}
    for window in windows:
        futures[pool.submit(_unless_stopped, control, fetch, window)] = window
    pending = set(futures)
    try:
        while pending:
            reason = control.stop_reason()
            if reason is not None:
                if gate is not None:
                    gate.close()  # waits for a window being written; that one counts as loaded
                finished = {f for f in pending if f.done()}
                for future in pending - finished:
                    future.cancel()
                    window = futures[future]
                    if gate is not None and window in gate.written:
                        frames[window] = pd.DataFrame()
                    else:
                        failures.append(WindowFailure(window, reason))
                    _tick(progress, frames, failures, total)
                pending = set()
            else:
                timeout = min(0.25, max(0.01, control.remaining_s()))
                finished, pending = wait(pending, timeout=timeout, return_when=FIRST_COMPLETED)
            for future in finished:
                window = futures[future]
                try:
                    frames[window], points = future.result()
                    if window is windows[0]:
                        first_points = points
                except _Stopped:
                    failures.append(WindowFailure(window, control.stop_reason() or "Stopped."))
                except CreditLensError as exc:
                    failures.append(WindowFailure(window, str(exc)))
                _tick(progress, frames, failures, total)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return first_points


def _unless_stopped(control: FetchControl, fetch, window: UsageWindow):
    """A queued window does not start once the fetch has stopped."""
    if control.stop_reason() is not None:
        raise _Stopped()
    return fetch(window)


def _tick(progress: ProgressCallback | None, frames: dict, failures: list, total: int) -> None:
    if progress:
        progress(len(frames) + len(failures), total)


def _windows_in_flight(points: int | None, max_workers: int) -> int:
    """How many windows may be fetched at once, given the first reply's (row, bucket) count."""
    if points is None:  # the first window failed: no size to go by
        return max(1, max_workers)
    fit = DECODED_BUDGET_BYTES // max(1, points * DECODED_BYTES_PER_POINT)
    return max(1, min(max_workers, fit))


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
