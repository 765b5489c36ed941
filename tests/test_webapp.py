"""The app's pure helpers and its per-identity cache keying, without a browser or AppTest."""

from __future__ import annotations

import datetime as dt
import inspect
import io
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
import streamlit as st

from creditlens import dates, reports, webapp
from creditlens.fake.demo_org import OrgSpec, build_demo_org
from creditlens.fetching import fetch_members, fetch_usage
from creditlens.portal import Identity, PortalConnection, connect_demo

TODAY = dt.date(2026, 3, 31)


@pytest.fixture(scope="module")
def demo():
    org = build_demo_org(OrgSpec(members=60, days=120, seed=3, end_day=TODAY))
    conn = connect_demo(org=org)
    members = fetch_members(conn)
    usage = fetch_usage(conn, TODAY - dt.timedelta(days=29), TODAY).frame
    board = reports.leaderboard(usage, members, conn.identity.org_id)
    return conn, members, usage, board


# -- leaderboard filters ----------------------------------------------------------------------------
def test_no_filter_keeps_every_row(demo):
    board = demo[3]
    assert webapp.filter_leaderboard(board, webapp.LeaderboardFilters()).equals(board.reset_index(drop=True))


def test_status_filter(demo):
    board = demo[3]
    out = webapp.filter_leaderboard(board, webapp.LeaderboardFilters(statuses=("external", "public")))
    assert len(out) == board["status"].isin(["external", "public"]).sum() > 0
    assert set(out["status"]) <= {"external", "public"}
    assert out["credits"].is_monotonic_decreasing  # the board's order is kept


def test_role_and_user_type_filters(demo):
    board = demo[3]
    role = board.loc[board["status"] == "member", "role"].iloc[0]
    utype = board.loc[board["status"] == "member", "user_type"].iloc[0]
    out = webapp.filter_leaderboard(board, webapp.LeaderboardFilters(roles=(role,), user_types=(utype,)))
    assert len(out) == ((board["role"] == role) & (board["user_type"] == utype)).sum() > 0


def test_service_filter_keeps_users_with_credits_in_it(demo):
    board = demo[3]
    service = webapp.board_services(board)[0]
    out = webapp.filter_leaderboard(board, webapp.LeaderboardFilters(service=service))
    assert len(out) == (board[service] > 0).sum() > 0
    assert (out[service] > 0).all()
    assert webapp.filter_leaderboard(board, webapp.LeaderboardFilters(service="No such service")).empty


def test_min_credits_and_search(demo):
    board = demo[3]
    out = webapp.filter_leaderboard(board, webapp.LeaderboardFilters(min_credits=50))
    assert len(out) == (board["credits"] >= 50).sum()
    member = board[board["full_name"].fillna("") != ""].iloc[0]
    first_name = member["full_name"].split()[0].upper()
    found = webapp.filter_leaderboard(board, webapp.LeaderboardFilters(search=first_name))
    assert member["username"] in set(found["username"])
    names = found["username"].str.lower() + " " + found["full_name"].fillna("").str.lower()
    assert names.str.contains(first_name.lower(), regex=False).all()
    by_name = webapp.filter_leaderboard(board, webapp.LeaderboardFilters(search=member["username"][:6]))
    assert member["username"] in set(by_name["username"])


def test_leaderboard_table_shows_status_labels(demo):
    table = webapp.leaderboard_table(demo[3])
    assert "user_org_id" not in table.columns
    assert set(table["status"]) <= set(reports.CATEGORY_LABELS.values())


def test_filters_from_state_maps_service_code_to_column():
    filters = webapp.filters_from_state({webapp.LB_SERVICE_KEY: "geocode", webapp.LB_STATUS_KEY: ["member"]})
    assert filters.service == "Geocoding"
    assert filters.statuses == ("member",)
    assert webapp.filters_from_state({}) == webapp.LeaderboardFilters()


