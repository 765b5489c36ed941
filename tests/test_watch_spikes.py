"""The spike detector on a history with planted spikes, steady heavy users and tiny users."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from creditlens.watch.spikes import FIRST_USE, SPIKE, SpikeSettings, find_spikes, spike_operations

LAST = dt.date(2026, 6, 30)
FIRST = LAST - dt.timedelta(days=29)  # 30 evaluated days, after 30 baseline days
DAYS = pd.date_range(pd.Timestamp(LAST - dt.timedelta(days=59)), pd.Timestamp(LAST), freq="D")


def series(username: str, stype: str, values, etype: str = "svcusg") -> pd.DataFrame:
    values = np.asarray(values, dtype=float)
    keep = values != 0
    return pd.DataFrame(
        {
            "day": DAYS[keep],
            "username": username,
            "user_org_id": "org1",
            "stype": stype,
            "etype": etype,
            "credits": values[keep],
            "num": np.maximum(1, (values[keep] * 10).astype(int)),
        }
    )


def day(offset_from_last: int) -> pd.Timestamp:
    return pd.Timestamp(LAST - dt.timedelta(days=offset_from_last))


@pytest.fixture(scope="module")
def history():
    rng = np.random.default_rng(3)
    n = len(DAYS)
    steady_heavy = 800 + rng.normal(0, 40, n)  # big, but always big: never a spike
    runaway = 5 + rng.normal(0, 1, n)
    runaway[-6] = 2300.0  # the rogue job
    sporadic = np.where(rng.random(n) < 0.3, 60 + rng.normal(0, 10, n), 0.0)  # active about a third of days
    sporadic[-12] = 900.0
    first_use = np.zeros(n)
    first_use[-3] = 120.0  # never used GeoEnrichment before
    tiny = np.full(n, 0.2)
    tiny[-2] = 20.0  # 100 × its usual, but under the floor
    first_use_small = np.zeros(n)
    first_use_small[-4] = 10.0  # first use under the floor
    weekday_heavy = np.where(DAYS.weekday < 5, 300.0, 5.0) + rng.normal(0, 10, n)  # quiet weekends
    frames = [
        series("steady", "geocode", steady_heavy, "geocodecnt"),
        series("weekday", "spanalysis", weekday_heavy),
        series("runaway", "intnotebks", runaway),
        series("sporadic", "geocode", sporadic, "geocodecnt"),
        series("newbie", "geoenrich", first_use),
        series("tiny", "geocode", tiny, "geocodecnt"),
        series("careful", "nasimpleroute", first_use_small),
        series("", "geocode", np.full(n, 1.0), "geocodecnt"),  # unattributed, steady
    ]
    return pd.concat(frames, ignore_index=True)


def test_every_planted_spike_is_found_and_nothing_else(history):
    flagged = find_spikes(history, FIRST, LAST, SpikeSettings(k=5, floor=50))
    found = {(r.username, r.stype, r.day) for r in flagged.itertuples()}
    assert found == {
        ("runaway", "intnotebks", day(5)),
        ("sporadic", "geocode", day(11)),
        ("newbie", "geoenrich", day(2)),
    }
    kinds = dict(zip(flagged["username"], flagged["kind"], strict=True))
    assert kinds == {"runaway": SPIKE, "sporadic": SPIKE, "newbie": FIRST_USE}
    runaway = flagged[flagged["username"] == "runaway"].iloc[0]
    assert runaway["credits"] == pytest.approx(2300.0)
    assert runaway["service"] == "Advanced notebooks"
    assert runaway["baseline"] == pytest.approx(5, abs=1.5)
    assert runaway["threshold"] == pytest.approx(50.0)  # the floor is higher than 5 + 5 × MAD


def test_a_lower_floor_lets_smaller_first_uses_through(history):
    flagged = find_spikes(history, FIRST, LAST, SpikeSettings(k=5, floor=5))
    found = {(r.username, r.stype) for r in flagged.itertuples()}
    assert ("careful", "nasimpleroute") in found and ("tiny", "geocode") in found
    assert ("steady", "geocode") not in found and ("weekday", "spanalysis") not in found


def test_k_is_a_setting(history):
    strict = find_spikes(history, FIRST, LAST, SpikeSettings(k=5, floor=50))
    loose = find_spikes(history, FIRST, LAST, SpikeSettings(k=0.5, floor=50))
    assert len(loose) > len(strict)
    assert set(loose["username"]) >= set(strict["username"])


def test_what_drove_a_spike(history):
    flagged = find_spikes(history, FIRST, LAST)
    drivers = spike_operations(history, flagged)
    runaway = drivers[flagged["username"] == "runaway"].iloc[0]
    assert runaway == "svcusg × 23,000"


def test_no_usage_and_bad_settings():
    empty = pd.DataFrame(columns=["day", "username", "user_org_id", "stype", "etype", "credits", "num"])
    empty["day"] = pd.to_datetime(empty["day"])
    assert find_spikes(empty, FIRST, LAST).empty
    with pytest.raises(ValueError, match="floor"):
        SpikeSettings(floor=-1)
    with pytest.raises(ValueError, match="k"):
        SpikeSettings(k=float("nan"))
