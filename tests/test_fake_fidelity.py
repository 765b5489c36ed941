"""Issue 13: the emulator answers what Esri's own ``arcgis`` helpers send, the way ArcGIS Online does.

Every total is checked against the model's ground truth (the org's ledger), never against the reply.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import warnings

import numpy as np
import pytest
import requests
from arcgis.gis import GIS

from creditlens.fake.demo_org import NO_ALLOCATION, USAGE_PRIVILEGE, OrgSpec, build_demo_org
from creditlens.fake.entry_keys import ENTRY_KEY_VALUES
from creditlens.fetching import members_frame
from creditlens.windows import DAY_MS, EPOCH

pytestmark = pytest.mark.integration

HOUR_MS = 3_600_000


@pytest.fixture(scope="module")
def org():
    # Usage up to today (UTC), so arcgis's "today" and "last N days" windows have data.
    return build_demo_org(OrgSpec(members=60, days=120, seed=23, url_key="fidelity", name="Fidelity Org"))


@pytest.fixture(scope="module")
def emulator(org, emulator_factory):
    return emulator_factory([org])


@pytest.fixture(scope="module")
def admin(emulator, org):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return GIS(emulator.url, org.admin_username, org.passwords[org.admin_username], ca_bundles=emulator.ca_bundle)


def rest(emulator, path: str) -> str:
    return f"{emulator.url}/sharing/rest/{path}"


def now_ms() -> int:
    return int(dt.datetime.now(dt.UTC).timestamp() * 1000)


def day_of(ms: int) -> dt.date:
    return EPOCH + dt.timedelta(days=ms // DAY_MS)


def reply_credits(reply: dict) -> float:
    return sum(float(v) for row in reply["data"] for _, v in row.get("credits", []))


def reply_num(reply: dict) -> int:
    return sum(int(v) for row in reply["data"] for _, v in row.get("num", []))


def ledger_num(org, first: dt.date, last: dt.date, stype: str | None = None) -> int:
    led = org.ledger
    mask = (led.entry_day >= org.day_index(first)) & (led.entry_day <= org.day_index(last))
    if stype is not None:
        mask &= (led.series["stype"] == stype).to_numpy()[led.entry_series]
    return int(led.entry_num[mask].sum())


# -- 1. the windows Esri's client sends -------------------------------------------------------------
@pytest.mark.parametrize("frame", ["30days", "90days"])
def test_usage_reports_users_for_days_equal_the_ledger(admin, org, frame):
    before = now_ms()
    reply = admin.admin.usage_reports.users(time_frame=frame)
    days = int(frame.removesuffix("days"))
    assert reply["period"] == "1d" and reply["data"]
    first = day_of(before - days * DAY_MS)
    assert day_of(reply["startTime"]) == first  # snapped down to the UTC midnight
    assert reply_credits(reply) == pytest.approx(org.total_credits(first, org.last_day), rel=1e-9)
    names = {row.get("username") for row in reply["data"]}
    assert {u for u, c in org.truth.items() if c in ("external", "public")} & names  # non-members too


def test_usage_reports_users_today_is_hourly_and_adds_up(admin, org):
    before = dt.datetime.now(dt.UTC)
    reply = admin.admin.usage_reports.users(time_frame="today")
    after = dt.datetime.now(dt.UTC)
    assert reply["period"] == "1h" and reply["data"]
    hours = list(range(reply["startTime"], reply["endTime"], HOUR_MS))
    assert len(hours) == 25 or reply["startTime"] % HOUR_MS == 0  # 24 h not on the hour: 25 buckets
    stamps = {int(s) for row in reply["data"] for s, _ in row["credits"]}
    assert stamps == set(hours)

    # A past day's credits are spread evenly over its 24 hours; today's over the hours begun so far.
    def expected(now: dt.datetime) -> float:
        total = 0.0
        for h in hours:
            day, hour = day_of(h), (h // HOUR_MS) % 24
            spread = now.hour + 1 if day == now.date() else 24
            total += org.total_credits(day, day) / spread if hour < spread else 0.0
        return total

    got = reply_credits(reply)
    assert got == pytest.approx(expected(before), rel=1e-9) or got == pytest.approx(expected(after), rel=1e-9)


def test_todays_hours_still_to_come_have_no_usage_and_the_day_still_adds_up(admin, emulator, org):
    today = dt.datetime.now(dt.UTC).date()
    start = (today - EPOCH).days * DAY_MS
    params = {"startTime": start, "endTime": start + DAY_MS - 1, "period": "1h", "vars": "credits,num", "f": "json"}
    reply = admin._con.post(rest(emulator, "portals/self/usage"), params)
    now = dt.datetime.now(dt.UTC)
    per_hour: dict[int, float] = {}
    for row in reply["data"]:
        for stamp, value in row["credits"]:
            hour = (int(stamp) - start) // HOUR_MS
            per_hour[hour] = per_hour.get(hour, 0.0) + float(value)
    assert sorted(per_hour) == list(range(24))
    assert all(per_hour[h] == 0 for h in range(now.hour + 1, 24))
    assert per_hour[0] > 0
    assert sum(per_hour.values()) == pytest.approx(org.total_credits(today, today), rel=1e-9)


def test_an_over_long_window_is_an_error_not_an_empty_reply(admin, emulator):
    start = now_ms() - 200 * DAY_MS
    params = {"startTime": start, "endTime": start + 190 * DAY_MS, "period": "1d", "vars": "credits"}
    with pytest.raises(Exception, match=r"Invalid time range[\s\S]*at most 183 days[\s\S]*Error Code: 400"):
        admin._con.post(rest(emulator, "portals/self/usage"), params)


# -- 2. parameter names are case-insensitive ---------------------------------------------------------
def test_applications_counts_app_logins_by_app(admin, org):
    before = now_ms()
    reply = admin.admin.usage_reports.applications(time_frame="week")
    first = day_of(before - 7 * DAY_MS)
    apps = {row["appId"] for row in reply["data"]}
    assert apps and apps <= set(ENTRY_KEY_VALUES["appId"]["applogin"])
    assert reply_num(reply) == ledger_num(org, first, org.last_day, "applogin")
    assert reply_num(reply) < ledger_num(org, first, org.last_day)  # sType was applied, not ignored


# -- 3. groupby keys and vars -------------------------------------------------------------------------
def test_task_groupby_splits_analysis_without_changing_its_total(admin, emulator, org):
    start = (org.last_day - dt.timedelta(days=59) - EPOCH).days * DAY_MS
    params = {"startTime": start, "endTime": start + 60 * DAY_MS - 1, "period": "1d", "vars": "credits",
              "groupby": "task", "stype": "spanalysis"}  # fmt: skip
    reply = admin._con.post(rest(emulator, "portals/self/usage"), params)
    tasks = {row["task"] for row in reply["data"]}
    assert len(tasks) > 1 and tasks <= set(ENTRY_KEY_VALUES["task"]["spanalysis"])
    first = org.last_day - dt.timedelta(days=59)
    truth = org.total_credits(first, org.last_day, frozenset({"spanalysis"}))
    assert reply_credits(reply) == pytest.approx(truth, rel=1e-9) and truth > 0


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [("vars", "cost,bw,stg", "Invalid vars"), ("groupby", "username,deviceId", "Invalid groupby")],
)
def test_unknown_vars_and_groupby_keys_are_errors(admin, emulator, name, value, message):
    start = now_ms() - 10 * DAY_MS
    params = {"startTime": start, "endTime": start + 5 * DAY_MS, "period": "1d", name: value}
    with pytest.raises(Exception, match=message):
        admin._con.post(rest(emulator, "portals/self/usage"), params)


# -- 5. error bodies -----------------------------------------------------------------------------------
def test_error_replies_carry_message_codes(emulator):
    def get(path, method="GET", **params):
        reply = requests.request(method, rest(emulator, path), params={"f": "json", **params},
                                 verify=emulator.ca_bundle, timeout=30)  # fmt: skip
        assert reply.status_code == 200
        return reply.json()["error"]

    assert get("portals/self/roles") == {"code": 499, "messageCode": "GWM_0003", "message": "Token Required",
                                         "details": []}  # fmt: skip
    assert get("community/self") == {"code": 400, "messageCode": "COM_0019", "message": "Not logged in.",
                                     "details": []}  # fmt: skip
    refused = get("generateToken", username="x", password="y")
    assert (refused["code"], refused["messageCode"], refused["message"]) == (405, "GWM_0005", "Method not supported.")


def test_a_missing_group_has_its_message_code(admin, emulator):
    with pytest.raises(Exception, match="Group does not exist or is inaccessible"):
        admin._con.post(rest(emulator, "community/groups/" + "0" * 32), {})


# -- 7. budgets ----------------------------------------------------------------------------------------
def test_budget_fields_follow_esri_and_parse_either_way(admin, emulator, org):
    users = admin._con.post(rest(emulator, "portals/self/users"), {"start": 1, "num": 100})["users"]
    unallocated = [u for u in users if u["assignedCredits"] == NO_ALLOCATION]
    allocated = [u for u in users if u["assignedCredits"] > 0]
    assert unallocated and allocated
    assert all(u["availableCredits"] == NO_ALLOCATION for u in unallocated)
    frame = members_frame(users).set_index("username")
    assert frame.loc[[u["username"] for u in unallocated], ["assigned_credits", "available_credits"]].isna().all().all()
    mine = allocated[0]
    assert frame.loc[mine["username"], "available_credits"] == mine["availableCredits"]
    budgeting_off = [dict(u, assignedCredits=None, availableCredits=None) for u in users]
    assert members_frame(budgeting_off)[["assigned_credits", "available_credits"]].isna().all().all()


def test_credits_and_roles_through_arcgis(admin, org):
    assert admin.admin.credits.credits == org.portal["availableCredits"] > 0
    assert admin.admin.credits.is_enabled is True
    roles = {r.name: r for r in admin.users.roles.all()}
    assert {"Viewer", "Data Editor", "Credit Analyst"} <= set(roles)
    analyst = roles["Credit Analyst"]
    assert analyst.privileges == org.role_privileges[analyst.role_id] and USAGE_PRIVILEGE in analyst.privileges
    assert "features:user:edit" in roles["Data Editor"].privileges


# -- 8. records ----------------------------------------------------------------------------------------
def test_portal_and_user_records_carry_what_esris_clients_read(admin, org):
    props = admin.properties
    assert props.currentVersion and props.allSSL is True and props.maxTokenExpirationMinutes > 0
    assert props.portalHostname == f"{org.spec.url_key}.maps.arcgis.com"
    assert "geocode" in props.helperServices and "route" in props.helperServices
    subscription = props.subscriptionInfo
    assert subscription.state == "active" and subscription.maxUsers >= len(org.members)
    assert subscription.availableCredits == org.portal["availableCredits"]
    assert sum(subscription.userLicenseTypes.values()) >= len(org.members)
    me = admin.users.me
    assert (me.culture, me.region, me.units, me.mfaEnabled, list(me.tags)) == ("en", "WO", "metric", False, [])


# -- 9. the wire ---------------------------------------------------------------------------------------
def test_cors_preflight_and_origin_header(emulator):
    url = rest(emulator, "portals/self")
    origin = "https://apps.example.org"
    pre = requests.options(url, verify=emulator.ca_bundle, timeout=30, headers={
        "Origin": origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "x-esri-authorization"})  # fmt: skip
    assert pre.status_code == 200 and pre.headers["Access-Control-Allow-Origin"] == origin
    assert "POST" in pre.headers["Access-Control-Allow-Methods"]
    assert pre.headers["Access-Control-Allow-Headers"] == "x-esri-authorization"
    plain = requests.get(url, params={"f": "json"}, verify=emulator.ca_bundle, timeout=30)
    assert plain.headers["Access-Control-Allow-Origin"] == "*"


def test_head_answers_the_headers_of_get(emulator):
    url = rest(emulator, "portals/self")
    head = requests.head(url, params={"f": "json"}, verify=emulator.ca_bundle, timeout=30)
    get = requests.get(url, params={"f": "json"}, verify=emulator.ca_bundle, timeout=30)
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["Content-Length"]) == len(get.content) > 0


def test_no_f_is_html_and_pjson_is_pretty(emulator, org):
    token = emulator.issue_token(org.admin_username)
    url = rest(emulator, "community/self")
    page = requests.get(url, params={"token": token}, verify=emulator.ca_bundle, timeout=30)
    assert page.headers["Content-Type"].startswith("text/html") and "<pre>" in page.text
    assert org.admin_username in page.text
    pretty = requests.get(url, params={"token": token, "f": "pjson"}, verify=emulator.ca_bundle, timeout=30)
    compact = requests.get(url, params={"token": token, "f": "json"}, verify=emulator.ca_bundle, timeout=30)
    assert pretty.text.startswith("{\n  ") and "\n" not in compact.text
    assert json.loads(pretty.text) == json.loads(compact.text)


def test_html_pages_escape_what_they_show(emulator, org):
    token = emulator.issue_token(org.admin_username)
    url = rest(emulator, "community/users/<script>alert(1)<")
    page = requests.get(url, params={"token": token}, verify=emulator.ca_bundle, timeout=30)
    assert "does not exist" in page.text and "&lt;script&gt;alert(1)&lt;" in page.text
    assert "<script>alert" not in page.text


# -- Credit Lens's own windows are unchanged ---------------------------------------------------------
def test_sixty_day_windows_answer_as_before(admin, emulator, org):
    last = org.last_day
    first = last - dt.timedelta(days=59)
    start = (first - EPOCH).days * DAY_MS
    params = {"startTime": start, "endTime": start + 60 * DAY_MS - 1, "period": "1d", "vars": "credits,num",
              "groupby": "username,userorgid,stype,etype"}  # fmt: skip
    reply = admin._con.post(rest(emulator, "portals/self/usage"), params)
    assert len(reply["data"][0]["credits"]) == 60
    assert math.isclose(reply_credits(reply), org.total_credits(first, last), rel_tol=1e-9)
    assert np.isclose(reply_num(reply), ledger_num(org, first, last))
