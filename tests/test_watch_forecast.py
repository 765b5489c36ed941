"""The forecast on synthetic histories whose burn rate (and so run-out date) is known."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from creditlens.watch import forecast as F

AS_OF = dt.date(2026, 6, 30)
WEEKDAY_RATE = np.array([128.0, 128.0, 128.0, 128.0, 128.0, 30.0, 30.0])  # Mon..Sun: 700 a week


def synthetic_burn(seed: int, days: int = 90, noise: float = 20.0) -> pd.Series:
    index = pd.date_range(end=pd.Timestamp(AS_OF), periods=days, freq="D")
    rng = np.random.default_rng(seed)
    values = WEEKDAY_RATE[index.weekday] + rng.normal(0, noise, days)
    return pd.Series(np.clip(values, 0, None), index=index)


def true_runout(balance: float) -> dt.date:
    day, left = AS_OF, balance
    while left > 0:
        day += dt.timedelta(days=1)
        left -= WEEKDAY_RATE[day.weekday()]
    return day


def tidy(burn: pd.Series, today_credits: float = 0.0) -> pd.DataFrame:
    """A tidy usage frame with the burn split over two members and one service."""
    days = list(burn.index) * 2 + [pd.Timestamp(AS_OF + dt.timedelta(days=1))]
    credits = list(burn.to_numpy() * 0.25) + list(burn.to_numpy() * 0.75) + [today_credits]
    n = len(days)
    return pd.DataFrame(
        {
            "day": pd.to_datetime(days),
            "username": ["ana"] * len(burn) + ["bo"] * len(burn) + ["ana"],
            "user_org_id": ["org1"] * n,
            "stype": ["geocode"] * n,
            "etype": ["geocodecnt"] * n,
            "credits": credits,
            "num": [1] * n,
        }
    )


def test_run_out_date_of_a_known_slope_is_inside_the_stated_interval():
    p = F.project(5000.0, synthetic_burn(seed=1))
    truth = true_runout(5000.0)
    assert p.outcome == F.RUNS_OUT
    assert p.runout_earliest <= truth <= p.runout_latest
    assert abs((p.runout - truth).days) <= 7
    assert p.runout_earliest < p.runout < p.runout_latest
    assert p.mean_daily_burn == pytest.approx(100, rel=0.05)
    assert "Runs out around" in p.describe() and p.runout.isoformat() in p.describe()


def test_the_interval_is_honest_over_many_histories():
    """A 90 % interval must hold the true date in about 90 % of histories, not 50 %."""
    truth = true_runout(8000.0)
    inside = [
        F.project(8000.0, synthetic_burn(seed)).runout_earliest
        <= truth
        <= F.project(8000.0, synthetic_burn(seed)).runout_latest
        for seed in range(60)
    ]
    assert sum(inside) >= 51  # 85 %


def test_weekday_seasonality_and_a_widening_band():
    p = F.project(50_000.0, synthetic_burn(seed=2))
    burned = -np.diff(np.concatenate([[p.balance], p.expected]))
    weekend = burned[p.days.weekday >= 5].mean()
    weekdays = burned[p.days.weekday < 5].mean()
    assert weekend < weekdays / 2
    width = p.high - p.low
    assert np.all(np.diff(width) >= -1e-9) and width[-1] > width[0]
    assert np.all(p.low <= p.expected + 1e-9) and np.all(p.expected <= p.high + 1e-9)


def test_a_subscription_that_ends_first_is_said_so():
    expires = AS_OF + dt.timedelta(days=20)
    p = F.project(5000.0, synthetic_burn(seed=3), expires=expires)
    assert p.outcome == F.AFTER_EXPIRY
    assert p.runout is None
    assert p.describe() == f"Not before the subscription ends ({expires.isoformat()})."
    assert p.days[-1].date() == expires


def test_no_burn_and_used_up():
    idle = pd.Series(0.0, index=pd.date_range(end=pd.Timestamp(AS_OF), periods=90, freq="D"))
    assert F.project(100.0, idle).outcome == F.NO_BURN
    assert F.project(100.0, synthetic_burn(4), balance_now=-3.0).outcome == F.USED_UP


def test_org_forecast_rebuilds_the_past_balance_from_the_burn():
    burn = synthetic_burn(seed=5)
    usage = tidy(burn, today_credits=40.0)
    f = F.org_forecast(usage, balance_now=9000.0, as_of=AS_OF, expires=None, complete=False)
    assert not f.complete
    assert f.projection.balance == pytest.approx(9040.0)  # end of yesterday: today's use added back
    assert f.history["balance"].iloc[-1] == pytest.approx(9040.0)
    assert f.history["balance"].iloc[0] == pytest.approx(9040.0 + burn.iloc[1:].sum())
    assert len(f.history) == 90 and f.history["day"].iloc[-1] == pd.Timestamp(AS_OF)
    chart = f.chart_frame()
    assert set(chart["kind"]) == {"past", "projected"}
    assert chart.loc[chart["kind"] == "projected", "day"].min() == pd.Timestamp(AS_OF)


def test_member_forecast_uses_the_members_own_transaction_burn():
    burn = synthetic_burn(seed=6)
    usage = tidy(burn)
    members = pd.DataFrame(
        {
            "username": ["ana", "bo", "cy"],
            "full_name": ["Ana", "Bo", "Cy"],
            "assigned_credits": [10_000.0, np.nan, 50.0],
            "available_credits": [2000.0, 99_999.0, 50.0],
        }
    )
    frame = F.member_forecasts(members, usage, AS_OF, expires=None)
    assert list(frame["username"]) == ["ana", "cy"]  # bo has no allocation
    ana = frame.iloc[0]
    assert ana["outcome"] == F.RUNS_OUT and ana["daily_burn"] == pytest.approx(burn.mean() * 0.25)
    assert frame.iloc[1]["outcome"] == F.NO_BURN


def test_subscription_end_and_balance_from_portals_self():
    org = {"availableCredits": "1234.5", "subscriptionInfo": {"expDate": 1813363200000}}
    assert F.subscription_end(org) == dt.date(2027, 6, 19)
    assert F.available_credits(org) == 1234.5
    assert F.subscription_end({"subscriptionInfo": {"expDate": "soon"}}) is None
    assert F.available_credits({}) is None


def test_the_balance_chart_has_past_projection_band_and_the_subscription_end():
    from creditlens.watch.charts import PAST, PROJECTED, balance_chart, balance_chart_frame

    expires = AS_OF + dt.timedelta(days=30)
    f = F.org_forecast(tidy(synthetic_burn(seed=7)), 20_000.0, AS_OF, expires, complete=True)
    frame = balance_chart_frame(f)
    assert set(frame["series"]) == {PAST, PROJECTED}
    assert frame["day"].iloc[0] == (AS_OF - dt.timedelta(days=89)).isoformat()  # ISO days: UTC in the browser
    spec = balance_chart(f).to_dict()
    marks = [layer["mark"]["type"] if isinstance(layer["mark"], dict) else layer["mark"] for layer in spec["layer"]]
    assert marks == ["area", "line", "rule", "rule", "text"]  # band, lines, zero, subscription end and its label
