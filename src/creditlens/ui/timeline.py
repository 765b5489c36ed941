"""What every chart over time draws: the view's range in buckets, by the hour for two days or less.

The trend functions (``reports.period_buckets``' rule) get the view's own range and the current UTC
time, so every chart is zero-filled, bounded by the range and marks what is partial or still being
counted. Hourly usage is a separate ``period=1h`` fetch (:mod:`creditlens.hourly`), cached per
identity like every other loader; if it cannot be loaded whole, the chart falls back to days and says so.
"""

from __future__ import annotations

import datetime as dt

import altair as alt
import pandas as pd
import streamlit as st

from creditlens import charts, fetching, hourly, reports
from creditlens.ui.common import plain
from creditlens.ui.data import CACHE_ENTRIES, CACHE_TTL_S, PageData, generation
from creditlens.ui.state import View


@st.cache_data(ttl=CACHE_TTL_S, max_entries=CACHE_ENTRIES, show_spinner=False)
def _hourly_cached(identity_key: str, generation: int, start: dt.date, end: dt.date, _conn) -> fetching.UsageResult:
    return hourly.fetch_hourly(_conn, start, end)


def load_hourly(view: View) -> fetching.UsageResult:
    key = view.identity_key
    return _hourly_cached(key, generation(key), view.start, view.end, view.conn)


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def caption(view: View) -> str:
    return charts.chart_caption(view.conn.org_name, view.start, view.end)


def is_provisional(view: View) -> bool:
    """Whether the range reaches into today (UTC), whose usage ArcGIS Online is still counting."""
    return view.end >= now_utc().date()


def chart_usage(data: PageData, granularity: str) -> tuple[pd.DataFrame, str]:
    """(usage to chart, granularity to chart it by): hourly rows for an hourly chart when they loaded whole."""
    if granularity != "hour":
        return data.frame, granularity
    result = load_hourly(data.view)
    if not result.complete:
        st.info(
            f"Hourly usage could not be loaded, so this chart shows days. {plain(result.warning())}",
            icon=":material/info:",
        )
        return data.frame, "day"
    return result.frame, "hour"


def service_trend(data: PageData, granularity: str) -> tuple[pd.DataFrame, str]:
    frame, by = chart_usage(data, granularity)
    view = data.view
    return reports.service_trend(frame, by, view.start, view.end, today=now_utc()), by


def user_trend(data: PageData, granularity: str, top_n: int) -> tuple[pd.DataFrame, str]:
    frame, by = chart_usage(data, granularity)
    view = data.view
    return reports.user_trend(frame, by, top_n, view.start, view.end, today=now_utc()), by


def member_trend(data: PageData, username: str, granularity: str) -> tuple[pd.DataFrame, str]:
    frame, by = chart_usage(data, granularity)
    view = data.view
    return reports.member_trend(frame, username, by, view.start, view.end, today=now_utc()), by


def service_chart(data: PageData, granularity: str, title: str = "Credits by service", height: int = 280) -> alt.Chart:
    trend, by = service_trend(data, granularity)
    return charts.stacked_service_chart(trend, by, height=height, title=title, caption=caption(data.view))


def user_chart(data: PageData, granularity: str, top_n: int) -> alt.LayerChart:
    trend, by = user_trend(data, granularity, top_n)
    title = f"Credits of the top {top_n} user{'' if top_n == 1 else 's'}"
    return charts.user_line_chart(trend, by, title=title, caption=caption(data.view))


def member_chart(data: PageData, username: str, granularity: str) -> alt.Chart:
    trend, by = member_trend(data, username, granularity)
    return charts.stacked_service_chart(
        trend, by, height=220, title=f"Credits of {username} by service", caption=caption(data.view)
    )
