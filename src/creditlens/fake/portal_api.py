"""The portal's REST replies for a :class:`DemoOrg`: request in, JSON payload out.

This is the *responses* half of the moto split. It knows the paths, parameters and reply shapes of
ArcGIS Online's sharing REST API but not HTTP, TLS or tokens: the emulator adds those, and the demo
connection calls :func:`handle_request` directly, so the demo and the emulator answer with the very
same payloads. Usage replies are in :mod:`creditlens.fake.usage_api`.

Sources: ``shared/reference/arcgis-online-usage-api.md`` (usage) and
``shared/reference/arcgis-online-groups-errors-oauth.md`` (groups, errors, credits, OAuth), each fact
with its source there; what was checked here with the search tool is cited inline.

Confirmed (with the source):

- Paged replies carry ``total, start, num, nextStart`` with ``nextStart = -1`` on the last page;
  ``arcgis`` pages group search while ``nextStart > 0`` and ``userList`` while ``> -1``
  (``arcgis`` 2.4.4 ``gis/_impl/_portalpy.py`` ``search_groups``; ``gis/__init__.py`` ``user_list``).
- ``gis.groups.search(q)`` and ``gis.users.search(q)`` POST ``community/groups`` and
  ``community/users`` with ``q + " accountid:<orgId>"`` (same file, ``search_groups``/``search_users``).
  ``gis.users.org_search`` GETs ``portals/self/users/search``; search replies list ``results``.
- Group search result and group record fields, ``community/groups/<id>`` adding ``userMembership``
  (RJS mocks ``groups/responses.ts``); ``community/groups/<id>/users`` is ``{owner, admins, users}``
  of plain usernames, with the owner among the admins (developers.arcgis.com "Group Users");
  ``userList`` has ``owner`` as a user object and pages with ``num`` 25 by default, 100 at most.
- A missing or hidden group: ``400 COM_0003 "Group does not exist or is inaccessible."``; a
  missing user: ``400 "User does not exist or is inaccessible."`` (``arcgis`` returns ``None`` on
  exactly those texts).
- A user's full record (email, groups, privileges) is "only accessible to the user themselves or to
  an organization administrator" (developers.arcgis.com "User"); search results carry
  ``groups: []`` (RJS ``mocks/users/user-search.ts``).
- ``assignedCredits`` / ``availableCredits``: ``-1`` for members without an allocation when
  budgeting is on (RJS ``user-search.ts``: most users ``-1 / -1``); ``null`` when the org has
  budgeting off (Esri Runtime API reference, ``PortalUser.AvailableCredits``: "This value is null
  if credit budgeting is turned off for the organization", found with the search tool).
- Error bodies: ``499 GWM_0003 "Token Required"``, ``400 COM_0019 "Not logged in."``,
  ``405 GWM_0005 "Method not supported."`` (RJS ``mocks/errors.ts``; KOOP; Web AppBuilder), sent
  with HTTP 200.

Chosen where the real service is undocumented:

- Query syntax: :mod:`creditlens.fake.search_query` (fields, ``-``, ``OR``, prefix ``*``),
  case-insensitive. Only the caller's own org is searched (``outside_org`` finds nothing more).
- "Administrator" for private fields and group member lists means ``org_admin`` or a role with
  ``portal:admin:viewUsers`` (the Credit Analyst custom role). A plain member sees other members
  without email, privileges, groups, credits, storage or last login. ``portals/self/users`` and
  searches send ``groups: []``; the full record (``community/users/<name>``, ``community/self``)
  lists the groups with ``userMembership``, to the user and administrators.
- ``userList`` includes the owner in ``users`` (``memberType: "owner"``). A private group is
  found only by its members and administrators. Group search's default ``num`` is 10.
- Item search (``search``) answers the shape with no results: the demo org has no items.

Usage (``portals/self/usage``, undocumented; :mod:`creditlens.fake.usage_api`):

- Confirmed: parameters and reply shape (``arcgis`` 2.4.4 ``gis/admin/_usage.py``: ``users()`` sends
  ``groupby=username,userorgid`` at ``1h`` for ``today`` (24 hours, not on the hour) and ``1d`` for
  7 to 90 days; ``applications()`` sends ``sType=applogin&eType=svcusg&groupby=appId&vars=num``).
  Parameter names are matched case-insensitively (ArcGIS REST's rule; ``groupby`` values too).
- Chosen: a ``1d`` query covers at most 183 days and a ``1h`` query at most 7 days (users report
  ``1d`` failing near 6 months: arcgis-python-api issues 321, 1456, 1843); ``1w`` and ``1m`` any.
  A longer window gets ``400 "Invalid time range."`` with the limit in ``details``, never a
  silently empty ``data``.
- Chosen: ``vars`` other than ``credits`` and ``num`` (``cost``, ``bw``, ``stg``...) and ``groupby``
  keys other than ``username, userorgid, stype, etype, appId, task`` (``name``, ``deviceId``...)
  get ``400 "Invalid vars."`` / ``"Invalid groupby."`` naming each: the model has no such measure.
- Chosen: ``appId`` is served for app logins and ``task`` for spatial analysis and GeoEnrichment
  (values in :mod:`creditlens.fake.entry_keys`); each day of a series goes wholly to one of them,
  so splitting by them changes no total.
- Chosen: ``startTime`` snaps down to the bucket edge; a bucket is included when it starts before
  ``endTime``; the reply's ``endTime`` is the edge after the last bucket. ``1h`` spreads each day's
  model usage evenly over its 24 hours, and today's over the hours begun so far (none in hours still
  to come; the day's total is the same at ``1d``). History is kept for two years; older buckets are zero.

The wire (:mod:`creditlens.fake.routes`): no ``f`` (or ``f=html``) answers an HTML page of the
resource, ``f=pjson`` indented JSON; ``OPTIONS`` is a CORS preflight and every reply carries
``Access-Control-Allow-Origin`` (the ``Origin`` sent, or ``*``); ``HEAD`` answers ``GET``'s headers.
``/info``, the version resource and the OAuth endpoints always answer JSON.
"""

