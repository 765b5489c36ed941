"""The pages' data: every range read from the usage archive after asking it to ``ensure`` the range.

Data flows one way: portal → archive → reports → pages. The archive is a DuckDB file per org when
one is configured (``[creditlens] archive_dir`` in secrets, or ``CREDITLENS_ARCHIVE_DIR``), else an
in-memory one per identity; the demo org always uses one in memory.

Caches, all per identity (``portal URL|org id|username``, never a secret):

- what each ``ensure`` found (its failed windows give the reasons for missing days), per
  (identity, generation, range), for ``CACHE_TTL_S``: a page rerun does not fetch again, and
  "Refresh data" / "Retry" bump the identity's *generation*;
- a range read back (:class:`~creditlens.archive.ArchivedRange`), keyed by the archive's version
  and the missing days, so it can never outlive the data it was read from;
- the leaderboard, keyed the same way: a leaderboard built from an incomplete range is never shown
  for a complete one (issue 10, item 4a).

While a range is fetched the page shows a progress bar and a Cancel button, and nothing of the
previous run's page below them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import secrets
import threading
import traceback
from collections.abc import Iterator, Mapping

import pandas as pd
import streamlit as st

from creditlens import fetching, reports
from creditlens.archive import Archive, ArchivedRange, SyncReport, read_range
from creditlens.archive.memory import MEMORY_ARCHIVES
from creditlens.archive.sync import is_due, utc_now
from creditlens.errors import CreditLensError, redact
from creditlens.portal import PortalConnection
from creditlens.ui import state, syncing
from creditlens.ui.common import page_header, plain
from creditlens.ui.links import reserve_link_warnings
from creditlens.ui.state import View

log = logging.getLogger(__name__)

CACHE_TTL_S = 900
CACHE_ENTRIES = 64
ARCHIVE_DIR_ENV = "CREDITLENS_ARCHIVE_DIR"
#: A page visit fetches today again (provisional numbers) at most this often; Sync now always does.
TODAY_REFRESH = dt.timedelta(seconds=CACHE_TTL_S)
#: A page takes one member snapshot per UTC day (today's, if a sync has not taken it); Sync now takes a new one.
MEMBERS_REFRESH = dt.timedelta(days=1)

SIGN_IN_HELP = (
    "Credit Lens shows who used your organization's ArcGIS Online credits, on what, and when, for any "
    "period of the last two years.\n\n"
    "Sign in with an administrator account, or one whose role may view credit usage. The password is "
    "used only to sign in: it is not stored, logged or put in the page address."
)
REFRESH_HELP = "Fetch this organization's data again (other people's cached data is not affected)."
REFRESH_SHARED_HELP = "Fetch the shared organization's data again (for everyone who uses this app)."
SYNC_NOW_HELP = "Fetch the days ArcGIS Online may still revise (today and the last 3 days) into the archive now."
SYNC_BUSY_HELP = "A sync of this organization is running; Sync now is available again when it has finished."

# Session-state keys of this module
SYNC_NOTICE = "cl_sync_notice"  # the last Sync now's outcome, shown once


# -- per-identity generations ---------------------------------------------------------------------
_GEN_LOCK = threading.Lock()
_GENERATIONS: dict[str, int] = {}
_FORCED: set[str] = set()  # identities whose next ensure also refreshes today and the member list


def generation(identity_key: str) -> int:
    """The current data generation of one identity; part of every loader's cache key."""
    with _GEN_LOCK:
        return _GENERATIONS.get(identity_key, 0)


def bump_generation(identity_key: str) -> int:
    """Invalidate one identity's cached data (and no one else's); returns the new generation."""
    with _GEN_LOCK:
        _GENERATIONS[identity_key] = _GENERATIONS.get(identity_key, 0) + 1
        return _GENERATIONS[identity_key]


def refresh(identity_key: str) -> None:
    """The "Refresh data" callback: this identity's data is synced again, today included."""
    with _GEN_LOCK:
        _FORCED.add(identity_key)
    bump_generation(identity_key)