# -- downloads --------------------------------------------------------------------------------------
def test_downloads_are_exactly_the_table(demo):
    table = webapp.leaderboard_table(webapp.filter_leaderboard(demo[3], webapp.LeaderboardFilters(min_credits=10)))
    csv_item, xlsx_item = webapp.downloads(table, "Northwind GIS", TODAY - dt.timedelta(days=6), TODAY, "leaderboard")
    assert csv_item.file_name == "creditlens_northwind-gis_2026-03-25_2026-03-31_leaderboard.csv"
    assert xlsx_item.file_name.endswith("_leaderboard.xlsx")
    back = pd.read_csv(io.BytesIO(csv_item.make()), keep_default_na=False)
    assert list(back.columns) == list(table.columns)
    assert len(back) == len(table)
    assert back["username"].tolist() == table["username"].tolist()
    assert np.allclose(back["credits"], table["credits"])
    sheet = pd.read_excel(io.BytesIO(xlsx_item.make()), sheet_name=None)
    assert list(sheet) == ["Leaderboard"]
    assert len(sheet["Leaderboard"]) == len(table)


def test_incomplete_downloads_are_named_and_noted(demo):
    table = webapp.leaderboard_table(demo[3]).head(5)
    items = webapp.downloads(table, "Org", TODAY, TODAY, "leaderboard", incomplete="Incomplete: 1 of 2 windows")
    assert all(d.file_name.endswith((f"leaderboard{webapp.INCOMPLETE_SUFFIX}.csv", "_INCOMPLETE.xlsx")) for d in items)
    notes = pd.read_excel(io.BytesIO(items[1].make()), sheet_name="Notes")
    assert notes["note"].iloc[0].startswith("Incomplete")


# -- dates ----------------------------------------------------------------------------------------------
def test_resolve_preset():
    choice = webapp.resolve_range("Last 7 days", None, TODAY)
    assert (choice.start, choice.end, choice.preset) == (dt.date(2026, 3, 25), TODAY, "Last 7 days")
    assert choice.ok and choice.error is None


def test_resolve_custom_half_picked_and_reversed():
    last = (dt.date(2026, 3, 1), dt.date(2026, 3, 10))
    half = webapp.resolve_range(webapp.CUSTOM_RANGE, (dt.date(2026, 3, 5),), TODAY, last)
    assert (half.start, half.end) == last and "end date" in half.notice
    nothing = webapp.resolve_range(webapp.CUSTOM_RANGE, (dt.date(2026, 3, 5),), TODAY, None)
    assert not nothing.ok and nothing.notice
    swapped = webapp.resolve_range(webapp.CUSTOM_RANGE, (dt.date(2026, 3, 9), dt.date(2026, 3, 2)), TODAY)
    assert (swapped.start, swapped.end, swapped.preset) == (dt.date(2026, 3, 2), dt.date(2026, 3, 9), None)


def test_resolve_custom_errors_are_messages():
    old = webapp.resolve_range(webapp.CUSTOM_RANGE, (dt.date(2020, 1, 1), dt.date(2020, 1, 5)), TODAY)
    assert not old.ok and "two years" in old.error
    future = webapp.resolve_range(webapp.CUSTOM_RANGE, (dt.date(2026, 5, 1), dt.date(2026, 5, 5)), TODAY)
    assert not future.ok and "future" in future.error


def test_custom_range_value():
    assert webapp.custom_range_value(None, None, TODAY) == dates.preset_range(dates.DEFAULT_PRESET, TODAY)
    assert webapp.custom_range_value((dt.date(2026, 3, 5),), None, TODAY) is None  # still picking
    clamped = webapp.custom_range_value((dt.date(2020, 1, 1), dt.date(2027, 1, 1)), None, TODAY)
    assert clamped == (dates.oldest_day(TODAY), TODAY)


