"""The app's charts as pure Altair specs (no Streamlit), so the app and the PDF summary draw the same ones.

Every chart takes a trend frame from :mod:`creditlens.reports` (buckets by :func:`reports.period_buckets`:
zero-filled, bounded by the range, partial and provisional buckets flagged) and returns an Altair chart
whose spec carries everything a reader needs, so its own PNG/SVG export does too: a title, a caption
line "org · range (UTC)", axis titles with units, fixed colours per service (:mod:`creditlens.services`),
ticks on the bucket edges (weeks on Mondays), and partial or provisional buckets drawn lighter with the
reason in the tooltip.
"""

from __future__ import annotations

import datetime as dt

import altair as alt
import numpy as np
import pandas as pd

from creditlens.reports import EVERYONE_ELSE, TREND_BUCKET_COLUMNS
from creditlens.services import OTHER_COLOR, service_color

#: Colours for people (who differ from range to range, so by rank); services have fixed ones.
PALETTE = (
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f",
    "#a0cbe8", "#ffbe7d", "#ff9d9a", "#86bcb6", "#8cd17d", "#f1ce63", "#d4a6c8", "#fabfd2", "#d7b5a6",
)  # fmt: skip
OTHER_SERVICES = "Other services"
MAX_SERVICES = 9  # services charted by name; the rest are summed as "Other services"
MAX_TOP_USERS = 15
#: How light a partial or provisional bucket is drawn.
FLAGGED_OPACITY = 0.4
FLAGGED_NOTE = "Lighter: partly outside the range, or still being counted."
#: ``height`` is the plot's own: the legend and titles come on top, so a long legend (a phone's two
#: columns) never squeezes the bars flat, which Streamlit's default "fit" autosize would do.
FIT_WIDTH = alt.AutoSizeParams(type="fit-x", contains="padding")
MAX_TICKS = 12

X_TITLES = {
    "hour": "Hour (UTC)",
    "day": "Day (UTC)",
    "week": "Week starting Monday (UTC)",
    "month": "Month (UTC)",
}
_TICK_FORMATS = {"hour": "%H:%M", "day": "%d %b", "week": "%d %b", "month": "%b %Y"}
_WHEN_FORMATS = {"hour": "%Y-%m-%d %H:%M", "day": "%a %Y-%m-%d", "week": "week of %Y-%m-%d", "month": "%B %Y"}
_ISO = "%Y-%m-%dT%H:%M:%SZ"
_STEPS = {
    "hour": pd.Timedelta(hours=1),
    "day": pd.DateOffset(days=1),
    "week": pd.DateOffset(days=7),
    "month": pd.DateOffset(months=1),
}
#: The legend wraps into fewer columns on a narrow (phone) chart instead of running off its edge.
_LEGEND_COLUMNS = alt.ExprRef("width < 520 ? 2 : (width < 900 ? 3 : 5)")
_LEGEND_LABEL_LIMIT = alt.ExprRef("width < 520 ? 115 : 220")


def chart_caption(org_name: str, start: dt.date, end: dt.date) -> str:
    """The caption line every chart carries: "org · range (UTC)"."""
    days = (end - start).days + 1
    span = start.isoformat() if start == end else f"{start.isoformat()} – {end.isoformat()}"
    return f"{org_name} · {span} (UTC, {days} day{'' if days == 1 else 's'})"


def chart_frame(trend: pd.DataFrame, granularity: str = "day") -> pd.DataFrame:
    """The trend with its times as ISO UTC strings (which Vega reads as UTC, never browser-local), a
    ``when`` label for tooltips and a ``flagged`` column for partial or provisional buckets."""
    out = trend.copy()
    if "period_end" not in out.columns:  # a trend not made by reports.period_buckets: whole periods
        out["period_end"] = pd.to_datetime(out["period"]) + _STEPS[granularity]
    for column in ("period", "period_end", "shown_start", "shown_end"):
        if column in out.columns:
            out[column] = pd.to_datetime(out[column]).dt.strftime(_ISO)
    periods = pd.to_datetime(trend["period"])
    when = periods.dt.strftime(_WHEN_FORMATS[granularity])
    note = trend["note"] if "note" in trend.columns else pd.Series("", index=trend.index)
    out["when"] = np.where(note != "", when + " (" + note + ")", when)
    flags = [c for c in ("partial", "provisional") if c in trend.columns]
    out["flagged"] = trend[flags].any(axis=1) if flags else False
    return out


