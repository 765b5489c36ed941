"""Members' credit allocations against what they used."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from creditlens.reports._common import NEAR_BUDGET_PCT
from creditlens.services import STORAGE_STYPES


# -- budgets ---------------------------------------------------------------------------------------------
def budget_status(members: pd.DataFrame, usage: pd.DataFrame) -> pd.DataFrame:
    """Members with a credit allocation: assigned, used, available, and credits spent in the range.

    Allocations cover transactions, not storage, so the range column leaves storage out.
    """
    allocated = members[members["assigned_credits"].notna()]
    in_range = usage[~usage["stype"].astype(str).isin(STORAGE_STYPES)]
    spent = in_range.groupby(in_range["username"].astype(str), observed=True)["credits"].sum()
    used = allocated["assigned_credits"] - allocated["available_credits"]
    frame = pd.DataFrame(
        {
            "username": allocated["username"].to_numpy(),
            "full_name": allocated["full_name"].to_numpy(),
            "user_type": allocated["user_type"].to_numpy(),
            "assigned": allocated["assigned_credits"].to_numpy(),
            "used": used.to_numpy(),
            "available": allocated["available_credits"].to_numpy(),
        }
    )
    frame["used_pct"] = np.where(frame["assigned"] > 0, frame["used"] / frame["assigned"] * 100, np.nan)
    frame["range_credits"] = frame["username"].map(spent).fillna(0.0).to_numpy()
    frame["state"] = np.select(
        [frame["used_pct"] >= 100, frame["used_pct"] >= NEAR_BUDGET_PCT], ["over", "near"], default="ok"
    )
    return frame.sort_values("used_pct", ascending=False, ignore_index=True)


def over_by(status: pd.DataFrame) -> pd.Series:
    """Per row of :func:`budget_status`: credits used past the allocation (used − assigned), NaN when within it."""
    return (status["used"] - status["assigned"]).where(status["available"] < 0)


@dataclass(frozen=True)
class BudgetCounts:
    members: int  # members with an allocation
    over: int
    near: int
    assigned: float  # credits assigned in all


def budget_counts(status: pd.DataFrame) -> BudgetCounts:
    """The Budgets page's headline counts, from :func:`budget_status`."""
    return BudgetCounts(
        members=len(status),
        over=int((status["state"] == "over").sum()),
        near=int((status["state"] == "near").sum()),
        assigned=float(status["assigned"].sum()),
    )


def budget_alerts(status: pd.DataFrame) -> pd.DataFrame:
    """Members over or near (≥ NEAR_BUDGET_PCT) their allocation, most used first."""
    return status[status["state"].isin(("over", "near"))].reset_index(drop=True)
