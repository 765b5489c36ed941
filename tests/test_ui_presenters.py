"""What the page modules show: downloads, formatting, metrics, chart data, reconciliation and budget tables."""

from __future__ import annotations

import datetime as dt
import io

import numpy as np
import pandas as pd
import pytest

from creditlens import charts, exporting, reports
from creditlens.ui import (
    budgets,
    common,
    leaderboard,
    overview,
    reconciliation,
)

TODAY = dt.date(2026, 3, 31)


def test_leaderboard_table_shows_status_labels(demo):
    table = leaderboard.leaderboard_table(demo[3])
    assert list(table.columns) == list(demo[3].columns)  # the CLI's columns, in its order
    assert set(table["status"]) <= set(reports.CATEGORY_LABELS.values())


def test_downloads_are_exactly_the_table(demo):
    table = leaderboard.leaderboard_table(
        reports.filter_leaderboard(demo[3], reports.LeaderboardFilters(min_credits=10))
    )
    csv_item, xlsx_item = common.downloads(table, "Northwind GIS", TODAY - dt.timedelta(days=6), TODAY, "leaderboard")
    assert csv_item.file_name == "creditlens_northwind-gis_2026-03-25_2026-03-31_leaderboard.csv"
    assert xlsx_item.file_name.endswith("_leaderboard.xlsx")
    back = pd.read_csv(io.BytesIO(csv_item.make()), keep_default_na=False)
    assert list(back.columns) == [exporting.human_header(c) for c in table.columns]
    assert len(back) == len(table)
    assert back["Username"].tolist() == table["username"].tolist()
    assert np.allclose(back["Credits"], table["credits"].round(4))
    sheet = pd.read_excel(io.BytesIO(xlsx_item.make()), sheet_name=None)
    assert list(sheet) == ["About", "Leaderboard"]
    assert len(sheet["Leaderboard"]) == len(table)


def test_incomplete_downloads_are_named_and_noted(demo):
    table = leaderboard.leaderboard_table(demo[3]).head(5)
    items = common.downloads(table, "Org", TODAY, TODAY, "leaderboard", incomplete="Incomplete: 1 of 2 windows")
    assert all(d.file_name.endswith((f"leaderboard{common.INCOMPLETE_SUFFIX}.csv", "_INCOMPLETE.xlsx")) for d in items)
    about = pd.read_excel(io.BytesIO(items[1].make()), sheet_name="About", header=None, index_col=0)[1]
    assert about["Complete"].startswith("No. Incomplete")


def test_formatting():
    assert common.fmt_credits(1234567.891) == "1,234,567.89"
    assert common.fmt_credits(None) == common.fmt_credits(float("nan")) == "—"
    assert common.fmt_int(12345.0) == "12,345"
    assert common.fmt_pct(-13.94, signed=True) == "-13.9%"
    assert common.fmt_pct(5, signed=True) == "+5.0%"


def test_overview_metrics():
    kpis = reports.OverviewKpis(1500.0, 1000.0, 12, 30.5, 10_000.0)
    credits, active, outsiders, available = overview.overview_metrics(kpis)
    assert (credits.value, credits.delta) == ("1,500.00", "+50.0% vs previous period")
    assert active.value == "12" and outsiders.value == "30.50" and available.value == "10,000.00"
    partial = overview.overview_metrics(reports.OverviewKpis(1.0, None, 0, 0.0, None), complete=False)
    assert partial[0].label.endswith("(incomplete)") and partial[0].delta is None
    assert partial[3].value == "—"


def test_limit_series_keeps_totals(demo):
    trend = reports.service_trend(demo[2], "week")
    limited = charts.limit_series(trend, "service", 3, charts.OTHER_SERVICES)
    assert limited["service"].nunique() <= 4
    before = trend.groupby("period")["credits"].sum()
    after = limited.groupby("period")["credits"].sum()
    assert np.allclose(before.sort_index(), after.sort_index())
    assert charts.series_order(limited, "service", last=charts.OTHER_SERVICES)[-1] == charts.OTHER_SERVICES
    frame = charts.chart_frame(limited, "week")
    assert frame["period"].str.fullmatch(r"\d{4}-\d{2}-\d{2}T00:00:00Z").all()  # UTC, never browser-local
    spans = pd.to_datetime(frame["period_end"]) - pd.to_datetime(frame["period"])
    assert (spans == pd.Timedelta(days=7)).all()
    chart = charts.stacked_service_chart(trend, "week").to_dict()
    assert chart["encoding"]["x"]["scale"]["type"] == "utc"
    assert chart["encoding"]["x2"]["field"] == "shown_end"  # bars cover the bucket's part inside the range


def test_reconciliation_helpers(demo):
    conn, members, usage, _ = demo
    rec = reports.reconcile_members(usage, members, conn.identity.org_id)
    table = reconciliation.category_table(rec)
    assert table["category"].tolist() == [reports.CATEGORY_LABELS[c] for c in reports.CATEGORIES]
    assert table["credits"].sum() == pytest.approx(usage["credits"].sum())
    assert set(reconciliation.non_member_table(rec)["category"]) <= set(reports.CATEGORY_LABELS.values()) - {"Member"}
    assert all(label in reconciliation.category_help_markdown() for label in reports.CATEGORY_LABELS.values())


def test_totals_line():
    ok, text = reconciliation.totals_line(reports.TotalsCheck(100.0, 5.0, 105.0))
    assert ok and text.endswith("= org total 105.00 ✓")
    ok, text = reconciliation.totals_line(reports.TotalsCheck(100.0, 5.0, 110.0))
    assert not ok and "difference -5.00" in text


def test_budget_helpers(demo):
    status = reports.budget_status(demo[1], demo[2])
    alerts = reports.budget_alerts(status)
    assert set(alerts["state"]) <= {"over", "near"}
    assert set(budgets.budget_table(alerts)["state"]) <= {budgets.BUDGET_STATES["over"], budgets.BUDGET_STATES["near"]}
    assert (alerts["used_pct"] >= reports.NEAR_BUDGET_PCT).all()
    metrics = budgets.budget_metrics(status)
    assert metrics[0].value == common.fmt_int(len(status))
    assert demo[0].budgets_enabled is (demo[0].org.get("creditAssignments") == "enabled")
