"""The Streamlit glue: session-state keys, per-identity cached loaders, formatting and query params.

``app.py`` and the pages in ``app_pages/`` call this module; they hold no I/O and no arithmetic
of their own. Everything here that does not need a running Streamlit session is a pure function,
tested directly in ``tests/test_webapp.py``.

Caches: Streamlit's caches are shared by every session of the process, so every data loader is
keyed by the signed-in :class:`~creditlens.portal.Identity` (``portal URL|org id|username``, never
a secret) and by a per-identity *generation* counter. "Refresh data" bumps only that identity's
generation. Connections live in ``st.session_state`` only.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import logging
import math
import os
import threading
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from creditlens import dates, exporting, fetching, reports
from creditlens.errors import CreditLensError, redact
from creditlens.fake.demo_org import DemoOrg, OrgSpec, build_demo_org
from creditlens.portal import PortalConnection, connect, connect_demo
from creditlens.services import service_name

log = logging.getLogger(__name__)

# -- session-state keys ---------------------------------------------------------------------------
MODE_KEY = "cl_mode"
URL_KEY = "cl_portal_url"
USER_KEY = "cl_username"
PASSWORD_KEY = "cl_password"  # a widget key; emptied by the Connect callback, never holds a password after it
CONN_KEY = "cl_connection"  # the signed-in ArcGIS Online connection (session only, never a cache)
DEMO_CONN_KEY = "cl_demo_connection"
LOGIN_ERROR_KEY = "cl_login_error"
PRESET_KEY = "cl_preset"
CUSTOM_KEY = "cl_custom_range"
LAST_RANGE_KEY = "cl_last_valid_range"
VIEW_KEY = "cl_view"
QP_DONE_KEY = "cl_query_params_read"  # set of scopes ("app", page names) whose link params were applied
QP_WARNINGS_KEY = "cl_query_param_warnings"
GRANULARITY_KEY = "cl_granularity"
LB_STATUS_KEY, LB_ROLE_KEY, LB_TYPE_KEY = "lb_status", "lb_role", "lb_type"
LB_SERVICE_KEY, LB_MIN_KEY, LB_SEARCH_KEY = "lb_service", "lb_min_credits", "lb_search"
TOP_N_KEY, DRILL_KEY = "tr_top_n", "tr_user"

DEMO, ONLINE = "Demo organization", "ArcGIS Online"
CONNECTION_MODES = (DEMO, ONLINE)
CUSTOM_RANGE = "Custom range"
PRESET_OPTIONS = (*dates.PRESETS, CUSTOM_RANGE)
GRANULARITIES = ("auto", "day", "week", "month")

ENV_URL, ENV_USER, ENV_PASSWORD, ENV_CA = (
    "CREDITLENS_PORTAL_URL",
    "CREDITLENS_USERNAME",
    "CREDITLENS_PASSWORD",
    "CREDITLENS_CA_BUNDLE",
)

CACHE_TTL_S = 900
CACHE_ENTRIES = 64
INCOMPLETE_SUFFIX = "_INCOMPLETE"
EM_DASH = "—"


# -- environment ----------------------------------------------------------------------------------
@functools.cache
def load_env() -> None:
    """Read ``.env`` from the working directory (or a parent) once; real environment variables win."""
    from dotenv import find_dotenv, load_dotenv

    path = find_dotenv(usecwd=True)
    if path:
        load_dotenv(path, override=False)


@dataclass(frozen=True)
class EnvDefaults:
    portal_url: str
    username: str
    has_password: bool  # the password itself is read only at sign-in, never kept or shown
    ca_bundle: str | None


def env_defaults(environ: Mapping[str, str] | None = None) -> EnvDefaults:
    env = os.environ if environ is None else environ
    return EnvDefaults(
        portal_url=env.get(ENV_URL, "").strip(),
        username=env.get(ENV_USER, "").strip(),
        has_password=bool(env.get(ENV_PASSWORD)),
        ca_bundle=env.get(ENV_CA, "").strip() or None,
    )


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


# -- connections ----------------------------------------------------------------------------------
@st.cache_resource(max_entries=2, show_spinner="Building the demo organization…")
def demo_org(day_iso: str) -> DemoOrg:
    """The synthetic demo org ending on ``day_iso``: built once per process and day, it holds no secrets."""
    return build_demo_org(OrgSpec(end_day=dt.date.fromisoformat(day_iso)))


def demo_connection() -> PortalConnection:
    """This session's connection to today's demo org (cheap: the org itself is shared by the process)."""
    day = dates.utc_today().isoformat()
    kept = st.session_state.get(DEMO_CONN_KEY)
    if kept is None or kept[0] != day:
        kept = (day, connect_demo(org=demo_org(day)))
        st.session_state[DEMO_CONN_KEY] = kept
    return kept[1]


def sign_in(use_env: bool = True) -> None:
    """Connect-button callback: sign in, keep the connection, and empty the password field.

    The password (typed, or ``CREDITLENS_PASSWORD`` when the field is empty and ``use_env``) lives
    only in this function's locals: it is never stored in session state, logged or put in a URL.
    A team deployment passes ``use_env=False``: a visitor signing in with their own account must
    never fall back to an account configured on the server.
    """
    state = st.session_state
    password = state.get(PASSWORD_KEY) or (os.environ.get(ENV_PASSWORD, "") if use_env else "")
    state[PASSWORD_KEY] = ""
    state.pop(LOGIN_ERROR_KEY, None)
    try:
        conn = connect(
            str(state.get(URL_KEY) or ""),
            str(state.get(USER_KEY) or ""),
            password,
            ca_bundle=env_defaults().ca_bundle,
        )
    except CreditLensError as exc:
        state[LOGIN_ERROR_KEY] = str(exc)
        return
    except Exception as exc:  # never show a traceback, never log the message (it could echo input)
        log.warning("sign-in failed with %s", type(exc).__name__)
        state[LOGIN_ERROR_KEY] = f"Sign-in failed unexpectedly ({type(exc).__name__}). Check the address and try again."
        return
    state[CONN_KEY] = conn


def sign_out() -> None:
    st.session_state.pop(CONN_KEY, None)
    st.session_state.pop(LOGIN_ERROR_KEY, None)


def connection_status(conn: PortalConnection) -> str:
    """The sidebar's one-line status (markdown)."""
    who = conn.user.get("fullName") or conn.identity.username
    return f"**{conn.org_name}**  \nSigned in as {who} ({conn.identity.username})  \nOrg id `{conn.identity.org_id}`"


