"""Hourly usage for short ranges: the real ``arcgis`` client against the HTTPS emulator, and the demo."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from creditlens import hourly
from creditlens import reports as R
from creditlens.errors import UsagePayloadError
from creditlens.fetching import fetch_usage
from creditlens.portal import connect, connect_demo
from creditlens.windows import UsageWindow, day_to_ms

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def emulator(small_org, emulator_factory):
    return emulator_factory([small_org])


@pytest.fixture(scope="module")
def admin(emulator, small_org):
    name = small_org.admin_username
    return connect(emulator.url, name, small_org.passwords[name], ca_bundle=emulator.ca_bundle)


def test_two_days_by_the_hour_through_arcgis_add_up_to_the_daily_numbers(admin, emulator, small_org):
    end = small_org.last_day
    start = end - dt.timedelta(days=1)
    emulator.requests.clear()
    result = hourly.fetch_hourly(admin, start, end)
    assert result.complete and not result.frame.empty
    sent = [r["params"] for r in emulator.requests if r["path"].endswith("/usage") and r["params"]["period"] == "1h"]
    assert [int(p["startTime"]) for p in sent] == [day_to_ms(start), day_to_ms(end)]  # one request per UTC day
    daily = fetch_usage(admin, start, end).frame
    assert result.frame["credits"].sum() == pytest.approx(daily["credits"].sum())
    assert result.frame["num"].sum() == daily["num"].sum()
    assert result.frame["hour"].dt.minute.eq(0).all()
    trend = R.service_trend(result.frame, "hour", start, end, today=end)
    assert trend["period"].nunique() == 48
    assert trend["credits"].sum() == pytest.approx(daily["credits"].sum())
    assert trend.loc[trend["period"] >= pd.Timestamp(end), "provisional"].all()


def test_a_day_that_fails_is_named_not_dropped(admin, emulator, small_org):
    end = small_org.last_day
    emulator.faults.add("malformed_json", times=None, when=lambda p: p.get("period") == "1h")
    try:
        result = hourly.fetch_hourly(admin, end - dt.timedelta(days=1), end)
    finally:
        emulator.faults.clear()
    assert not result.complete
    assert [w.start for w in result.missing_windows] == [end - dt.timedelta(days=1), end]
    assert "2 of 2 windows" in result.warning()


def test_today_in_the_demo_is_hourly_and_matches_the_day():
    conn = connect_demo()
    today = dt.datetime.now(dt.UTC).date()
    result = hourly.fetch_hourly(conn, today, today)
    daily = fetch_usage(conn, today, today).frame
    assert result.frame["day"].eq(pd.Timestamp(today)).all()
    assert result.frame["hour"].nunique() > 1
    assert result.frame["credits"].sum() == pytest.approx(daily["credits"].sum())


def test_longer_ranges_are_refused():
    with pytest.raises(ValueError):
        hourly.fetch_hourly(connect_demo(), dt.date(2026, 1, 1), dt.date(2026, 1, 3))


WINDOW = UsageWindow(dt.date(2026, 3, 2), dt.date(2026, 3, 2))
HOUR = 3_600_000


def reply(rows, period="1h"):
    return {
        "startTime": day_to_ms(WINDOW.start),
        "endTime": day_to_ms(WINDOW.start) + 24 * HOUR,
        "period": period,
        "data": rows,
    }


def test_parsing_keeps_keys_and_hours_and_drops_zeros_and_other_days():
    t0 = day_to_ms(WINDOW.start)
    rows = [
        {
            "username": "ann",
            "userOrgId": "ORG",
            "stype": "geocode",
            "etype": "geocodecnt",
            "credits": [[str(t0), "0.0"], [str(t0 + 5 * HOUR), "2.0E-4"], [str(t0 + 24 * HOUR), "9.0"]],
            "num": [[str(t0), "0"], [str(t0 + 5 * HOUR), "5"], [str(t0 + 24 * HOUR), "1"]],
        },
        {"stype": "geoenrich", "etype": "svcusg", "credits": [[str(t0 + HOUR), "1.5"]]},
    ]
    frame = hourly.parse_hourly_reply(reply(rows), WINDOW)
    assert frame["hour"].tolist() == [pd.Timestamp("2026-03-02 01:00"), pd.Timestamp("2026-03-02 05:00")]
    assert frame["username"].tolist() == ["", "ann"] and frame["user_org_id"].tolist() == ["", "ORG"]
    assert frame["credits"].tolist() == [1.5, 0.0002] and frame["num"].tolist() == [0, 5]


@pytest.mark.parametrize(
    "payload",
    [
        reply([{"credits": [["x", "1"]]}]),
        reply([{"credits": [[str(day_to_ms(WINDOW.start)), "twelve"]]}]),
        reply([{"credits": "lots"}]),
        reply([{"credits": [[str(day_to_ms(WINDOW.start) + 60_000), "1"]]}]),
        reply([], period="1d"),
        {"error": {"code": 500, "message": "boom"}},
    ],
)
def test_unreadable_hourly_replies_raise_a_clear_error(payload):
    with pytest.raises(UsagePayloadError):
        hourly.parse_hourly_reply(payload, WINDOW)
