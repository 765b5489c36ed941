import datetime as dt
from collections import Counter

import numpy as np

from creditlens.fake.demo_org import USER_TYPES, OrgSpec, build_demo_org
from creditlens.fake.portal_api import handle_request, java_double


def test_same_spec_builds_the_same_org(small_spec, small_org):
    again = build_demo_org(small_spec)
    assert again.org_id == small_org.org_id
    assert [m["username"] for m in again.members] == [m["username"] for m in small_org.members]
    assert np.array_equal(again.ledger.entry_credits, small_org.ledger.entry_credits)


def test_org_has_the_people_the_forum_complains_about(small_org):
    counts = Counter(small_org.truth.values())
    assert counts["member"] == 130
    assert counts["external"] >= 6 and counts["public"] >= 3 and counts["former_member"] >= 3
    assert counts["unattributed"] == 1
    ext_orgs = {o for o in small_org.ledger.series["userOrgId"] if o not in ("", small_org.org_id)}
    assert len(ext_orgs) == 2
    members = {m["username"] for m in small_org.members}
    former = [u for u, c in small_org.truth.items() if c == "former_member"]
    assert not members & set(former)


def test_members_have_realistic_attributes(small_org):
    members = small_org.members
    assert {m["userLicenseTypeId"] for m in members} == set(USER_TYPES)
    assert {m["role"] for m in members} == {"org_admin", "org_publisher", "org_user"}
    assert any(m["roleId"] == small_org.roles[0]["id"] for m in members)  # the custom role
    assert any(m["lastLogin"] == -1 for m in members) and any(m["disabled"] for m in members)
    assert all((m["id"] and m["lastLogin"] == -1) or m["lastLogin"] >= m["created"] for m in members)
    assert any(m["assignedCredits"] for m in members)
    assert small_org.portal["creditAssignments"] == "enabled"


def test_weekdays_are_busier_than_weekends(small_org):
    led = small_org.ledger
    transactions = ~led.series["etype"].eq("stg").to_numpy()[led.entry_series]
    weekday = np.array(
        [(small_org.first_day + dt.timedelta(days=int(d))).weekday() for d in range(led.entry_day.max() + 1)]
    )
    per_day = np.bincount(led.entry_day[transactions], weights=led.entry_credits[transactions], minlength=len(weekday))
    assert per_day[weekday < 5].mean() > 2 * per_day[weekday >= 5].mean()


def test_some_members_have_no_usage_in_a_month(small_org):
    keys, credits, _ = small_org.usage_matrix(
        small_org.last_day - dt.timedelta(days=29), small_org.last_day, ["username"]
    )
    active = set(keys["username"][credits.sum(axis=1) > 0])
    idle = [m for m in small_org.members if m["username"] not in active]
    assert 5 <= len(idle) < len(small_org.members) // 2


def test_usage_reply_shape_and_window_rules(small_org):
    day = small_org.last_day - dt.timedelta(days=10)
    t0 = (day - dt.date(1970, 1, 1)).days * 86_400_000
    params = {
        "startTime": str(t0 + 5000),
        "endTime": str(t0 + 3 * 86_400_000 - 1),
        "period": "1d",
        "vars": "credits,num",
        "groupby": "username,userorgid,stype,etype",
    }
    reply = handle_request(small_org, small_org.admin_username, "portals/self/usage", params)
    assert reply["startTime"] == t0 and reply["endTime"] == t0 + 3 * 86_400_000  # snapped to UTC days
    row = reply["data"][0]
    assert {"credits", "num"} <= set(row) and all(isinstance(v, str) for _, v in row["credits"])
    assert [int(s) for s, _ in row["credits"]] == [t0, t0 + 86_400_000, t0 + 2 * 86_400_000]
    longer = dict(params, endTime=str(t0 + 61 * 86_400_000))  # what arcgis's users('90days') needs too
    answered = handle_request(small_org, small_org.admin_username, "portals/self/usage", longer)
    assert len(answered["data"][0]["credits"]) == 61
    too_long = dict(params, startTime=str(t0 - 200 * 86_400_000))
    refused = handle_request(small_org, small_org.admin_username, "portals/self/usage", too_long)
    assert refused["error"]["message"] == "Invalid time range." and "data" not in refused
    assert "error" in handle_request(small_org, "nobody", "portals/self", {})
    viewer = f"{small_org.spec.url_key}_viewer"
    assert handle_request(small_org, viewer, "portals/self/usage", params)["error"]["code"] == 403


def test_java_double_formatting():
    assert [java_double(v) for v in (0.0, 2e-4, 14562242.0, 1.5, 1e7)] == [
        "0.0",
        "2.0E-4",
        "1.4562242E7",
        "1.5",
        "1.0E7",
    ]


def test_spec_size_is_a_parameter():
    tiny = build_demo_org(OrgSpec(members=8, days=10, seed=1, end_day=dt.date(2026, 1, 10)))
    assert len(tiny.members) == 8 and tiny.ledger.entry_day.max() <= 9
