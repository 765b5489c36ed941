"""The chart specs (creditlens.charts): fixed colours, zero-filled and bounded data, partial buckets flagged,
hourly Today, and a title, caption and axis titles that travel with the chart into its exports."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from creditlens import charts, hourly
from creditlens import reports as R
from creditlens.fetching import fetch_usage
from creditlens.portal import connect_demo
from creditlens.services import OTHER_COLOR, SERVICE_COLORS

d = dt.date


@pytest.fixture(scope="module")
def conn(small_org):
    return connect_demo(org=small_org)


def usage_of(conn, start, end):
    return fetch_usage(conn, start, end).frame


def colour_map(chart) -> dict[str, str]:
    spec = chart.to_dict()
    layer = spec.get("layer", [spec])[0]
    encoding = {**spec.get("encoding", {}), **layer.get("encoding", {})}
    scale = encoding["color"]["scale"]
    return dict(zip(scale["domain"], scale["range"], strict=True))


def chart_rows(chart) -> pd.DataFrame:
    """The rows the chart draws (its inline data)."""
    return pd.DataFrame(chart.data)


def encoding_of(chart) -> dict:
    spec = chart.to_dict()
    layer = spec.get("layer", [spec])[0]
    return {**spec.get("encoding", {}), **layer.get("encoding", {})}


def test_the_same_service_gets_the_same_colour_in_two_ranges(conn, small_org):
    end = small_org.last_day
    ranges = [(end - dt.timedelta(days=6), end), (end - dt.timedelta(days=200), end - dt.timedelta(days=100))]
    maps = []
    for start, stop in ranges:
        trend = R.service_trend(usage_of(conn, start, stop), "day", start, stop)
        maps.append(colour_map(charts.stacked_service_chart(trend, "day")))
    orders = [list(m) for m in maps]
    assert orders[0] != orders[1]  # the services rank differently in the two ranges ...
    for name in set(maps[0]) & set(maps[1]):
        assert maps[0][name] == maps[1][name]  # ... but keep their colours
    assert maps[0]["Geocoding"] == SERVICE_COLORS["geocode"]
    if charts.OTHER_SERVICES in maps[0]:
        assert maps[0][charts.OTHER_SERVICES] == OTHER_COLOR


def test_chart_data_has_zeros_on_days_with_no_usage(conn, small_org):
    end = small_org.last_day
    start = end - dt.timedelta(days=29)
    usage = usage_of(conn, start, end)
    used = usage[usage["credits"] > 0]
    active_days = used.groupby(used["username"].astype(str), observed=True)["day"].nunique()
    sparse_user = active_days[active_days.index != ""].idxmin()  # someone who used credits on few days
    trend = R.member_trend(usage, sparse_user, "day", start, end)
    rows = chart_rows(charts.stacked_service_chart(trend, "day"))
    per_day = rows.groupby("shown_start")["credits"].sum()
    assert len(per_day) == 30
    assert (per_day == 0).any() and (per_day > 0).any()
    lines = chart_rows(charts.user_line_chart(R.user_trend(usage, "day", 3, start, end), "day"))
    assert lines.groupby("user").size().eq(30).all()  # every user has a point on every day
    assert (lines["credits"] == 0).any()


def test_partial_periods_are_flagged_in_the_chart_data(conn, small_org):
    end = small_org.last_day  # a Tuesday
    start = d(2026, 1, 15)  # a Thursday, mid-month
    usage = usage_of(conn, start, end)
    for granularity in ("week", "month"):
        chart = charts.stacked_service_chart(R.service_trend(usage, granularity, start, end), granularity)
        rows = chart_rows(chart)
        first = rows[rows["shown_start"] == rows["shown_start"].min()]
        assert first["flagged"].all() and first["when"].str.contains("partial").all()
        spec = chart.to_dict()
        assert spec["encoding"]["opacity"]["condition"]["test"] == "datum.flagged"
        assert "aggregate" not in spec["encoding"]["y"]  # an aggregate would drop the field the test reads
        tops = rows.groupby("shown_start")["stack_top"].max()
        assert tops.to_numpy() == pytest.approx(rows.groupby("shown_start")["credits"].sum().to_numpy())
        assert charts.FLAGGED_NOTE in spec["title"]["subtitle"]
    whole = charts.stacked_service_chart(R.service_trend(usage, "month", d(2026, 2, 1), d(2026, 5, 31)), "month")
    assert not chart_rows(whole)["flagged"].any()


def test_the_axis_is_bounded_by_the_range_and_weeks_tick_on_mondays(conn, small_org):
    end = small_org.last_day
    start = end - dt.timedelta(days=150)
    chart = charts.stacked_service_chart(R.service_trend(usage_of(conn, start, end), "week", start, end), "week")
    x = chart.to_dict()["encoding"]["x"]
    assert x["scale"]["domain"] == [f"{start}T00:00:00Z", f"{end + dt.timedelta(days=1)}T00:00:00Z"]
    ticks = pd.DatetimeIndex(charts.tick_times(x["axis"]["values"]))
    assert all(v["utc"] for v in x["axis"]["values"])
    assert len(ticks) > 3 and (ticks.weekday == 0).all()
    assert ticks.min() >= pd.Timestamp(start) and ticks.max() <= pd.Timestamp(end)
    days = charts.tick_values(R.period_buckets(start, end, "day"), "day")
    assert (pd.DatetimeIndex(charts.tick_times(days)).weekday == 0).all()


def test_a_today_chart_has_hourly_buckets():
    conn = connect_demo()
    today = dt.datetime.now(dt.UTC).date()
    frame = hourly.fetch_hourly(conn, today, today).frame
    now = dt.datetime.now(dt.UTC)
    chart = charts.stacked_service_chart(R.service_trend(frame, "hour", today, today, today=now), "hour")
    rows = chart_rows(chart)
    assert rows["shown_start"].nunique() == 24
    assert chart.to_dict()["encoding"]["x"]["title"] == "Hour (UTC)"
    flagged = rows.loc[rows["flagged"], "shown_start"].min()
    assert flagged == f"{today}T{now.hour:02d}:00:00Z"  # the hours not over yet are provisional


def test_every_chart_has_a_title_caption_and_axis_titles_with_units(conn, small_org):
    end = small_org.last_day
    start = end - dt.timedelta(days=20)
    usage = usage_of(conn, start, end)
    caption = charts.chart_caption(small_org.spec.name, start, end)
    assert caption == f"{small_org.spec.name} · {start} – {end} (UTC, 21 days)"
    built = [
        charts.stacked_service_chart(R.service_trend(usage, "day", start, end), "day", caption=caption),
        charts.user_line_chart(R.user_trend(usage, "day", 5, start, end), "day", caption=caption),
    ]
    for chart in built:
        spec = chart.to_dict()
        assert spec["title"]["text"] and spec["title"]["subtitle"][0] == caption
        encoding = encoding_of(chart)
        assert encoding["x"]["title"] == "Day (UTC)"
        assert encoding["y"]["title"] == "Credits"


def test_the_exported_svg_carries_the_title_and_caption(conn, small_org):
    vlc = pytest.importorskip("vl_convert", reason="vl-convert renders the spec as its export would")
    end = small_org.last_day
    start = end - dt.timedelta(days=6)
    caption = charts.chart_caption("Lakeside & Co", start, end)
    chart = charts.stacked_service_chart(
        R.service_trend(usage_of(conn, start, end), "day", start, end), "day", caption=caption
    )
    svg = vlc.vegalite_to_svg(chart.properties(width=600).to_json())
    assert "Credits by service" in svg and "Lakeside &amp; Co" in svg and "(UTC, 7 days)" in svg
    assert "Day (UTC)" in svg and ">Credits<" in svg
