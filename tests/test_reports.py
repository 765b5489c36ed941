import datetime as dt

import numpy as np
import pandas as pd
import pytest

from creditlens import reports as R
from creditlens.fetching import fetch_members, fetch_org_totals, fetch_usage, members_frame
from creditlens.portal import connect_demo

ORG = "OURORG"


def usage(rows):
    frame = pd.DataFrame(rows, columns=["day", "username", "user_org_id", "stype", "etype", "credits", "num"])
    frame["day"] = pd.to_datetime(frame["day"])
    for col in ("username", "user_org_id", "stype", "etype"):
        frame[col] = frame[col].astype("category")
    return frame


MEMBERS = members_frame(
    [
        {
            "username": "ann",
            "fullName": "Ann A",
            "role": "org_admin",
            "userLicenseTypeId": "creatorUT",
            "assignedCredits": 100,
            "availableCredits": 5,
        },
        {"username": "bob", "fullName": "Bob B", "role": "org_user", "roleId": "R1", "userLicenseTypeId": "viewerUT"},
        {
            "username": "cyd",
            "fullName": "Cyd C",
            "role": "org_user",
            "userLicenseTypeId": "mobileWorkerUT",
            "assignedCredits": -1,
            "availableCredits": 900,
        },
    ],
    {"R1": "Credit Analyst"},
)

USAGE = usage(
    [
        ("2026-01-01", "ann", ORG, "geocode", "geocodecnt", 10.0, 250),
        ("2026-01-02", "ann", ORG, "features", "stg", 2.0, 0),
        ("2026-01-01", "gone", ORG, "spanalysis", "svcusg", 3.0, 3000),
        ("2026-01-01", "ext", "OTHER", "geocode", "geocodecnt", 4.0, 100),
        ("2026-01-03", "pub", "", "nasimpleroute", "svcusg", 0.5, 100),
        ("2026-01-03", "", ORG, "geoenrich", "svcusg", 1.5, 150),
        ("2026-01-03", "cyd", ORG, "applogin", "svcusg", 0.0, 3),
    ]
)


def test_classification_covers_every_category():
    totals = R.per_user_totals(USAGE, MEMBERS, ORG).set_index("username")["status"].to_dict()
    assert totals == {
        "ann": "member",
        "gone": "former_member",
        "ext": "external",
        "pub": "public",
        "": "unattributed",
        "cyd": "member",
    }


def test_leaderboard_ranks_everyone_and_shares_add_to_100():
    board = R.leaderboard(USAGE, MEMBERS, ORG)
    assert board["username"].tolist()[:2] == ["ann", "ext"]
    assert board.loc[board.username == "ann", "credits"].item() == 12.0
    assert board.loc[board.username == "ann", "top_service"].item() == "Geocoding"
    assert board.loc[board.username == "ann", "budget_used_pct"].item() == pytest.approx(95.0)
    assert np.isnan(board.loc[board.username == "cyd", "budget_used_pct"].item())  # -1 means unallocated
    assert "bob" in set(board.username) and board.loc[board.username == "bob", "credits"].item() == 0
    assert board.loc[board.username == "bob", "role"].item() == "Credit Analyst"
    assert R.UNATTRIBUTED_LABEL in set(board.username)
    assert board["share_pct"].sum() == pytest.approx(100.0)
    assert board["Geocoding"].sum() == 14.0
    assert board["rank"].tolist() == list(range(1, len(board) + 1))


def test_reconciliation_lists_idle_members_and_category_totals():
    rec = R.reconcile_members(USAGE, MEMBERS, ORG)
    summary = rec.summary.set_index("status")
    assert summary.loc["member", "usernames"] == 3 and summary.loc["member", "credits"] == 12.0
    assert summary.loc["former_member", "credits"] == 3.0
    assert summary.loc["external", "credits"] == 4.0
    assert summary.loc["public", "credits"] == 0.5
    assert summary.loc["unattributed", "credits"] == 1.5
    assert set(rec.idle_members.username) == {"bob", "cyd"}  # cyd only logged in: zero credits
    assert rec.summary["credits"].sum() == pytest.approx(USAGE["credits"].sum())
    bob = rec.table[rec.table.username == "bob"].iloc[0]
    assert (bob.status, bob.credits, bob.user_org_id) == ("member", 0.0, ORG)
    assert set(rec.non_members.status) == {"former_member", "external", "public", "unattributed"}


def test_totals_check_flags_a_difference():
    exact = R.totals_check(USAGE, pd.DataFrame({"stype": ["x"], "credits": [21.0]}))
    assert exact.ok and exact.per_user == 19.5 and exact.unattributed == 1.5
    off = R.totals_check(USAGE, pd.DataFrame({"stype": ["x"], "credits": [22.0]}))
    assert not off.ok and off.difference == pytest.approx(-1.0)


