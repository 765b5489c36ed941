"""Chargeback: credits and cost per cost center, with lines that add up to the org total. Pure functions.

Every member gets at most one cost center's worth of usage, from one source:

* **groups**: ArcGIS Online groups chosen as cost centers; a member of several chosen groups is split
  evenly between them (weights 1/k, summing to 1);
* **a mapping file**: CSV ``username,cost_center``; bad rows are reported by line number and skipped;
* **a member field**: role or user type.

The table has one line per cost center, then three fixed lines: members with no cost center, org
overhead (usage by former members, external users and public accounts) and unattributed usage.
Together they are exactly the range's usage, which the page checks against the org-wide total.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import altair as alt
import numpy as np
import pandas as pd

from creditlens import charts, reports
from creditlens.errors import CreditLensError, PortalError
from creditlens.money import Pricing, allocated_costs, costs
from creditlens.portal import PortalConnection
from creditlens.services import service_name

GROUPS, FILE, ROLE, USER_TYPE = "groups", "file", "role", "user_type"
SOURCES = (GROUPS, FILE, ROLE, USER_TYPE)
SOURCE_LABELS = {GROUPS: "ArcGIS Online groups", FILE: "A mapping file", ROLE: "Role", USER_TYPE: "User type"}
_SOURCE_PHRASES = {
    GROUPS: "ArcGIS Online groups",
    FILE: "a mapping file",
    ROLE: "members' role",
    USER_TYPE: "members' user type",
}

COST_CENTER, NO_COST_CENTER, OVERHEAD, UNATTRIBUTED = "cost_center", "no_cost_center", "overhead", "unattributed"
LINE_LABELS = {
    NO_COST_CENTER: "(no cost center)",
    OVERHEAD: "Org overhead (non-members)",
    UNATTRIBUTED: "(unattributed)",
}
#: ``line_kind`` codes as people read them (the page and human-form downloads).
LINE_KIND_LABELS = {
    COST_CENTER: "Cost center",
    NO_COST_CENTER: "No cost center",
    OVERHEAD: "Org overhead",
    UNATTRIBUTED: "Unattributed",
}
LINE_HELP = {
    NO_COST_CENTER: "Members the chosen source gives no cost center.",
    OVERHEAD: "Usage by former members, users of other organizations and public accounts: the organization "
    "pays for it, but no member does.",
    UNATTRIBUTED: "Credits charged to the organization under no username.",
}
NON_MEMBER_STATUSES = (reports.FORMER, reports.EXTERNAL, reports.PUBLIC)
#: The table's columns (named so their human headers read well: "Line kind", "Member count").
TABLE_COLUMNS = ("cost_center", "line_kind", "credits", "share_pct", "member_count", "active_members", "top_services")
DRILL_COLUMNS = ("username", "full_name", "status", "role", "user_type", "share_charged", "credits", "charged_credits")
TOP_SERVICES = 3
MAX_MAPPING_BYTES = 20 * 2**20
MAX_MAPPING_ROWS = 500_000
MAX_COST_CENTER_CHARS = 120
CHECK_TOLERANCE = 1e-6


class CostCenterError(CreditLensError):
    pass


# -- cost center assignments ---------------------------------------------------------------------------
@dataclass(frozen=True)
class RowIssue:
    line: int  # the line in the file, the header being line 1
    username: str
    reason: str

    def describe(self) -> str:
        who = f" ({self.username})" if self.username else ""
        return f"line {self.line}{who}: {self.reason}"


@dataclass(frozen=True)
class MappingReport:
    """What became of each row of a mapping file."""

    rows: int  # data rows, header excluded
    matched: int  # rows that gave a member a cost center
    bad_rows: tuple[RowIssue, ...] = ()
    duplicates: tuple[RowIssue, ...] = ()
    unmatched: tuple[RowIssue, ...] = ()  # well-formed rows whose username is no member's

    def summary(self) -> str:
        parts = [f"{self.rows:,} rows: {self.matched:,} matched a member"]
        if self.bad_rows:
            parts.append(f"{len(self.bad_rows):,} bad {_plural(len(self.bad_rows), 'row')} skipped")
        if self.duplicates:
            parts.append(f"{len(self.duplicates):,} duplicate {_plural(len(self.duplicates), 'username')} skipped")
        parts.append(f"{len(self.unmatched):,} matched no username")
        return ", ".join(parts) + "."

    def issues(self) -> list[RowIssue]:
        return sorted([*self.bad_rows, *self.duplicates, *self.unmatched], key=lambda i: i.line)


@dataclass(frozen=True)
class CostCenters:
    """Each member's cost center(s): ``assignments`` has key (lower-case username), cost_center, weight."""

    source: str
    assignments: pd.DataFrame
    report: MappingReport | None = None
    groups: tuple[str, ...] = ()  # for the group source: the chosen groups' titles

    @property
    def split_members(self) -> int:
        """Members split between two or more cost centers."""
        counts = self.assignments["key"].value_counts()
        return int((counts > 1).sum())

    @property
    def names(self) -> list[str]:
        return sorted(self.assignments["cost_center"].unique(), key=str.lower)

    def describe(self) -> str:
        text = f"Cost centers from {_SOURCE_PHRASES[self.source]}"
        if self.source == GROUPS and self.split_members:
            text += (
                f"; {self.split_members:,} {_plural(self.split_members, 'member')} in several chosen groups "
                "are split evenly between them"
            )
        return text + "."


