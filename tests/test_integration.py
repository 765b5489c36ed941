"""The real ``arcgis`` client against the HTTPS emulator: nothing in ``arcgis`` is mocked."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from creditlens import reports as R
from creditlens.errors import LoginFailed, NotArcGISOnline, NotAuthorized
from creditlens.fake.demo_org import OrgSpec, build_demo_org
from creditlens.fake.emulator import PortalEmulator
from creditlens.fetching import fetch_members, fetch_org_totals, fetch_usage
from creditlens.portal import connect, connect_demo
from creditlens.windows import DAY_MS

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def emulator(small_org, emulator_factory):
    lakeside = build_demo_org(
        OrgSpec(
            members=20, days=120, seed=11, end_day=small_org.last_day, name="Lakeside County GIS", url_key="lakeside"
        )
    )
    return emulator_factory([small_org, lakeside])


@pytest.fixture(scope="module")
def admin(emulator, small_org):
    return connect(
        emulator.url,
        small_org.admin_username,
        small_org.passwords[small_org.admin_username],
        ca_bundle=emulator.ca_bundle,
    )


def usage_requests(emulator):
    return [r for r in emulator.requests if r["path"].endswith("/usage")]


def test_login_returns_an_identity_without_secrets(admin, emulator, small_org):
    assert admin.identity.portal_url == emulator.url
    assert admin.identity.org_id == small_org.org_id
    assert admin.identity.username == small_org.admin_username
    assert admin.org_name == small_org.name
    assert small_org.passwords[small_org.admin_username] not in admin.identity.cache_key


def test_members_are_paged_past_100(admin, emulator, small_org):
    emulator.clear_requests()
    members = fetch_members(admin)
    assert len(members) == len(small_org.members) == 130
    assert members["username"].is_unique
    pages = [r for r in emulator.requests if r["path"].endswith("portals/self/users")]
    assert [r["params"]["start"] for r in pages] == ["1", "101"]
    assert all(int(r["params"]["num"]) <= 100 for r in pages)
    assert "Credit Analyst" in set(members["role"])


def test_one_year_is_fetched_in_seven_windows_without_losing_or_doubling_a_day(admin, emulator, small_org):
    end = small_org.last_day
    start = end - dt.timedelta(days=364)
    emulator.clear_requests()
    result = fetch_usage(admin, start, end)
    assert result.complete
    sent = sorted(usage_requests(emulator), key=lambda r: int(r["params"]["startTime"]))
    assert len(sent) == 7
    for before, after in itertools.pairwise(sent):
        assert int(after["params"]["startTime"]) == int(before["params"]["endTime"]) + 1
    assert all((int(r["params"]["endTime"]) + 1 - int(r["params"]["startTime"])) // DAY_MS <= 60 for r in sent)
    days = result.frame["day"].dt.date
    assert days.min() >= start and days.max() <= end
    assert result.frame.duplicated(["day", "username", "user_org_id", "stype", "etype"]).sum() == 0
    assert result.frame["credits"].sum() == pytest.approx(small_org.total_credits(start, end), rel=1e-9)
    storage_days = set(days[result.frame["etype"].astype(str) == "stg"])
    assert len(storage_days) == 365  # storage accrues daily: every day present exactly once


def test_every_username_is_classified_as_the_model_says(admin, small_org):
    end = small_org.last_day
    result = fetch_usage(admin, end - dt.timedelta(days=364), end)
    rec = R.reconcile_members(result.frame, fetch_members(admin), admin.identity.org_id)
    assert set(rec.table["status"]) == set(R.CATEGORIES)
    for username, status in zip(rec.table["username"], rec.table["status"], strict=True):
        assert small_org.truth["" if username == R.UNATTRIBUTED_LABEL else username] == status


def test_per_user_plus_unattributed_equals_org_total_per_service(admin, small_org):
    end = small_org.last_day
    start = end - dt.timedelta(days=179)
    usage = fetch_usage(admin, start, end).frame
    totals = fetch_org_totals(admin, start, end).set_index("stype")["credits"]
    per_service = usage.groupby("stype", observed=True)["credits"].sum()
    assert set(per_service.index) == set(totals.index)
    for stype, total in totals.items():
        assert per_service[stype] == pytest.approx(total, rel=1e-6)
    assert R.totals_check(usage, fetch_org_totals(admin, start, end)).ok


def test_demo_and_emulator_give_identical_numbers(admin, small_org):
    end = small_org.last_day
    start = end - dt.timedelta(days=89)
    demo = connect_demo(org=small_org)
    via_https = R.leaderboard(fetch_usage(admin, start, end).frame, fetch_members(admin), admin.identity.org_id)
    in_process = R.leaderboard(fetch_usage(demo, start, end).frame, fetch_members(demo), demo.identity.org_id)
    assert via_https.equals(in_process)


def test_wrong_password_is_a_clear_login_error(emulator, small_org):
    with pytest.raises(LoginFailed, match="username or password is wrong") as info:
        connect(emulator.url, small_org.admin_username, "not-the-password", ca_bundle=emulator.ca_bundle)
    assert "not-the-password" not in str(info.value)


def test_account_without_usage_privilege_is_refused(emulator, small_org):
    viewer = f"{small_org.spec.url_key}_viewer"
    with pytest.raises(NotAuthorized, match="may not view credit usage"):
        connect(emulator.url, viewer, small_org.passwords[viewer], ca_bundle=emulator.ca_bundle)


def test_custom_role_with_the_privilege_may_read_usage(emulator, small_org):
    analyst = f"{small_org.spec.url_key}_analyst"
    conn = connect(emulator.url, analyst, small_org.passwords[analyst], ca_bundle=emulator.ca_bundle)
    assert conn.identity.username == analyst


def test_url_forms_with_home_and_sharing_rest_log_in(emulator, small_org):
    for suffix in ("/home", "/sharing/rest/", "/home/index.html"):
        conn = connect(
            emulator.url + suffix,
            small_org.admin_username,
            small_org.passwords[small_org.admin_username],
            ca_bundle=emulator.ca_bundle,
        )
        assert conn.identity.portal_url == emulator.url


def test_two_orgs_on_one_emulator_are_kept_apart(emulator, small_org):
    lakeside = connect(
        emulator.url, "lakeside_admin", emulator.orgs[1].passwords["lakeside_admin"], ca_bundle=emulator.ca_bundle
    )
    assert lakeside.org_name == "Lakeside County GIS"
    assert lakeside.identity.org_id != small_org.org_id
    names = set(fetch_members(lakeside)["username"])
    assert len(names) == 20 and not names & {m["username"] for m in small_org.members}


def test_enterprise_portal_is_refused(small_org):
    enterprise = build_demo_org(OrgSpec(members=10, days=30, seed=2, end_day=small_org.last_day, url_key="ent"))
    enterprise.portal.update(isPortal=True, portalName="ArcGIS Enterprise", portalMode="singletenant")
    with PortalEmulator([enterprise]) as emu, pytest.raises(NotArcGISOnline, match="Enterprise"):
        connect(emu.url, "ent_admin", enterprise.passwords["ent_admin"], ca_bundle=emu.ca_bundle)


def test_org_with_no_usage_gives_an_empty_but_valid_result(small_org):
    quiet = build_demo_org(OrgSpec(members=10, days=30, seed=3, end_day=small_org.last_day, url_key="quiet"))
    quiet.ledger.entry_credits[:] = 0
    quiet.ledger.entry_num[:] = 0
    with PortalEmulator([quiet]) as emu:
        conn = connect(emu.url, "quiet_admin", quiet.passwords["quiet_admin"], ca_bundle=emu.ca_bundle)
        result = fetch_usage(conn, quiet.last_day - dt.timedelta(days=29), quiet.last_day)
        assert result.complete and result.frame.empty
        rec = R.reconcile_members(result.frame, fetch_members(conn), conn.identity.org_id)
        assert len(rec.idle_members) == 10 and rec.summary["credits"].sum() == 0
