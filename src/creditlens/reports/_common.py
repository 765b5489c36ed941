"""What every report shares: the reconciliation categories, their labels, and per-username totals."""

from __future__ import annotations

import numpy as np
import pandas as pd

MEMBER, FORMER, EXTERNAL, PUBLIC, UNATTRIBUTED = "member", "former_member", "external", "public", "unattributed"
CATEGORIES = (MEMBER, FORMER, EXTERNAL, PUBLIC, UNATTRIBUTED)
CATEGORY_LABELS = {
    MEMBER: "Member",
    FORMER: "Former member",
    EXTERNAL: "External org",
    PUBLIC: "Public account",
    UNATTRIBUTED: "Unattributed",
}
CATEGORY_HELP = {
    MEMBER: "A current member of this organization.",
    FORMER: "Carries this organization's id but is no longer in the member list: the account was deleted "
    "or left, and its past usage is still billed here.",
    EXTERNAL: "A user of another organization who used this organization's apps or premium content, "
    "which this organization pays for.",
    PUBLIC: "A public ArcGIS account with no organization, for example a visitor of a public app that "
    "uses premium services through this organization.",
    UNATTRIBUTED: "Credits charged to the organization under no username, such as premium content "
    "reached through a proxy or an app's own credentials.",
}
UNATTRIBUTED_LABEL = "(unattributed)"
#: The series that sums every username outside the top N of a trend.
EVERYONE_ELSE = "Everyone else"
#: The leaderboard's fixed columns; one credits column per service follows them.
LEADERBOARD_COLUMNS = (
    "rank",
    "username",
    "full_name",
    "status",
    "role",
    "user_type",
    "credits",
    "share_pct",
    "num",
    "top_service",
    "budget_used_pct",
    "user_org_id",
)
NEAR_BUDGET_PCT = 90.0


# -- classification -------------------------------------------------------------------------------
def classify(usernames: pd.Series, user_org_ids: pd.Series, member_names: set[str], org_id: str) -> np.ndarray:
    """The reconciliation category of each (username, userOrgId) pair."""
    names = usernames.astype(str).to_numpy()
    orgs = user_org_ids.astype(str).to_numpy()
    lowered = np.char.lower(names.astype(str)) if len(names) else names
    is_member = np.isin(lowered, list(member_names)) if member_names else np.zeros(len(names), bool)
    return np.select(
        [names == "", is_member, orgs == "", orgs == org_id],
        [UNATTRIBUTED, MEMBER, PUBLIC, FORMER],
        default=EXTERNAL,
    )


def _member_names(members: pd.DataFrame) -> set[str]:
    return {str(u).lower() for u in members["username"]}


def per_user_totals(usage: pd.DataFrame, members: pd.DataFrame, org_id: str) -> pd.DataFrame:
    """Credits and operations per (username, user_org_id) with its category."""
    grouped = usage.groupby(["username", "user_org_id"], observed=True, as_index=False)[["credits", "num"]].sum()
    grouped["username"] = grouped["username"].astype(str)
    grouped["user_org_id"] = grouped["user_org_id"].astype(str)
    grouped["status"] = classify(grouped["username"], grouped["user_org_id"], _member_names(members), org_id)
    return grouped