def forget_archives() -> None:
    """Drop every in-memory archive and what the syncs found (for tests, and a process's fresh start)."""
    MEMORY_ARCHIVES.clear()
    syncing.forget()


def _take_forced(identity_key: str) -> bool:
    with _GEN_LOCK:
        forced = identity_key in _FORCED
        _FORCED.discard(identity_key)
        return forced


# -- where the archive lives ------------------------------------------------------------------------
def configured_archive_dir(secrets_section: Mapping | None = None, environ: Mapping[str, str] | None = None) -> str:
    """``archive_dir`` of the ``[creditlens]`` secrets, else ``CREDITLENS_ARCHIVE_DIR``; "" for none."""
    section = secrets_section if secrets_section is not None else _secrets_section()
    value = str((section or {}).get("archive_dir") or "").strip()
    if not value:
        value = str((environ if environ is not None else os.environ).get(ARCHIVE_DIR_ENV) or "").strip()
    return value


def _secrets_section() -> Mapping:
    try:
        return dict(st.secrets.get("creditlens") or {})
    except Exception:  # no secrets file at all is the usual case
        return {}


@st.cache_data(show_spinner=False)
def _memory_epoch() -> str:
    """A token that changes whenever Streamlit's data caches are cleared: an in-memory archive is a
    cache too, so it goes with them."""
    return secrets.token_hex(8)


def archive_of(conn: PortalConnection) -> Archive:
    """The connection's archive: a file under the configured folder, else in memory per identity.

    The demo org is rebuilt every UTC day, so each day's demo gets its own in-memory archive.
    """
    identity = conn.identity
    if identity.portal_url.startswith("demo://"):
        return MEMORY_ARCHIVES.get(identity, variant=f"{_memory_epoch()}|{utc_now().date().isoformat()}")
    directory = configured_archive_dir()
    if directory:
        return Archive(identity.org_id, directory)
    return MEMORY_ARCHIVES.get(identity, variant=_memory_epoch())


# -- the view ---------------------------------------------------------------------------------------
def current_view() -> View | None:
    return st.session_state.get(state.VIEW)


def require_view() -> View:
    """The view, or an explanation and a stop when there is no connection or range yet."""
    view = current_view()
    if view is None:
        if st.session_state.get(state.MODE) == state.ONLINE and st.session_state.get(state.CONN) is None:
            st.title("Credit Lens")
            st.markdown(SIGN_IN_HELP)
            st.info("Sign in to your ArcGIS Online organization in the sidebar, or switch to the demo organization.")
        else:
            st.info("Choose a date range in the sidebar.")
        st.stop()
    return view


# -- syncing a range --------------------------------------------------------------------------------
def sync_range(conn: PortalConnection, start: dt.date, end: dt.date, text: str, force: bool = False) -> SyncReport:
    """Ask the archive to ensure the range: at most once per identity, generation and range per TTL."""
    identity_key = conn.identity.cache_key
    force = _take_forced(identity_key) or force
    key = (identity_key, generation(identity_key), archive_of(conn).in_memory and _memory_epoch(), start, end)
    previous = st.session_state.get(syncing.SYNC_JOB)
    if previous is not None and not previous.finished():
        if previous.key != key:
            previous.cancel.set()  # the range changed while it loaded: the new one comes first
        if previous.finished(timeout_s=10) and previous.report is not None:
            syncing.remember(previous.key, previous.report)
    recalled = None if force else syncing.recalled(key)
    if recalled is not None:
        return recalled
    archive = archive_of(conn)
    refresh_today = dt.timedelta(0) if force else TODAY_REFRESH
    members_age = dt.timedelta(0) if force else MEMBERS_REFRESH
    if not is_due(archive, start, end, refresh_today_after=refresh_today, members_max_age=members_age):
        report = SyncReport(start, min(end, utc_now().date()))
    else:
        report = syncing.sync_with_progress(archive, conn, key, start, end, text, refresh_today, members_age)
    syncing.remember(key, report)
    return report


# -- reading a range --------------------------------------------------------------------------------
def _missing_key(report: SyncReport) -> tuple:
    return tuple((f.window.start, f.window.end, f.message) for f in report.failures)


