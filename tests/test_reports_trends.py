"""The one rule for chart buckets: zero-filled, bounded by the range, partial and provisional flagged."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from creditlens import reports as R

d = dt.date


def usage(rows):
    frame = pd.DataFrame(rows, columns=["day", "username", "user_org_id", "stype", "etype", "credits", "num"])
    frame["day"] = pd.to_datetime(frame["day"])
    for col in ("username", "user_org_id", "stype", "etype"):
        frame[col] = frame[col].astype("category")
    return frame


# ann used geocoding on two days only, a week apart; bob used storage every day of the week after.
TWO_DAYS = usage(
    [
        ("2026-03-02", "ann", "ORG", "geocode", "geocodecnt", 10.0, 250),
        ("2026-03-09", "ann", "ORG", "geocode", "geocodecnt", 4.0, 100),
        *[(f"2026-03-{day:02d}", "bob", "ORG", "features", "stg", 0.5, 0) for day in range(10, 17)],
        ("2026-03-05", "", "", "geoenrich", "svcusg", 1.5, 3),
    ]
)


def test_days_with_no_usage_are_zero_not_missing():
    trend = R.service_trend(TWO_DAYS, "day", d(2026, 3, 1), d(2026, 3, 16))
    geocode = trend[trend["stype"] == "geocode"].set_index("period")["credits"]
    assert len(geocode) == 16  # every day of the range, not only the two with usage
    assert geocode[pd.Timestamp("2026-03-02")] == 10.0 and geocode[pd.Timestamp("2026-03-09")] == 4.0
    assert (geocode.drop([pd.Timestamp("2026-03-02"), pd.Timestamp("2026-03-09")]) == 0).all()
    assert set(trend["stype"]) == {"geocode", "features", "geoenrich"}
    assert trend.groupby("period").size().eq(3).all()  # every service on every day


def test_user_lines_drop_to_zero_between_usage_days():
    trend = R.user_trend(TWO_DAYS, "day", top_n=1, start=d(2026, 3, 1), end=d(2026, 3, 16))
    ann = trend[trend["user"] == "ann"].set_index("period")["credits"]
    between = ann[pd.Timestamp("2026-03-03") : pd.Timestamp("2026-03-08")]
    assert len(between) == 6 and (between == 0).all()
    assert set(trend["user"]) == {"ann", R.EVERYONE_ELSE}
    assert trend["credits"].sum() == pytest.approx(TWO_DAYS["credits"].sum())


def test_unattributed_in_the_top_is_named_and_everyone_else_only_when_there_is_someone_else():
    only_top = R.user_trend(TWO_DAYS, "week", top_n=3, start=d(2026, 3, 1), end=d(2026, 3, 16))
    assert set(only_top["user"]) == {"ann", "bob", R.UNATTRIBUTED_LABEL}


def test_partial_weeks_are_flagged_and_bounded_by_the_range():
    # 2026-03-04 is a Wednesday and 2026-03-17 a Tuesday: the first and last weeks are partial.
    trend = R.service_trend(TWO_DAYS, "week", d(2026, 3, 4), d(2026, 3, 17))
    weeks = trend.drop_duplicates("period").set_index("period")
    assert list(weeks.index) == [pd.Timestamp("2026-03-02"), pd.Timestamp("2026-03-09"), pd.Timestamp("2026-03-16")]
    assert (weeks.index.weekday == 0).all()  # weeks start on Mondays
    assert weeks["partial"].tolist() == [True, False, True]
    assert weeks["shown_start"].iloc[0] == pd.Timestamp("2026-03-04")  # not before the range
    assert weeks["shown_end"].iloc[-1] == pd.Timestamp("2026-03-18")  # not past it
    assert "partial" in weeks["note"].iloc[0] and "5 of 7 days" in weeks["note"].iloc[0]
    assert "2 of 7 days" in weeks["note"].iloc[-1] and weeks["note"].iloc[1] == ""
    # usage before the range (ann on 2026-03-02) is not counted in the clipped first week
    assert trend["credits"].sum() == pytest.approx(4.0 + 7 * 0.5 + 1.5)


def test_partial_months_are_flagged_and_whole_ones_are_not():
    buckets = R.period_buckets(d(2025, 12, 20), d(2026, 2, 10), "month")
    assert buckets["period"].dt.day.eq(1).all()
    assert buckets["partial"].tolist() == [True, False, True]
    assert buckets["note"].iloc[0] == "partial: 12 of 31 days in the range"
    assert buckets["shown_end"].iloc[-1] == pd.Timestamp("2026-02-11")


def test_a_bucket_reaching_into_today_is_provisional():
    buckets = R.period_buckets(d(2026, 11, 1), d(2026, 12, 1), "week", today=d(2026, 12, 1))
    assert buckets["provisional"].tolist() == [False] * (len(buckets) - 1) + [True]
    assert "provisional" in buckets["note"].iloc[-1]
    days = R.period_buckets(d(2026, 11, 25), d(2026, 12, 1), "day", today=d(2026, 12, 1))
    assert days["provisional"].sum() == 1 and bool(days["provisional"].iloc[-1])
    assert not days["partial"].any()


def test_hourly_buckets_cover_the_range_by_the_hour():
    buckets = R.period_buckets(d(2026, 12, 1), d(2026, 12, 1), "hour", today=d(2026, 12, 1))
    assert len(buckets) == 24 and buckets["provisional"].all() and not buckets["partial"].any()
    assert (buckets["period_end"] - buckets["period"]).eq(pd.Timedelta(hours=1)).all()
    two = R.period_buckets(d(2026, 11, 30), d(2026, 12, 1), "hour", today=d(2026, 12, 1))
    assert len(two) == 48 and two["provisional"].sum() == 24


def test_hourly_trend_needs_hourly_rows():
    with pytest.raises(ValueError, match="hourly"):
        R.service_trend(TWO_DAYS, "hour", d(2026, 3, 2), d(2026, 3, 2))


def test_hourly_rows_go_in_their_hour_and_add_up():
    hourly = TWO_DAYS[TWO_DAYS["day"] == pd.Timestamp("2026-03-02")].copy()
    hourly.insert(0, "hour", pd.to_datetime(["2026-03-02 13:00"]))
    trend = R.service_trend(hourly, "hour", d(2026, 3, 2), d(2026, 3, 2))
    assert len(trend) == 24
    assert trend.loc[trend["credits"] > 0, "period"].tolist() == [pd.Timestamp("2026-03-02 13:00")]
    daily = R.service_trend(hourly, "day", d(2026, 3, 2), d(2026, 3, 2))  # the same rows, by the day
    assert daily["credits"].tolist() == [10.0]


def test_every_credit_in_the_range_lands_in_exactly_one_bucket(small_org):
    from creditlens.fetching import fetch_usage
    from creditlens.portal import connect_demo

    start, end = d(2025, 7, 17), small_org.last_day  # starts on a Thursday, mid-month
    frame = fetch_usage(connect_demo(org=small_org), start, end).frame
    for granularity in ("day", "week", "month"):
        trend = R.service_trend(frame, granularity, start, end, today=end)
        assert trend["credits"].sum() == pytest.approx(frame["credits"].sum())
        buckets = trend.drop_duplicates("period")
        assert buckets["shown_start"].min() == pd.Timestamp(start)
        assert buckets["shown_end"].max() == pd.Timestamp(end + dt.timedelta(days=1))
        spans = buckets["shown_start"].iloc[1:].to_numpy() == buckets["shown_end"].iloc[:-1].to_numpy()
        assert np.all(spans)  # contiguous: no day lost or doubled
        assert bool(buckets["provisional"].iloc[-1])


def test_without_a_range_the_usage_sets_it():
    weekly = R.service_trend(TWO_DAYS, "week")
    assert weekly["period"].min() == pd.Timestamp("2026-03-02")
    assert weekly["shown_end"].max() == pd.Timestamp("2026-03-17")
    assert R.service_trend(TWO_DAYS.iloc[:0], "day").empty


def test_granularity_rules():
    assert R.choose_granularity(d(2026, 1, 1), d(2026, 1, 31)) == "day"
    assert R.choose_granularity(d(2026, 1, 1), d(2026, 6, 30)) == "week"
    assert R.choose_granularity(d(2025, 1, 1), d(2026, 6, 30)) == "month"
    assert R.resolve_granularity("hour", d(2026, 1, 1), d(2026, 1, 31)) == "day"  # hours only for short ranges
    assert R.resolve_granularity("hour", d(2026, 1, 1), d(2026, 1, 2)) == "hour"
    assert R.resolve_granularity("month", d(2026, 1, 1), d(2026, 1, 2)) == "month"
    assert R.resolve_granularity("auto", d(2026, 12, 1), d(2026, 12, 1)) == "hour"  # Today, by the hour
    assert R.resolve_granularity(None, d(2026, 11, 30), d(2026, 12, 1)) == "hour"
    assert R.resolve_granularity("auto", d(2026, 11, 29), d(2026, 12, 1)) == "day"
    with pytest.raises(ValueError):
        R.period_buckets(d(2026, 1, 1), d(2026, 1, 2), "fortnight")


def test_by_the_hour_only_the_hours_not_yet_over_are_provisional():
    now = dt.datetime(2026, 12, 1, 13, 20, tzinfo=dt.UTC)
    buckets = R.period_buckets(d(2026, 12, 1), d(2026, 12, 1), "hour", today=now)
    provisional = buckets.loc[buckets["provisional"], "period"]
    assert provisional.min() == pd.Timestamp("2026-12-01 13:00") and len(provisional) == 11
    days = R.period_buckets(d(2026, 11, 30), d(2026, 12, 1), "day", today=now)
    assert days["provisional"].tolist() == [False, True]
