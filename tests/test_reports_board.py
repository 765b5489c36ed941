"""Leaderboard filters, top members and drill-down data: the board-level functions in reports."""

from __future__ import annotations

import pytest

from creditlens import reports
from creditlens.ui import (
    leaderboard,
    state,
    trends,
)


def test_no_filter_keeps_every_row(demo):
    board = demo[3]
    assert reports.filter_leaderboard(board, reports.LeaderboardFilters()).equals(board.reset_index(drop=True))


def test_status_filter(demo):
    board = demo[3]
    out = reports.filter_leaderboard(board, reports.LeaderboardFilters(statuses=("external", "public")))
    assert len(out) == board["status"].isin(["external", "public"]).sum() > 0
    assert set(out["status"]) <= {"external", "public"}
    assert out["credits"].is_monotonic_decreasing  # the board's order is kept


def test_role_and_user_type_filters(demo):
    board = demo[3]
    role = board.loc[board["status"] == "member", "role"].iloc[0]
    utype = board.loc[board["status"] == "member", "user_type"].iloc[0]
    out = reports.filter_leaderboard(board, reports.LeaderboardFilters(roles=(role,), user_types=(utype,)))
    assert len(out) == ((board["role"] == role) & (board["user_type"] == utype)).sum() > 0


def test_service_filter_keeps_users_with_credits_in_it(demo):
    board = demo[3]
    service = reports.board_services(board)[0]
    out = reports.filter_leaderboard(board, reports.LeaderboardFilters(service=service))
    assert len(out) == (board[service] > 0).sum() > 0
    assert (out[service] > 0).all()
    assert reports.filter_leaderboard(board, reports.LeaderboardFilters(service="No such service")).empty


def test_min_credits_and_search(demo):
    board = demo[3]
    out = reports.filter_leaderboard(board, reports.LeaderboardFilters(min_credits=50))
    assert len(out) == (board["credits"] >= 50).sum()
    member = board[board["full_name"].fillna("") != ""].iloc[0]
    first_name = member["full_name"].split()[0].upper()
    found = reports.filter_leaderboard(board, reports.LeaderboardFilters(search=first_name))
    assert member["username"] in set(found["username"])
    names = found["username"].str.lower() + " " + found["full_name"].fillna("").str.lower()
    assert names.str.contains(first_name.lower(), regex=False).all()
    by_name = reports.filter_leaderboard(board, reports.LeaderboardFilters(search=member["username"][:6]))
    assert member["username"] in set(by_name["username"])


def test_filters_from_state_maps_service_code_to_column():
    filters = leaderboard.filters_from_state({state.LB_SERVICE: "geocode", state.LB_STATUS: ["member"]})
    assert filters.service == "geocode"  # a code; the board column is its human name
    assert filters.statuses == ("member",)
    assert leaderboard.filters_from_state({}) == reports.LeaderboardFilters()


def test_top_members_only_members_ranked(demo):
    top = reports.top_members(demo[3], 10)
    assert len(top) == 10 and top["rank"].tolist() == list(range(1, 11))
    members = set(demo[1]["username"])
    assert set(top["username"]) <= members
    assert top["credits"].is_monotonic_decreasing


def test_member_trend_and_rows(demo):
    usage, board = demo[2], demo[3]
    first, second = reports.drilldown_options(board)[:2]
    one = reports.member_trend(usage, first, "day")
    two = reports.member_trend(usage, second, "day")
    assert not one.equals(two)
    assert one["credits"].sum() == pytest.approx(board.loc[board["username"] == first, "credits"].iloc[0])
    rows = reports.member_usage(usage, first)
    assert rows["credits"].sum() == pytest.approx(one["credits"].sum())
    labels = trends.drilldown_labels(board)
    assert set(labels) == set(reports.drilldown_options(board))


def test_classify_matches_members_in_any_case_from_a_set_or_a_column():
    import pandas as pd

    names = pd.Series(pd.Categorical(["Ada_Org", "", "gone_Org", "guest", "vis_Other", "BOB_org"]))
    orgs = pd.Series(["ORG", "", "ORG", "", "OTHER", "ORG"])
    expected = ["member", "unattributed", "former_member", "public", "external", "member"]
    members = pd.Series(["ada_org", "Bob_Org", "idle_Org"], dtype="str")
    assert list(reports.classify(names, orgs, members, "ORG")) == expected
    assert list(reports.classify(names, orgs, {"ada_org", "bob_org"}, "ORG")) == expected
    assert list(reports.classify(names, orgs, set(), "ORG")) == [
        "external" if o == "OTHER" else "unattributed" if n == "" else "public" if o == "" else "former_member"
        for n, o in zip(names, orgs, strict=True)
    ]


def test_service_names_name_each_code_and_keep_unknown_codes_readable():
    import pandas as pd

    from creditlens.services import service_name

    codes = pd.Series(pd.Categorical(["geocode", "storage", "geocode", "zz_new"]))
    named = reports.service_names(codes)
    assert list(named) == [service_name(c) for c in codes.astype(str)]
    assert named[0] != "geocode" and named[0] == named[2]