from __future__ import annotations

from collections.abc import Mapping

from creditlens.fake.demo_org import DemoOrg
from creditlens.fake.errors import error_payload
from creditlens.fake.groups import Group, groups_of
from creditlens.fake.search_query import matches, parse_query
from creditlens.fake.usage_api import java_double, usage_reply

__all__ = ["error_payload", "handle_request", "java_double", "usage_reply"]

MAX_PAGE = 100
VIEW_USERS = "portal:admin:viewUsers"
#: Fields only the user and administrators see.
PRIVATE_USER_FIELDS = (
    "email",
    "privileges",
    "groups",
    "assignedCredits",
    "availableCredits",
    "storageUsage",
    "storageQuota",
    "lastLogin",
    "mfaEnabled",
)
NO_PERMISSION = "You do not have permissions to access this resource or perform this operation."
GROUP_GONE = "Group does not exist or is inaccessible."
USER_DEFAULT_FIELDS = ("username", "fullname", "firstname", "lastname")
GROUP_DEFAULT_FIELDS = ("id", "title", "description", "snippet", "tags", "owner")


def handle_request(org: DemoOrg, username: str, path: str, params: Mapping[str, str]) -> dict:
    """Answer one authenticated REST call (path relative to ``/sharing/rest/``) as the portal would."""
    parts = [p for p in path.strip("/").split("/") if p]
    caller = org.member(username)
    if caller is None or caller.get("disabled"):
        return error_payload(498, "Invalid token.")
    params = _lower_keys(params)
    match [p.lower() for p in parts]:
        case ["portals", _] if _is_org(org, parts[1]):
            return {**org.portal, "user": _full_user(org, caller)}
        case ["portals", _, "users"] if _is_org(org, parts[1]):
            return _paged([_listed_user(org, caller, u) for u in _sorted_users(org, params)], params, "users")
        case ["portals", _, "users", "search"] if _is_org(org, parts[1]):
            return _user_search(org, caller, params)
        case ["portals", _, "roles"] if _is_org(org, parts[1]):
            return _paged(org.roles, params, "roles")
        case ["portals", _, "roles", _, "privileges"] if _is_org(org, parts[1]):
            found = org.role_privileges.get(parts[3])
            return {"privileges": found} if found is not None else error_payload(400, "Role does not exist.")
        case ["portals", _, "subscriptioninfo"] if _is_org(org, parts[1]):
            return dict(org.portal.get("subscriptionInfo") or {})
        case ["portals", _, "usage"] if _is_org(org, parts[1]):
            if not org.can_view_usage(caller["username"]):
                return error_payload(403, NO_PERMISSION)
            return usage_reply(org, params)
        case ["community", "self"]:
            return _full_user(org, caller)
        case ["community", "users"]:
            return _user_search(org, caller, params)
        case ["community", "users", _]:
            user = org.member(parts[2])
            if user is None:
                return error_payload(400, f"User '{parts[2]}' does not exist or is inaccessible.")
            return _full_user(org, user) if _sees_private(caller, user) else _listed_user(org, caller, user)
        case ["community", "groups"]:
            return _group_search(org, caller, params)
        case ["community", "groups", _]:
            group = _visible_group(org, caller, parts[2])
            return _group_record(org, group, caller) if group else error_payload(400, GROUP_GONE, [], "COM_0003")
        case ["community", "groups", _, "users"]:
            return _group_users(org, caller, parts[2])
        case ["community", "groups", _, "userlist"]:
            return _group_user_list(org, caller, parts[2], params)
        case ["search"]:
            return {"query": params.get("q", ""), **_paged([], params, "results")}
        case ["info"]:
            return {}
    return error_payload(400, "Unable to process request. Invalid URL", [f"'{path}' is not a supported resource."])