def _plural(n: int, word: str) -> str:
    return word if n == 1 else word + "s"


def _assignments(keys: Iterable[str], centers: Iterable[str], weights: Iterable[float]) -> pd.DataFrame:
    return pd.DataFrame(
        {"key": list(keys), "cost_center": list(centers), "weight": np.asarray(list(weights), dtype=float)}
    )


def from_member_field(members: pd.DataFrame, field_name: str) -> CostCenters:
    """Each member's role or user type as their cost center; an empty value gives none."""
    if field_name not in (ROLE, USER_TYPE):
        raise CostCenterError(f"'{field_name}' is not a member field: use role or user_type.")
    values = members[field_name].fillna("").astype(str).str.strip()
    keep = values != ""
    keys = members.loc[keep, "username"].astype(str).str.lower()
    return CostCenters(field_name, _assignments(keys, values[keep], np.ones(int(keep.sum()))))


def from_mapping_csv(data: bytes | str, members: pd.DataFrame) -> CostCenters:
    """Cost centers from a ``username,cost_center`` CSV. Bad rows are reported by line and skipped.

    A username listed twice for the same cost center is a harmless duplicate (the first row counts);
    listed for different cost centers it is ambiguous, so none of its rows count: we never guess.
    """
    text = _mapping_text(data)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise CostCenterError("The mapping file is empty: it needs the header username,cost_center.") from None
    except csv.Error as exc:
        raise CostCenterError(f"The mapping file is not valid CSV (line 1: {exc}).") from None
    columns = [h.strip().lower() for h in header]
    if "username" not in columns or "cost_center" not in columns:
        raise CostCenterError("The mapping file's first line must be the header username,cost_center.")
    user_at, center_at = columns.index("username"), columns.index("cost_center")
    member_keys = {str(u).lower(): str(u) for u in members["username"]}
    rows: list[tuple[int, str, str]] = []
    bad: list[RowIssue] = []
    count = 0
    while True:
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise CostCenterError(f"The mapping file is not valid CSV (line {reader.line_num}: {exc}).") from None
        line = reader.line_num
        if not any(cell.strip() for cell in record):
            continue  # blank lines are not rows
        count += 1
        if count > MAX_MAPPING_ROWS:
            raise CostCenterError(f"The mapping file has more than {MAX_MAPPING_ROWS:,} rows.")
        issue = _row_issue(record, line, user_at, center_at)
        if issue:
            bad.append(issue)
        else:
            rows.append((line, record[user_at].strip(), record[center_at].strip()))
    return _mapped(rows, bad, count, member_keys)


def _mapping_text(data: bytes | str) -> str:
    if isinstance(data, bytes):
        if len(data) > MAX_MAPPING_BYTES:
            raise CostCenterError(f"The mapping file is larger than {MAX_MAPPING_BYTES // 2**20} MB.")
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise CostCenterError("The mapping file is not UTF-8 text: save it as CSV UTF-8.") from None
    return data.removeprefix("\ufeff")


