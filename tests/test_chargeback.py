"""Chargeback through the real ``arcgis`` client against the HTTPS emulator: lines that add up to the org total."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pandas as pd
import pytest

from creditlens import chargeback as C
from creditlens import reports
from creditlens.exporting import to_csv_bytes, to_xlsx_bytes
from creditlens.fetching import fetch_members, fetch_org_totals, fetch_usage
from creditlens.money import Pricing
from creditlens.portal import connect

pytestmark = pytest.mark.integration

RANGE_DAYS = 120


@pytest.fixture(scope="module")
def emulator(small_org, emulator_factory):
    return emulator_factory([small_org])


@pytest.fixture(scope="module")
def fetched(emulator, small_org):
    """Members, usage and the org-wide total of a 120-day range, fetched once through ``arcgis.GIS``."""
    conn = connect(
        emulator.url, small_org.admin_username, small_org.passwords[small_org.admin_username], emulator.ca_bundle
    )
    end = small_org.last_day
    start = end - dt.timedelta(days=RANGE_DAYS - 1)
    members = fetch_members(conn)
    result = fetch_usage(conn, start, end)
    assert result.complete
    org_total = float(fetch_org_totals(conn, start, end)["credits"].sum())
    return conn, members, result.frame, org_total


def member_credits(usage: pd.DataFrame, members: pd.DataFrame, org_id: str) -> pd.Series:
    """Credits per member (lower-case username), computed independently of chargeback."""
    totals = reports.per_user_totals(usage, members, org_id)
    mine = totals[totals["status"] == reports.MEMBER]
    return mine.groupby(mine["username"].str.lower())["credits"].sum()


def assert_sums_to(table: pd.DataFrame, org_total: float) -> None:
    assert table["credits"].sum() == pytest.approx(org_total, rel=1e-6)


def mapping_for(members: pd.DataFrame, centers: list[str], skip_every: int = 5) -> tuple[str, dict[str, str]]:
    """A mapping file of most members (every ``skip_every``-th left out), usernames in upper case half the time."""
    expected: dict[str, str] = {}
    lines = ["username,cost_center"]
    for i, name in enumerate(members["username"]):
        if i % skip_every == 0:
            continue
        center = centers[i % len(centers)]
        expected[name.lower()] = center
        lines.append(f"{name.upper() if i % 2 else name},{center}")
    return "\n".join(lines) + "\n", expected


def test_file_based_chargeback_sums_to_the_org_total(fetched):
    conn, members, usage, org_total = fetched
    text, expected = mapping_for(members, ["Planning", "Public Works", "Utilities"])
    centers = C.from_mapping_csv(text.encode(), members)
    assert centers.report.matched == len(expected)
    cb = C.build_chargeback(usage, members, conn.identity.org_id, centers, Pricing(), org_total)
    assert_sums_to(cb.table, org_total)
    assert cb.check.ok
    per_member = member_credits(usage, members, conn.identity.org_id)
    by_line = cb.table.set_index("cost_center")
    for center in ("Planning", "Public Works", "Utilities"):
        keys = [k for k, c in expected.items() if c == center]
        assert by_line.loc[center, "credits"] == pytest.approx(per_member.reindex(keys).fillna(0).sum(), rel=1e-9)
        assert by_line.loc[center, "member_count"] == len(keys)
        assert by_line.loc[center, "active_members"] == int((per_member.reindex(keys).fillna(0) > 0).sum())
    unmapped = [k for k in members["username"].str.lower() if k not in expected]
    assert by_line.loc[C.LINE_LABELS[C.NO_COST_CENTER], "member_count"] == len(unmapped)
    summary = reports.reconcile_members(usage, members, conn.identity.org_id).summary.set_index("status")["credits"]
    non_members = summary[[reports.FORMER, reports.EXTERNAL, reports.PUBLIC]].sum()
    assert by_line.loc[C.LINE_LABELS[C.OVERHEAD], "credits"] == pytest.approx(non_members, rel=1e-9)
    assert by_line.loc[C.LINE_LABELS[C.UNATTRIBUTED], "credits"] == pytest.approx(
        summary[reports.UNATTRIBUTED], rel=1e-9, abs=1e-9
    )
    assert non_members > 0  # the demo org has non-member usage, so the overhead line is really exercised
    assert by_line["share_pct"].sum() == pytest.approx(100.0)


def test_member_field_chargeback_matches_the_leaderboard_by_role(fetched):
    conn, members, usage, org_total = fetched
    cb = C.build_chargeback(
        usage, members, conn.identity.org_id, C.from_member_field(members, "role"), Pricing(), org_total
    )
    assert_sums_to(cb.table, org_total)
    board = reports.leaderboard(usage, members, conn.identity.org_id)
    by_role = board[board["status"] == reports.MEMBER].groupby("role")["credits"].sum()
    lines = cb.table[cb.table["line_kind"] == C.COST_CENTER].set_index("cost_center")["credits"]
    pd.testing.assert_series_equal(lines.sort_index(), by_role.sort_index(), check_names=False, rtol=1e-9)
    assert list(lines) == sorted(lines, reverse=True)  # cost centers largest first, fixed lines after
    assert list(cb.table["line_kind"])[-3:] == [C.NO_COST_CENTER, C.OVERHEAD, C.UNATTRIBUTED]


def test_user_type_source_and_drill_down_add_up(fetched):
    conn, members, usage, org_total = fetched
    cb = C.build_chargeback(
        usage, members, conn.identity.org_id, C.from_member_field(members, "user_type"), Pricing(0.1, "USD"), org_total
    )
    assert_sums_to(cb.table, org_total)
    for _, line in cb.table.iterrows():
        drill = C.line_members(cb, members, line["cost_center"])
        assert drill["charged_credits"].sum() == pytest.approx(line["credits"], rel=1e-9, abs=1e-9)
        if line["line_kind"] == C.COST_CENTER:
            assert len(drill) == line["member_count"]  # idle members are listed too
            assert set(drill["user_type"]) == {line["cost_center"]}


def test_price_and_currency_flow_into_the_downloads(fetched):
    conn, members, usage, org_total = fetched
    pricing = Pricing(0.12, "EUR")
    cb = C.build_chargeback(
        usage, members, conn.identity.org_id, C.from_member_field(members, "role"), pricing, org_total
    )
    rows = list(csv.DictReader(io.StringIO(to_csv_bytes(cb.table).decode())))
    assert "cost_eur" in rows[0]
    costs = [float(r["cost_eur"]) for r in rows]
    credits = [float(r["credits"]) for r in rows]
    for cost, credit in zip(costs, credits, strict=True):
        assert abs(cost - credit * 0.12) <= 0.01 + 1e-9
    assert round(sum(costs), 2) == round(org_total * 0.12 + 1e-9, 2)
    assert cb.total_cost == pytest.approx(round(org_total * 0.12, 2))
    workbook = pd.read_excel(io.BytesIO(to_xlsx_bytes(cb.table, headers="codes")))
    assert workbook["cost_eur"].tolist() == pytest.approx(costs)
    yen = C.build_chargeback(
        usage, members, conn.identity.org_id, C.from_member_field(members, "role"), Pricing(18, "JPY"), org_total
    )
    assert all(float(v).is_integer() for v in yen.table["cost_jpy"])


def test_a_mapping_file_with_bad_duplicate_and_unknown_rows_is_reported_exactly(fetched):
    conn, members, usage, org_total = fetched
    names = list(members["username"])
    text = "\n".join(
        [
            "Username, Cost_Center",  # line 1: header, case and spaces forgiven
            f"{names[1]},Planning",  # 2 ok
            f"{names[2].upper()},Utilities",  # 3 ok, matched case-insensitively
            "ghost_user,Planning",  # 4 unknown
            f"{names[3]},",  # 5 bad: no cost center
            ",Planning",  # 6 bad: no username
            f"{names[4]}",  # 7 bad: too few fields
            "",  # 8 blank: not a row
            f"{names[1].upper()},Planning",  # 9 duplicate of line 2, same center
            f"{names[5]},Planning",  # 10 conflicting with 11
            f"{names[5]},Utilities",  # 11
            "nobody_here,Utilities",  # 12 unknown
            f"{names[6]},(unattributed)",  # 13 bad: a fixed line's name
        ]
    )
    centers = C.from_mapping_csv(text.encode(), members)
    report = centers.report
    assert report.rows == 11
    assert report.matched == 2
    assert [(i.line, i.reason) for i in report.bad_rows] == [
        (5, "no cost center"),
        (6, "no username"),
        (7, "too few fields"),
        (13, "'(unattributed)' is the name of a fixed line, not a cost center"),
    ]
    assert [i.line for i in report.duplicates] == [9, 10, 11]
    assert report.duplicates[0].reason == "duplicate of line 2; the first row counts"
    assert "different cost centers (lines 10, 11)" in report.duplicates[1].reason
    assert [(i.line, i.username) for i in report.unmatched] == [(4, "ghost_user"), (12, "nobody_here")]
    assert report.summary() == (
        "11 rows: 2 matched a member, 4 bad rows skipped, 3 duplicate usernames skipped, 2 matched no username."
    )
    assert dict(zip(centers.assignments["key"], centers.assignments["cost_center"], strict=True)) == {
        names[1].lower(): "Planning",
        names[2].lower(): "Utilities",
    }
    cb = C.build_chargeback(usage, members, conn.identity.org_id, centers, Pricing(), org_total)
    assert_sums_to(cb.table, org_total)  # skipped rows' members fall to "(no cost center)", nothing is lost


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"user,department\na,b\n", "header username,cost_center"),
        ("username,cost_center\nä,b\n".encode("latin-1"), "not UTF-8"),
        (b'username,cost_center\n"unterminated,b\n', None),
    ],
)
def test_unreadable_mapping_files_get_one_clear_message(data, message):
    members = pd.DataFrame({"username": ["a"]})
    if message is None:  # an unterminated quote runs to the end: one bad row, no traceback
        centers = C.from_mapping_csv(data, members)
        assert centers.report.matched == 0
        return
    with pytest.raises(C.CostCenterError, match=message):
        C.from_mapping_csv(data, members)


def test_monthly_trend_adds_up_to_each_line(fetched):
    conn, members, usage, org_total = fetched
    cb = C.build_chargeback(
        usage, members, conn.identity.org_id, C.from_member_field(members, "role"), Pricing(), org_total
    )
    trend = C.monthly_trend(cb)
    per_line = trend.groupby("cost_center")["credits"].sum()
    for _, line in cb.table[cb.table["credits"] > 0].iterrows():
        assert per_line[line["cost_center"]] == pytest.approx(line["credits"], rel=1e-9)
    assert set(trend["period"].dt.day) == {1}
    assert trend["period"].nunique() == len(pd.period_range(usage["day"].min(), usage["day"].max(), freq="M"))


# -- groups ------------------------------------------------------------------------------------------
def department_members(small_org) -> dict[str, list[str]]:
    """The model's own department groups (owner, admins and users), lower-case: independent of our fetching."""
    return {g.title: [u.lower() for u in g.everyone] for g in small_org.groups if C.DEFAULT_GROUP_TAG in g.tags}


