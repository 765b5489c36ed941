"""Budgets whose bars tell 109 % from 81 % and mark an overspent allocation; reconciliation cards that keep
idle members apart, so the member count matches Overview's active members."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from creditlens import reports
from creditlens.fetching import fetch_members, fetch_usage
from creditlens.portal import connect_demo
from creditlens.ui import budgets, reconciliation


def status_of(rows) -> pd.DataFrame:
    members = pd.DataFrame(
        {
            "username": [r[0] for r in rows],
            "full_name": [r[0].title() for r in rows],
            "user_type": "Creator",
            "assigned_credits": [r[1] for r in rows],
            "available_credits": [r[2] for r in rows],
        }
    )
    usage = pd.DataFrame({"username": pd.Categorical([]), "stype": pd.Categorical([]), "credits": []})
    return reports.budget_status(members, usage)


def test_bars_past_100_percent_are_longer_than_bars_below_it():
    status = status_of([("over", 100.0, -9.0), ("under", 100.0, 19.0)])
    scale = budgets.used_pct_scale(status)
    assert scale == 110.0
    bars = status.set_index("username")["used_pct"] / scale
    assert bars["over"] > bars["under"] and bars["over"] < 1.0 + 1e-9
    config = budgets.column_config(status)["used_pct"]
    assert config["type_config"]["max_value"] == 110.0
    assert budgets.used_pct_scale(status_of([("a", 100.0, 19.0)])) == 100.0


def test_a_negative_available_is_marked_over_by():
    table = budgets.budget_table(status_of([("over", 100.0, -9.0), ("under", 100.0, 19.0)]), money=None)
    rows = table.set_index("username")
    assert rows.loc["over", "over_by"] == pytest.approx(9.0)
    assert pd.isna(rows.loc["under", "over_by"])
    assert rows.loc["over", "state"] == budgets.BUDGET_STATES["over"] == "Over allocation"
    assert list(table.columns).index("over_by") == list(table.columns).index("available") + 1


def test_the_member_card_counts_active_members_like_overview():
    conn = connect_demo()
    end = dt.datetime.now(dt.UTC).date()
    start = end - dt.timedelta(days=29)
    members, usage = fetch_members(conn), fetch_usage(conn, start, end).frame
    rec = reports.reconcile_members(usage, members, conn.identity.org_id)
    kpis = reports.overview_kpis(usage, None, members, conn.identity.org_id, None)
    counts = reconciliation.category_counts(rec).set_index("status")
    assert counts.loc[reports.MEMBER, "with_usage"] == kpis.active_members
    assert counts.loc[reports.MEMBER, "with_usage"] + counts.loc[reports.MEMBER, "without_usage"] == len(members)
    assert counts["credits"].sum() == pytest.approx(usage["credits"].sum())
    member_card = reconciliation.reconciliation_metrics(rec)[0]
    assert member_card.label == "Member"
    idle = counts.loc[reports.MEMBER, "without_usage"]
    assert member_card.delta == f"{kpis.active_members:,d} active, {idle:,d} idle"
    assert (counts.drop(index=reports.MEMBER)["without_usage"] == 0).all()  # only members can be idle
    table = reconciliation.category_table(rec)
    assert table["with_usage"].sum() < len(rec.table)  # idle members are not counted as users


def test_a_phone_reads_who_how_much_and_what_is_left_first():
    table = budgets.budget_table(status_of([("over", 100.0, -9.0)]), money=None)
    order = budgets.screen_column_order(table)
    assert order[:4] == ["username", "used_pct", "available", "over_by"]
    assert sorted(order) == sorted(table.columns)