def _row_issue(record: Sequence[str], line: int, user_at: int, center_at: int) -> RowIssue | None:
    username = record[user_at].strip() if len(record) > user_at else ""
    if len(record) <= max(user_at, center_at):
        return RowIssue(line, username, "too few fields")
    center = record[center_at].strip()
    if not username:
        return RowIssue(line, "", "no username")
    if not center:
        return RowIssue(line, username, "no cost center")
    if len(center) > MAX_COST_CENTER_CHARS:
        return RowIssue(line, username, f"cost center longer than {MAX_COST_CENTER_CHARS} characters")
    if center in LINE_LABELS.values():
        return RowIssue(line, username, f"'{center}' is the name of a fixed line, not a cost center")
    if any(ch in username for ch in " \t\r\n,;"):
        return RowIssue(line, username[:60], "not a username (it has spaces or separators)")
    return None


def _mapped(
    rows: list[tuple[int, str, str]], bad: list[RowIssue], count: int, member_keys: Mapping[str, str]
) -> CostCenters:
    by_key: dict[str, list[tuple[int, str, str]]] = {}
    for row in rows:
        by_key.setdefault(row[1].lower(), []).append(row)
    duplicates: list[RowIssue] = []
    unmatched: list[RowIssue] = []
    keys, centers = [], []
    for key, listed in by_key.items():
        first = listed[0]
        distinct = {center for _, _, center in listed}
        if len(distinct) > 1:
            lines = ", ".join(str(line) for line, _, _ in listed)
            reason = f"listed with different cost centers (lines {lines}); none used"
            duplicates.extend(RowIssue(line, user, reason) for line, user, _ in listed)
            continue
        duplicates.extend(
            RowIssue(line, user, f"duplicate of line {first[0]}; the first row counts") for line, user, _ in listed[1:]
        )
        if key not in member_keys:
            unmatched.append(RowIssue(first[0], first[1], "matches no member's username"))
            continue
        keys.append(key)
        centers.append(first[2])
    report = MappingReport(
        rows=count,
        matched=len(keys),
        bad_rows=tuple(bad),
        duplicates=tuple(sorted(duplicates, key=lambda i: i.line)),
        unmatched=tuple(sorted(unmatched, key=lambda i: i.line)),
    )
    return CostCenters(FILE, _assignments(keys, centers, np.ones(len(keys))), report)


# -- groups ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Group:
    id: str
    title: str
    tags: tuple[str, ...] = ()
    members: tuple[str, ...] = field(default=(), repr=False)  # usernames (owner, admins and users)


def groups_with_tag(groups: Sequence[Group], tag: str) -> list[Group]:
    wanted = tag.strip().lower()
    return [g for g in groups if wanted in {t.strip().lower() for t in g.tags}]


def from_groups(groups: Sequence[Group], members: pd.DataFrame) -> CostCenters:
    """The chosen groups as cost centers; a member of k of them carries weight 1/k in each.

    Group members who are not org members (a group may hold other orgs' users) are left out:
    their usage is org overhead. Two groups with one title are told apart by their id.
    """
    titles = [g.title.strip() or g.id for g in groups]
    seen = {t.lower(): 0 for t in titles}
    for t in titles:
        seen[t.lower()] += 1
    names = [f"{t} ({g.id[:8]})" if seen[t.lower()] > 1 else t for t, g in zip(titles, groups, strict=True)]
    member_keys = {str(u).lower() for u in members["username"]}
    pairs = {(str(u).lower(), name) for g, name in zip(groups, names, strict=True) for u in g.members}
    pairs = {(k, n) for k, n in pairs if k in member_keys}
    frame = pd.DataFrame(sorted(pairs), columns=["key", "cost_center"])
    frame["weight"] = 1.0 / frame.groupby("key")["key"].transform("size").astype(float)
    return CostCenters(GROUPS, frame.reset_index(drop=True), groups=tuple(names))


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


