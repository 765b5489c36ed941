"""Rule evaluation on a small synthetic org: every scope, spikes per scope, ``only``, rules that cannot be checked."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from creditlens.watch.evaluate import evaluate_rules, fetch_range, scope_totals
from creditlens.watch.rules import parse_rules

TODAY = dt.date(2026, 7, 1)
YESTERDAY = TODAY - dt.timedelta(days=1)
DAYS = pd.date_range(end=pd.Timestamp(TODAY), periods=70, freq="D")
ORG = "org1"


def rows(username: str, stype: str, values, org: str = ORG) -> pd.DataFrame:
    values = np.asarray(values, dtype=float)
    return pd.DataFrame(
        {
            "day": DAYS,
            "username": username,
            "user_org_id": org,
            "stype": stype,
            "etype": "svcusg",
            "credits": values,
            "num": np.ones(len(values), dtype=np.int64),
        }
    )


@pytest.fixture(scope="module")
def usage():
    rng = np.random.default_rng(9)
    ana = 10 + rng.normal(0, 1, len(DAYS))
    ana[-2] = 900.0  # yesterday: a runaway notebook
    bo = np.full(len(DAYS), 3.0)
    visitor = np.full(len(DAYS), 1.0)  # a public account: org and service scope only
    return pd.concat(
        [
            rows("ana", "intnotebks", ana),
            rows("bo", "geocode", bo),
            rows("visitor", "geocode", visitor, org=""),
            rows("", "geoenrich", np.full(len(DAYS), 2.0)),
        ],
        ignore_index=True,
    )


@pytest.fixture(scope="module")
def members():
    return pd.DataFrame(
        {
            "username": ["ana", "bo"],
            "full_name": ["Ana", "Bo"],
            "role": ["Publisher", "User"],
            "user_type": ["Creator", "Creator"],
            "assigned_credits": [1000.0, np.nan],
            "available_credits": [50.0, 5000.0],
        }
    )


def test_each_scope_sums_its_window(usage, members):
    rules = parse_rules(
        """
[[rule]]
name = "org"
scope = "org"
window = "7d"
credits_over = 0
[[rule]]
name = "members"
scope = "member"
window = "1d"
credits_over = 0
[[rule]]
name = "services"
scope = "service"
window = "mtd"
credits_over = 0
only = ["GEOCODE"]
"""
    )
    result = evaluate_rules(rules, usage, members, ORG, TODAY, balance=123.0)
    by_rule = {}
    for a in result.alerts:
        by_rule.setdefault(a.rule, {})[a.subject] = a.credits
    week = usage[(usage["day"] >= pd.Timestamp(TODAY - dt.timedelta(days=7))) & (usage["day"] < pd.Timestamp(TODAY))]
    assert by_rule["org"] == {"org": pytest.approx(week["credits"].sum())}
    yesterday = usage[usage["day"] == pd.Timestamp(YESTERDAY)]
    assert by_rule["members"] == {
        "ana": pytest.approx(yesterday.loc[yesterday["username"] == "ana", "credits"].sum()),
        "bo": pytest.approx(3.0),
    }  # the public account is no member
    june = usage[(usage["day"].dt.month == 6)]
    assert by_rule["services"] == {"geocode": pytest.approx(june.loc[june["stype"] == "geocode", "credits"].sum())}
    assert all(a.window_end == YESTERDAY for a in result.alerts)
    assert result.problems == [] and result.complete


def test_spikes_for_org_member_and_service(usage, members):
    rules = parse_rules(
        """
[[rule]]
name = "org spike"
scope = "org"
window = "7d"
spike = true
[[rule]]
name = "member spike"
scope = "member"
window = "7d"
spike = true
[[rule]]
name = "service spike"
scope = "service"
window = "7d"
spike = true
only = ["geocode"]
"""
    )
    alerts = evaluate_rules(rules, usage, members, ORG, TODAY, balance=None).alerts
    fired = {(a.rule, a.subject, a.window_start) for a in alerts}
    assert fired == {("org spike", "org", YESTERDAY), ("member spike", "ana", YESTERDAY)}
    member = next(a for a in alerts if a.rule == "member spike")
    assert member.credits == pytest.approx(900.0) and member.window_end == YESTERDAY
    assert "Advanced notebooks" in member.detail


def test_balance_allocation_and_a_rule_that_cannot_be_checked(usage, members):
    rules = parse_rules(
        """
[[rule]]
name = "low"
scope = "org"
window = "1d"
balance_under = 500
[[rule]]
name = "allocation"
scope = "member"
window = "30d"
pct_of_allocation_over = 90
"""
    )
    result = evaluate_rules(rules, usage, members, ORG, TODAY, balance=120.0)
    low, allocation = result.alerts
    assert (low.subject, low.credits, low.threshold) == ("org", 120.0, 500.0)
    assert (allocation.subject, allocation.credits, allocation.threshold) == ("ana", 950.0, 900.0)
    unknown = evaluate_rules(rules, usage, members, ORG, TODAY, balance=None)
    assert unknown.problems == [
        'rule "low": the portal does not report the org\'s available credits, so balance_under cannot be checked'
    ]


def test_cost_centers_from_a_file(usage, members, tmp_path):
    (tmp_path / "centers.csv").write_text("username,cost_center\nana,Roads\nbo,Parks\n")
    rules = parse_rules(
        '[[rule]]\nname = "cc"\nscope = "cost_center"\nwindow = "7d"\ncredits_over = 0\ncost_centers = "centers.csv"\n',
        tmp_path / "alerts.toml",
    )
    week = usage[(usage["day"] >= pd.Timestamp(TODAY - dt.timedelta(days=7))) & (usage["day"] < pd.Timestamp(TODAY))]
    totals = scope_totals(rules.rules[0], week, members, ORG)
    assert dict(zip(totals["subject"], totals["credits"], strict=True)) == {
        "Roads": pytest.approx(week.loc[week["username"] == "ana", "credits"].sum()),
        "Parks": pytest.approx(21.0),
    }


def test_fetch_range_covers_windows_and_spike_baselines():
    rules = parse_rules('[[rule]]\nname = "a"\nscope = "org"\nwindow = "7d"\nspike = true\n')
    assert fetch_range(rules, TODAY) == (TODAY - dt.timedelta(days=7 + 30), YESTERDAY)


def test_alerts_per_rule_counts_each_rules_alerts(usage, members):
    rules = parse_rules(
        """
[[rule]]
name = "members"
scope = "member"
window = "1d"
credits_over = 0
[[rule]]
name = "never"
scope = "org"
window = "1d"
credits_over = 1e12
"""
    )
    result = evaluate_rules(rules, usage, members, ORG, TODAY, balance=None)
    assert result.alerts_per_rule() == {"members": 2}  # ana and bo; the public account is no member
    assert result.alerts_per_rule()["members"] == sum(a.rule == "members" for a in result.alerts)