def test_trends_aggregate_by_period():
    weekly = R.service_trend(USAGE, "week")
    assert weekly["period"].min() == pd.Timestamp("2025-12-29")  # Monday of 2026-01-01
    assert weekly["credits"].sum() == pytest.approx(21.0)
    top = R.user_trend(USAGE, "day", top_n=1)
    assert set(top.user) == {"ann", "Everyone else"}
    assert top["credits"].sum() == pytest.approx(21.0)


def test_member_usage_and_budgets():
    rows = R.member_usage(USAGE, "ann")
    assert rows["service"].tolist() == ["Feature storage", "Geocoding"]
    budget = R.budget_status(MEMBERS, USAGE).set_index("username")
    assert list(budget.index) == ["ann"]
    assert budget.loc["ann", "used"] == 95 and budget.loc["ann", "state"] == "near"
    assert budget.loc["ann", "range_credits"] == 10.0  # storage is not budgeted


def test_granularity_and_previous_period():
    d = dt.date
    assert R.choose_granularity(d(2026, 1, 1), d(2026, 1, 31)) == "day"
    assert R.choose_granularity(d(2026, 1, 1), d(2026, 6, 30)) == "week"
    assert R.choose_granularity(d(2025, 1, 1), d(2026, 6, 30)) == "month"
    assert R.previous_period(d(2026, 1, 11), d(2026, 1, 20)) == (d(2026, 1, 1), d(2026, 1, 10))


def test_demo_numbers_add_up_per_service(small_org):
    conn = connect_demo(org=small_org)
    end = small_org.last_day
    start = end - dt.timedelta(days=199)
    result = fetch_usage(conn, start, end)
    assert result.complete and len(result.windows) == 4
    per_service = result.frame.groupby("stype", observed=True)["credits"].sum()
    totals = fetch_org_totals(conn, start, end).set_index("stype")["credits"]
    for stype, total in totals.items():
        assert per_service[stype] == pytest.approx(total, rel=1e-6)
    assert result.frame["credits"].sum() == pytest.approx(small_org.total_credits(start, end), rel=1e-9)
    check = R.totals_check(result.frame, fetch_org_totals(conn, start, end))
    assert check.ok and check.unattributed > 0
    members = fetch_members(conn)
    rec = R.reconcile_members(result.frame, members, conn.identity.org_id)
    truth = small_org.truth
    for username, status in zip(rec.table.username, rec.table.status, strict=True):
        assert truth["" if username == R.UNATTRIBUTED_LABEL else username] == status
    assert set(rec.table.status) == set(R.CATEGORIES)
    assert len(rec.idle_members) > 0


def test_category_counts_keep_idle_members_apart_and_add_up():
    counts = R.category_counts(R.reconcile_members(USAGE, MEMBERS, ORG)).set_index("status")
    assert list(counts.index) == list(R.CATEGORIES)
    assert counts.loc["member", "category"] == "Member"
    # ann used credits; cyd only logged in (0 credits) and bob has no usage at all: both idle.
    assert (counts.loc["member", "with_usage"], counts.loc["member", "without_usage"]) == (1, 2)
    assert counts.loc["member", "credits"] == 12.0
    for status, credits in (("former_member", 3.0), ("external", 4.0), ("public", 0.5), ("unattributed", 1.5)):
        assert (counts.loc[status, "with_usage"], counts.loc[status, "without_usage"]) == (1, 0)
        assert counts.loc[status, "credits"] == credits
    assert counts["credits"].sum() == pytest.approx(USAGE["credits"].sum())


def test_over_by_is_what_an_overspent_member_used_past_the_allocation():
    members = members_frame(
        [
            {"username": "over", "assignedCredits": 50, "availableCredits": -7},
            {"username": "within", "assignedCredits": 100, "availableCredits": 40},
            {"username": "exact", "assignedCredits": 20, "availableCredits": 0},
        ]
    )
    status = R.budget_status(members, USAGE.iloc[0:0])
    over = pd.Series(R.over_by(status).to_numpy(), index=status["username"])
    assert over["over"] == pytest.approx(7.0)
    assert pd.isna(over["within"]) and pd.isna(over["exact"])  # all used is not past it


def test_totals_check_usage_total_is_per_user_plus_unattributed():
    check = R.totals_check(USAGE, pd.DataFrame({"stype": ["x"], "credits": [22.0]}))
    assert check.usage_total == pytest.approx(21.0) == pytest.approx(USAGE["credits"].sum())
    assert check.difference == pytest.approx(check.usage_total - 22.0)