@st.cache_resource(ttl=CACHE_TTL_S, max_entries=CACHE_ENTRIES, show_spinner=False)
def _read_cached(
    identity_key: str,
    version: str,
    start: dt.date,
    end: dt.date,
    missing: tuple,
    with_members: bool,
    _archive: Archive,
    _sync: SyncReport,
) -> ArchivedRange:
    return read_range(_archive, start, end, sync=_sync, with_members=with_members)


def load_range(
    conn: PortalConnection, start: dt.date, end: dt.date, text: str = "Loading usage", with_members: bool = True
) -> ArchivedRange:
    """The range from the identity's archive, synced first (with a progress bar when it fetches)."""
    report = sync_range(conn, start, end, text)
    archive = archive_of(conn)
    key = conn.identity.cache_key
    return _read_cached(key, archive.version(), start, end, _missing_key(report), with_members, archive, report)


def data_key(data: ArchivedRange) -> tuple:
    """Exactly which data a range holds: the archive state it was read from, the range and its missing days."""
    missing = tuple((s.start, s.end, s.reason) for s in data.missing)
    return (data.state or data.archive.version(), data.start, data.end, missing)


def load_members(conn: PortalConnection) -> pd.DataFrame:
    """The latest member snapshot (today's range is synced first, which takes one when none is fresh)."""
    today = utc_now().date()
    return load_range(conn, today, today, "Loading members").members


def load_usage(
    conn: PortalConnection, start: dt.date, end: dt.date, text: str = "Loading usage"
) -> fetching.UsageResult:
    """Usage for a range, with each missing span named as a failure with its reason."""
    return load_range(conn, start, end, text).usage_result()


def load_org_totals(conn: PortalConnection, start: dt.date, end: dt.date) -> pd.DataFrame:
    """The org-wide totals by stype, archived beside the usage: the add-up check runs on them."""
    return load_range(conn, start, end).org_totals


class PageData:
    """What a data page shows: the view's members and usage, read from one archive state."""

    def __init__(
        self,
        view: View,
        members: pd.DataFrame,
        usage: fetching.UsageResult | None = None,
        archived: ArchivedRange | None = None,
    ) -> None:
        if usage is None and archived is None:
            raise ValueError("PageData needs the usage or the archived range")
        self.view, self.members, self.archived, self._usage = view, members, archived, usage

    @property
    def usage(self) -> fetching.UsageResult:
        if self._usage is None:
            assert self.archived is not None
            self._usage = self.archived.usage_result()
        return self._usage

    @property
    def frame(self) -> pd.DataFrame:
        """The tidy daily rows (trends and drill-downs need the days)."""
        return self.usage.frame

    @property
    def summary(self) -> pd.DataFrame:
        """The same usage summed per series over the range: enough for every report without days."""
        return self.archived.summary if self.archived is not None else self.usage.frame

    @property
    def complete(self) -> bool:
        return self.archived.complete if self.archived is not None else self.usage.complete

    @property
    def warning(self) -> str | None:
        return self.archived.warning() if self.archived is not None else self.usage.warning()

    @property
    def empty(self) -> bool:
        return self.summary.empty

    @property
    def key(self) -> tuple:
        """Exactly the data this page holds, completeness included: every derived cache's key."""
        if self.archived is not None:
            return data_key(self.archived)
        frame_hash = int(pd.util.hash_pandas_object(self.usage.frame, index=False).sum()) if len(self.frame) else 0
        members_hash = int(pd.util.hash_pandas_object(self.members.astype(str), index=False).sum())
        failures = tuple(f.describe() for f in self.usage.failures)
        return (self.view.start, self.view.end, frame_hash, members_hash, failures)

    def leaderboard(self) -> pd.DataFrame:
        return _leaderboard_cached(self.view.identity_key, self.key, self.summary, self.members, self.view.org_id)

    def org_totals(self) -> pd.DataFrame:
        """The org-wide totals by stype for the same range (archived beside the usage): the add-up check's side."""
        if self.archived is not None:
            return self.archived.org_totals
        return load_org_totals(self.view.conn, self.view.start, self.view.end)


