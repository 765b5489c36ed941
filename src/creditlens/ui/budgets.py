"""The Budgets page's metrics and tables."""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from creditlens import exporting, reports
from creditlens.money import Pricing, add_cost_column
from creditlens.ui import pricing
from creditlens.ui.common import Metric, credits_column, fmt_credits, fmt_int

PARAMS = ()
#: Budget states as people read them: the same labels as the downloads'.
BUDGET_STATES = exporting.BUDGET_STATE_LABELS


def budget_table(status: pd.DataFrame, money: Pricing | None = None) -> pd.DataFrame:
    """The allocations with their state as a label and how far past the allocation a member is
    (``over_by``, empty when within it); with a credit price, the cost of the credits in range."""
    out = status.copy()
    out["state"] = status["state"].map(BUDGET_STATES).fillna(status["state"])
    out.insert(out.columns.get_loc("available") + 1, "over_by", reports.over_by(status))
    return add_cost_column(out, money or pricing.current(), credits="range_credits")


#: On a phone the first columns are what is read: who, how much of the allocation, what is left.
SCREEN_ORDER = ("username", "used_pct", "available", "over_by", "state", "assigned", "used", "range_credits")


def screen_column_order(table: pd.DataFrame) -> list[str]:
    first = [c for c in SCREEN_ORDER if c in table.columns]
    return [*first, *(c for c in table.columns if c not in first)]


def used_pct_scale(status: pd.DataFrame) -> float:
    """The bars' full length: 100 %, or the highest use when someone is past it, so 109 % and 81 % differ."""
    highest = status["used_pct"].max()
    return float(max(100.0, math.ceil(highest / 10) * 10)) if pd.notna(highest) else 100.0


def column_config(status: pd.DataFrame) -> dict:
    scale = used_pct_scale(status)
    note = "" if scale == 100 else f" The bar's full length is {scale:.0f}%, the highest use here."
    return {
        **BUDGET_CONFIG,
        "used_pct": st.column_config.ProgressColumn(
            "Used %",
            format="%.0f%%",
            min_value=0,
            max_value=scale,
            help=f"Share of the allocation used so far; past 100% the member is over it.{note}",
        ),
        **pricing.cost_column_config(),
    }


def budget_metrics(status: pd.DataFrame) -> list[Metric]:
    counts = reports.budget_counts(status)
    return [
        Metric("Members with an allocation", fmt_int(counts.members)),
        Metric("Over their allocation", fmt_int(counts.over)),
        Metric(f"Near it (≥{reports.NEAR_BUDGET_PCT:.0f}%)", fmt_int(counts.near)),
        Metric("Credits assigned", fmt_credits(counts.assigned)),
    ]


BUDGET_CONFIG = {
    "username": st.column_config.TextColumn("Username"),
    "full_name": st.column_config.TextColumn("Full name"),
    "user_type": st.column_config.TextColumn("User type"),
    "assigned": credits_column("Assigned", "Credits allocated to the member"),
    "used": credits_column("Used", "Allocation used so far (assigned − available)"),
    "available": credits_column("Available", "Allocation left; negative when overspent (see Over by)"),
    "over_by": credits_column("Over by", "Credits used past the allocation"),
    "used_pct": st.column_config.ProgressColumn("Used %", format="%.0f%%", min_value=0, max_value=100),
    "range_credits": credits_column("Credits in range", "Credits used in the selected range, storage excluded"),
    "state": st.column_config.TextColumn("State"),
}
