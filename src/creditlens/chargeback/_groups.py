"""Fetching the org's groups and their members through the portal connection (the real arcgis client)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from creditlens.chargeback._centers import CostCenterError, CostCenters, Group, from_groups, groups_with_tag
from creditlens.errors import PortalError
from creditlens.portal import PortalConnection

# -- fetching groups (the only I/O here: through the portal connection, i.e. the real arcgis client) -----
GROUP_PAGE = 100
MAX_PAGES = 10_000  # a hard stop against a server that never says -1
DEFAULT_GROUP_TAG = "chargeback"


def _paged(conn: PortalConnection, path: str, key: str, params: dict[str, str]) -> list[dict]:
    """Every item of a paged reply (``start``/``num``/``nextStart``, -1 on the last page)."""
    items: list[dict] = []
    start = 1
    for _ in range(MAX_PAGES):
        page = conn.post(path, {**params, "start": str(start), "num": str(GROUP_PAGE)})
        batch = page.get(key) if isinstance(page, dict) else None
        if not isinstance(batch, list):
            raise PortalError(f"The portal's {key} list has an unexpected shape.")
        items.extend(b for b in batch if isinstance(b, dict))
        try:
            next_start = int(page.get("nextStart", -1))
        except (TypeError, ValueError):
            next_start = -1
        if next_start <= start or not batch:
            return items
        start = next_start
    return items


def fetch_groups(conn: PortalConnection) -> list[Group]:
    """The org's groups (id, title, tags), without members, paged."""
    org_id = conn.identity.org_id
    query = f"orgid:{org_id}" if org_id else "*"
    found = _paged(conn, "community/groups", "results", {"q": query, "sortField": "title", "sortOrder": "asc"})
    groups = {}
    for g in found:
        gid = str(g.get("id") or "")
        if gid and gid not in groups:
            tags = tuple(str(t) for t in g.get("tags") or () if isinstance(t, str))
            groups[gid] = Group(gid, str(g.get("title") or gid), tags)
    return list(groups.values())


def fetch_group_members(conn: PortalConnection, group: Group) -> Group:
    """``group`` with its members (owner, admins and users) from ``userList``, paged."""
    rows = _paged(conn, f"community/groups/{group.id}/userList", "users", {})
    names = [str(r.get("username") or "") for r in rows]
    return Group(group.id, group.title, group.tags, tuple(dict.fromkeys(n for n in names if n)))


def groups_cost_centers(
    conn: PortalConnection, members: pd.DataFrame, tag: str | None = None, group_ids: Sequence[str] | None = None
) -> CostCenters:
    """Cost centers from the groups tagged ``tag`` or listed in ``group_ids``, their members fetched."""
    groups = fetch_groups(conn)
    chosen = (
        [g for g in groups if g.id in set(group_ids)]
        if group_ids is not None
        else groups_with_tag(groups, tag or DEFAULT_GROUP_TAG)
    )
    if not chosen:
        what = f"tagged '{tag or DEFAULT_GROUP_TAG}'" if group_ids is None else "chosen"
        raise CostCenterError(f"No groups {what} were found in this organization, so there are no cost centers.")
    return from_groups([fetch_group_members(conn, g) for g in chosen], members)