def test_group_based_chargeback_splits_evenly_and_sums_to_the_org_total(fetched, small_org, emulator):
    conn, members, usage, org_total = fetched
    emulator.clear_requests()
    centers = C.groups_cost_centers(conn, members, tag="chargeback")
    departments = department_members(small_org)
    assert set(centers.groups) == set(departments)
    cb = C.build_chargeback(usage, members, conn.identity.org_id, centers, Pricing(0.1, "USD"), org_total)
    assert_sums_to(cb.table, org_total)
    assert cb.check.ok
    membership: dict[str, list[str]] = {}
    for title, names in departments.items():
        for name in names:
            membership.setdefault(name, []).append(title)
    split = {name for name, titles in membership.items() if len(titles) == 2}
    assert split, "the demo org has members in two department groups"
    assert centers.split_members == len(split)
    assert f"{len(split)} members in several chosen groups are split evenly" in centers.describe()
    per_member = member_credits(usage, members, conn.identity.org_id)
    lines = cb.table.set_index("cost_center")
    for title, names in departments.items():
        expected = sum(per_member.get(n, 0.0) / len(membership[n]) for n in names)
        assert lines.loc[title, "credits"] == pytest.approx(expected, rel=1e-9)
        assert lines.loc[title, "member_count"] == len(set(names))
    outside = [n for n in members["username"].str.lower() if n not in membership]
    assert lines.loc[C.LINE_LABELS[C.NO_COST_CENTER], "member_count"] == len(outside) > 0
    someone = sorted(split, key=lambda n: -per_member.get(n, 0.0))[0]
    for title in membership[someone]:
        drill = C.line_members(cb, members, title).set_index("username")
        row = drill.loc[drill.index.str.lower() == someone].iloc[0]
        assert row["share_charged"] == 0.5
        assert row["charged_credits"] == pytest.approx(per_member[someone] / 2, rel=1e-9)
    paths = [r["path"] for r in emulator.requests]
    assert any(p.endswith("community/groups") for p in paths)
    assert sum(p.lower().endswith("/userlist") for p in paths) == len(departments)


