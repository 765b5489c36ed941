"""The pages' data: per-identity cached loaders, the view, progress, and errors shown as one line.

Streamlit's caches are shared by every session of the process, so every loader is keyed by the
signed-in :class:`~creditlens.portal.Identity` (``portal URL|org id|username``, never a secret) and
by a per-identity *generation* counter. "Refresh data" bumps only that identity's generation.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
import traceback
from collections.abc import Iterator
from dataclasses import dataclass

import pandas as pd
import streamlit as st

from creditlens import dates, fetching, reports
from creditlens.errors import CreditLensError, redact
from creditlens.portal import PortalConnection
from creditlens.ui import state
from creditlens.ui.common import page_header, plain
from creditlens.ui.links import reserve_link_warnings
from creditlens.ui.state import View

log = logging.getLogger(__name__)

CACHE_TTL_S = 900
CACHE_ENTRIES = 64

SIGN_IN_HELP = (
    "Credit Lens shows who used your organization's ArcGIS Online credits, on what, and when, for any "
    "period of the last two years.\n\n"
    "Sign in with an administrator account, or one whose role may view credit usage. The password is "
    "used only to sign in: it is not stored, logged or put in the page address."
)
REFRESH_HELP = "Fetch this organization's data again (other people's cached data is not affected)."
REFRESH_SHARED_HELP = "Fetch the shared organization's data again (for everyone who uses this app)."


# -- per-identity generations ---------------------------------------------------------------------
_GEN_LOCK = threading.Lock()
_GENERATIONS: dict[str, int] = {}


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
    """The "Refresh data" callback: only this identity's cached data is fetched again."""
    bump_generation(identity_key)


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


# -- progress across windows ------------------------------------------------------------------------
_progress = threading.local()


def _report_progress(done: int, total: int) -> None:
    sink = getattr(_progress, "sink", None)
    if sink is not None:
        sink(done, total)


@contextlib.contextmanager
def _not_replayed() -> Iterator[bool]:
    """Let a progress bar update from inside a cached function without being recorded for replay.

    ``st.cache_data`` records elements drawn while it computes and replays them on a cache hit; a
    placeholder made outside the function cannot be replayed (CacheReplayClosureError, streamlit#10025).
    The bar is only meaningful while fetching, so we step outside the recording for it. If Streamlit's
    internals move, the bar is skipped (yields False) rather than risking a replay error.
    """
    try:
        from streamlit.runtime.scriptrunner_utils.script_run_context import in_cached_function
    except ImportError:  # pragma: no cover - a different Streamlit layout
        yield False
        return
    token = in_cached_function.set(False)
    try:
        yield True
    finally:
        in_cached_function.reset(token)


@contextlib.contextmanager
def _progress_bar(text: str) -> Iterator[None]:
    placeholder = st.empty()

    def update(done: int, total: int) -> None:
        with _not_replayed() as allowed:
            if allowed:
                fraction = done / total if total else 1.0
                placeholder.progress(fraction, text=f"{text}: {done} of {total} windows of up to 60 days")

    _progress.sink = update
    try:
        yield
    finally:
        _progress.sink = None
        placeholder.empty()


# -- cached loaders -----------------------------------------------------------------------------------
@st.cache_data(ttl=CACHE_TTL_S, max_entries=CACHE_ENTRIES, show_spinner=False)
def _members_cached(identity_key: str, generation: int, _conn: PortalConnection) -> pd.DataFrame:
    return fetching.fetch_members(_conn)


@st.cache_data(ttl=CACHE_TTL_S, max_entries=CACHE_ENTRIES, show_spinner=False)
def _usage_cached(
    identity_key: str, generation: int, start: dt.date, end: dt.date, _conn: PortalConnection
) -> fetching.UsageResult:
    return fetching.fetch_usage(_conn, start, end, progress=_report_progress)


@st.cache_data(ttl=CACHE_TTL_S, max_entries=CACHE_ENTRIES, show_spinner=False)
def _org_totals_cached(
    identity_key: str, generation: int, start: dt.date, end: dt.date, _conn: PortalConnection
) -> pd.DataFrame:
    return fetching.fetch_org_totals(_conn, start, end)


@st.cache_data(ttl=CACHE_TTL_S, max_entries=CACHE_ENTRIES, show_spinner=False)
def _leaderboard_cached(
    identity_key: str,
    generation: int,
    start: dt.date,
    end: dt.date,
    _usage: pd.DataFrame,
    _members: pd.DataFrame,
    org_id: str,
) -> pd.DataFrame:
    return reports.leaderboard(_usage, _members, org_id)


def load_members(conn: PortalConnection) -> pd.DataFrame:
    key = conn.identity.cache_key
    return _members_cached(key, generation(key), conn)


def load_usage(
    conn: PortalConnection, start: dt.date, end: dt.date, text: str = "Loading usage"
) -> fetching.UsageResult:
    """Usage for a range, from the identity's cache or fetched with a progress bar across windows."""
    key = conn.identity.cache_key
    with _progress_bar(text):
        return _usage_cached(key, generation(key), start, end, conn)


def load_org_totals(conn: PortalConnection, start: dt.date, end: dt.date) -> pd.DataFrame:
    key = conn.identity.cache_key
    return _org_totals_cached(key, generation(key), start, end, conn)


@dataclass
class PageData:
    view: View
    members: pd.DataFrame
    usage: fetching.UsageResult

    @property
    def frame(self) -> pd.DataFrame:
        return self.usage.frame

    @property
    def complete(self) -> bool:
        return self.usage.complete

    @property
    def warning(self) -> str | None:
        return self.usage.warning()

    @property
    def empty(self) -> bool:
        return self.usage.frame.empty

    def leaderboard(self) -> pd.DataFrame:
        key = self.view.identity_key
        return _leaderboard_cached(
            key, generation(key), self.view.start, self.view.end, self.frame, self.members, self.view.org_id
        )


def load_page_data(view: View) -> PageData:
    """Members and usage for the view; a load error is shown as one line and stops the page."""
    with friendly_errors("Could not load data from the organization"):
        members = load_members(view.conn)
        usage = load_usage(view.conn, view.start, view.end)
    return PageData(view, members, usage)


def open_data_page(title: str) -> tuple[View, PageData]:
    """The opening every data page shares: the view, its header, its data and any missing-windows notice."""
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
    """The previous period's usage for the comparison, or None with the reason it is missing."""
    start, end = reports.previous_period(view.start, view.end)
    if start < dates.oldest_day():
        return None, "The previous period reaches past the two years ArcGIS Online keeps."
    try:
        result = load_usage(view.conn, start, end, "Loading the previous period")
    except CreditLensError as exc:
        return None, f"The previous period could not be loaded: {exc}"
    if not result.complete:
        return None, "The previous period could not be loaded completely, so there is no comparison."
    return result.frame, None


def load_totals_check(data: PageData) -> reports.TotalsCheck:
    """ "per-user + unattributed = org total", the org total from a second, org-wide query."""
    org_totals = load_org_totals(data.view.conn, data.view.start, data.view.end)
    return reports.totals_check(data.frame, org_totals)


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
    """The missing-windows warning and a retry button, when the usage is incomplete."""
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