# -- dates ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RangeChoice:
    """The range the sidebar resolved to; ``start``/``end`` are None when there is nothing to show."""

    start: dt.date | None
    end: dt.date | None
    preset: str | None  # a PRESETS label, or None for a custom range
    error: str | None = None
    notice: str | None = None

    @property
    def ok(self) -> bool:
        return self.start is not None and self.end is not None


def resolve_range(
    preset: str,
    custom: object,
    today: dt.date | None = None,
    last_valid: tuple[dt.date, dt.date] | None = None,
) -> RangeChoice:
    """Turn the preset selectbox and the custom date input into a validated UTC range."""
    today = today or dates.utc_today()
    if preset in dates.PRESETS:
        start, end = dates.preset_range(preset, today)
        return RangeChoice(*dates.validate_range(start, end, today), preset)
    picked = dates.range_from_widget(custom, today)
    if picked is None:
        notice = "Pick an end date to finish the custom range."
        if last_valid is not None:
            return RangeChoice(last_valid[0], last_valid[1], None, notice=f"{notice} Showing the last range meanwhile.")
        return RangeChoice(None, None, None, notice=notice)
    try:
        start, end = dates.validate_range(picked[0], picked[1], today)
    except CreditLensError as exc:
        return RangeChoice(None, None, None, error=str(exc))
    return RangeChoice(start, end, None)


def custom_range_bounds(value: object, today: dt.date | None = None) -> tuple[dt.date, dt.date]:
    """A (start, end) the custom date input can show: inside retention and not after today."""
    today = today or dates.utc_today()
    low = dates.oldest_day(today)
    picked = dates.range_from_widget(value, today)
    if picked is None:
        return dates.preset_range(dates.DEFAULT_PRESET, today)
    start, end = (min(max(d, low), today) for d in picked)
    return start, end


def preset_slug(label: str) -> str:
    return label.lower().replace(" ", "-")


_SLUGS = {preset_slug(label): label for label in dates.PRESETS}


def range_query(choice: RangeChoice) -> dict[str, str]:
    """Query params that reopen this range: a preset by name, or start and end days."""
    if choice.preset:
        return {"range": preset_slug(choice.preset)}
    if choice.ok:
        return {"start": choice.start.isoformat(), "end": choice.end.isoformat()}
    return {}


def parse_range_query(
    params: Mapping[str, Any], today: dt.date | None = None
) -> tuple[str | None, tuple[dt.date, dt.date] | None, list[str]]:
    """(preset label, custom range, warnings) from a link's query params; invalid parts are ignored."""
    today = today or dates.utc_today()
    warnings: list[str] = []
    slug, start, end = (_one(params.get(k)) for k in ("range", "start", "end"))
    if start or end:
        if not (start and end):
            warnings.append("The link gives only one end of the date range, so it was ignored.")
        else:
            try:
                first = dates.parse_day(start, "start date")
                last = dates.parse_day(end, "end date")
                first, last = sorted((first, last))
                return CUSTOM_RANGE, dates.validate_range(first, last, today), warnings
            except CreditLensError as exc:
                warnings.append(f"The link's date range was ignored: {exc}")
    if slug:
        if slug in _SLUGS:
            return _SLUGS[slug], None, warnings
        warnings.append(f"The link's period '{slug}' is not one Credit Lens knows, so it was ignored.")
    return None, None, warnings


def _one(value: Any) -> str:
    if isinstance(value, list | tuple):
        value = value[-1] if value else ""
    return str(value or "").strip()


# -- the view every page reads --------------------------------------------------------------------
@dataclass(frozen=True)
class View:
    """Who is looking at which range: what app.py hands to the pages through session state."""

    conn: PortalConnection
    start: dt.date
    end: dt.date
    preset: str | None = None

    @property
    def identity_key(self) -> str:
        return self.conn.identity.cache_key

    @property
    def org_id(self) -> str:
        return self.conn.identity.org_id

    @property
    def label(self) -> str:
        return dates.range_label(self.start, self.end)


SIGN_IN_HELP = (
    "Credit Lens shows who used your organization's ArcGIS Online credits, on what, and when, for any "
    "period of the last two years.\n\n"
    "Sign in with an administrator account, or one whose role may view credit usage. The password is "
    "used only to sign in: it is not stored, logged or put in the page address."
)


def current_view() -> View | None:
    return st.session_state.get(VIEW_KEY)


def require_view() -> View:
    """The view, or an explanation and a stop when there is no connection or range yet."""
    view = current_view()
    if view is None:
        if st.session_state.get(MODE_KEY) == ONLINE and st.session_state.get(CONN_KEY) is None:
            st.title("Credit Lens")
            st.markdown(SIGN_IN_HELP)
            st.info("Sign in to your ArcGIS Online organization in the sidebar, or switch to the demo organization.")
        else:
            st.info("Choose a date range in the sidebar.")
        st.stop()
    return view


