"""Who used the org's credits besides its members, and whether the totals add up."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from creditlens.reports._common import CATEGORIES, CATEGORY_LABELS, MEMBER, UNATTRIBUTED_LABEL, per_user_totals
from creditlens.reports._leaderboard import _idle_member_rows


# -- reconciliation -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Reconciliation:
    table: pd.DataFrame  # every username (with zero-usage members): username, status, user_org_id, credits, num
    summary: pd.DataFrame  # per category: status, label, usernames, credits
    idle_members: pd.DataFrame  # members with no credits in the range

    @property
    def non_members(self) -> pd.DataFrame:
        return self.table[self.table["status"] != MEMBER].reset_index(drop=True)


def reconcile_members(usage: pd.DataFrame, members: pd.DataFrame, org_id: str) -> Reconciliation:
    """Classify every username in the usage and list members with no usage in the range."""
    totals = per_user_totals(usage, members, org_id)
    idle_rows = _idle_member_rows(totals, members, org_id)
    zero_credit_members = totals[(totals["status"] == MEMBER) & (totals["credits"] <= 0)]
    table = pd.concat([totals, idle_rows], ignore_index=True)
    table["username"] = table["username"].where(table["username"] != "", UNATTRIBUTED_LABEL)
    table = table.sort_values(["credits", "username"], ascending=[False, True], ignore_index=True)
    table = table[["username", "status", "user_org_id", "credits", "num"]]
    summary = pd.DataFrame(
        {
            "status": list(CATEGORIES),
            "label": [CATEGORY_LABELS[c] for c in CATEGORIES],
            "usernames": [int((table["status"] == c).sum()) for c in CATEGORIES],
            "credits": [float(table.loc[table["status"] == c, "credits"].sum()) for c in CATEGORIES],
        }
    )
    idle_names = set(idle_rows["username"]) | set(zero_credit_members["username"])
    idle = members[members["username"].isin(idle_names)]
    idle = idle[["username", "full_name", "role", "user_type", "last_login", "disabled"]]
    return Reconciliation(table, summary, idle.sort_values("username", ignore_index=True))


def category_counts(rec: Reconciliation) -> pd.DataFrame:
    """Per category: usernames with usage in the range, members without any, and credits.

    Columns ``status``, ``category`` (its label), ``with_usage``, ``without_usage``, ``credits``. The member
    count never silently includes idle members: Overview's "Active members" is the same number.
    """
    table = rec.table
    # Only a member can be idle: every other username is in the usage because it used something.
    used = (table["credits"] > 0) | (table["status"] != MEMBER)
    return pd.DataFrame(
        {
            "status": list(CATEGORIES),
            "category": [CATEGORY_LABELS[c] for c in CATEGORIES],
            "with_usage": [int(((table["status"] == c) & used).sum()) for c in CATEGORIES],
            "without_usage": [int(((table["status"] == c) & ~used).sum()) for c in CATEGORIES],
            "credits": [float(table.loc[table["status"] == c, "credits"].sum()) for c in CATEGORIES],
        }
    )


# -- totals --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TotalsCheck:
    per_user: float  # credits with a username
    unattributed: float
    org_total: float  # from the org-wide query (grouped by service only)

    @property
    def usage_total(self) -> float:
        """What the usage adds up to: per-user plus unattributed credits."""
        return self.per_user + self.unattributed

    @property
    def difference(self) -> float:
        return self.usage_total - self.org_total

    @property
    def ok(self) -> bool:
        return abs(self.difference) <= max(1e-6 * abs(self.org_total), 1e-6)


def totals_check(usage: pd.DataFrame, org_totals: pd.DataFrame) -> TotalsCheck:
    named = usage["username"].astype(str) != ""
    return TotalsCheck(
        per_user=float(usage.loc[named, "credits"].sum()),
        unattributed=float(usage.loc[~named, "credits"].sum()),
        org_total=float(org_totals["credits"].sum()),
    )
