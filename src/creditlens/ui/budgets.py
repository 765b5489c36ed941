"""The Budgets page's metrics and tables."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from creditlens import reports
from creditlens.money import Pricing, add_cost_column
from creditlens.ui import pricing
from creditlens.ui.common import Metric, credits_column, fmt_credits, fmt_int

PARAMS = ()
BUDGET_STATES = {"over": "Over allocation", "near": f"Near (≥{reports.NEAR_BUDGET_PCT:.0f}%)", "ok": "OK"}


def budget_table(status: pd.DataFrame, money: Pricing | None = None) -> pd.DataFrame:
    """The allocations with their state as a label; with a credit price, the cost of the credits in range."""
    out = status.copy()
    out["state"] = status["state"].map(BUDGET_STATES).fillna(status["state"])
    return add_cost_column(out, money or pricing.current(), credits="range_credits")


def budget_metrics(status: pd.DataFrame) -> list[Metric]:
    counts = reports.budget_counts(status)
    return [
        Metric("Members with an allocation", fmt_int(counts.members)),
        Metric("Over their allocation", fmt_int(counts.over)),
        Metric(f"Near it (≥{reports.NEAR_BUDGET_PCT:.0f}%)", fmt_int(counts.near)),
        Metric("Credits assigned", fmt_credits(counts.assigned)),
    ]


BUDGET_CONFIG = {
    "username": st.column_config.TextColumn("Username", pinned=True),
    "full_name": st.column_config.TextColumn("Full name"),
    "user_type": st.column_config.TextColumn("User type"),
    "assigned": credits_column("Assigned", "Credits allocated to the member"),
    "used": credits_column("Used", "Allocation used so far (assigned − available)"),
    "available": credits_column("Available", "Allocation left"),
    "used_pct": st.column_config.ProgressColumn("Used %", format="%.0f%%", min_value=0, max_value=100),
    "range_credits": credits_column("Credits in range", "Credits used in the selected range, storage excluded"),
    "state": st.column_config.TextColumn("State"),
}