# -- cached loaders ---------------------------------------------------------------------------------
_progress = threading.local()


def _report_progress(done: int, total: int) -> None:
    sink = getattr(_progress, "sink", None)
    if sink is not None:
        sink(done, total)


@contextlib.contextmanager
def _not_replayed() -> Iterator[bool]:
    """Let a progress bar update from inside a cached function without being recorded for replay.

    ``st.cache_data`` records elements drawn while it computes and replays them on a cache hit; a
    placeholder made outside the function cannot be replayed (CacheReplayClosureError). The bar is
    only meaningful while fetching, so we step outside the recording for it. If Streamlit's internals
    move, the bar is skipped (yields False) rather than risking a replay error.
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
    view = require_view()
    page_header(title, view)
    data = load_page_data(view)
    incomplete_notice(data)
    return view, data


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


@contextlib.contextmanager
def friendly_errors(what: str) -> Iterator[None]:
    """Show a CreditLensError's message (safe by design) or a generic line, then stop; never a traceback."""
    try:
        yield
    except CreditLensError as exc:
        st.error(f"{what}: {exc}")
        st.stop()
    except Exception as exc:
        log_unexpected(what, exc)
        st.error(f"{what}: an unexpected error occurred ({type(exc).__name__}). Try **Refresh data**.")
        st.stop()


def log_unexpected(what: str, exc: BaseException) -> None:
    """Log an unexpected error for the operator, with token-like text scrubbed from the traceback."""
    text = "".join(traceback.format_exception(exc))
    log.error("%s: %s", what, redact(text))


# -- page furniture ---------------------------------------------------------------------------------
def page_header(title: str, view: View) -> None:
    st.title(title)
    st.caption(f"{view.conn.org_name} · {view.label} · All dates are UTC")
    show_link_warnings()


def incomplete_notice(data: PageData, key: str = "retry") -> None:
    """The missing-windows warning and a retry button, when the usage is incomplete."""
    if data.complete:
        return
    st.warning(data.warning, icon=":material/warning:")
    st.button(
        "Retry missing windows",
        key=key,
        icon=":material/refresh:",
        on_click=bump_generation,
        args=(data.view.identity_key,),
    )


def empty_notice(view: View) -> None:
    st.info(f"No credits were used in {view.label}. Pick a longer range in the sidebar.", icon=":material/info:")


# -- formatting -------------------------------------------------------------------------------------
def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float | np.floating) and math.isnan(value))


def fmt_credits(value: float | None) -> str:
    """Credits with thousands separators and two decimals; an em dash when unknown."""
    return EM_DASH if _missing(value) else f"{float(value):,.2f}"


def fmt_int(value: float | None) -> str:
    return EM_DASH if _missing(value) else f"{round(float(value)):,d}"


def fmt_pct(value: float | None, signed: bool = False) -> str:
    if _missing(value):
        return EM_DASH
    return f"{float(value):+,.1f}%" if signed else f"{float(value):,.1f}%"


def credits_column(label: str, help: str | None = None) -> Any:
    return st.column_config.NumberColumn(label, format="%,.2f", help=help)


def count_caption(shown: pd.DataFrame, total: pd.DataFrame, noun: str = "usernames") -> str:
    return f"Showing {len(shown):,d} of {len(total):,d} {noun}."


# -- overview -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Metric:
    label: str
    value: str
    delta: str | None = None
    help: str | None = None


def overview_metrics(
    kpis: reports.OverviewKpis, complete: bool = True, previous_note: str | None = None
) -> list[Metric]:
    """The four overview KPIs as display strings."""
    incomplete = " (incomplete)" if not complete else ""
    change = kpis.change_pct
    if kpis.previous_credits is None:
        compare = previous_note or "No previous period to compare with."
    else:
        compare = f"Previous period of equal length: {fmt_credits(kpis.previous_credits)} credits."
    return [
        Metric(
            f"Credits in range{incomplete}",
            fmt_credits(kpis.credits),
            None if change is None else f"{fmt_pct(change, signed=True)} vs previous period",
            compare,
        ),
        Metric(
            "Active members",
            fmt_int(kpis.active_members),
            None,
            "Members of the organization who used credits in the range.",
        ),
        Metric(
            f"Credits used by non-members{incomplete}",
            fmt_credits(kpis.non_member_credits),
            None,
            "Former members, users of other organizations, public accounts and unattributed usage. "
            "See the Reconciliation page.",
        ),
        Metric(
            "Available credits",
            fmt_credits(kpis.available_credits),
            None,
            "The organization's credit balance as ArcGIS Online reports it now, whatever the range.",
        ),
    ]


def overview_kpis(data: PageData, previous: pd.DataFrame | None) -> reports.OverviewKpis:
    available = data.view.conn.org.get("availableCredits")
    try:
        available = None if available is None else float(available)
    except (TypeError, ValueError):
        available = None
    return reports.overview_kpis(data.frame, previous, data.members, data.view.org_id, available)


def resolve_granularity(choice: str | None, start: dt.date, end: dt.date) -> str:
    """The chart granularity: the override, or automatic from the range length."""
    if choice in ("day", "week", "month"):
        return choice
    return reports.choose_granularity(start, end)


def granularity_label(choice: str, start: dt.date, end: dt.date) -> str:
    if choice == "auto":
        return f"Auto ({reports.choose_granularity(start, end)})"
    return choice.title()


TOP_COLUMNS = ["rank", "username", "full_name", "role", "user_type", "credits", "share_pct", "num", "top_service"]


