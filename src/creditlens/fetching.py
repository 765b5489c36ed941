"""Fetching members and usage from a :class:`PortalConnection` into tidy frames.

Usage is fetched in windows of at most 60 UTC days, a few at a time. Each window is parsed as soon
as it lands and its decoded reply dropped, which bounds memory. A window that still fails after
one re-login (token expiry) and one retry is reported by its dates, never silently dropped.
``arcgis`` already retries 429/5xx five times per request, so our own retry is a single one.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from creditlens.errors import CreditLensError, PortalError, UsagePayloadError
from creditlens.portal import PortalConnection, usage_path
from creditlens.usage_parsing import concat_usage, parse_usage_reply
from creditlens.windows import UsageWindow, split_windows

log = logging.getLogger(__name__)

MEMBER_PAGE = 100
DEFAULT_WORKERS = 3
RETRY_PAUSE_S = 1.0

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
    for _ in range(100_000):  # a hard stop against a server that never says -1
        page = conn.post(path, {**params, "start": str(start), "num": str(MEMBER_PAGE)})
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
                "available_credits": _number(u.get("availableCredits")),
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
def usage_params(window: UsageWindow, groupby: str, variables: str = "credits,num") -> dict[str, str]:
    return {
        "startTime": str(window.start_ms),
        "endTime": str(window.end_ms),
        "period": "1d",
        "vars": variables,
        "groupby": groupby,
    }


def fetch_usage(
    conn: PortalConnection,
    start: dt.date,
    end: dt.date,
    progress: ProgressCallback | None = None,
    max_workers: int = DEFAULT_WORKERS,
) -> UsageResult:
    """Daily usage per (username, userOrgId, stype, etype) for ``start``..``end`` (UTC, inclusive)."""
    return _fetch_windows(conn, start, end, "username,userorgid,stype,etype", progress, max_workers)


def fetch_org_totals(
    conn: PortalConnection, start: dt.date, end: dt.date, max_workers: int = DEFAULT_WORKERS
) -> pd.DataFrame:
    """Org-wide credits and operations by stype, from a query that does not group by user."""
    result = _fetch_windows(conn, start, end, "stype", None, max_workers)
    if not result.complete:
        raise CreditLensError(result.warning())
    frame = result.frame
    totals = frame.groupby("stype", observed=True, as_index=False)[["credits", "num"]].sum()
    totals["stype"] = totals["stype"].astype(str)
    return totals.sort_values("credits", ascending=False, ignore_index=True)


def _fetch_windows(
    conn: PortalConnection,
    start: dt.date,
    end: dt.date,
    groupby: str,
    progress: ProgressCallback | None,
    max_workers: int,
) -> UsageResult:
    windows = split_windows(start, end)
    frames: dict[UsageWindow, pd.DataFrame] = {}
    failures: list[WindowFailure] = []
    done = 0
    if progress:
        progress(0, len(windows))
    with ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(windows)))) as pool:
        futures = {pool.submit(fetch_window, conn, w, groupby): w for w in windows}
        for future, window in futures.items():
            try:
                frames[window] = future.result()
            except CreditLensError as exc:
                failures.append(WindowFailure(window, str(exc)))
            done += 1
            if progress:
                progress(done, len(windows))
    ordered = [frames[w] for w in windows if w in frames]
    return UsageResult(start, end, concat_usage(ordered), windows, sorted(failures, key=lambda f: f.window))


def fetch_window(conn: PortalConnection, window: UsageWindow, groupby: str) -> pd.DataFrame:
    """One window: re-login once on token expiry, retry once on a transient fault."""
    params = usage_params(window, groupby)
    relogged = retried = False
    while True:
        try:
            return parse_usage_reply(conn.post(usage_path(conn), params), window)
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