def test_range_query_round_trip():
    preset = webapp.resolve_range("Last 90 days", None, TODAY)
    assert webapp.range_query(preset) == {"range": "last-90-days"}
    assert webapp.parse_range_query({"range": "last-90-days"}, TODAY) == ("Last 90 days", None, [])
    custom = webapp.resolve_range(webapp.CUSTOM_RANGE, (dt.date(2026, 2, 1), dt.date(2026, 2, 28)), TODAY)
    params = webapp.range_query(custom)
    assert params == {"start": "2026-02-01", "end": "2026-02-28"}
    assert webapp.parse_range_query(params, TODAY) == (
        webapp.CUSTOM_RANGE,
        (dt.date(2026, 2, 1), dt.date(2026, 2, 28)),
        [],
    )


@pytest.mark.parametrize(
    "params",
    [
        {"range": "last-99-days"},
        {"start": "2026-02-01"},
        {"start": "yesterday", "end": "2026-02-01"},
        {"start": "2019-01-01", "end": "2019-02-01"},
        {"start": "2026-05-01", "end": "2026-05-02"},
    ],
)
def test_bad_range_params_are_ignored_with_a_warning(params):
    preset, custom, warnings = webapp.parse_range_query(params, TODAY)
    assert (preset, custom) == (None, None)
    assert len(warnings) == 1


# -- query-param specs ------------------------------------------------------------------------------
def test_param_specs_parse_and_encode():
    status = webapp.ParamSpec("status", "k", "list", [], ("member", "external"))
    assert status.parse("member,nobody") == (["member"], "Ignored unknown status in the link: nobody.")
    assert status.encode(["member", "external"]) == "member,external"
    assert status.encode([]) is None
    minimum = webapp.ParamSpec("min", "m", "number", 0.0, low=0.0)
    assert minimum.parse("12.5") == (12.5, None)
    assert minimum.parse("-3")[0] is None and minimum.parse("abc")[0] is None
    assert minimum.encode(0.0) is None and minimum.encode(12.5) == "12.5"
    top = webapp.ParamSpec("top", "t", "int", 5, low=1, high=15)
    assert top.parse("7") == (7, None) and top.parse("99")[0] is None
    choice = webapp.ParamSpec("by", "g", "choice", "auto", webapp.GRANULARITIES)
    assert choice.parse("week") == ("week", None) and choice.parse("hour")[0] is None
    assert choice.encode("auto") is None


def test_parse_params_and_merge():
    specs = [webapp.granularity_spec(), webapp.ParamSpec("q", "s", "text", "")]
    values, warnings = webapp.parse_params({"by": "month", "q": " ada ", "password": "x"}, specs)
    assert values == {webapp.GRANULARITY_KEY: "month", "s": "ada"} and warnings == []
    merged = webapp.merged_params({"range": "today", "status": "member", "token": "t"}, {"by": "week"}, ["range"])
    assert merged == {"range": "today", "by": "week"}  # other pages' and unknown keys are dropped


# -- formatting and derived tables ------------------------------------------------------------------
def test_formatting():
    assert webapp.fmt_credits(1234567.891) == "1,234,567.89"
    assert webapp.fmt_credits(None) == webapp.fmt_credits(float("nan")) == "—"
    assert webapp.fmt_int(12345.0) == "12,345"
    assert webapp.fmt_pct(-13.94, signed=True) == "-13.9%"
    assert webapp.fmt_pct(5, signed=True) == "+5.0%"


def test_overview_metrics():
    kpis = reports.OverviewKpis(1500.0, 1000.0, 12, 30.5, 10_000.0)
    credits, active, outsiders, available = webapp.overview_metrics(kpis)
    assert (credits.value, credits.delta) == ("1,500.00", "+50.0% vs previous period")
    assert active.value == "12" and outsiders.value == "30.50" and available.value == "10,000.00"
    partial = webapp.overview_metrics(reports.OverviewKpis(1.0, None, 0, 0.0, None), complete=False)
    assert partial[0].label.endswith("(incomplete)") and partial[0].delta is None
    assert partial[3].value == "—"