def top_members(board: pd.DataFrame, n: int = 10) -> pd.DataFrame:
    """The ``n`` members (current members only) who used the most credits."""
    members = board[(board["status"] == reports.MEMBER) & (board["credits"] > 0)]
    top = members.head(n)[TOP_COLUMNS].reset_index(drop=True)
    top["rank"] = np.arange(1, len(top) + 1)
    return top


# -- charts -----------------------------------------------------------------------------------------
_TIME_UNITS = {"day": "utcyearmonthdate", "week": "utcyearmonthdate", "month": "utcyearmonth"}
_PERIOD_TITLES = {"day": "Day", "week": "Week of", "month": "Month"}
#: Tableau's strong colours, then their light variants (its greys left out): one hue per series.
PALETTE = (
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f",
    "#a0cbe8", "#ffbe7d", "#ff9d9a", "#86bcb6", "#8cd17d", "#f1ce63", "#d4a6c8", "#fabfd2", "#d7b5a6",
)  # fmt: skip
OTHER_COLOR = "#9d9d9d"
OTHER_SERVICES = "Other services"
EVERYONE_ELSE = "Everyone else"
MAX_SERVICES = 9  # services charted by name; the rest are summed as "Other services"
MAX_TOP_USERS = 15


_PERIOD_LENGTHS = {"day": pd.DateOffset(days=1), "week": pd.DateOffset(days=7), "month": pd.DateOffset(months=1)}


def chart_frame(trend: pd.DataFrame, granularity: str = "day") -> pd.DataFrame:
    """Periods (and where each ends) as ISO day strings, which Vega reads as UTC midnight.

    Naive datetimes would be read in the browser's time zone, shifting bars by a day west of UTC.
    """
    out = trend.copy()
    periods = pd.to_datetime(out["period"])
    out["period"] = periods.dt.strftime("%Y-%m-%d")
    out["period_end"] = (periods + _PERIOD_LENGTHS[granularity]).dt.strftime("%Y-%m-%d")
    return out


def series_order(trend: pd.DataFrame, column: str, last: str | None = None) -> list[str]:
    """Series names from the largest total to the smallest (legend and stacking order); ``last`` goes last."""
    totals = trend.groupby(column, observed=True)["credits"].sum().sort_values(ascending=False, kind="stable")
    names = [str(name) for name in totals.index]
    if last in names:
        names.remove(last)
        names.append(last)
    return names


def limit_series(trend: pd.DataFrame, column: str, keep: int, other: str) -> pd.DataFrame:
    """Keep the ``keep`` largest series of ``column`` and sum the rest as ``other`` (per period)."""
    order = series_order(trend, column)
    if len(order) <= keep + 1:
        return trend[["period", column, "credits"]]
    names = trend[column].astype(str)
    frame = pd.DataFrame(
        {"period": trend["period"], column: names.where(names.isin(order[:keep]), other), "credits": trend["credits"]}
    )
    return frame.groupby(["period", column], as_index=False, sort=False)["credits"].sum()


def _color(column: str, title: str, order: list[str], other: str, columns: int) -> alt.Color:
    colors = [OTHER_COLOR if name == other else PALETTE[i % len(PALETTE)] for i, name in enumerate(order)]
    return alt.Color(
        f"{column}:N",
        title=title,
        sort=order,
        scale=alt.Scale(domain=order, range=colors),
        legend=alt.Legend(orient="bottom", columns=columns, labelLimit=220),
    )


def _time_x(granularity: str) -> alt.X:
    """A UTC time axis; bars run from ``period`` to ``period_end`` so a week's bar is a week wide."""
    return alt.X(
        "period:T",
        title=None,
        scale=alt.Scale(type="utc"),
        axis=alt.Axis(format="%b %Y" if granularity == "month" else "%d %b", labelOverlap=True),
    )


def _tooltip(granularity: str, series: str, series_title: str) -> list[alt.Tooltip]:
    return [
        alt.Tooltip("period:T", timeUnit=_TIME_UNITS[granularity], title=_PERIOD_TITLES[granularity]),
        alt.Tooltip(f"{series}:N", title=series_title),
        alt.Tooltip("credits:Q", title="Credits", format=",.2f"),
    ]


def service_chart_data(trend: pd.DataFrame) -> pd.DataFrame:
    """What the stacked chart draws: the largest services by name, the others summed."""
    return limit_series(trend, "service", MAX_SERVICES, OTHER_SERVICES)


def stacked_service_chart(trend: pd.DataFrame, granularity: str, height: int = 360) -> alt.Chart:
    """Stacked bars of credits per period and service (``trend`` from reports.service_trend)."""
    data = service_chart_data(trend)
    order = series_order(data, "service", last=OTHER_SERVICES)
    return (
        alt.Chart(chart_frame(data, granularity))
        .mark_bar(stroke="white", strokeWidth=0.5)
        .encode(
            x=_time_x(granularity),
            x2="period_end:T",
            y=alt.Y("sum(credits):Q", title="Credits", axis=alt.Axis(format=",.0f")),
            color=_color("service", "Service", order, OTHER_SERVICES, 5),
            order=alt.Order("stack_rank:Q", sort="ascending"),
            tooltip=_tooltip(granularity, "service", "Service"),
        )
        .transform_calculate(stack_rank=f"indexof({json.dumps(order)}, datum.service)")
        .properties(height=height)
    )