# -- the chargeback table -------------------------------------------------------------------------------
@dataclass(frozen=True)
class ChargebackCheck:
    lines_total: float  # the table's lines added up
    org_total: float | None  # the org-wide query's total for the range, None when not loaded

    @property
    def difference(self) -> float | None:
        return None if self.org_total is None else self.lines_total - self.org_total

    @property
    def ok(self) -> bool:
        if self.org_total is None:
            return False
        return abs(self.lines_total - self.org_total) <= max(CHECK_TOLERANCE * abs(self.org_total), 1e-6)

    def describe(self) -> str:
        """The check as one sentence, credits as the app shows them."""
        lines = f"{self.lines_total:,.2f}"
        if self.org_total is None:
            return f"Lines add up to {lines} credits; the org total was not loaded to compare."
        if self.ok:
            return f"Lines add up to {lines} credits = org total {self.org_total:,.2f} ✓"
        return (
            f"Lines add up to {lines} credits ≠ org total {self.org_total:,.2f} (difference {self.difference:,.2f}) ✗"
        )


@dataclass(frozen=True)
class Chargeback:
    """The chargeback of one range. ``complete`` is False when some usage windows did not load."""

    table: pd.DataFrame  # TABLE_COLUMNS (+ the cost column when priced), one row per line
    charged: pd.DataFrame  # line, cost_center, key, username, status, stype, month, weight, credits, charged
    members_by_line: pd.DataFrame  # line, cost_center, key, weight: who belongs to which line
    check: ChargebackCheck
    pricing: Pricing
    cost_centers: CostCenters
    complete: bool = True

    @property
    def total_credits(self) -> float:
        return float(self.table["credits"].sum())

    @property
    def total_cost(self) -> float | None:
        if not self.pricing.priced:
            return None
        return float(np.round(self.table[self.pricing.cost_column].sum(), self.pricing.decimals))


def _line_name(kind: str, center: object) -> str:
    return str(center) if kind == COST_CENTER else LINE_LABELS[kind]


def build_chargeback(
    usage: pd.DataFrame,
    members: pd.DataFrame,
    org_id: str,
    cost_centers: CostCenters,
    pricing: Pricing,
    org_total: float | None = None,
    complete: bool = True,
) -> Chargeback:
    """Credits, cost, share, members, active members and top services per cost center, plus the fixed lines."""
    charged = _charged_usage(usage, members, org_id, cost_centers.assignments)
    roster = _roster(members, cost_centers.assignments)
    per_line = charged.groupby(["line", "cost_center"], as_index=False, sort=False)["charged"].sum()
    centers = sorted(cost_centers.assignments["cost_center"].unique(), key=str.lower)
    skeleton = pd.DataFrame(
        {
            "line": [COST_CENTER] * len(centers) + [NO_COST_CENTER, OVERHEAD, UNATTRIBUTED],
            "cost_center": [*centers, *(LINE_LABELS[k] for k in (NO_COST_CENTER, OVERHEAD, UNATTRIBUTED))],
        }
    )
    table = skeleton.merge(per_line, on=["line", "cost_center"], how="left").rename(columns={"charged": "credits"})
    table["credits"] = table["credits"].fillna(0.0)
    grand = float(table["credits"].sum())
    table["share_pct"] = table["credits"] / grand * 100 if grand else 0.0
    on_roster = roster.groupby("cost_center")["key"].nunique()
    active = charged[(charged["credits"] > 0) & (charged["line"].isin([COST_CENTER, NO_COST_CENTER]))]
    active_counts = active.groupby("cost_center")["key"].nunique()
    # Overhead and unattributed usage is nobody's in the org: 0 members (their drill-down lists the usernames).
    table["members"] = table["cost_center"].map(on_roster).fillna(0).astype(int)
    table["active_members"] = table["cost_center"].map(active_counts).fillna(0).astype(int)
    table["top_services"] = table["cost_center"].map(_top_services(charged)).fillna("")
    cc_rows = table["line"] == COST_CENTER
    ordered = pd.concat(
        [
            table[cc_rows].sort_values(["credits", "cost_center"], ascending=[False, True], kind="stable"),
            table[~cc_rows],
        ],
        ignore_index=True,
    ).rename(columns={"line": "line_kind", "members": "member_count"})[list(TABLE_COLUMNS)]
    if pricing.priced:
        ordered.insert(
            ordered.columns.get_loc("credits") + 1, pricing.cost_column, allocated_costs(ordered["credits"], pricing)
        )
    check = ChargebackCheck(grand, org_total)
    return Chargeback(ordered, charged, roster, check, pricing, cost_centers, complete)