def test_groups_and_their_members_are_paged(fetched, small_org, emulator, monkeypatch):
    conn = fetched[0]
    # a small page, so the org's few groups take several
    monkeypatch.setattr("creditlens.chargeback._groups.GROUP_PAGE", 4)
    emulator.clear_requests()
    groups = C.fetch_groups(conn)
    assert sorted(g.id for g in groups) == sorted(g.id for g in small_org.groups)  # the admin sees every group
    searches = [r for r in emulator.requests if r["path"].endswith("community/groups")]
    assert [r["params"]["start"] for r in searches] == [str(1 + 4 * i) for i in range(len(searches))]
    assert len(searches) == -(-len(small_org.groups) // 4)
    biggest = max(small_org.groups, key=lambda g: len(g.everyone))
    emulator.clear_requests()
    fetched_group = C.fetch_group_members(conn, next(g for g in groups if g.id == biggest.id))
    assert sorted(fetched_group.members) == sorted(biggest.everyone)
    assert len([r for r in emulator.requests if r["path"].lower().endswith("/userlist")]) == -(
        -len(biggest.everyone) // 4
    )


def test_no_group_with_the_tag_is_one_clear_message(fetched):
    conn, members, _, _ = fetched
    with pytest.raises(C.CostCenterError, match="No groups tagged 'no-such-tag'"):
        C.groups_cost_centers(conn, members, tag="no-such-tag")


def small_chargeback(credits: tuple[float, float, float]) -> C.Chargeback:
    """ann and bob on Planning, cyd and dan on no cost center; ann, cyd and an external user used credits."""
    from creditlens.fetching import members_frame

    members = members_frame([{"username": n, "role": "org_user"} for n in ("ann", "bob", "cyd", "dan")])
    usage = pd.DataFrame(
        {
            "day": pd.to_datetime(["2026-01-05", "2026-02-03", "2026-02-04"]),
            "username": pd.Categorical(["ann", "cyd", "ext"]),
            "user_org_id": pd.Categorical(["ORG", "ORG", "OTHER"]),
            "stype": pd.Categorical(["geocode", "geocode", "geocode"]),
            "etype": pd.Categorical(["geocodecnt"] * 3),
            "credits": list(credits),
            "num": [1, 1, 1],
        }
    )
    centers = C.from_mapping_csv("username,cost_center\nann,Planning\nBOB,Planning\n", members)
    return C.build_chargeback(usage, members, "ORG", centers, Pricing(None, "USD"), sum(credits))


def test_org_total_credits_adds_the_org_wide_rows():
    rows = pd.DataFrame({"stype": ["geocode", "features", "spanalysis"], "credits": [1.5, 2.0, 0.25]})
    assert C.org_total_credits(rows) == pytest.approx(3.75)
    assert C.org_total_credits(rows.iloc[0:0]) == 0.0


def test_members_without_cost_center_counts_idle_members_too():
    charge = small_chargeback((10.0, 2.0, 3.0))
    assert C.members_without_cost_center(charge) == 2  # cyd (used credits) and dan (idle)
    planning = charge.table.set_index("cost_center").loc["Planning"]
    assert (planning["member_count"], planning["credits"]) == (2, 10.0)


def test_has_usage_is_false_for_an_empty_or_all_zero_trend():
    trend = C.monthly_trend(small_chargeback((10.0, 2.0, 3.0)))
    assert C.has_usage(trend)
    assert not C.has_usage(C.monthly_trend(small_chargeback((0.0, 0.0, 0.0))))
    assert not C.has_usage(trend.iloc[0:0])