def user_line_chart(trend: pd.DataFrame, granularity: str, height: int = 360) -> alt.Chart:
    """One line per user (``trend`` from reports.user_trend), "Everyone else" in grey."""
    order = series_order(trend, "user", last=EVERYONE_ELSE)
    return (
        alt.Chart(chart_frame(trend, granularity))
        .mark_line(point=True)
        .encode(
            x=_time_x(granularity),
            y=alt.Y("credits:Q", title="Credits", axis=alt.Axis(format=",.0f")),
            color=_color("user", "User", order, EVERYONE_ELSE, 4),
            tooltip=_tooltip(granularity, "user", "User"),
        )
        .properties(height=height)
    )


def service_trend_for(data: PageData, granularity: str) -> pd.DataFrame:
    return reports.service_trend(data.frame, granularity)


def user_trend_for(data: PageData, granularity: str, top_n: int) -> pd.DataFrame:
    return reports.user_trend(data.frame, granularity, top_n)


# -- leaderboard ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LeaderboardFilters:
    statuses: tuple[str, ...] = ()  # category codes (reports.CATEGORIES); empty = all
    roles: tuple[str, ...] = ()
    user_types: tuple[str, ...] = ()
    service: str | None = None  # a service column (human name): only users with credits in it
    min_credits: float = 0.0
    search: str = ""  # case-insensitive, in username or full name


def filter_leaderboard(board: pd.DataFrame, filters: LeaderboardFilters) -> pd.DataFrame:
    """The rows of ``reports.leaderboard`` that pass every filter, in the board's order."""
    keep = np.ones(len(board), dtype=bool)
    if filters.statuses:
        keep &= board["status"].isin(filters.statuses).to_numpy()
    if filters.roles:
        keep &= board["role"].isin(filters.roles).to_numpy()
    if filters.user_types:
        keep &= board["user_type"].isin(filters.user_types).to_numpy()
    if filters.service:
        if filters.service in board.columns:
            keep &= (board[filters.service] > 0).to_numpy()
        else:
            keep &= False
    if filters.min_credits and filters.min_credits > 0:
        keep &= (board["credits"] >= filters.min_credits).to_numpy()
    text = filters.search.strip().lower()
    if text:
        names = board["username"].astype(str).str.lower().str.contains(text, regex=False)
        full = board["full_name"].fillna("").astype(str).str.lower().str.contains(text, regex=False)
        keep &= (names | full).to_numpy()
    return board[keep].reset_index(drop=True)


_BOARD_FIXED = reports.LEADERBOARD_COLUMNS


def board_services(board: pd.DataFrame) -> list[str]:
    """The per-service credit columns of a leaderboard, largest first."""
    return [c for c in board.columns if c not in _BOARD_FIXED]


def sorted_options(values: Iterable[object]) -> list[str]:
    return sorted({str(v) for v in values if isinstance(v, str) and v})


def leaderboard_table(board: pd.DataFrame) -> pd.DataFrame:
    """What the leaderboard shows and downloads: status as its label, no internal org id column."""
    out = board.drop(columns=["user_org_id"])
    out["status"] = board["status"].map(reports.CATEGORY_LABELS).fillna(board["status"])
    for col in ("full_name", "role", "user_type"):
        out[col] = out[col].fillna("")
    return out


def leaderboard_column_config(services: Sequence[str]) -> dict[str, Any]:
    config: dict[str, Any] = {
        "rank": st.column_config.NumberColumn("#", format="%d", width=48, pinned=True),
        "username": st.column_config.TextColumn("Username", pinned=True),
        "full_name": st.column_config.TextColumn("Full name"),
        "status": st.column_config.TextColumn("Status", help="Member, or why a non-member appears in the usage"),
        "role": st.column_config.TextColumn("Role", width=110),
        "user_type": st.column_config.TextColumn("User type", width=110),
        "credits": credits_column("Credits", "Credits used in the range"),
        "share_pct": st.column_config.NumberColumn("Share", format="%.1f%%", help="Share of all credits in the range"),
        "num": st.column_config.NumberColumn("Operations", format="%,d", help="Requests, features or items counted"),
        "top_service": st.column_config.TextColumn("Top service"),
        "budget_used_pct": st.column_config.NumberColumn(
            "Budget used", format="%.0f%%", help="Share of the member's credit allocation used so far (all time)"
        ),
    }
    for name in services:
        config[name] = credits_column(name, f"Credits for {name}")
    return config


@dataclass(frozen=True)
class Download:
    label: str
    file_name: str
    mime: str
    make: Callable[[], bytes] = field(repr=False)


def downloads(
    table: pd.DataFrame, org_name: str, start: dt.date, end: dt.date, report: str, incomplete: str | None = None
) -> list[Download]:
    """CSV and XLSX of exactly ``table``; names end in ``_INCOMPLETE`` when ``incomplete`` is a warning."""
    name = f"{report}{INCOMPLETE_SUFFIX}" if incomplete else report
    frame = table.copy()
    return [
        Download(
            "Download CSV",
            exporting.export_filename(org_name, start, end, name, "csv"),
            "text/csv",
            lambda: exporting.to_csv_bytes(frame),
        ),
        Download(
            "Download Excel",
            exporting.export_filename(org_name, start, end, name, "xlsx"),
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            lambda: exporting.to_xlsx_bytes(frame, sheet=report.title(), note=incomplete),
        ),
    ]


def download_buttons(items: Sequence[Download], key: str) -> None:
    """Download buttons; files are made only when clicked (an XLSX of 10k rows takes seconds)."""
    row = st.container(horizontal=True)
    for n, item in enumerate(items):
        row.download_button(
            item.label,
            data=item.make,
            file_name=item.file_name,
            mime=item.mime,
            key=f"{key}_{n}",
            on_click="ignore",
            icon=":material/download:",
        )


