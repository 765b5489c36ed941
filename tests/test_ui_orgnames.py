"""External orgs by name where the portal gives one: the real arcgis client against the HTTPS emulator."""

from __future__ import annotations

import datetime as dt

import pytest

from creditlens import orgnames, reports
from creditlens.fake import portal_api
from creditlens.fetching import fetch_members, fetch_usage
from creditlens.portal import connect
from creditlens.ui import reconciliation

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def emulator(small_org, emulator_factory):
    return emulator_factory([small_org])


@pytest.fixture(scope="module")
def admin(emulator, small_org):
    name = small_org.admin_username
    return connect(emulator.url, name, small_org.passwords[name], ca_bundle=emulator.ca_bundle)


def naming(org_id: str, name: str):
    """The fake portal, also describing one other organization at ``portals/<id>`` (as ArcGIS Online may)."""
    real = portal_api.handle_request

    def wrapper(org, username, path, params):
        if path.strip("/") == f"portals/{org_id}":
            return {"id": org_id, "name": name, "urlKey": "harborcity"}
        return real(org, username, path, params)

    return wrapper


def test_a_named_external_org_is_shown_by_name_and_others_by_id(admin, emulator, small_org, monkeypatch):
    first, second = small_org.external_org_ids
    monkeypatch.setattr(portal_api, "handle_request", naming(first, "Harbor  City\nGIS"))
    emulator.requests.clear()
    names = orgnames.external_org_names(admin, [first, second, first, "not an id/../x", admin.identity.org_id])
    assert names == {first: "Harbor City GIS"}  # whitespace folded; the unnamed org is left out
    asked = [r["path"] for r in emulator.requests if "/portals/" in r["path"] and r["path"].count("/") >= 3]
    assert sum(p.endswith(f"/portals/{first}") for p in asked) == 1  # each id asked once
    assert not any("not an id" in p for p in asked)  # nothing odd goes into a request path
    end = small_org.last_day
    usage = fetch_usage(admin, end - dt.timedelta(days=29), end).frame
    rec = reports.reconcile_members(usage, fetch_members(admin), admin.identity.org_id)
    table = reconciliation.non_member_table(rec, names)
    external = table[table["category"] == reports.CATEGORY_LABELS[reports.EXTERNAL]]
    assert set(external.loc[external["user_org_id"] == first, "user_org_name"]) == {"Harbor City GIS"}
    assert set(external.loc[external["user_org_id"] == second, "user_org_name"]) == {""}
    assert set(table.loc[table["category"] != reports.CATEGORY_LABELS[reports.EXTERNAL], "user_org_name"]) <= {""}


def test_a_portal_that_names_no_other_org_leaves_ids(admin, small_org):
    assert orgnames.external_org_names(admin, small_org.external_org_ids) == {}
