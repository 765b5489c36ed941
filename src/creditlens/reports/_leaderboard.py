"""The leaderboard: every username ranked, its filters, and the top members."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from creditlens.reports._common import LEADERBOARD_COLUMNS, MEMBER, UNATTRIBUTED_LABEL, is_in, per_user_totals
from creditlens.services import service_name


# -- leaderboard ------------------------------------------------------------------------------------
def leaderboard(usage: pd.DataFrame, members: pd.DataFrame, org_id: str, include_idle: bool = True) -> pd.DataFrame:
    """Every username ranked by credits, with member details and one credits column per service."""
    totals = per_user_totals(usage, members, org_id)
    if include_idle:
        totals = pd.concat([totals, _idle_member_rows(totals, members, org_id)], ignore_index=True)
    grand = totals["credits"].sum()
    totals["share_pct"] = np.where(grand > 0, totals["credits"] / grand * 100 if grand else 0.0, 0.0)
    by_service = service_pivot(usage)
    totals = totals.merge(_top_service(usage), on=["username", "user_org_id"], how="left")
    details = _member_details(members)
    board = totals.merge(details, left_on=totals["username"].str.lower(), right_on="key", how="left")
    board = board.drop(columns=["key", "key_0"], errors="ignore")
    board = board.merge(by_service, on=["username", "user_org_id"], how="left")
    service_cols = list(by_service.columns[2:])
    board[service_cols] = board[service_cols].fillna(0.0)
    board["top_service"] = board["top_service"].fillna("")
    board["username"] = board["username"].where(board["username"] != "", UNATTRIBUTED_LABEL)
    board = board.sort_values(["credits", "num", "username"], ascending=[False, False, True], ignore_index=True)
    board.insert(0, "rank", np.arange(1, len(board) + 1))
    ordered = [*LEADERBOARD_COLUMNS, *service_cols]
    return board[ordered]


def _idle_member_rows(totals: pd.DataFrame, members: pd.DataFrame, org_id: str) -> pd.DataFrame:
    seen = totals.loc[totals["status"] == MEMBER, "username"].str.lower()
    idle = members[~is_in(members["username"].str.lower(), seen)]
    return pd.DataFrame(
        {
            "username": idle["username"].astype(str).to_numpy(),
            "user_org_id": org_id,
            "credits": 0.0,
            "num": 0,
            "status": MEMBER,
        }
    )


def _member_details(members: pd.DataFrame) -> pd.DataFrame:
    assigned = members["assigned_credits"]
    used = assigned - members["available_credits"]
    pct = np.where(assigned > 0, used / assigned.where(assigned > 0) * 100, np.nan)
    return pd.DataFrame(
        {
            "key": members["username"].str.lower(),
            "full_name": members["full_name"],
            "role": members["role"],
            "user_type": members["user_type"],
            "budget_used_pct": pct,
        }
    )


def _top_service(usage: pd.DataFrame) -> pd.DataFrame:
    per = usage.groupby(["username", "user_org_id", "stype"], observed=True, as_index=False)["credits"].sum()
    per = per[per["credits"] > 0].sort_values("credits", ascending=False, kind="stable")
    top = per.drop_duplicates(["username", "user_org_id"])
    return pd.DataFrame(
        {
            "username": top["username"].astype(str).to_numpy(),
            "user_org_id": top["user_org_id"].astype(str).to_numpy(),
            "top_service": service_names(top["stype"]),
        }
    )


def service_pivot(usage: pd.DataFrame) -> pd.DataFrame:
    """Credits per (username, user_org_id) × service, services by human name, largest first."""
    per = usage.groupby(["username", "user_org_id", "stype"], observed=True, as_index=False)["credits"].sum()
    per["service"] = service_names(per["stype"])
    per["username"] = per["username"].astype(str)
    per["user_org_id"] = per["user_org_id"].astype(str)
    wide = per.pivot_table(
        index=["username", "user_org_id"], columns="service", values="credits", aggfunc="sum", fill_value=0.0
    )
    order = wide.sum().sort_values(ascending=False).index
    wide = wide[order]
    wide.columns = [str(c) for c in wide.columns]
    return wide.reset_index()


def service_names(stypes: pd.Series) -> np.ndarray:
    """Each row's service by its human name, named once per distinct code rather than once per row."""
    codes = stypes.astype(str)
    return codes.map({code: service_name(code) for code in codes.unique()}).to_numpy()