# -- trends -----------------------------------------------------------------------------------------
def drilldown_options(board: pd.DataFrame) -> list[str]:
    """Usernames with credits in the range, most credits first (the drill-down choices)."""
    return board.loc[board["credits"] > 0, "username"].astype(str).tolist()


def drilldown_labels(board: pd.DataFrame) -> dict[str, str]:
    used = board[board["credits"] > 0]
    labels = {}
    for name, full, status, credits in zip(
        used["username"], used["full_name"].fillna(""), used["status"], used["credits"], strict=True
    ):
        who = f"{name} ({full})" if full else str(name)
        if status != reports.MEMBER:
            who = f"{who} · {reports.CATEGORY_LABELS.get(status, status)}"
        labels[str(name)] = f"{who} · {fmt_credits(credits)} credits"
    return labels


def member_trend(usage: pd.DataFrame, username: str, granularity: str) -> pd.DataFrame:
    """One username's credits per period and service (the drill-down chart's data)."""
    key = "" if username == reports.UNATTRIBUTED_LABEL else username
    rows = usage[usage["username"].astype(str) == key]
    return reports.service_trend(rows, granularity)


def member_rows(usage: pd.DataFrame, username: str) -> pd.DataFrame:
    """One username's tidy daily rows (the only raw rows the app shows)."""
    return reports.member_usage(usage, username)


MEMBER_ROWS_CONFIG = {
    "day": st.column_config.DateColumn("Day (UTC)", format="YYYY-MM-DD"),
    "service": st.column_config.TextColumn("Service"),
    "stype": st.column_config.TextColumn("Service code"),
    "etype": st.column_config.TextColumn("Usage type"),
    "credits": credits_column("Credits"),
    "num": st.column_config.NumberColumn("Operations", format="%,d"),
}


# -- reconciliation -----------------------------------------------------------------------------------
WHY_NON_MEMBERS = (
    "The usage report lists every credit charged to this organization by the username that caused it. "
    "Apps, notebooks and premium content shared by the organization can be used by people who are not in "
    "the member list today, and their credits are billed here too, so they appear in the report."
)


def category_table(rec: reports.Reconciliation) -> pd.DataFrame:
    """Per category: label, usernames and credits."""
    summary = rec.summary
    return pd.DataFrame(
        {
            "category": summary["label"].to_numpy(),
            "usernames": summary["usernames"].to_numpy(),
            "credits": summary["credits"].to_numpy(),
        }
    )


def category_help_markdown() -> str:
    """One plain-language line per category."""
    return "\n".join(f"- **{reports.CATEGORY_LABELS[c]}**: {reports.CATEGORY_HELP[c]}" for c in reports.CATEGORIES)


def non_member_table(rec: reports.Reconciliation) -> pd.DataFrame:
    table = rec.non_members
    return pd.DataFrame(
        {
            "username": table["username"].to_numpy(),
            "category": table["status"].map(reports.CATEGORY_LABELS).to_numpy(),
            "user_org_id": table["user_org_id"].to_numpy(),
            "credits": table["credits"].to_numpy(),
            "num": table["num"].to_numpy(),
        }
    )


def reconciliation_metrics(rec: reports.Reconciliation) -> list[Metric]:
    return [
        Metric(label, fmt_credits(credits), f"{fmt_int(count)} username{'s' if count != 1 else ''}", help=None)
        for label, count, credits in zip(
            rec.summary["label"], rec.summary["usernames"], rec.summary["credits"], strict=True
        )
    ]


def totals_line(check: reports.TotalsCheck) -> tuple[bool, str]:
    """(ok, sentence) for "per-user + unattributed = org total"."""
    parts = f"Per-user {fmt_credits(check.per_user)} + unattributed {fmt_credits(check.unattributed)}"
    if check.ok:
        return True, f"{parts} = org total {fmt_credits(check.org_total)} ✓"
    return False, (
        f"{parts} = {fmt_credits(check.per_user + check.unattributed)}, but the org total is "
        f"{fmt_credits(check.org_total)} (difference {fmt_credits(check.difference)})."
    )


def load_totals_check(data: PageData) -> reports.TotalsCheck:
    org_totals = load_org_totals(data.view.conn, data.view.start, data.view.end)
    return reports.totals_check(data.frame, org_totals)


# -- budgets ------------------------------------------------------------------------------------------
BUDGET_STATES = {"over": "Over allocation", "near": f"Near (≥{reports.NEAR_BUDGET_PCT:.0f}%)", "ok": "OK"}


def budgets_enabled(conn: PortalConnection) -> bool:
    return conn.org.get("creditAssignments") == "enabled"


def budget_table(status: pd.DataFrame) -> pd.DataFrame:
    out = status.copy()
    out["state"] = status["state"].map(BUDGET_STATES).fillna(status["state"])
    return out


def budget_alerts(status: pd.DataFrame) -> pd.DataFrame:
    """Members over or near (≥ 90 %) their allocation, most used first."""
    return budget_table(status[status["state"].isin(("over", "near"))].reset_index(drop=True))


def budget_metrics(status: pd.DataFrame) -> list[Metric]:
    over = int((status["state"] == "over").sum())
    near = int((status["state"] == "near").sum())
    return [
        Metric("Members with an allocation", fmt_int(len(status))),
        Metric("Over their allocation", fmt_int(over)),
        Metric(f"Near it (≥{reports.NEAR_BUDGET_PCT:.0f}%)", fmt_int(near)),
        Metric("Credits assigned", fmt_credits(float(status["assigned"].sum()))),
    ]