def _lower_keys(params: Mapping[str, str]) -> dict[str, str]:
    """ArcGIS REST parameter names are case-insensitive (``applications()`` sends ``sType``)."""
    return {str(k).lower(): v for k, v in params.items()}


def _is_org(org: DemoOrg, key: str) -> bool:
    return key.lower() == "self" or key == org.org_id


# -- paging ---------------------------------------------------------------------------------------
def _int_param(params: Mapping[str, str], name: str, default: int) -> int:
    try:
        return int(params.get(name, default))
    except (TypeError, ValueError):
        return default


def _paged(items: list, params: Mapping[str, str], key: str, default_num: int = 10) -> dict:
    start = max(1, _int_param(params, "start", 1))
    num = min(MAX_PAGE, max(0, _int_param(params, "num", default_num)))
    page = items[start - 1 : start - 1 + num]
    following = start + len(page)
    return {
        "total": len(items),
        "start": start,
        "num": len(page),
        "nextStart": following if following <= len(items) and page else -1,
        key: page,
    }


# -- users ----------------------------------------------------------------------------------------
def _is_administrator(user: dict) -> bool:
    return user.get("role") == "org_admin" or VIEW_USERS in user.get("privileges", ())


def _sees_private(caller: dict, user: dict) -> bool:
    return caller["username"] == user["username"] or _is_administrator(caller)


def _listed_user(org: DemoOrg, caller: dict, user: dict) -> dict:
    """A user as lists and searches show it: ``groups: []``, private fields only for administrators."""
    record = dict(user, groups=[])
    if not _sees_private(caller, user):
        for name in PRIVATE_USER_FIELDS:
            record.pop(name, None)
    return record


def _full_user(org: DemoOrg, user: dict) -> dict:
    """The full record (the caller may see it): groups listed with the user's membership."""
    username = user["username"]
    groups = [_group_record(org, g, user) for g in groups_of(org.groups, username)]
    return dict(user, groups=groups)


def _sorted_users(org: DemoOrg, params: Mapping[str, str]) -> list[dict]:
    field = {"username": "username", "fullname": "fullName", "created": "created", "lastlogin": "lastLogin"}.get(
        str(params.get("sortfield") or "username").lower(), "username"
    )
    users = sorted(org.members, key=lambda u: (u.get(field) is None, u.get(field) or 0))
    if str(params.get("sortorder", "asc")).lower() == "desc":
        users.reverse()
    return users


def _user_fields(org: DemoOrg, user: dict, private: bool) -> dict[str, list[str]]:
    fields = {
        "username": [user["username"]],
        "fullname": [user.get("fullName") or ""],
        "firstname": [user.get("firstName") or ""],
        "lastname": [user.get("lastName") or ""],
        "accountid": [org.org_id],
        "orgid": [org.org_id],
        "role": [user.get("role") or ""],
        "roleid": [user.get("roleId") or ""],
        "userlicensetype": [user.get("userLicenseTypeId") or ""],
        "provider": [user.get("provider") or ""],
        "tags": list(user.get("tags") or []),
    }
    if private:
        fields["email"] = [user.get("email") or ""]
    return fields


def _user_search(org: DemoOrg, caller: dict, params: Mapping[str, str]) -> dict:
    clauses = parse_query(params.get("q"))
    admin = _is_administrator(caller)
    found = [
        _listed_user(org, caller, u)
        for u in _sorted_users(org, params)
        if matches(clauses, _user_fields(org, u, admin), USER_DEFAULT_FIELDS)
    ]
    return {"query": params.get("q", ""), **_paged(found, params, "results")}


