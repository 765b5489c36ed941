"""The balance chart as a pure Altair spec: the past balance, the projection, and its interval shaded."""

from __future__ import annotations

import datetime as dt

import altair as alt
import pandas as pd

from creditlens.watch.forecast import Forecast

PAST, PROJECTED, BAND = "Balance so far", "Projected (expected)", "90 % interval"
_COLORS = {PAST: "#4e79a7", PROJECTED: "#f28e2b", BAND: "#f28e2b"}


def balance_chart_frame(forecast: Forecast, show_until: dt.date | None = None) -> pd.DataFrame:
    """Days as ISO strings (Vega reads them as UTC midnight) with balance, low, high and the series name."""
    frame = forecast.chart_frame()
    if show_until is not None:
        frame = frame[frame["day"] <= pd.Timestamp(show_until)]
    out = frame.assign(day=pd.to_datetime(frame["day"]).dt.strftime("%Y-%m-%d"))
    out["series"] = out["kind"].map({"past": PAST, "projected": PROJECTED})
    return out.reset_index(drop=True)


def chart_end(forecast: Forecast) -> dt.date:
    """Where the chart stops: a little after the latest run-out, else the projection's end."""
    p = forecast.projection
    if p.runout_latest is not None:
        return min(p.horizon_end, p.runout_latest + dt.timedelta(days=14))
    return p.horizon_end


def balance_chart(forecast: Forecast, height: int = 320) -> alt.LayerChart:
    """Balance past (solid) and projected (dashed) with the interval as a band, zero and the subscription's end."""
    frame = balance_chart_frame(forecast, chart_end(forecast))
    x = alt.X("day:T", title=None, scale=alt.Scale(type="utc"), axis=alt.Axis(format="%d %b %Y", labelAngle=0))
    y_scale = alt.Scale(domainMin=0)  # below zero is "run out": the chart stops there
    colors = alt.Scale(domain=[PAST, PROJECTED], range=[_COLORS[PAST], _COLORS[PROJECTED]])
    tooltip = [
        alt.Tooltip("day:T", title="Day (UTC)", format="%Y-%m-%d", timeUnit="utcyearmonthdate"),
        alt.Tooltip("balance:Q", title="Balance", format=",.0f"),
        alt.Tooltip("low:Q", title="Low (90 %)", format=",.0f"),
        alt.Tooltip("high:Q", title="High (90 %)", format=",.0f"),
    ]
    base = alt.Chart(frame)
    band = (
        base.transform_filter(alt.datum.series == PROJECTED)
        .mark_area(opacity=0.18, color=_COLORS[BAND], clip=True)
        .encode(x=x, y=alt.Y("low:Q", title="Available credits", scale=y_scale), y2="high:Q")
    )
    lines = base.mark_line(strokeWidth=2, clip=True).encode(
        x=x,
        y=alt.Y("balance:Q", title="Available credits", axis=alt.Axis(format=",.0f"), scale=y_scale),
        color=alt.Color("series:N", title=None, scale=colors, legend=alt.Legend(orient="bottom")),
        strokeDash=alt.condition(alt.datum.series == PROJECTED, alt.value([6, 4]), alt.value([1, 0])),
        tooltip=tooltip,
    )
    zero = alt.Chart(pd.DataFrame({"y": [0.0]})).mark_rule(color="#e15759", strokeWidth=1).encode(y="y:Q")
    layers = [band, lines, zero]
    expires = forecast.projection.expires
    if expires is not None and pd.Timestamp(expires) <= pd.Timestamp(chart_end(forecast)):
        marker = pd.DataFrame({"day": [expires.isoformat()], "label": ["Subscription ends"]})
        rule = alt.Chart(marker).mark_rule(color="#7f7f7f", strokeDash=[2, 2]).encode(x=x)
        text = (
            alt.Chart(marker)
            .mark_text(align="right", dx=-4, dy=8, baseline="top", color="#7f7f7f")
            .encode(x=x, y=alt.value(0), text="label:N")
        )
        layers += [rule, text]
    return alt.layer(*layers).properties(height=height)