BUDGET_CONFIG = {
    "username": st.column_config.TextColumn("Username", pinned=True),
    "full_name": st.column_config.TextColumn("Full name"),
    "user_type": st.column_config.TextColumn("User type"),
    "assigned": credits_column("Assigned", "Credits allocated to the member"),
    "used": credits_column("Used", "Allocation used so far (assigned − available)"),
    "available": credits_column("Available", "Allocation left"),
    "used_pct": st.column_config.ProgressColumn("Used %", format="%.0f%%", min_value=0, max_value=100),
    "range_credits": credits_column("Credits in range", "Credits used in the selected range, storage excluded"),
    "state": st.column_config.TextColumn("State"),
}


# -- query params -------------------------------------------------------------------------------------
RANGE_PARAMS = ("range", "start", "end")


@dataclass(frozen=True)
class ParamSpec:
    """One link parameter bound to a widget's session-state key."""

    name: str
    key: str
    kind: str  # "list", "choice", "number", "int", "text"
    default: Any = None
    options: tuple[Any, ...] = ()
    low: float | None = None
    high: float | None = None
    what: str = ""  # how a warning names it

    def parse(self, raw: Any) -> tuple[Any, str | None]:
        """(value, None) or (None, warning) for a raw query-param value."""
        text = _one(raw)
        what = self.what or self.name
        if self.kind == "list":
            items = [s.strip() for s in text.split(",") if s.strip()]
            known = [s for s in items if s in self.options]
            unknown = [s for s in items if s not in self.options]
            warning = f"Ignored unknown {what} in the link: {', '.join(unknown)}." if unknown else None
            return (known or None), warning
        if self.kind == "choice":
            if text in self.options:
                return text, None
            return None, f"The link's {what} '{text}' is not available here, so it was ignored."
        if self.kind in ("number", "int"):
            try:
                number = float(text)
            except ValueError:
                return None, f"The link's {what} '{text}' is not a number, so it was ignored."
            if not math.isfinite(number) or (self.low is not None and number < self.low):
                return None, f"The link's {what} '{text}' is out of range, so it was ignored."
            if self.high is not None and number > self.high:
                return None, f"The link's {what} '{text}' is out of range, so it was ignored."
            return (int(number) if self.kind == "int" else number), None
        return (text[:200] or None), None

    def encode(self, value: Any) -> str | None:
        """The query-param text for a widget value, or None when it is the default (kept out of links)."""
        if value is None or value == self.default or value == [] or value == "":
            return None
        if self.kind == "list":
            return ",".join(str(v) for v in value)
        if self.kind == "number":
            return f"{float(value):g}"
        return str(value)


def parse_params(params: Mapping[str, Any], specs: Sequence[ParamSpec]) -> tuple[dict[str, Any], list[str]]:
    """Widget values (by session key) and warnings for the specs present in ``params``."""
    values: dict[str, Any] = {}
    warnings: list[str] = []
    for spec in specs:
        if spec.name not in params:
            continue
        value, warning = spec.parse(params[spec.name])
        if warning:
            warnings.append(warning)
        if value is not None:
            values[spec.key] = value
    return values, warnings


def encode_params(values: Mapping[str, Any], specs: Sequence[ParamSpec]) -> dict[str, str]:
    out = {}
    for spec in specs:
        text = spec.encode(values.get(spec.key))
        if text is not None:
            out[spec.name] = text
    return out


def merged_params(current: Mapping[str, str], wanted: Mapping[str, str], keep: Iterable[str]) -> dict[str, str]:
    """The query params to show: ``keep`` keys from ``current`` plus ``wanted``; all else is dropped."""
    kept = set(keep)
    out = {k: v for k, v in current.items() if k in kept}
    out.update({k: v for k, v in wanted.items() if v})
    return out


def _write_query_params(new: dict[str, str]) -> None:
    if st.query_params.to_dict() != new:
        st.query_params.from_dict(new)


def sync_app_params(choice: RangeChoice, page_keys: Iterable[str]) -> None:
    """The range in the URL, keeping only the current page's own parameters besides it."""
    if not choice.ok:
        return
    _write_query_params(merged_params(st.query_params.to_dict(), range_query(choice), page_keys))


def sync_page_params(specs: Sequence[ParamSpec]) -> None:
    """The page's widget values in the URL (defaults are left out), next to the range."""
    names = {s.name for s in specs}
    current = st.query_params.to_dict()
    keep = [k for k in current if k not in names]
    wanted = encode_params({s.key: st.session_state.get(s.key) for s in specs}, specs)
    _write_query_params(merged_params(current, wanted, keep))


def seed_from_link(scope: str, specs: Sequence[ParamSpec]) -> None:
    """Once per session and page: start the page's widgets from the link's query params."""
    done: set[str] = st.session_state.setdefault(QP_DONE_KEY, set())
    if scope in done:
        return
    done.add(scope)
    values, warnings = parse_params(st.query_params.to_dict(), specs)
    for key, value in values.items():
        st.session_state[key] = value
    add_link_warnings(warnings)
    show_link_warnings()


def add_link_warnings(warnings: Iterable[str]) -> None:
    st.session_state.setdefault(QP_WARNINGS_KEY, []).extend(warnings)


def show_link_warnings() -> None:
    warnings = st.session_state.pop(QP_WARNINGS_KEY, None)
    if warnings:
        st.warning("Parts of this link could not be used and were ignored:  \n" + "  \n".join(warnings), icon="🔗")


def keep_valid(key: str, options: Sequence[Any], default: Any) -> None:
    """Before a widget is drawn: drop a remembered value that is no longer among its options."""
    value = st.session_state.get(key, default)
    allowed = set(options)
    if isinstance(value, list):
        st.session_state[key] = [v for v in value if v in allowed]
    elif value is not None and value not in allowed:
        st.session_state[key] = default
    else:
        st.session_state[key] = value