def series_order(trend: pd.DataFrame, column: str, last: str | None = None) -> list[str]:
    """Series names from the largest total to the smallest (legend and stacking order); ``last`` goes last."""
    totals = (
        trend.groupby(column, observed=True, sort=False)["credits"].sum().sort_values(ascending=False, kind="stable")
    )
    names = [str(name) for name in totals.index]
    if last in names:
        names.remove(last)
        names.append(last)
    return names


def limit_series(trend: pd.DataFrame, column: str, keep: int, other: str) -> pd.DataFrame:
    """Keep the ``keep`` largest series of ``column`` and sum the rest as ``other`` (per bucket)."""
    order = series_order(trend, column)
    buckets = [c for c in TREND_BUCKET_COLUMNS if c in trend.columns]
    extra = ["stype"] if "stype" in trend.columns else []
    if len(order) <= keep + 1:
        return trend[[*buckets, column, *extra, "credits"]]
    names = trend[column].astype(str)
    kept = names.isin(order[:keep])
    frame = trend[[*buckets, "credits"]].copy()
    frame[column] = names.where(kept, other)
    for name in extra:
        frame[name] = trend[name].astype(str).where(kept, "")
    grouped = frame.groupby([*buckets, column, *extra], as_index=False, sort=False)["credits"].sum()
    return grouped[[*buckets, column, *extra, "credits"]]


def service_colors(trend: pd.DataFrame, order: list[str]) -> list[str]:
    """Each service's fixed colour (by its code), in ``order``; "Other services" grey."""
    codes = {}
    if "stype" in trend.columns:
        pairs = trend[["service", "stype"]].drop_duplicates("service")
        codes = dict(zip(pairs["service"].astype(str), pairs["stype"].astype(str), strict=True))
    return [OTHER_COLOR if name == OTHER_SERVICES else service_color(codes.get(name, name)) for name in order]


def _color(column: str, title: str, order: list[str], colors: list[str]) -> alt.Color:
    return alt.Color(
        f"{column}:N",
        title=title,
        sort=order,
        scale=alt.Scale(domain=order, range=colors),
        legend=alt.Legend(
            orient="bottom", columns=_LEGEND_COLUMNS, labelLimit=_LEGEND_LABEL_LIMIT, symbolType="square"
        ),
    )


def tick_values(trend: pd.DataFrame, granularity: str) -> list[dict]:
    """Tick positions on bucket edges inside the range, thinned to at most ``MAX_TICKS``, as Vega-Lite
    UTC DateTime objects (the browser's Vega ignores epoch numbers as temporal tick values).

    Weekly buckets start on Mondays, so do their ticks (Vega's own week ticks fall on Sundays); a
    long daily range ticks on Mondays too.
    """
    if trend.empty:
        return []
    first, stop = pd.to_datetime(trend["shown_start"]).min(), pd.to_datetime(trend["shown_end"]).max()
    edges = pd.DatetimeIndex(sorted(pd.to_datetime(trend["period"]).unique()))
    edges = edges[(edges >= first) & (edges < stop)]
    if granularity == "day" and len(edges) > 16:
        edges = edges[edges.weekday == 0]
    step = max(1, int(np.ceil(len(edges) / MAX_TICKS)))
    return [{"year": t.year, "month": t.month, "date": t.day, "hours": t.hour, "utc": True} for t in edges[::step]]


def tick_times(values: list[dict]) -> list[pd.Timestamp]:
    """The ticks of :func:`tick_values` as timestamps (naive UTC)."""
    return [pd.Timestamp(v["year"], v["month"], v["date"], v["hours"]) for v in values]


def _time_x(trend: pd.DataFrame, granularity: str) -> alt.X:
    """A UTC time axis bounded by the range, ticks on bucket edges; bars span ``shown_start``..``shown_end``."""
    domain = None
    if not trend.empty:
        first = pd.to_datetime(trend["shown_start"]).min().strftime(_ISO)
        stop = pd.to_datetime(trend["shown_end"]).max().strftime(_ISO)
        domain = [first, stop]
    fmt = _TICK_FORMATS[granularity]
    if granularity == "hour" and not trend.empty and pd.to_datetime(trend["period"]).dt.normalize().nunique() > 1:
        fmt = "%d %b %H:%M"
    return alt.X(
        "shown_start:T",
        title=X_TITLES[granularity],
        scale=alt.Scale(type="utc", domain=domain or alt.Undefined, nice=False),
        axis=alt.Axis(format=fmt, values=tick_values(trend, granularity), labelOverlap=True),
    )