@st.cache_data(ttl=CACHE_TTL_S, max_entries=CACHE_ENTRIES, show_spinner=False)
def _leaderboard_cached(
    identity_key: str, data_key: tuple, _usage: pd.DataFrame, _members: pd.DataFrame, org_id: str
) -> pd.DataFrame:
    return reports.leaderboard(_usage, _members, org_id)


def load_page_data(view: View) -> PageData:
    """Members and usage for the view; a load error is shown as one line and stops the page."""
    with friendly_errors("Could not load data from the organization"):
        archived = load_range(view.conn, view.start, view.end)
    archive_status(view, archived)
    return PageData(view, archived.members, archived=archived)


def open_data_page(title: str) -> tuple[View, PageData]:
    """The opening every data page shares: the view, its header, its data and any missing-days notice."""
    view = open_page(title)
    data = load_page_data(view)
    incomplete_notice(data)
    return view, data


def open_page(title: str) -> View:
    """The view and the page header, with a place under it for the link's warnings."""
    view = require_view()
    page_header(title, view)
    reserve_link_warnings()
    return view


def load_previous_usage(view: View) -> tuple[pd.DataFrame | None, str | None]:
    """The previous period's usage (summed per series) for the comparison, or None with the reason.

    The archive serves it even past ArcGIS Online's retention where it covers those days.
    """
    start, end = reports.previous_period(view.start, view.end)
    try:
        previous = load_range(view.conn, start, end, "Loading the previous period", with_members=False)
    except CreditLensError as exc:
        return None, f"The previous period could not be loaded: {exc}"
    if not previous.complete:
        return None, f"The previous period is not complete, so there is no comparison. {previous.warning()}"
    return previous.summary, None


# -- the archive's line on every data page ----------------------------------------------------------
def sync_now(view: View) -> None:
    """The Sync now callback: fetch the unsettled days of this range now (refused while a sync runs)."""
    archive = archive_of(view.conn)
    if archive.sync_running():
        st.session_state[SYNC_NOTICE] = SYNC_BUSY_HELP
        return
    refresh(view.identity_key)


def archive_status(view: View, archived: ArchivedRange) -> None:
    """ "History from <first day> · last synced <time> UTC" and the Sync now button, as plain text."""
    archive = archive_of(view.conn)
    busy = archive.sync_running()
    with st.container(horizontal=True, vertical_alignment="center"):
        st.caption(plain(archived.history_caption()))
        st.button(
            "Sync now",
            key="cl_sync_now",
            icon=":material/sync:",
            help=SYNC_BUSY_HELP if busy else SYNC_NOW_HELP,
            disabled=busy,
            on_click=sync_now,
            args=(view,),
        )
    notice = st.session_state.pop(SYNC_NOTICE, None)
    if notice:
        st.info(plain(notice), icon=":material/hourglass_top:")


# -- errors -------------------------------------------------------------------------------------------
@contextlib.contextmanager
def friendly_errors(what: str) -> Iterator[None]:
    """Show a CreditLensError's message as plain text, or a generic line, then stop; never a traceback."""
    try:
        yield
    except CreditLensError as exc:
        st.error(f"{what}: {plain(exc)}")
        st.stop()
    except Exception as exc:
        log_unexpected(what, exc)
        st.error(f"{what}: an unexpected error occurred ({type(exc).__name__}). Try **Refresh data**.")
        st.stop()


def log_unexpected(what: str, exc: BaseException) -> None:
    """Log an unexpected error for the operator, with token-like text scrubbed from the traceback."""
    text = "".join(traceback.format_exception(exc))
    log.error("%s: %s", what, redact(text))


def incomplete_notice(data: PageData, key: str = "retry") -> None:
    """The missing-days warning and a retry button, when the usage is incomplete."""
    if data.complete:
        return
    st.warning(plain(data.warning), icon=":material/warning:")
    st.button(
        "Retry missing windows",
        key=key,
        icon=":material/refresh:",
        on_click=bump_generation,
        args=(data.view.identity_key,),
    )
