"""Shareable links: a pinned link reopens the same dates later; a reversed or out-of-range link is refused."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from creditlens import dates
from creditlens.ui import connection, links, state
from creditlens.ui.period import CUSTOM_RANGE, RangeChoice

APP = str(Path(__file__).resolve().parents[1] / "app.py")
TODAY = dt.date(2026, 12, 1)


@pytest.fixture(autouse=True)
def _isolated(monkeypatch):
    for name in (connection.ENV_URL, connection.ENV_USER, connection.ENV_PASSWORD, connection.ENV_CA):
        monkeypatch.delenv(name, raising=False)
    st.cache_data.clear()
    yield
    st.cache_data.clear()


def test_a_pinned_link_reopens_the_same_dates_the_next_day():
    start, end = dates.preset_range("Last 30 days", TODAY)
    choice = RangeChoice(start, end, "Last 30 days")
    found = links.share_links("http://app.example/leaderboard?range=last-30-days", {"status": "public"}, choice)
    rolling, pinned = (parse_qs(urlsplit(u).query) for u in (found.rolling, found.pinned))
    assert rolling == {"range": ["last-30-days"], "status": ["public"]}
    assert pinned == {"start": [str(start)], "end": [str(end)], "status": ["public"]}
    assert urlsplit(found.pinned).path == "/leaderboard"
    later = TODAY + dt.timedelta(days=1)
    preset, custom, warnings = links.parse_range_query({k: v[0] for k, v in pinned.items()}, later)
    assert (preset, custom, warnings) == (CUSTOM_RANGE, (start, end), [])
    moved = links.parse_range_query({"range": "last-30-days"}, later)
    assert moved[0] == "Last 30 days" and dates.preset_range(moved[0], later) != (start, end)  # the rolling one moves


def test_a_custom_range_has_one_link():
    choice = RangeChoice(dt.date(2026, 1, 1), dt.date(2026, 1, 31), None)
    found = links.share_links("http://app.example/", {}, choice)
    assert found.same and found.pinned == "http://app.example/?start=2026-01-01&end=2026-01-31"


def test_a_reversed_range_is_refused_like_the_cli_not_swapped():
    preset, custom, warnings = links.parse_range_query({"start": "2026-03-31", "end": "2026-03-01"}, TODAY)
    assert custom is None and preset is None
    assert len(warnings) == 1 and "ends (2026-03-01) before it starts (2026-03-31)" in warnings[0]


def test_a_range_outside_the_kept_days_says_which_days_are_allowed():
    _, custom, warnings = links.parse_range_query({"start": "2020-01-01", "end": "2020-01-31"}, TODAY)
    assert custom is None and str(dates.oldest_day(TODAY)) in warnings[0]


def test_opening_a_pinned_link_in_the_app_shows_those_dates():
    start, end = dt.date.today() - dt.timedelta(days=40), dt.date.today() - dt.timedelta(days=11)
    at = AppTest.from_file(APP, default_timeout=90)
    at.query_params.update({"start": str(start), "end": str(end)})
    at.run()
    assert not at.exception
    view = at.session_state[state.VIEW]
    assert (view.start, view.end, view.preset) == (start, end, None)
    assert at.selectbox(key=state.PRESET).value == CUSTOM_RANGE


def test_a_reversed_link_in_the_app_says_so_and_keeps_the_default_range():
    at = AppTest.from_file(APP, default_timeout=90)
    at.query_params.update({"start": "2026-03-31", "end": "2026-03-01"})
    at.run()
    assert not at.exception
    text = " ".join(w.value for w in at.warning)
    assert "before it starts" in text
    view = at.session_state[state.VIEW]
    assert (view.start, view.end) == dates.preset_range(dates.DEFAULT_PRESET)
