"""The demo org's groups: department groups for chargeback, and a few ordinary ones.

Part of the model (moto's backend): who owns, administers and belongs to which group. The REST
shapes are :mod:`creditlens.fake.portal_api`'s job.

Membership is drawn from its own generator, seeded from the org's spec, so adding groups leaves the
usage ledger (drawn from the builder's generator) exactly as it was.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from creditlens.windows import DAY_MS

#: Department groups, tagged ``chargeback`` so an admin can pick them by tag.
DEPARTMENTS = (
    "Planning",
    "Public Works",
    "Parks and Recreation",
    "Utilities",
    "Transportation",
    "Emergency Management",
)
CHARGEBACK_TAG = "chargeback"
#: Share of members in no department group, and in two of them.
SHARE_IN_NONE = 0.15
SHARE_IN_TWO = 0.10
_GROUP_SEED_SALT = 0x67727073  # "grps": keeps this generator apart from the ledger's


@dataclass
class Group:
    """One group: its record fields and its membership (usernames)."""

    id: str
    title: str
    owner: str
    tags: list[str]
    access: str  # "org" or "private" (the demo org has no public groups)
    created: int
    snippet: str = ""
    description: str = ""
    admins: list[str] = field(default_factory=list)  # besides the owner
    users: list[str] = field(default_factory=list)  # plain members (not the owner or admins)
    joined: dict[str, int] = field(default_factory=dict)  # username -> epoch ms

    def member_type(self, username: str) -> str:
        """``owner``, ``admin``, ``member`` or ``none``, as ``userMembership.memberType`` says."""
        return self._member_types.get(username.lower(), "none")

    @cached_property
    def _member_types(self) -> dict[str, str]:
        # Built on first use, after build_groups has filled the group (groups do not change later).
        types = {u.lower(): "member" for u in self.users}
        types.update({a.lower(): "admin" for a in self.admins})
        types[self.owner.lower()] = "owner"
        return types

    @property
    def everyone(self) -> list[str]:
        """Owner, admins and members, each once."""
        return [self.owner, *self.admins, *self.users]


def group_id(org_id: str, title: str) -> str:
    return hashlib.md5(f"group:{org_id}:{title}".encode()).hexdigest()


def build_groups(seed: int, org_id: str, members: list[dict], created_ms: int) -> list[Group]:
    """Department groups (some members in two, some in none) plus three ordinary groups.

    ``members[0]`` is the admin account: it owns the ordinary groups and is in no department, so
    the admin's credits never land in a department by accident.
    """
    rng = np.random.default_rng([seed, _GROUP_SEED_SALT])
    usernames = [m["username"] for m in members]
    n = len(usernames)
    departments = [
        Group(
            id=group_id(org_id, title),
            title=title,
            owner="",
            tags=[CHARGEBACK_TAG, "department", title.lower()],
            access="org",
            created=created_ms + k * DAY_MS,
            snippet=f"Members of the {title} department.",
        )
        for k, title in enumerate(DEPARTMENTS)
    ]
    roll = rng.random(n)
    first = rng.integers(0, len(departments), n)
    second = (first + rng.integers(1, len(departments), n)) % len(departments)
    roll[0] = 0.0  # the admin: no department
    for i in range(1, n):
        if roll[i] < SHARE_IN_NONE:
            continue
        picks = [first[i]] + ([second[i]] if roll[i] >= 1 - SHARE_IN_TWO else [])
        for d in picks:
            departments[d].users.append(usernames[i])
    for group in departments:
        # The first member leads the department: owner of its group.
        if group.users:
            group.owner = group.users.pop(0)
        else:
            group.owner = usernames[0]
    admin = usernames[0]
    everyone = list(usernames[1:])
    ordinary = [
        Group(
            group_id(org_id, "GIS Administrators"),
            "GIS Administrators",
            admin,
            ["admin"],
            "private",
            created_ms,
            "Administrators of the org.",
            users=usernames[1:2],
        ),
        Group(
            group_id(org_id, "Field Apps"),
            "Field Apps",
            admin,
            ["field", "mobile"],
            "org",
            created_ms,
            "Maps for the field crews.",
            users=[everyone[i] for i in np.flatnonzero(rng.random(n - 1) < 0.3)],
        ),
        Group(
            group_id(org_id, "Story Maps Showcase"),
            "Story Maps Showcase",
            admin,
            ["storymaps", "public"],
            "org",
            created_ms,
            "Stories we are proud of.",
            users=[everyone[i] for i in np.flatnonzero(rng.random(n - 1) < 0.1)],
        ),
    ]
    groups = departments + ordinary
    for group in groups:
        # A department's second member co-administers it: the owner is not the only admin.
        if group.tags[0] == CHARGEBACK_TAG and len(group.users) > 3:
            group.admins.append(group.users.pop(0))
        offsets = rng.integers(1, 400, len(group.everyone))
        group.joined = {u: int(group.created + o * DAY_MS) for u, o in zip(group.everyone, offsets, strict=True)}
    return groups


def groups_of(groups: list[Group], username: str) -> list[Group]:
    """The groups ``username`` owns, administers or belongs to."""
    return [g for g in groups if g.member_type(username) != "none"]