def _charged_usage(usage: pd.DataFrame, members: pd.DataFrame, org_id: str, assignments: pd.DataFrame) -> pd.DataFrame:
    """Usage per (username, userOrgId, service, month) on its line, a split member's credits by weight."""
    # Group on the categorical codes first and make text of the (small) result: converting a
    # million-row frame's categoricals to str costs seconds.
    days = pd.to_datetime(usage["day"]).to_numpy()
    frame = pd.DataFrame(
        {
            "username": usage["username"],
            "user_org_id": usage["user_org_id"],
            "stype": usage["stype"],
            "month": days.astype("datetime64[M]").astype("datetime64[ns]"),
            "credits": usage["credits"].astype(float),
        }
    )
    keys = ["username", "user_org_id", "stype", "month"]
    grouped = frame.groupby(keys, as_index=False, sort=False, observed=True)["credits"].sum()
    for name in ("username", "user_org_id", "stype"):
        grouped[name] = grouped[name].astype(str)
    grouped["status"] = reports.classify(
        grouped["username"], grouped["user_org_id"], {str(u).lower() for u in members["username"]}, org_id
    )
    grouped["key"] = grouped["username"].str.lower()
    is_member = grouped["status"] == reports.MEMBER
    mine = grouped[is_member].merge(assignments, on="key", how="left")
    mine["line"] = np.where(mine["cost_center"].isna(), NO_COST_CENTER, COST_CENTER)
    mine["cost_center"] = mine["cost_center"].fillna(LINE_LABELS[NO_COST_CENTER])
    mine["weight"] = mine["weight"].fillna(1.0)
    others = grouped[~is_member].copy()
    others["line"] = np.where(others["status"] == reports.UNATTRIBUTED, UNATTRIBUTED, OVERHEAD)
    others["cost_center"] = [LINE_LABELS[k] for k in others["line"]]
    others["weight"] = 1.0
    out = pd.concat([mine, others], ignore_index=True)
    out["charged"] = out["credits"] * out["weight"]
    return out


def _roster(members: pd.DataFrame, assignments: pd.DataFrame) -> pd.DataFrame:
    """Every member on the line(s) they belong to, whether or not they used credits."""
    keys = pd.DataFrame({"key": members["username"].astype(str).str.lower().to_numpy()})
    roster = keys.merge(assignments, on="key", how="left")
    roster["line"] = np.where(roster["cost_center"].isna(), NO_COST_CENTER, COST_CENTER)
    roster["cost_center"] = roster["cost_center"].fillna(LINE_LABELS[NO_COST_CENTER])
    roster["weight"] = roster["weight"].fillna(1.0)
    return roster[["line", "cost_center", "key", "weight"]]


def _top_services(charged: pd.DataFrame) -> pd.Series:
    per = charged.groupby(["cost_center", "stype"], as_index=False, sort=False)["charged"].sum()
    per = per[per["charged"] > 0].sort_values(["cost_center", "charged"], ascending=[True, False], kind="stable")
    per["service"] = [service_name(s) for s in per["stype"]]
    return per.groupby("cost_center", sort=False)["service"].apply(lambda s: ", ".join(s.head(TOP_SERVICES)))


def monthly_trend(chargeback: Chargeback) -> pd.DataFrame:
    """Credits per line and UTC month (``period`` its first day, ``month`` e.g. "Nov 2026"); the range's
    first and last months may be partial."""
    charged = chargeback.charged
    out = charged.groupby(["month", "cost_center"], as_index=False)["charged"].sum()
    out = out.rename(columns={"month": "period", "charged": "credits"})
    out["month"] = out["period"].dt.strftime("%b %Y")
    order = {name: i for i, name in enumerate(chargeback.table["cost_center"])}
    out["order"] = out["cost_center"].map(order)
    return out.sort_values(["period", "order"], ignore_index=True).drop(columns="order")


