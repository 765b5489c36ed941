"""The Overview's headline figures and the previous period they are compared with."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from creditlens.reports._common import MEMBER, per_user_totals


# -- overview ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class OverviewKpis:
    credits: float
    previous_credits: float | None  # None when the previous period was not loaded
    active_members: int
    non_member_credits: float
    available_credits: float | None

    @property
    def change_pct(self) -> float | None:
        if self.previous_credits is None or self.previous_credits == 0:
            return None
        return (self.credits - self.previous_credits) / self.previous_credits * 100


def overview_kpis(
    usage: pd.DataFrame,
    previous: pd.DataFrame | None,
    members: pd.DataFrame,
    org_id: str,
    available_credits: float | None,
) -> OverviewKpis:
    totals = per_user_totals(usage, members, org_id)
    members_active = totals[(totals["status"] == MEMBER) & (totals["credits"] > 0)]
    return OverviewKpis(
        credits=float(usage["credits"].sum()),
        previous_credits=None if previous is None else float(previous["credits"].sum()),
        active_members=len(members_active),
        non_member_credits=float(totals.loc[totals["status"] != MEMBER, "credits"].sum()),
        available_credits=available_credits,
    )


def previous_period(start: dt.date, end: dt.date) -> tuple[dt.date, dt.date]:
    """The range of equal length just before ``start``..``end``."""
    length = (end - start).days + 1
    return start - dt.timedelta(days=length), start - dt.timedelta(days=1)