def _tooltip(series: str, series_title: str) -> list[alt.Tooltip]:
    return [
        alt.Tooltip("when:N", title="When (UTC)"),
        alt.Tooltip(f"{series}:N", title=series_title),
        alt.Tooltip("credits:Q", title="Credits", format=",.2f"),
    ]


def _title(title: str, caption: str | None, flagged: bool) -> alt.TitleParams:
    lines = [caption] if caption else []
    if flagged:
        lines.append(FLAGGED_NOTE)
    return alt.TitleParams(text=title, subtitle=lines or alt.Undefined, anchor="start", subtitleColor="#555")


def service_chart_data(trend: pd.DataFrame) -> pd.DataFrame:
    """What the stacked chart draws: the largest services by name, the others summed."""
    return limit_series(trend, "service", MAX_SERVICES, OTHER_SERVICES)


def stacked_service_chart(
    trend: pd.DataFrame,
    granularity: str,
    height: int = 280,
    title: str = "Credits by service",
    caption: str | None = None,
) -> alt.Chart:
    """Stacked bars of credits per bucket and service (``trend`` from reports.service_trend)."""
    data = service_chart_data(trend)
    order = series_order(data, "service", last=OTHER_SERVICES)
    frame = stacked(chart_frame(data, granularity), "service", order)
    return (
        alt.Chart(frame, title=_title(title, caption, bool(frame["flagged"].any())))
        .mark_bar(stroke="white", strokeWidth=0.5)
        .encode(
            x=_time_x(data, granularity),
            x2="shown_end:T",
            # Stacked here, one row per bucket and service: Vega-Lite does not stack ranged (x/x2) bars,
            # and an aggregate would drop the field the opacity test reads.
            y=alt.Y("stack_top:Q", title="Credits", axis=alt.Axis(format=",.0f")),
            y2="stack_base:Q",
            color=_color("service", "Service", order, service_colors(data, order)),
            opacity=alt.condition("datum.flagged", alt.value(FLAGGED_OPACITY), alt.value(1.0)),
            tooltip=_tooltip("service", "Service"),
        )
        .properties(height=height, autosize=FIT_WIDTH)
    )


def stacked(frame: pd.DataFrame, column: str, order: list[str]) -> pd.DataFrame:
    """Each row's band in its bucket's stack (``stack_base``..``stack_top``), series in ``order`` from the
    bottom; the top of a bucket's stack is the bucket's total."""
    rank = {name: i for i, name in enumerate(order)}
    out = frame.assign(_rank=frame[column].astype(str).map(rank)).sort_values(["shown_start", "_rank"], kind="stable")
    out["stack_top"] = out.groupby("shown_start", sort=False)["credits"].cumsum()
    out["stack_base"] = out["stack_top"] - out["credits"]
    return out.drop(columns="_rank").reset_index(drop=True)


def user_line_chart(
    trend: pd.DataFrame,
    granularity: str,
    height: int = 280,
    title: str = "Credits of the top users",
    caption: str | None = None,
) -> alt.LayerChart:
    """One line per user (``trend`` from reports.user_trend, zero-filled), "Everyone else" in grey.

    Points sit at each bucket's start; partial or provisional buckets get hollow, lighter points.
    """
    order = series_order(trend, "user", last=EVERYONE_ELSE)
    colors = [OTHER_COLOR if name == EVERYONE_ELSE else PALETTE[i % len(PALETTE)] for i, name in enumerate(order)]
    frame = chart_frame(trend, granularity)
    base = alt.Chart(frame).encode(
        x=_time_x(trend, granularity),
        y=alt.Y("credits:Q", title="Credits", axis=alt.Axis(format=",.0f")),
        color=_color("user", "User", order, colors),
        tooltip=_tooltip("user", "User"),
    )
    line = base.mark_line(interpolate="linear")
    points = base.mark_point(filled=True, size=28).encode(
        opacity=alt.condition("datum.flagged", alt.value(FLAGGED_OPACITY), alt.value(1.0))
    )
    flagged = bool(frame["flagged"].any())
    return alt.layer(line, points).properties(height=height, autosize=FIT_WIDTH, title=_title(title, caption, flagged))