def leaderboard_specs(board: pd.DataFrame, service_codes: Sequence[str]) -> list[ParamSpec]:
    return [
        ParamSpec("status", LB_STATUS_KEY, "list", [], tuple(reports.CATEGORIES), what="statuses"),
        ParamSpec("role", LB_ROLE_KEY, "list", [], tuple(sorted_options(board["role"])), what="roles"),
        ParamSpec("type", LB_TYPE_KEY, "list", [], tuple(sorted_options(board["user_type"])), what="user types"),
        ParamSpec("service", LB_SERVICE_KEY, "choice", None, tuple(service_codes), what="service"),
        ParamSpec("min", LB_MIN_KEY, "number", 0.0, low=0.0, what="minimum credits"),
        ParamSpec("q", LB_SEARCH_KEY, "text", "", what="search"),
    ]


def granularity_spec() -> ParamSpec:
    return ParamSpec("by", GRANULARITY_KEY, "choice", "auto", GRANULARITIES, what="chart granularity")


def trends_specs(users: Sequence[str], default_user: str | None) -> list[ParamSpec]:
    return [
        granularity_spec(),
        ParamSpec("top", TOP_N_KEY, "int", 5, low=1, high=MAX_TOP_USERS, what="number of top users"),
        ParamSpec("user", DRILL_KEY, "choice", default_user, tuple(users), what="user"),
    ]


#: The query params each page owns (besides the range), by url path.
PAGE_PARAMS: dict[str, tuple[str, ...]] = {
    "": ("by",),
    "leaderboard": ("status", "role", "type", "service", "min", "q"),
    "trends": ("by", "top", "user"),
    "reconciliation": (),
    "budgets": (),
}


def service_codes(usage: pd.DataFrame) -> list[str]:
    """Service codes present in the usage, most credits first."""
    if usage.empty:
        return []
    # Group the column itself: it is categorical, so this avoids one Python string per row on every rerun.
    totals = usage.groupby("stype", observed=True)["credits"].sum().sort_values(ascending=False)
    return [str(c) for c in totals.index]


def filters_from_state(state: Mapping[str, Any]) -> LeaderboardFilters:
    service = state.get(LB_SERVICE_KEY)
    return LeaderboardFilters(
        statuses=tuple(state.get(LB_STATUS_KEY) or ()),
        roles=tuple(state.get(LB_ROLE_KEY) or ()),
        user_types=tuple(state.get(LB_TYPE_KEY) or ()),
        service=service_name(service) if service else None,
        min_credits=float(state.get(LB_MIN_KEY) or 0.0),
        search=str(state.get(LB_SEARCH_KEY) or ""),
    )


def prepare_widgets(specs: Sequence[ParamSpec]) -> None:
    """Before drawing a page's widgets: defaults for new keys, stale options dropped."""
    for spec in specs:
        if spec.options or spec.kind in ("list", "choice"):
            keep_valid(spec.key, spec.options, spec.default)
        else:
            st.session_state.setdefault(spec.key, spec.default)


def seed_range_from_link(today: dt.date | None = None) -> None:
    """Once per session: the sidebar's period from the link (``range=`` or ``start=``/``end=``)."""
    done: set[str] = st.session_state.setdefault(QP_DONE_KEY, set())
    if "app" in done:
        return
    done.add("app")
    preset, custom, warnings = parse_range_query(st.query_params.to_dict(), today)
    if preset:
        st.session_state[PRESET_KEY] = preset
    if custom:
        st.session_state[CUSTOM_KEY] = custom
        st.session_state[LAST_RANGE_KEY] = custom
    add_link_warnings(warnings)


def custom_range_value(
    value: object, last_valid: tuple[dt.date, dt.date] | None, today: dt.date | None = None
) -> tuple[dt.date, dt.date] | None:
    """What to put in the custom date input before drawing it, or None to leave a half-picked value alone."""
    today = today or dates.utc_today()
    if value is None or value == ():
        return custom_range_bounds(last_valid, today) if last_valid else dates.preset_range(dates.DEFAULT_PRESET, today)
    if dates.range_from_widget(value, today) is None:
        return None  # one day picked so far: the person is still choosing
    return custom_range_bounds(value, today)


REFRESH_HELP = "Fetch this organization's data again (other people's cached data is not affected)."
REFRESH_SHARED_HELP = "Fetch the shared organization's data again (for everyone who uses this app)."


def refresh(identity_key: str) -> None:
    """The "Refresh data" callback: only this identity's cached data is fetched again."""
    bump_generation(identity_key)


def granularity_picker(view: View) -> str:
    """The day/week/month override (shared by the pages that chart over time); returns the granularity."""
    st.session_state.setdefault(GRANULARITY_KEY, "auto")
    choice = st.segmented_control(
        "Granularity",
        GRANULARITIES,
        key=GRANULARITY_KEY,
        persist_state="session",
        format_func=lambda g: granularity_label(g, view.start, view.end),
        required=True,
        label_visibility="collapsed",
    )
    return resolve_granularity(choice, view.start, view.end)


def show_totals_check(data: PageData) -> None:
    """ "per-user + unattributed = org total" from a second, org-wide query."""
    try:
        check = load_totals_check(data)
    except CreditLensError as exc:
        st.warning(f"The org-wide total could not be loaded, so the check was skipped: {exc}")
        return
    ok, text = totals_line(check)
    if ok:
        st.success(text, icon=":material/check_circle:")
    elif not data.complete:
        st.warning(f"{text} The per-user usage is incomplete, which explains a difference.")
    else:
        st.warning(text)