#: The top-members table's columns, in order.
TOP_COLUMNS = ("rank", "username", "full_name", "role", "user_type", "credits", "share_pct", "num", "top_service")


def top_members(board: pd.DataFrame, n: int = 10) -> pd.DataFrame:
    """The ``n`` current members who used the most credits, ranked 1..n among members."""
    members = board[(board["status"] == MEMBER) & (board["credits"] > 0)]
    top = members.head(n)[list(TOP_COLUMNS)].reset_index(drop=True)
    top["rank"] = np.arange(1, len(top) + 1)
    return top


@dataclass(frozen=True)
class LeaderboardFilters:
    statuses: tuple[str, ...] = ()  # category codes (CATEGORIES); empty = all
    roles: tuple[str, ...] = ()
    user_types: tuple[str, ...] = ()
    service: str | None = None  # a service code: only usernames with credits in it
    min_credits: float = 0.0
    search: str = ""  # case-insensitive, in username or full name


def filter_leaderboard(board: pd.DataFrame, filters: LeaderboardFilters) -> pd.DataFrame:
    """The rows of :func:`leaderboard` that pass every filter, in the board's order."""
    keep = np.ones(len(board), dtype=bool)
    if filters.statuses:
        keep &= board["status"].isin(filters.statuses).to_numpy()
    if filters.roles:
        keep &= board["role"].isin(filters.roles).to_numpy()
    if filters.user_types:
        keep &= board["user_type"].isin(filters.user_types).to_numpy()
    if filters.service:
        column = service_name(filters.service)
        keep &= (board[column] > 0).to_numpy() if column in board.columns else False
    if filters.min_credits and filters.min_credits > 0:
        keep &= (board["credits"] >= filters.min_credits).to_numpy()
    text = filters.search.strip().lower()
    if text:
        names = board["username"].astype(str).str.lower().str.contains(text, regex=False)
        full = board["full_name"].fillna("").astype(str).str.lower().str.contains(text, regex=False)
        keep &= (names | full).to_numpy()
    return board[keep].reset_index(drop=True)


def service_codes(usage: pd.DataFrame) -> list[str]:
    """Service codes present in the usage, most credits first."""
    if usage.empty:
        return []
    # Group the column itself: it is categorical, so this avoids one Python string per row on every rerun.
    totals = usage.groupby("stype", observed=True)["credits"].sum().sort_values(ascending=False)
    return [str(c) for c in totals.index]


def board_services(board: pd.DataFrame) -> list[str]:
    """The per-service credit columns of a leaderboard, largest first."""
    return [c for c in board.columns if c not in LEADERBOARD_COLUMNS]


def distinct_values(values: pd.Series) -> list[str]:
    """The sorted distinct non-empty text values of a column (a filter's options)."""
    return sorted({str(v) for v in values if isinstance(v, str) and v})


def drilldown_options(board: pd.DataFrame) -> list[str]:
    """Usernames with credits in the range, most credits first (the drill-down choices)."""
    return board.loc[board["credits"] > 0, "username"].astype(str).tolist()


# -- tidy rows --------------------------------------------------------------------------------------------
def usage_rows(usage: pd.DataFrame) -> pd.DataFrame:
    """The tidy daily rows with the service's human name beside its code, in a stable order."""
    out = usage.copy()
    out.insert(out.columns.get_loc("stype") + 1, "service", service_names(usage["stype"]))
    return out.sort_values(["day", "username", "stype", "etype"], ignore_index=True)
