"""The Streamlit app end to end in process (AppTest), on the demo organization."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
import streamlit as st
from rendered import shown
from streamlit.testing.v1 import AppTest

from creditlens import dates, errors, fetching, reports
from creditlens.errors import LoginFailed
from creditlens.portal import PortalConnection
from creditlens.ui import (
    common,
    connection,
    data,
    leaderboard,
    period,
    state,
)

APP = str(Path(__file__).resolve().parents[1] / "app.py")
PAGES = {
    "overview": "Overview",
    "leaderboard": "Leaderboard",
    "trends": "Trends",
    "reconciliation": "Reconciliation",
    "budgets": "Budgets",
}


@pytest.fixture(autouse=True)
def _isolated(monkeypatch):
    for name in (connection.ENV_URL, connection.ENV_USER, connection.ENV_PASSWORD, connection.ENV_CA):
        monkeypatch.delenv(name, raising=False)
    st.cache_data.clear()
    yield
    st.cache_data.clear()


def new_app(**query) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update(query)
    return at


def visit(at: AppTest, page: str) -> AppTest:
    return at.switch_page(f"app_pages/{page}.py").run()


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [shown(e.value) for e in at.error]


def metric(at: AppTest, label_start: str) -> str:
    return next(m.value for m in at.metric if m.label.startswith(label_start))


def widget(items, label: str):
    return next(w for w in items if w.label == label)


def test_every_page_renders_in_demo_mode():
    at = new_app().run()
    for page, title in PAGES.items():
        visit(at, page)
        assert_clean(at)
        assert [t.value for t in at.title] == [title]
        assert any("All dates are UTC" in c.value for c in at.caption)
        assert at.query_params["range"] == "last-30-days"


def test_preset_change_changes_the_totals():
    at = new_app().run()
    month = metric(at, "Credits in range")
    widget(at.selectbox, "Period").select("Last 7 days").run()
    assert_clean(at)
    week = metric(at, "Credits in range")
    assert week != month
    assert float(week.replace(",", "")) < float(month.replace(",", ""))
    assert at.query_params["range"] == "last-7-days"


def test_a_link_opens_the_same_range():
    at = new_app(range="last-90-days").run()
    assert_clean(at)
    assert widget(at.selectbox, "Period").value == "Last 90 days"
    start, end = dates.preset_range("Last 90 days")
    custom = new_app(start=start.isoformat(), end=end.isoformat()).run()
    assert widget(custom.selectbox, "Period").value == period.CUSTOM_RANGE
    assert metric(custom, "Credits in range") == metric(at, "Credits in range")
    assert custom.query_params == {"start": start.isoformat(), "end": end.isoformat()}


def test_bad_link_params_are_ignored_gently():
    at = new_app(range="last-99-days", password="hunter2").run()
    assert_clean(at)
    assert widget(at.selectbox, "Period").value == dates.DEFAULT_PRESET
    assert any("last-99-days" in shown(w.value) for w in at.warning)  # shown escaped, as text
    assert "password" not in at.query_params  # unknown keys are dropped from the URL


def test_custom_range_half_picked_keeps_the_last_range():
    at = new_app().run()
    widget(at.selectbox, "Period").select(period.CUSTOM_RANGE).run()
    assert_clean(at)
    dates_input = at.date_input[0]
    first, last = dates.preset_range("Last 14 days")
    dates_input.set_value((first, last)).run()
    assert_clean(at)
    fortnight = metric(at, "Credits in range")
    assert at.query_params == {"start": first.isoformat(), "end": last.isoformat()}
    at.date_input[0].set_value((first,)).run()
    assert_clean(at)
    assert any("end date" in i.value for i in at.info)
    assert metric(at, "Credits in range") == fortnight


def test_custom_range_too_old_is_an_error_not_a_crash():
    too_old = dates.oldest_day() - dt.timedelta(days=10)
    at = new_app(start=too_old.isoformat(), end=dates.utc_today().isoformat()).run()
    assert not at.exception
    assert any("two years" in shown(w.value) for w in at.warning)


def test_leaderboard_filters_change_the_rows():
    at = new_app().run()
    visit(at, "leaderboard")
    everyone = len(at.dataframe[0].value)
    widget(at.multiselect, "Status").select("external").run()
    assert_clean(at)
    outsiders = at.dataframe[0].value
    assert 0 < len(outsiders) < everyone
    assert set(outsiders["status"]) == {"External org"}
    assert at.query_params["status"] == "external"
    widget(at.multiselect, "Status").unselect("external").run()
    widget(at.number_input, "Minimum credits").set_value(100.0).run()
    big = at.dataframe[0].value
    assert 0 < len(big) < everyone and (big["credits"] >= 100).all()
    assert at.query_params["min"] == "100"


def test_leaderboard_link_with_filters():
    at = new_app().run()
    at.query_params.update({"range": "last-30-days", "status": "public,nonsense", "q": "_"})
    visit(at, "leaderboard")
    assert_clean(at)
    assert widget(at.multiselect, "Status").value == ["public"]
    assert set(at.dataframe[0].value["status"]) == {"Public account"}
    assert any("nonsense" in shown(w.value) for w in at.warning)


def test_leaderboard_downloads_match_the_filtered_table():
    at = new_app().run()
    visit(at, "leaderboard")
    widget(at.multiselect, "Status").select("member").run()
    widget(at.text_input, "Search").input("an").run()
    shown = at.dataframe[0].value
    assert len(at.download_button) == 2
    view = at.session_state[state.VIEW]
    page_data = data.PageData(view, data.load_members(view.conn), data.load_usage(view.conn, view.start, view.end))
    table = leaderboard.leaderboard_table(
        reports.filter_leaderboard(page_data.leaderboard(), leaderboard.filters_from_state(at.session_state))
    )
    pd.testing.assert_frame_equal(table.reset_index(drop=True), shown.reset_index(drop=True), check_dtype=False)
    csv_item = common.downloads(table, view.conn.org_name, view.start, view.end, "leaderboard")[0]
    back = pd.read_csv(pd.io.common.BytesIO(csv_item.make()), keep_default_na=False)
    assert back["Username"].tolist() == shown["username"].tolist()


def test_drilldown_selection_changes_the_member_rows():
    at = new_app().run()
    visit(at, "trends")
    assert_clean(at)
    picker = widget(at.selectbox, "User")
    first = picker.value
    rows_first = at.dataframe[0].value
    second = picker.options[1]
    picker.select_index(1).run()
    assert_clean(at)
    rows_second = at.dataframe[0].value
    assert not rows_first.equals(rows_second)
    view = at.session_state[state.VIEW]
    usage = data.load_usage(view.conn, view.start, view.end).frame
    second_name = widget(at.selectbox, "User").value
    assert second_name != first and second.startswith(second_name)
    pd.testing.assert_frame_equal(
        rows_second.reset_index(drop=True), reports.member_usage(usage, second_name), check_dtype=False
    )
    assert at.query_params["user"] == second_name


def test_granularity_override_and_top_n():
    at = new_app().run()
    at.segmented_control[0].set_value("week").run()
    assert_clean(at)
    assert at.query_params["by"] == "week"
    visit(at, "trends")
    assert at.slider[0].value == 5
    at.slider[0].set_value(8).run()
    assert_clean(at)
    assert at.query_params["top"] == "8"


def test_refresh_bumps_only_the_current_identity():
    at = new_app().run()
    key = at.session_state[state.VIEW].identity_key
    other = "https://other.maps.arcgis.com|X|someone"
    before, other_before = data.generation(key), data.generation(other)
    widget(at.button, "Refresh data").click().run()
    assert_clean(at)
    assert data.generation(key) == before + 1
    assert data.generation(other) == other_before


def test_incomplete_usage_is_marked(first_day_never_loads):
    at = new_app().run()
    assert_clean(at)
    assert any(shown(w.value).startswith("Incomplete:") for w in at.warning)
    assert widget(at.button, "Retry missing windows")
    assert metric(at, "Credits in range (incomplete)")
    visit(at, "leaderboard")
    assert any("downloads are incomplete" in shown(w.value) for w in at.warning)
    key = at.session_state[state.VIEW].identity_key
    before = data.generation(key)
    widget(at.button, "Retry missing windows").click().run()
    assert data.generation(key) == before + 1


def test_empty_range_shows_empty_states(monkeypatch):
    real = fetching.fetch_windows_into

    def nothing(conn, windows, sink, *args, **kwargs):  # every window answers, with no usage
        return real(conn, windows, lambda w, usage, totals: sink(w, usage.iloc[0:0], totals.iloc[0:0]), *args, **kwargs)

    monkeypatch.setattr(fetching, "fetch_windows_into", nothing)
    at = new_app().run()
    for page in PAGES:
        visit(at, page)
        assert_clean(at)
        assert any("No credits were used" in i.value for i in at.info), page


def test_budgets_off_is_explained(monkeypatch):
    monkeypatch.setattr(PortalConnection, "budgets_enabled", property(lambda conn: False))
    at = new_app().run()
    visit(at, "budgets")
    assert_clean(at)
    assert any("Credit budgeting is turned off" in i.value for i in at.info)


def test_online_mode_asks_to_sign_in_and_shows_login_errors(monkeypatch):
    seen = {}

    def refuse(url, username, password, ca_bundle=None):
        seen.update(url=url, username=username, password=password)
        raise LoginFailed("Sign-in failed: the username or password is wrong.")

    monkeypatch.setattr(connection, "connect", refuse)
    at = new_app().run()
    widget(at.radio, "Connection").set_value(state.ONLINE).run()
    assert not at.exception
    assert any("Sign in" in i.value for i in at.info)
    widget(at.text_input, "Organization URL").input("https://acme.maps.arcgis.com")
    widget(at.text_input, "Username").input("ada")
    widget(at.text_input, "Password").input("s3cret-pw")
    widget(at.button, "Connect").click().run()
    assert not at.exception
    assert seen == {"url": "https://acme.maps.arcgis.com", "username": "ada", "password": "s3cret-pw"}
    assert [shown(e.value) for e in at.error] == ["Sign-in failed: the username or password is wrong."]
    assert widget(at.text_input, "Password").value == ""
    assert "s3cret-pw" not in repr(at.session_state.to_dict())
    assert "s3cret" not in repr(at.query_params)


def test_sign_in_with_the_environment_password(monkeypatch):
    monkeypatch.setenv(connection.ENV_URL, "https://acme.maps.arcgis.com")
    monkeypatch.setenv(connection.ENV_USER, "ada")
    monkeypatch.setenv(connection.ENV_PASSWORD, "from-env-pw")
    seen = {}

    def accept(url, username, password, ca_bundle=None):
        seen.update(url=url, username=username, password=password)
        return connection.demo_connection()

    monkeypatch.setattr(connection, "connect", accept)
    at = new_app().run()
    widget(at.radio, "Connection").set_value(state.ONLINE).run()
    assert widget(at.text_input, "Organization URL").value == "https://acme.maps.arcgis.com"
    assert widget(at.text_input, "Password").value == ""  # never prefilled in the browser
    assert any("password from the environment" in c.value for c in at.caption)
    widget(at.button, "Connect").click().run()
    assert_clean(at)
    assert seen == {"url": "https://acme.maps.arcgis.com", "username": "ada", "password": "from-env-pw"}
    assert "from-env-pw" not in repr(at.session_state.to_dict())
    assert metric(at, "Credits in range")
    widget(at.button, "Sign out").click().run()
    assert any("Sign in" in i.value for i in at.info)


def test_page_filters_survive_a_visit_elsewhere():
    at = new_app().run()
    visit(at, "leaderboard")
    widget(at.multiselect, "Status").select("public").run()
    visit(at, "overview")
    assert "status" not in at.query_params  # another page's filters leave the URL
    visit(at, "leaderboard")
    assert_clean(at)
    assert widget(at.multiselect, "Status").value == ["public"]
    assert at.query_params["status"] == "public"


def test_a_load_error_is_one_line_not_a_traceback(monkeypatch):
    def broken(conn):
        raise errors.CreditLensError("The portal answered with an HTML error page instead of JSON.")

    monkeypatch.setattr(fetching, "fetch_members", broken)
    at = new_app().run()
    assert not at.exception
    assert [shown(e.value) for e in at.error] == [
        "Could not load data from the organization: The portal answered with an HTML error page instead of JSON."
    ]


def test_an_unexpected_page_error_is_caught(monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("token=abc123 leaked")

    monkeypatch.setattr(reports, "budget_status", boom)
    at = new_app().run()
    visit(at, "budgets")
    assert not at.exception
    assert len(at.error) == 1 and "RuntimeError" in at.error[0].value
    assert "abc123" not in at.error[0].value
