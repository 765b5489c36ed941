"""Who belongs to which cost center: from a member field, a mapping file or chosen groups."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from creditlens import reports
from creditlens.errors import CreditLensError

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