def test_top_members_only_members_ranked(demo):
    top = webapp.top_members(demo[3], 10)
    assert len(top) == 10 and top["rank"].tolist() == list(range(1, 11))
    members = set(demo[1]["username"])
    assert set(top["username"]) <= members
    assert top["credits"].is_monotonic_decreasing


def test_member_trend_and_rows(demo):
    usage, board = demo[2], demo[3]
    first, second = webapp.drilldown_options(board)[:2]
    one = webapp.member_trend(usage, first, "day")
    two = webapp.member_trend(usage, second, "day")
    assert not one.equals(two)
    assert one["credits"].sum() == pytest.approx(board.loc[board["username"] == first, "credits"].iloc[0])
    rows = webapp.member_rows(usage, first)
    assert rows["credits"].sum() == pytest.approx(one["credits"].sum())
    labels = webapp.drilldown_labels(board)
    assert set(labels) == set(webapp.drilldown_options(board))


def test_limit_series_keeps_totals(demo):
    trend = reports.service_trend(demo[2], "week")
    limited = webapp.limit_series(trend, "service", 3, webapp.OTHER_SERVICES)
    assert limited["service"].nunique() <= 4
    before = trend.groupby("period")["credits"].sum()
    after = limited.groupby("period")["credits"].sum()
    assert np.allclose(before.sort_index(), after.sort_index())
    assert webapp.series_order(limited, "service", last=webapp.OTHER_SERVICES)[-1] == webapp.OTHER_SERVICES
    frame = webapp.chart_frame(limited, "week")
    assert frame["period"].str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()
    spans = pd.to_datetime(frame["period_end"]) - pd.to_datetime(frame["period"])
    assert (spans == pd.Timedelta(days=7)).all()
    chart = webapp.stacked_service_chart(trend, "week").to_dict()
    assert chart["encoding"]["x"]["scale"]["type"] == "utc"
    assert chart["encoding"]["x2"]["field"] == "period_end"


def test_reconciliation_helpers(demo):
    conn, members, usage, _ = demo
    rec = reports.reconcile_members(usage, members, conn.identity.org_id)
    table = webapp.category_table(rec)
    assert table["category"].tolist() == [reports.CATEGORY_LABELS[c] for c in reports.CATEGORIES]
    assert table["credits"].sum() == pytest.approx(usage["credits"].sum())
    assert set(webapp.non_member_table(rec)["category"]) <= set(reports.CATEGORY_LABELS.values()) - {"Member"}
    assert all(label in webapp.category_help_markdown() for label in reports.CATEGORY_LABELS.values())


def test_totals_line():
    ok, text = webapp.totals_line(reports.TotalsCheck(100.0, 5.0, 105.0))
    assert ok and text.endswith("= org total 105.00 ✓")
    ok, text = webapp.totals_line(reports.TotalsCheck(100.0, 5.0, 110.0))
    assert not ok and "difference -5.00" in text


def test_budget_helpers(demo):
    status = reports.budget_status(demo[1], demo[2])
    alerts = webapp.budget_alerts(status)
    assert set(alerts["state"]) <= {webapp.BUDGET_STATES["over"], webapp.BUDGET_STATES["near"]}
    assert (alerts["used_pct"] >= reports.NEAR_BUDGET_PCT).all()
    metrics = webapp.budget_metrics(status)
    assert metrics[0].value == webapp.fmt_int(len(status))
    assert webapp.budgets_enabled(demo[0]) is (demo[0].org.get("creditAssignments") == "enabled")


def test_env_defaults_never_carry_the_password():
    env = webapp.env_defaults(
        {webapp.ENV_URL: " https://x.maps.arcgis.com ", webapp.ENV_PASSWORD: "s3cret", webapp.ENV_USER: "ada"}
    )
    assert env == webapp.EnvDefaults("https://x.maps.arcgis.com", "ada", True, None)
    assert "s3cret" not in repr(env)


