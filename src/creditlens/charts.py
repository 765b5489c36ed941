"""The app's charts as pure Altair specs (no Streamlit), so the app and the PDF summary draw the same ones.

Every chart takes a trend frame from :mod:`creditlens.reports` and returns an ``alt.Chart``.
"""

from __future__ import annotations

import json

import altair as alt
import pandas as pd

from creditlens.reports import EVERYONE_ELSE

_TIME_UNITS = {"day": "utcyearmonthdate", "week": "utcyearmonthdate", "month": "utcyearmonth"}
_PERIOD_TITLES = {"day": "Day", "week": "Week of", "month": "Month"}
#: Tableau's strong colours, then their light variants (its greys left out): one hue per series.
PALETTE = (
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f",
    "#a0cbe8", "#ffbe7d", "#ff9d9a", "#86bcb6", "#8cd17d", "#f1ce63", "#d4a6c8", "#fabfd2", "#d7b5a6",
)  # fmt: skip
OTHER_COLOR = "#9d9d9d"
OTHER_SERVICES = "Other services"
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
