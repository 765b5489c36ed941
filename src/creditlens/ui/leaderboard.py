"""The Leaderboard page's filters, table and column configuration."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import streamlit as st

from creditlens import reports
from creditlens.money import Pricing, add_cost_column
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


def leaderboard_table(board: pd.DataFrame, money: Pricing | None = None) -> pd.DataFrame:
    """What the leaderboard shows and downloads: status as its label, no internal org id column; with a
    credit price (``money``, else the sidebar's), a cost column after credits."""
    out = board.drop(columns=["user_org_id"])
    out["status"] = board["status"].map(reports.CATEGORY_LABELS).fillna(board["status"])
    for col in ("full_name", "role", "user_type"):
        out[col] = out[col].fillna("")
    return add_cost_column(out, money or pricing.current())


def column_config(services: Sequence[str]) -> dict[str, Any]:
    config: dict[str, Any] = {
        "rank": st.column_config.NumberColumn("#", format="%d", width=48, pinned=True),
        "username": st.column_config.TextColumn("Username", pinned=True),
        "full_name": st.column_config.TextColumn("Full name"),
        "status": st.column_config.TextColumn("Status", help="Member, or why a non-member appears in the usage"),
        "role": st.column_config.TextColumn("Role", width=110),
        "user_type": st.column_config.TextColumn("User type", width=110),
        "credits": credits_column("Credits", "Credits used in the range"),
        "share_pct": st.column_config.NumberColumn("Share", format="%.1f%%", help="Share of all credits in the range"),
        "num": st.column_config.NumberColumn("Operations", format="%,d", help="Requests, features or items counted"),
        "top_service": st.column_config.TextColumn("Top service"),
        "budget_used_pct": st.column_config.NumberColumn(
            "Budget used", format="%.0f%%", help="Share of the member's credit allocation used so far (all time)"
        ),
    }
    config.update(pricing.cost_column_config())  # cost_usd … in the currency's decimals
    for name in services:
        config[name] = credits_column(name, f"Credits for {name}")
    return config