# -- groups ---------------------------------------------------------------------------------------
def _visible_group(org: DemoOrg, caller: dict, group_id: str) -> Group | None:
    group = next((g for g in org.groups if g.id == group_id), None)
    if group is None or (group.access == "private" and not _may_see(group, caller)):
        return None
    return group


def _may_see(group: Group, caller: dict) -> bool:
    return _is_administrator(caller) or group.member_type(caller["username"]) != "none"


def _group_fields(org: DemoOrg, group: Group) -> dict[str, list[str]]:
    return {
        "id": [group.id],
        "title": [group.title],
        "owner": [group.owner],
        "tags": group.tags,
        "description": [group.description],
        "snippet": [group.snippet],
        "access": [group.access],
        "accountid": [org.org_id],
        "orgid": [org.org_id],
    }


def _group_summary(org: DemoOrg, group: Group) -> dict:
    return {
        "id": group.id,
        "title": group.title,
        "isInvitationOnly": True,
        "owner": group.owner,
        "description": group.description,
        "snippet": group.snippet,
        "tags": list(group.tags),
        "typeKeywords": [],
        "phone": None,
        "sortField": "title",
        "sortOrder": "asc",
        "isViewOnly": False,
        "thumbnail": None,
        "created": group.created,
        "modified": group.created,
        "access": group.access,
        "capabilities": [],
        "isFav": False,
        "isReadOnly": False,
        "protected": False,
        "autoJoin": False,
        "notificationsEnabled": False,
        "provider": None,
        "providerGroupName": None,
        "leavingDisallowed": False,
        "hiddenMembers": False,
        "orgId": org.org_id,
    }


def _group_record(org: DemoOrg, group: Group, viewer: dict) -> dict:
    membership = {
        "username": viewer["username"],
        "memberType": group.member_type(viewer["username"]),
        "applications": 0,
    }
    return {**_group_summary(org, group), "userMembership": membership, "collaborationInfo": {}}


def _group_search(org: DemoOrg, caller: dict, params: Mapping[str, str]) -> dict:
    clauses = parse_query(params.get("q"))
    if params.get("filter"):
        clauses = [c + f for c in clauses for f in parse_query(params["filter"])]
    found = [
        g
        for g in org.groups
        if (g.access != "private" or _may_see(g, caller))
        and matches(clauses, _group_fields(org, g), GROUP_DEFAULT_FIELDS)
    ]
    field = str(params.get("sortfield") or "title").lower()
    key = {"owner": lambda g: g.owner.lower(), "created": lambda g: g.created, "modified": lambda g: g.created}.get(
        field, lambda g: g.title.lower()
    )
    found.sort(key=key, reverse=str(params.get("sortorder", "asc")).lower() == "desc")
    reply = _paged([_group_summary(org, g) for g in found], params, "results")
    return {"query": params.get("q", ""), **reply}


def _group_users(org: DemoOrg, caller: dict, group_id: str) -> dict:
    group = _visible_group(org, caller, group_id)
    if group is None:
        return error_payload(400, GROUP_GONE, [], "COM_0003")
    if not _may_see(group, caller):
        return error_payload(403, NO_PERMISSION, [], "GWM_0003")
    return {"owner": group.owner, "admins": [group.owner, *group.admins], "users": list(group.users)}


def _group_user_list(org: DemoOrg, caller: dict, group_id: str, params: Mapping[str, str]) -> dict:
    group = _visible_group(org, caller, group_id)
    if group is None:
        return error_payload(400, GROUP_GONE, [], "COM_0003")
    if not _may_see(group, caller):
        return error_payload(403, NO_PERMISSION, [], "GWM_0003")
    rows = []
    for username in group.everyone:
        user = org.member(username) or {}
        rows.append(
            {
                "username": username,
                "fullName": user.get("fullName", ""),
                "memberType": group.member_type(username),
                "thumbnail": None,
                "joined": group.joined.get(username),
            }
        )
    field = str(params.get("sortfield") or "username").lower()
    sort_key = {"membertype": "memberType", "joined": "joined"}.get(field, "username")
    rows.sort(key=lambda r: str(r[sort_key]).lower() if sort_key != "joined" else r["joined"] or 0)
    if str(params.get("sortorder", "asc")).lower() == "desc":
        rows.reverse()
    owner = org.member(group.owner) or {}
    reply = _paged(rows, params, "users", default_num=25)
    return {**reply, "owner": {"username": group.owner, "fullName": owner.get("fullName", "")}}
