"""Groups and search in the fake portal, through Esri's own ``arcgis`` helpers against the emulator."""

from __future__ import annotations

import warnings

import pytest
from arcgis.gis import GIS

from creditlens.fake.demo_org import build_demo_org
from creditlens.fake.groups import CHARGEBACK_TAG, DEPARTMENTS, groups_of
from creditlens.fake.search_query import matches, parse_query

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def org(small_org):
    return small_org


@pytest.fixture(scope="module")
def emulator(org, emulator_factory):
    return emulator_factory([org])


def sign_in(emulator, org, username: str) -> GIS:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return GIS(emulator.url, username, org.passwords[username], ca_bundles=emulator.ca_bundle)


@pytest.fixture(scope="module")
def admin(emulator, org):
    return sign_in(emulator, org, org.admin_username)


@pytest.fixture(scope="module")
def viewer(emulator, org):
    return sign_in(emulator, org, f"{org.spec.url_key}_viewer")


def departments(org):
    return [g for g in org.groups if CHARGEBACK_TAG in g.tags]


def rest(emulator, path: str) -> str:
    return f"{emulator.url}/sharing/rest/{path}"


# -- the model ------------------------------------------------------------------------------------
def test_department_groups_leave_some_members_in_two_and_some_in_none(org):
    assert sorted(g.title for g in departments(org)) == sorted(DEPARTMENTS)
    counts = [sum(1 for g in departments(org) if g.member_type(m["username"]) != "none") for m in org.members]
    assert max(counts) == 2 and counts.count(2) > 0 and counts.count(0) > 0
    assert counts[0] == 0  # the admin account is in no department


def test_groups_are_deterministic(org):
    again = build_demo_org(org.spec)
    assert [(g.id, g.owner, g.admins, g.users) for g in again.groups] == [
        (g.id, g.owner, g.admins, g.users) for g in org.groups
    ]


# -- group search, one group, its members ---------------------------------------------------------
def test_groups_search_by_tag_finds_the_department_groups(admin, org):
    found = admin.groups.search(f"tags:{CHARGEBACK_TAG}")
    assert sorted(g.title for g in found) == sorted(g.title for g in departments(org))
    assert {g.id for g in found} == {g.id for g in departments(org)}


def test_groups_search_pages_with_next_start(admin, emulator, org):
    url = rest(emulator, "community/groups")
    seen, start, pages = [], 1, 0
    while start > 0:
        page = admin._con.post(url, {"q": f"accountid:{org.org_id}", "start": start, "num": 4})
        assert page["total"] == len(org.groups) and page["start"] == start
        seen += [g["id"] for g in page["results"]]
        start, pages = page["nextStart"], pages + 1
    assert pages == -(-len(org.groups) // 4) and sorted(seen) == sorted(g.id for g in org.groups)


def test_one_group_and_its_members_match_the_model(admin, org):
    model = max(departments(org), key=lambda g: len(g.users))
    group = admin.groups.get(model.id)
    assert group.title == model.title and group.owner == model.owner
    members = group.get_members()
    assert members == {"owner": model.owner, "admins": [model.owner, *model.admins], "users": model.users}
    listed = group.user_list()
    assert sorted(u["username"] for u in listed["users"]) == sorted(model.everyone)
    assert {u["username"]: u["memberType"] for u in listed["users"]}[model.owner] == "owner"
    assert admin.groups.get("0" * 32) is None  # "Group does not exist or is inaccessible."


def test_user_list_pages_by_25_by_default(admin, emulator, org):
    model = max(departments(org), key=lambda g: len(g.everyone))
    url = rest(emulator, f"community/groups/{model.id}/userList")
    first = admin._con.get(url, {"start": 1})
    assert first["num"] == min(25, len(model.everyone)) and first["total"] == len(model.everyone)
    assert first["owner"]["username"] == model.owner


def test_a_private_group_is_hidden_from_non_members(viewer, admin, org):
    private = next(g for g in org.groups if g.access == "private")
    assert private.member_type(f"{org.spec.url_key}_viewer") == "none"
    assert private.title not in {g.title for g in viewer.groups.search("")}
    assert viewer.groups.get(private.id) is None
    assert admin.groups.get(private.id).title == private.title


# -- users ----------------------------------------------------------------------------------------
def test_users_search_finds_what_the_query_matches(admin, org):
    first_name = org.members[10]["firstName"]
    expected = sorted(
        m["username"] for m in org.members if first_name.lower() in (m["firstName"].lower(), m["lastName"].lower())
    )
    found = admin.users.search(query=first_name, max_users=1000)
    assert sorted(u.username for u in found) == expected and expected


def test_org_search_pages_through_every_member(admin, org):
    found = admin.users.org_search("*", as_dict=True)
    assert sorted(u["username"] for u in found) == sorted(m["username"] for m in org.members)
    assert all(u["groups"] == [] for u in found)  # searches never list groups


def test_a_members_groups_are_listed_for_administrators(admin, emulator, org):
    model = max(departments(org), key=lambda g: len(g.users))
    username = model.users[0]
    expected = sorted(g.id for g in groups_of(org.groups, username))
    assert sorted(g["id"] for g in admin.users.get(username).groups) == expected
    record = admin._con.get(rest(emulator, f"community/users/{username}"), {})
    memberships = [(g["id"], g["userMembership"]["memberType"]) for g in record["groups"]]
    assert memberships == [(g.id, g.member_type(username)) for g in groups_of(org.groups, username)]


def test_a_plain_user_sees_no_private_fields_of_another_member(viewer, emulator, org):
    other = org.members[20]
    record = viewer._con.get(rest(emulator, f"community/users/{other['username']}"), {})
    assert record["username"] == other["username"] and record["fullName"] == other["fullName"]
    assert not {"email", "privileges", "groups", "assignedCredits"} & set(record)
    listed = viewer._con.post(rest(emulator, "portals/self/users"), {"start": 1, "num": 100})["users"]
    others = [u for u in listed if u["username"] != f"{org.spec.url_key}_viewer"]
    assert len(others) == len(listed) - 1 and not any("email" in u or "privileges" in u for u in others)
    me = viewer._con.get(rest(emulator, "community/self"), {})
    assert me["email"] and me["privileges"]  # the user sees their own


def test_item_search_answers_an_empty_page(admin, emulator):
    reply = admin._con.get(rest(emulator, "search"), {"q": "owner:nobody", "num": 10})
    assert (reply["total"], reply["nextStart"], reply["results"]) == (0, -1, [])


# -- the query syntax -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("q", "hit"),
    [
        ("tags:chargeback", True),
        ("tags:charge*", True),
        ("-tags:chargeback", False),
        ('title:"public works"', True),
        ("title:parks OR title:works", True),
        ("owner:someone AND tags:chargeback", False),
        ("(works) accountid:ORG1", True),
        ("*", True),
    ],
)
def test_query_syntax(q, hit):
    fields = {"title": ["Public Works"], "tags": ["chargeback"], "owner": ["ana"], "accountid": ["ORG1"]}
    assert matches(parse_query(q), fields, ("title", "tags", "owner")) is hit
