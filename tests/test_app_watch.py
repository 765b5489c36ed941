"""The Watch page in process (AppTest) on the demo organization: its figures are the library's."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import pytest
import streamlit as st
from rendered import shown
from streamlit.testing.v1 import AppTest

from creditlens import dates, fetching
from creditlens.archive.memory import MEMORY_ARCHIVES
from creditlens.portal import connect_demo
from creditlens.ui import connection, syncing, watch
from creditlens.watch import forecast, rules, spikes
from creditlens.watch.evaluate import evaluate_rules

APP = str(Path(__file__).resolve().parents[1] / "app.py")


@pytest.fixture(autouse=True)
def _isolated(monkeypatch):
    for name in (connection.ENV_URL, connection.ENV_USER, connection.ENV_PASSWORD, connection.ENV_CA, watch.RULES_ENV):
        monkeypatch.delenv(name, raising=False)
    forget_archived_data()
    yield
    forget_archived_data()


def forget_archived_data() -> None:
    """Every test starts from an empty in-memory archive, so what it fetches (and fails to) is its own."""
    st.cache_data.clear()
    st.cache_resource.clear()
    syncing.forget()
    MEMORY_ARCHIVES.clear()


def watch_page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=90).run()
    return at.switch_page("app_pages/watch.py").run()


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


@pytest.fixture(scope="module")
def library():
    """The same numbers computed straight from the library, on the same demo org."""
    today = dates.utc_today()
    conn = connect_demo(org=connection.demo_org.__wrapped__(today.isoformat()))
    usage = fetching.fetch_usage(conn, today - dt.timedelta(days=forecast.HISTORY_DAYS), today)
    members = fetching.fetch_members(conn)
    as_of = today - dt.timedelta(days=1)
    outlook = forecast.org_forecast(
        usage.frame, conn.available_credits, as_of, forecast.subscription_end(conn.org), usage.complete
    )
    return {"conn": conn, "usage": usage.frame, "members": members, "as_of": as_of, "today": today, "outlook": outlook}


def test_the_watch_page_shows_the_librarys_forecast(library):
    at = watch_page()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [shown(e.value) for e in at.error]
    assert [t.value for t in at.title] == ["Watch"]
    first = library["as_of"] - dt.timedelta(days=forecast.HISTORY_DAYS - 1)
    assert any(f"{first.isoformat()} – {library['as_of'].isoformat()}" in c.value for c in at.caption)
    p = library["outlook"].projection
    assert metric(at, "Credits run out") == watch.runout_value(p)
    assert metric(at, "Credits used a day") == f"{p.mean_daily_burn:,.2f}"
    assert metric(at, "Available credits now") == f"{library['conn'].available_credits:,.2f}"
    assert metric(at, "Subscription ends") == p.expires.isoformat()
    assert any(shown(m.value) == f"**{p.describe()}**" for m in at.markdown)
    assert any(forecast.assumption() == shown(c.value) for c in at.caption)
    assert len(at.get("vega_lite_chart")) == 1


def test_members_spikes_and_rules_tables(library):
    at = watch_page()
    tables = [d.value for d in at.dataframe]
    members, flagged, overview, alerts = tables
    expected_members = forecast.member_forecasts(
        library["members"], library["usage"], library["as_of"], library["outlook"].projection.expires
    )
    assert list(members["username"]) == list(expected_members["username"])
    first = library["as_of"] - dt.timedelta(days=watch.SPIKE_DAYS - 1)
    expected = spikes.find_spikes(library["usage"], first, library["as_of"])
    assert len(flagged) == len(expected) > 0
    assert list(flagged["credits"]) == pytest.approx(list(expected["credits"]))
    link = urlsplit(flagged["link"].iloc[0])
    query = parse_qs(link.query)
    assert link.path == "./trends" and query["user"] == [flagged["username"].iloc[0]]
    assert query["end"] == [pd.Timestamp(flagged["day"].iloc[0]).date().isoformat()]
    ruleset = rules.parse_rules(watch.EXAMPLE_RULES)
    evaluation = evaluate_rules(
        ruleset,
        library["usage"],
        library["members"],
        library["conn"].identity.org_id,
        library["today"],
        library["conn"].available_credits,
    )
    assert list(overview["rule"]) == [r.name for r in ruleset.rules]
    assert overview["fires"].sum() == len(alerts) == len(evaluation.alerts) > 0
    assert list(alerts["credits"]) == pytest.approx([a.credits for a in evaluation.alerts])
    assert any("example rules" in shown(c.value) for c in at.caption)


def test_k_and_the_floor_are_settings():
    at = watch_page()
    before = len(at.dataframe[1].value)
    at.number_input(key=watch.FLOOR_KEY).set_value(5.0).run()
    assert not at.exception
    more = len(at.dataframe[1].value)
    at.number_input(key=watch.K_KEY).set_value(50.0).run()
    at.number_input(key=watch.FLOOR_KEY).set_value(100_000.0).run()
    assert more > before
    assert any("No spikes" in s.value for s in at.success)


def test_a_bad_rules_file_gets_one_message(monkeypatch, tmp_path):
    path = tmp_path / "alerts.toml"
    path.write_text('[[rule]]\nname = "heavy"\nscope = "team"\nwindow = "7d"\ncredits_over = 5\n')
    monkeypatch.setenv(watch.RULES_ENV, str(path))
    at = watch_page()
    assert not at.exception
    (error,) = at.error
    assert "rule \"heavy\": key 'scope' is 'team'" in shown(error.value)


def test_configured_rules_replace_the_examples(monkeypatch, tmp_path):
    path = tmp_path / "alerts.toml"
    path.write_text('[[rule]]\nname = "never"\nscope = "org"\nwindow = "7d"\ncredits_over = 1e12\n')
    monkeypatch.setenv(watch.RULES_ENV, str(path))
    at = watch_page()
    overview = at.dataframe[2].value
    assert list(overview["rule"]) == ["never"] and list(overview["fires"]) == [0]
    assert any("No rule fires right now" in s.value for s in at.success)


def test_incomplete_history_shows_no_forecast(first_day_never_loads):
    at = watch_page()
    assert not at.exception
    assert any(shown(w.value).startswith("Incomplete:") and "not shown" in shown(w.value) for w in at.warning)
    assert not at.metric and not at.dataframe
