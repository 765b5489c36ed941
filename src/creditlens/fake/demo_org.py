"""A deterministic synthetic ArcGIS Online organization: the *model* behind the demo and the emulator.

Like a moto backend, this module knows nothing about HTTP. ``portal_api`` shapes its state into the
REST replies the real portal sends; the emulator serves those over HTTPS and the demo calls them in
process, so both go through the same parsing code.

Usage is stored sparsely, one entry per (series, day) with credits and an operation count, where a
series is one (username, userOrgId, stype, etype). That keeps a 50k-member org affordable.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from creditlens.fake.entry_keys import ENTRY_KEYS, entry_codes
from creditlens.fake.groups import Group, build_groups
from creditlens.fake.names import FIRST_NAMES, LAST_NAMES, synthetic_id
from creditlens.fake.org_records import org_roles, portal_record
from creditlens.fake.usage_draws import UsageDraws, UsageLedger
from creditlens.services import STORAGE_STYPES
from creditlens.windows import DAY_MS, EPOCH

#: Privilege that lets a custom role read the usage endpoint (admins always can). Which exact
#: privilege ArcGIS Online checks is unconfirmed; the emulator treats this one as the gate.
USAGE_PRIVILEGE = "portal:admin:manageCredits"
#: ``assignedCredits`` / ``availableCredits`` of a member without an allocation while budgeting is on.
NO_ALLOCATION = -1.0

USER_TYPES = ("creatorUT", "GISProfessionalStdUT", "viewerUT", "mobileWorkerUT", "contributorUT")
_USER_TYPE_WEIGHTS = (0.40, 0.10, 0.25, 0.15, 0.10)


@dataclass(frozen=True)
class OrgSpec:
    """Everything that determines a synthetic org. The same spec always builds the same org."""

    members: int = 300
    days: int = 730
    seed: int = 7
    end_day: dt.date | None = None  # last day with usage; defaults to today (UTC)
    name: str = "Northwind Regional GIS"
    url_key: str = "northwind"

    def resolved_end_day(self) -> dt.date:
        return self.end_day or dt.datetime.now(dt.UTC).date()


@dataclass
class DemoOrg:
    spec: OrgSpec
    org_id: str
    first_day: dt.date
    last_day: dt.date
    portal: dict
    members: list[dict]
    roles: list[dict]
    passwords: dict[str, str]
    ledger: UsageLedger
    truth: dict[str, str] = field(default_factory=dict)  # username -> reconciliation category
    external_org_ids: tuple[str, ...] = ()
    groups: list[Group] = field(default_factory=list)
    role_privileges: dict[str, list[str]] = field(default_factory=dict)  # role id -> privileges

    @property
    def name(self) -> str:
        return self.portal["name"]

    @property
    def admin_username(self) -> str:
        return f"{self.spec.url_key}_admin"

    @cached_property
    def _members_by_key(self) -> dict[str, dict]:
        index = {m["username"].lower(): m for m in self.members}
        index.update({m["id"]: m for m in self.members})
        return index

    def member(self, username_or_id: str) -> dict | None:
        """A member by username (case-insensitive) or by id, as ``community/users/<x>`` accepts."""
        return self._members_by_key.get(username_or_id) or self._members_by_key.get(username_or_id.lower())

    def account_note(self, username: str) -> str:
        """What a sign-in account may do, for the emulator's banner and ready file."""
        member = self.member(username) or {}
        if member.get("role") == "org_admin":
            return "administrator"
        if self.can_view_usage(username):
            return "Credit Analyst custom role: may view credit usage"
        return "user: may not view credit usage"

    def can_view_usage(self, username: str) -> bool:
        user = self.member(username)
        if user is None or user.get("disabled"):
            return False
        return user["role"] == "org_admin" or USAGE_PRIVILEGE in user.get("privileges", ())

    def day_index(self, day: dt.date) -> int:
        return (day - self.first_day).days

    def clear_usage(self) -> DemoOrg:
        """No credits used, ever (members, budgets and records stay): an org whose usage report is empty."""
        self.ledger.entry_credits[:] = 0
        self.ledger.entry_num[:] = 0
        return self

    def usage_matrix(
        self, first: dt.date, last: dt.date, groupby: list[str], filters: dict[str, str] | None = None
    ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
        """Dense daily usage for ``first``..``last`` (inclusive), grouped by key columns.

        Keys are series columns (username, userOrgId, stype, etype) or entry keys (``appId``,
        ``task``: see :mod:`creditlens.fake.entry_keys`). Returns the group keys (one row per group
        with any entry in range), and credits and num matrices of shape (groups, days).
        """
        filters = filters or {}
        n_days = (last - first).days + 1
        lo, hi = self.day_index(first), self.day_index(last)
        led = self.ledger
        in_range = (led.entry_day >= lo) & (led.entry_day <= hi)
        keep_series = _series_filter(led.series, {k: v for k, v in filters.items() if k not in ENTRY_KEYS})
        if keep_series is not None:
            in_range &= keep_series[led.entry_series]
        for key in (k for k in ENTRY_KEYS if filters.get(k)):
            codes, values = self._entry_codes(key)
            wanted = {v.strip() for v in str(filters[key]).split(",")}
            in_range &= np.isin(codes, [i for i, v in enumerate(values) if v and v in wanted])
        series_idx = led.entry_series[in_range]
        day_idx = led.entry_day[in_range] - lo
        per_entry = [g for g in groupby if g in ENTRY_KEYS]
        group_codes, group_table = self._series_groups(tuple(g for g in groupby if g not in ENTRY_KEYS))
        combined = group_codes[series_idx]
        tables = []
        for key in per_entry:  # mixed-radix: series group, then each entry key's value index
            codes, values = self._entry_codes(key)
            combined = combined * len(values) + codes[in_range]
            tables.append((key, values))
        used_groups, row_of_group = np.unique(combined, return_inverse=True)
        credits = np.zeros((len(used_groups), n_days))
        num = np.zeros((len(used_groups), n_days), dtype=np.int64)
        np.add.at(credits, (row_of_group, day_idx), led.entry_credits[in_range])
        np.add.at(num, (row_of_group, day_idx), led.entry_num[in_range])
        rest, columns = used_groups, {}
        for key, values in reversed(tables):
            columns[key] = np.asarray(values, dtype=object)[rest % len(values)]
            rest = rest // len(values)
        group_keys = group_table.iloc[rest].reset_index(drop=True)
        return (group_keys.assign(**columns) if columns else group_keys), credits, num

    def _entry_codes(self, key: str) -> tuple[np.ndarray, tuple[str, ...]]:
        cache = self.__dict__.setdefault("_entry_cache", {})
        if key not in cache:
            cache[key] = entry_codes(self.ledger, key)
        return cache[key]

    def _series_groups(self, groupby: tuple[str, ...]) -> tuple[np.ndarray, pd.DataFrame]:
        """Group code of every series for these key columns, and the key table, memoized."""
        cache = self.__dict__.setdefault("_group_cache", {})
        if groupby not in cache:
            series = self.ledger.series
            if groupby:
                codes = series.groupby(list(groupby), sort=False).ngroup().to_numpy()
                _, first_row = np.unique(codes, return_index=True)
                table = series.iloc[first_row][list(groupby)].reset_index(drop=True)
            else:
                codes, table = np.zeros(len(series), dtype=np.int64), pd.DataFrame(index=range(1))
            cache[groupby] = (codes, table)
        return cache[groupby]

    def total_credits(self, first: dt.date, last: dt.date, stypes: frozenset[str] | None = None) -> float:
        """Ground-truth credits in a range, straight from the ledger (for tests and org balance)."""
        led = self.ledger
        mask = (led.entry_day >= self.day_index(first)) & (led.entry_day <= self.day_index(last))
        if stypes is not None:
            mask &= led.series["stype"].isin(stypes).to_numpy()[led.entry_series]
        return float(led.entry_credits[mask].sum())


def _series_filter(series: pd.DataFrame, filters: dict[str, str]) -> np.ndarray | None:
    mask = None
    for column, value in filters.items():
        if not value:
            continue
        wanted = {v.strip() for v in str(value).split(",")}
        hit = series[column].isin(wanted).to_numpy()
        mask = hit if mask is None else mask & hit
    return mask


def build_demo_org(spec: OrgSpec | None = None) -> DemoOrg:
    """Generate the synthetic org for ``spec``. Deterministic for a given spec and end day."""
    spec = spec or OrgSpec()
    return _OrgBuilder(spec).build()


def _epoch_ms(day: dt.date) -> int:
    return (day - EPOCH).days * DAY_MS


class _OrgBuilder(UsageDraws):
    """Builds one org step by step from a seeded random generator."""

    def __init__(self, spec: OrgSpec) -> None:
        if spec.members < 5:
            raise ValueError("a demo org needs at least 5 members")
        if spec.days < 1:
            raise ValueError("a demo org needs at least 1 day of history")
        self.spec = spec
        self.rng = np.random.default_rng(spec.seed)
        self.last_day = spec.resolved_end_day()
        self.first_day = self.last_day - dt.timedelta(days=spec.days - 1)
        self.org_id = synthetic_id(f"{spec.url_key}:{spec.seed}")
        self.custom_role_id = synthetic_id(f"role:{spec.url_key}:{spec.seed}")
        weekday = (np.arange(spec.days) + self.first_day.weekday()) % 7
        self.day_weight = np.where(weekday >= 5, 0.25, 1.0)
        self.blocks: list[tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        self.truth: dict[str, str] = {}

    # -- people --------------------------------------------------------------------------------
    def _names(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        return rng.choice(FIRST_NAMES, n), rng.choice(LAST_NAMES, n)

    def _unique_usernames(self, first: np.ndarray, last: np.ndarray, suffix: str) -> list[str]:
        base = pd.Series(np.char.lower(np.char.add(np.char.add(first.astype(str), "."), last.astype(str))))
        dup = base.groupby(base).cumcount()
        tail = np.where(dup > 0, (dup + 1).astype(str), "")
        return [f"{b}{t}_{suffix}" for b, t in zip(base, tail, strict=True)]

    def _members(self) -> list[dict]:
        spec, rng = self.spec, self.rng
        n = spec.members
        first, last = self._names(n, rng)
        usernames = self._unique_usernames(first, last, spec.url_key)
        # Three fixed accounts the emulator can sign in with: an admin, a custom-role usage
        # analyst, and a plain user who may not read usage.
        usernames[0], usernames[1], usernames[2] = (
            f"{spec.url_key}_admin",
            f"{spec.url_key}_analyst",
            f"{spec.url_key}_viewer",
        )
        role = rng.choice(["org_admin", "org_publisher", "org_user", "custom"], n, p=[0.04, 0.22, 0.66, 0.08])
        role[:3] = ["org_admin", "custom", "org_user"]
        user_type = rng.choice(USER_TYPES, n, p=_USER_TYPE_WEIGHTS)
        user_type[:3] = ["creatorUT", "GISProfessionalStdUT", "creatorUT"]
        user_type = np.where(np.isin(role, ["org_admin", "org_publisher"]), "creatorUT", user_type)
        last_ms = _epoch_ms(self.last_day)
        created = last_ms - rng.integers(30, 5 * 365, n) * DAY_MS - rng.integers(0, DAY_MS, n)
        never = rng.random(n) < 0.05
        never[:3] = False
        since_created = np.maximum((last_ms - created) // DAY_MS, 1)
        last_login = np.where(never, -1, last_ms - rng.integers(0, np.minimum(since_created, 120)) * DAY_MS)
        # Usage cannot start before the account existed.
        self.member_start_day = np.maximum(0, spec.days - 1 - (last_ms - created) // DAY_MS).astype(int)
        disabled = rng.random(n) < 0.02
        disabled[:3] = False
        self.member_frame = pd.DataFrame(
            {"username": usernames, "role": role, "user_type": user_type, "disabled": disabled, "never": never}
        )
        members = []
        for i in range(n):
            custom = role[i] == "custom"
            members.append(
                {
                    "username": usernames[i],
                    "id": hashlib.md5(f"{self.org_id}:{usernames[i]}".encode()).hexdigest(),
                    "fullName": f"{first[i]} {last[i]}" if i > 2 else usernames[i].replace("_", " ").title(),
                    "firstName": str(first[i]),
                    "lastName": str(last[i]),
                    "email": f"{first[i].lower()}.{last[i].lower()}@{spec.url_key}.example.org",
                    "role": "org_user" if custom else str(role[i]),
                    "roleId": self.custom_role_id if custom else str(role[i]),
                    "privileges": self._privileges(str(role[i])),
                    "userLicenseTypeId": str(user_type[i]),
                    "level": "2",
                    "orgId": self.org_id,
                    "created": int(created[i]),
                    "modified": int(created[i]),
                    "lastLogin": int(last_login[i]),
                    "disabled": bool(disabled[i]),
                    "provider": "arcgis",
                    "access": "org",
                    "userType": "arcgisonly",
                    "groups": [],  # filled per viewer by portal_api from the group model
                    "storageUsage": 0,
                    "storageQuota": 2199023255552,
                    "assignedCredits": NO_ALLOCATION,
                    "availableCredits": NO_ALLOCATION,
                    "tags": [],
                    "culture": "en",
                    "region": "WO",
                    "units": "metric",
                    "thumbnail": None,
                    "mfaEnabled": False,
                    "description": None,
                }
            )
        self.passwords = {u: f"{u}-demo-pw" for u in usernames[:3]}
        return members

    @staticmethod
    def _privileges(role: str) -> list[str]:
        base = ["portal:user:joinGroup", "portal:user:viewOrgUsers", "premium:user:geocode"]
        if role == "org_admin":
            return [*base, "portal:admin:viewUsers", "portal:admin:manageCredits", "portal:admin:updateUsers"]
        if role == "custom":
            return [*base, "portal:admin:viewUsers", USAGE_PRIVILEGE]
        if role == "org_publisher":
            return [*base, "portal:publisher:publishFeatures"]
        return base

    # -- org -----------------------------------------------------------------------------------
    def _budgets(self, org: DemoOrg) -> None:
        """Allocate transaction credits to a quarter of the creators; storage is not budgeted."""
        rng = self.rng
        alloc_start = max(self.first_day, self.last_day - dt.timedelta(days=89))
        frame = _transaction_totals(org, alloc_start, self.last_day, STORAGE_STYPES)
        used = dict(zip(frame["username"], frame["credits"], strict=True))
        for member in org.members:
            eligible = member["userLicenseTypeId"] in {"creatorUT", "GISProfessionalStdUT"}
            if not eligible or rng.random() > 0.3:
                continue  # no allocation: both fields stay NO_ALLOCATION
            spent = used.get(member["username"], 0.0)
            # Most allocations leave headroom; some are tight, so the page has members near or
            # just over budget (an operation in flight can overshoot an allocation slightly).
            headroom = rng.uniform(0.85, 1.02) if rng.random() < 0.3 and spent > 0 else rng.uniform(1.2, 4.0)
            tight = headroom < 1.1
            assigned = float(
                max(10, round(spent * headroom)) if tight else max(50, np.ceil(spent * headroom / 50) * 50)
            )
            member["assignedCredits"] = assigned
            member["availableCredits"] = round(assigned - spent, 3)

    def build(self) -> DemoOrg:
        spec = self.spec
        members = self._members()
        self._member_usage()
        self._outsiders()
        ledger = self._ledger()
        for m in members:
            self.truth[m["username"]] = "member"
        year_ago = max(self.first_day, self.last_day - dt.timedelta(days=364))
        created = _epoch_ms(self.first_day) - 900 * DAY_MS
        expires = _epoch_ms(self.last_day) + 200 * DAY_MS
        portal = portal_record(self.org_id, spec.name, spec.url_key, created, expires, members)
        roles, role_privileges = org_roles(self.custom_role_id, self._privileges("custom"), created)
        org = DemoOrg(
            spec,
            self.org_id,
            self.first_day,
            self.last_day,
            portal,
            members,
            roles,
            self.passwords,
            ledger,
            self.truth,
            self.external_org_ids,
            build_groups(spec.seed, self.org_id, members, portal["created"]),
            role_privileges,
        )
        spent_year = org.total_credits(year_ago, self.last_day)
        purchased = max(10_000.0, round(spent_year * 1.35, -3))
        portal["availableCredits"] = portal["subscriptionInfo"]["availableCredits"] = round(purchased - spent_year, 3)
        self._storage_usage(org)
        self._budgets(org)
        return org

    def _storage_usage(self, org: DemoOrg) -> None:
        """Members' ``storageUsage`` in bytes, rough but consistent with their storage credits."""
        frame = _transaction_totals(org, self.last_day, self.last_day, None, only=STORAGE_STYPES)
        per_day = dict(zip(frame["username"], frame["credits"], strict=True))
        for member in org.members:
            member["storageUsage"] = int(per_day.get(member["username"], 0.0) / (2.4 / 10 / 30.4) * 1_048_576)


def _transaction_totals(
    org: DemoOrg, first: dt.date, last: dt.date, exclude: frozenset[str] | None, only: frozenset[str] | None = None
) -> pd.DataFrame:
    """Credits per username in a range, limited to (``only``) or without (``exclude``) some stypes."""
    keys, credits, _ = org.usage_matrix(first, last, ["username", "stype"])
    keep = np.ones(len(keys), bool)
    if exclude is not None:
        keep &= ~keys["stype"].isin(exclude).to_numpy()
    if only is not None:
        keep &= keys["stype"].isin(only).to_numpy()
    frame = keys[keep].assign(credits=credits[keep].sum(axis=1))
    return frame.groupby("username", as_index=False)["credits"].sum()
