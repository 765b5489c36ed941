"""The Leaderboard page's filters, table and column configuration."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import streamlit as st

from creditlens import exporting, reports
from creditlens.money import Pricing, add_cost_column
from creditlens.services import SERVICES, service_name
from creditlens.ui import pricing, state
from creditlens.ui.common import credits_column
from creditlens.ui.links import ParamSpec

STATUS = ParamSpec("status", state.LB_STATUS, "list", [], tuple(reports.CATEGORIES), what="statuses")
ROLE = ParamSpec("role", state.LB_ROLE, "list", [], what="roles")
USER_TYPE = ParamSpec("type", state.LB_TYPE, "list", [], what="user types")
SERVICE = ParamSpec("service", state.LB_SERVICE, "choice", None, what="service")
MIN_CREDITS = ParamSpec("min", state.LB_MIN, "number", 0.0, low=0.0, what="minimum credits")
SEARCH = ParamSpec("q", state.LB_SEARCH, "text", "", what="search")
PARAMS = (STATUS, ROLE, USER_TYPE, SERVICE, MIN_CREDITS, SEARCH)


def bound_params(board: pd.DataFrame, service_codes: Sequence[str]) -> list[ParamSpec]:
    """The page's parameters with the options this board allows."""
    return [
        STATUS,
        ROLE.with_options(reports.distinct_values(board["role"])),
        USER_TYPE.with_options(reports.distinct_values(board["user_type"])),
        SERVICE.with_options(service_codes),
        MIN_CREDITS,
        SEARCH,
    ]


def filters_from_state(session: Mapping[str, Any]) -> reports.LeaderboardFilters:
    return reports.LeaderboardFilters(
        statuses=tuple(session.get(state.LB_STATUS) or ()),
        roles=tuple(session.get(state.LB_ROLE) or ()),
        user_types=tuple(session.get(state.LB_TYPE) or ()),
        service=session.get(state.LB_SERVICE) or None,
        min_credits=float(session.get(state.LB_MIN) or 0.0),
        search=str(session.get(state.LB_SEARCH) or ""),
    )


def filters_description(filters: reports.LeaderboardFilters) -> list[tuple[str, str]]:
    """The filters in force as (filter, value) pairs, for the download's About sheet; none when showing all."""
    out = []
    if filters.statuses:
        out.append(("Status", ", ".join(reports.CATEGORY_LABELS.get(s, s) for s in filters.statuses)))
    if filters.roles:
        out.append(("Role", ", ".join(filters.roles)))
    if filters.user_types:
        out.append(("User type", ", ".join(filters.user_types)))
    if filters.service:
        out.append(("Used the service", service_name(filters.service)))
    if filters.min_credits and filters.min_credits > 0:
        out.append(("Minimum credits", f"{filters.min_credits:g}"))
    if filters.search.strip():
        out.append(("Search", filters.search.strip()))
    return out


def download_frame(board: pd.DataFrame, money: Pricing | None = None) -> pd.DataFrame:
    """What the downloads hold: the (filtered) board as the CLI exports it, with a cost column when priced."""
    return add_cost_column(board, money or pricing.current())


def leaderboard_table(board: pd.DataFrame, money: Pricing | None = None) -> pd.DataFrame:
    """What the leaderboard shows: the download's columns, status as its label, and a service the
    username did not use left blank instead of a wall of 0.00."""
    services = reports.board_services(board)
    out = download_frame(board, money).copy()  # without a price that is the board itself
    out["status"] = board["status"].map(reports.CATEGORY_LABELS).fillna(board["status"])
    for col in ("full_name", "role", "user_type"):
        out[col] = out[col].fillna("")
    out[services] = out[services].where(out[services] != 0)
    return out


#: What a screen shows first: who, how much, and against the budget, so a phone (390 px: rank, username
#: and credits) and a 1440 px desktop (through the budget) see what matters without scrolling sideways.
#: Downloads keep the CLI's order.
SCREEN_FIRST = ("rank", "username", "credits", "share_pct", "status", "budget_used_pct", "full_name", "num")


def screen_column_order(table: pd.DataFrame) -> list[str]:
    """The on-screen column order: :data:`SCREEN_FIRST`, then every other column in the table's order."""
    first = [c for c in SCREEN_FIRST if c in table.columns]
    costs = [c for c in table.columns if str(c).startswith("cost_")]  # money.Pricing.cost_column, after credits
    if costs and "credits" in first:
        at = first.index("credits") + 1
        first[at:at] = costs
    return [*first, *(c for c in table.columns if c not in first)]


def service_label(column: str) -> str:
    """A service column's header: its name, or the raw code marked as such when Credit Lens has no name."""
    return column if column in _SERVICE_NAMES else f"{column} (service code)"


_SERVICE_NAMES = frozenset(s.name for s in SERVICES.values())


def column_config(services: Sequence[str]) -> dict[str, Any]:
    """Headers from the same place as the downloads' (:func:`exporting.human_header`); no pinned
    columns, so usernames read as normal text and the table keeps its width on a phone."""
    header = exporting.human_header
    config: dict[str, Any] = {
        "rank": st.column_config.NumberColumn(header("rank"), format="%d", width=52),
        "username": st.column_config.TextColumn(header("username")),
        "full_name": st.column_config.TextColumn(header("full_name")),
        "status": st.column_config.TextColumn(
            header("status"), width=120, help="Member, or why a non-member appears in the usage"
        ),
        "role": st.column_config.TextColumn(header("role"), width=110),
        "user_type": st.column_config.TextColumn(header("user_type"), width=110),
        "credits": credits_column(header("credits"), "Credits used in the range"),
        "share_pct": st.column_config.NumberColumn(
            header("share_pct"), format="%.1f", help="Share of all credits in the range"
        ),
        "num": st.column_config.NumberColumn(header("num"), format="%,d", help="Requests, features or items counted"),
        "top_service": st.column_config.TextColumn(header("top_service")),
        "budget_used_pct": st.column_config.NumberColumn(
            header("budget_used_pct"),
            format="%.0f",
            width=104,
            help="Share of the member's credit allocation used so far (all time)",
        ),
        "user_org_id": st.column_config.TextColumn(
            header("user_org_id"), help="The organization a username belongs to; empty for public accounts"
        ),
    }
    config.update(pricing.cost_column_config())  # cost_usd … in the currency's decimals
    for name in services:
        label = service_label(name)
        known = label == name
        config[name] = credits_column(
            label,
            f"Credits for {name}" if known else "A service code Credit Lens has no name for, as the portal sent it",
        )
    return config