# -- per-identity caches ----------------------------------------------------------------------------
@dataclass
class CountingTransport:
    """Answers the member list with one user named after the transport, and counts calls."""

    name: str
    calls: int = 0

    def post(self, path: str, params: dict[str, str]) -> dict:
        self.calls += 1
        if path.endswith("/users"):
            return {"users": [{"username": self.name, "fullName": self.name.title()}], "nextStart": -1}
        return {"roles": [], "nextStart": -1}

    def relogin(self) -> None:
        return None


def _fake(url: str, org_id: str, username: str) -> PortalConnection:
    return PortalConnection(Identity(url, org_id, username), {"id": org_id}, {}, CountingTransport(username))


@pytest.fixture
def clean_caches():
    st.cache_data.clear()
    yield
    st.cache_data.clear()


def test_loader_signatures_are_keyed_by_identity_and_generation():
    for loader in (webapp._usage_cached, webapp._org_totals_cached):
        assert list(inspect.signature(loader).parameters) == ["identity_key", "generation", "start", "end", "_conn"]
    assert list(inspect.signature(webapp._members_cached).parameters) == ["identity_key", "generation", "_conn"]


def test_members_cache_is_per_identity(clean_caches):
    ada = _fake("https://a.maps.arcgis.com", "ORG1", "ada")
    bob = _fake("https://a.maps.arcgis.com", "ORG1", "bob")  # same org, another person
    assert ada.identity.cache_key != bob.identity.cache_key
    assert webapp.load_members(ada)["username"].tolist() == ["ada"]
    assert webapp.load_members(bob)["username"].tolist() == ["bob"]
    assert webapp.load_members(ada)["username"].tolist() == ["ada"]  # not bob's cached frame
    assert (ada.transport.calls, bob.transport.calls) == (2, 2)  # users + roles, once each


def test_refresh_bumps_only_one_identity(clean_caches):
    ada = _fake("https://a.maps.arcgis.com", "ORG1", "ada")
    bob = _fake("https://b.maps.arcgis.com", "ORG2", "bob")
    webapp.load_members(ada), webapp.load_members(bob)
    before = webapp.generation(bob.identity.cache_key)
    webapp.refresh(ada.identity.cache_key)
    assert webapp.generation(bob.identity.cache_key) == before
    webapp.load_members(ada), webapp.load_members(bob)
    assert ada.transport.calls == 4  # fetched again after its refresh
    assert bob.transport.calls == 2  # still served from the cache


def test_usage_cache_is_per_identity(clean_caches):
    one = connect_demo(org=build_demo_org(OrgSpec(members=20, days=40, seed=1, end_day=TODAY)))
    two = connect_demo(org=build_demo_org(OrgSpec(members=20, days=40, seed=2, end_day=TODAY, url_key="other")))
    assert one.identity != two.identity
    start = TODAY - dt.timedelta(days=9)
    first = webapp.load_usage(one, start, TODAY)
    second = webapp.load_usage(two, start, TODAY)
    names_one = set(first.frame["username"].astype(str)) - {""}
    names_two = set(second.frame["username"].astype(str)) - {""}
    assert names_one and names_two and names_one != names_two
    again = webapp.load_usage(one, start, TODAY)  # served from one's cache entry, not two's
    assert set(again.frame["username"].astype(str)) - {""} == names_one


def test_generation_counter_is_per_identity():
    key_a, key_b = "demo://x|A|a", "demo://x|B|b"
    a0, b0 = webapp.generation(key_a), webapp.generation(key_b)
    assert webapp.bump_generation(key_a) == a0 + 1
    assert webapp.generation(key_a) == a0 + 1 and webapp.generation(key_b) == b0


def test_progress_updates_are_kept_out_of_cache_replay():
    from streamlit.runtime.scriptrunner_utils.script_run_context import in_cached_function

    token = in_cached_function.set(True)  # as inside a cached loader
    try:
        with webapp._not_replayed() as allowed:
            assert allowed and in_cached_function.get() is False
        assert in_cached_function.get() is True
    finally:
        in_cached_function.reset(token)
