"""The Trends page's parameters and the drill-down's labels and table configuration."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import streamlit as st

from creditlens import reports
from creditlens.ui import state
from creditlens.ui.charts import GRANULARITY
from creditlens.ui.common import credits_column, fmt_credits
from creditlens.ui.links import ParamSpec

MAX_TOP_USERS = 15
TOP_N = ParamSpec("top", state.TOP_N, "int", 5, low=1, high=MAX_TOP_USERS, what="number of top users")
USER = ParamSpec("user", state.DRILL, "choice", None, what="user")
PARAMS = (GRANULARITY, TOP_N, USER)


def bound_params(users: Sequence[str]) -> list[ParamSpec]:
    """The page's parameters with this range's usernames as the drill-down's choices (the first by default)."""
    return [GRANULARITY, TOP_N, USER.with_options(users, default=users[0] if users else None)]


def drilldown_labels(board: pd.DataFrame) -> dict[str, str]:
    """How the drill-down lists each username: full name, status when not a member, credits (plain text)."""
    used = board[board["credits"] > 0]
    labels = {}
    for name, full, status, credits in zip(
        used["username"], used["full_name"].fillna(""), used["status"], used["credits"], strict=True
    ):
        who = f"{name} ({full})" if full else str(name)
        if status != reports.MEMBER:
            who = f"{who} · {reports.CATEGORY_LABELS.get(status, status)}"
        labels[str(name)] = f"{who} · {fmt_credits(credits)} credits"
    return labels


MEMBER_ROWS_CONFIG = {
    "day": st.column_config.DateColumn("Day (UTC)", format="YYYY-MM-DD"),
    "service": st.column_config.TextColumn("Service"),
    "stype": st.column_config.TextColumn("Service code"),
    "etype": st.column_config.TextColumn("Usage type"),
    "credits": credits_column("Credits"),
    "num": st.column_config.NumberColumn("Operations", format="%,d"),
}