def line_members(chargeback: Chargeback, members: pd.DataFrame, cost_center: str) -> pd.DataFrame:
    """One line's usernames: each one's credits, the weight charged here and the credits charged.

    For a cost center and "(no cost center)" this lists every member on it, idle ones too; for the
    overhead and unattributed lines, the usernames that used credits.
    """
    charged = chargeback.charged[chargeback.charged["cost_center"] == cost_center]
    per = charged.groupby(["key", "username", "status"], as_index=False, sort=False).agg(
        weight=("weight", "first"), credits=("credits", "sum"), charged_credits=("charged", "sum")
    )
    roster = chargeback.members_by_line[chargeback.members_by_line["cost_center"] == cost_center]
    details = members.assign(key=members["username"].astype(str).str.lower())
    idle_keys = roster.loc[~roster["key"].isin(per["key"]), ["key", "weight"]]
    idle = idle_keys.merge(details[["key", "username"]], on="key", how="left")
    idle = idle.assign(status=reports.MEMBER, credits=0.0, charged_credits=0.0)
    frame = pd.concat([per, idle], ignore_index=True) if len(idle) else per
    frame = frame.merge(details[["key", "full_name", "role", "user_type"]], on="key", how="left")
    frame[["full_name", "role", "user_type"]] = frame[["full_name", "role", "user_type"]].fillna("")
    frame["username"] = frame["username"].where(frame["username"] != "", reports.UNATTRIBUTED_LABEL)
    frame["status"] = frame["status"].map(reports.CATEGORY_LABELS).fillna(frame["status"])
    frame = frame.sort_values(["charged_credits", "username"], ascending=[False, True], ignore_index=True)
    frame = frame.rename(columns={"weight": "share_charged"})[list(DRILL_COLUMNS)]
    if chargeback.pricing.priced:
        cost = costs(frame["charged_credits"], chargeback.pricing)
        frame.insert(len(frame.columns), chargeback.pricing.cost_column, cost)
    return frame


def chargeback_note(chargeback: Chargeback) -> str | None:
    """The sentence a download carries when the figures are not the whole story."""
    if not chargeback.complete:
        return "Incomplete: some usage windows could not be loaded, so these totals are short."
    return None


# -- the chart (a pure Altair spec: the page and the PDF draw the same one) ---------------------------
FIXED_LINE_COLORS = {
    LINE_LABELS[NO_COST_CENTER]: "#bab0ac",
    LINE_LABELS[OVERHEAD]: "#9d9d9d",
    LINE_LABELS[UNATTRIBUTED]: "#6b6b6b",
}


def monthly_chart(trend: pd.DataFrame, height: int = 320) -> alt.Chart:
    """Stacked bars of credits per UTC month and line (``trend`` from :func:`monthly_trend`); fixed lines in greys."""
    order = list(dict.fromkeys(trend["cost_center"]))
    centers = [name for name in order if name not in FIXED_LINE_COLORS]
    colors = [charts.PALETTE[i % len(charts.PALETTE)] for i in range(len(centers))]
    fixed = [name for name in FIXED_LINE_COLORS if name in order]
    domain = [*centers, *fixed]
    return (
        alt.Chart(trend[["month", "cost_center", "credits"]])
        .mark_bar(stroke="white", strokeWidth=0.5)
        .encode(
            # months as bands, not a time axis: a partial month is one bar like the others
            x=alt.X("month:O", title=None, sort=list(dict.fromkeys(trend["month"])), axis=alt.Axis(labelAngle=0)),
            y=alt.Y("sum(credits):Q", title="Credits", axis=alt.Axis(format=",.0f")),
            color=alt.Color(
                "cost_center:N",
                title="Cost center",
                sort=domain,
                scale=alt.Scale(domain=domain, range=[*colors, *(FIXED_LINE_COLORS[n] for n in fixed)]),
                legend=alt.Legend(orient="bottom", columns=3, labelLimit=220),
            ),
            order=alt.Order("stack_rank:Q", sort="ascending"),
            tooltip=[
                alt.Tooltip("month:O", title="Month (UTC)"),
                alt.Tooltip("cost_center:N", title="Cost center"),
                alt.Tooltip("credits:Q", title="Credits", format=",.2f"),
            ],
        )
        .transform_calculate(stack_rank=f"indexof({json.dumps(domain)}, datum.cost_center)")
        .properties(height=height)
    )
