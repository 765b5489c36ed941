"""The chargeback table: one line per cost center plus the fixed lines, adding up to the org total."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from creditlens import reports
from creditlens.chargeback._centers import (
    CHECK_TOLERANCE,
    COST_CENTER,
    DRILL_COLUMNS,
    LINE_LABELS,
    NO_COST_CENTER,
    OVERHEAD,
    TABLE_COLUMNS,
    TOP_SERVICES,
    UNATTRIBUTED,
    CostCenters,
)
from creditlens.money import Pricing, allocated_costs, costs
from creditlens.services import service_name


# -- the chargeback table -------------------------------------------------------------------------------
@dataclass(frozen=True)
class ChargebackCheck:
    lines_total: float  # the table's lines added up
    org_total: float | None  # the org-wide query's total for the range, None when not loaded

    @property
    def difference(self) -> float | None:
        return None if self.org_total is None else self.lines_total - self.org_total

    @property
    def ok(self) -> bool:
        if self.org_total is None:
            return False
        return abs(self.lines_total - self.org_total) <= max(CHECK_TOLERANCE * abs(self.org_total), 1e-6)

    def describe(self) -> str:
        """The check as one sentence, credits as the app shows them."""
        lines = f"{self.lines_total:,.2f}"
        if self.org_total is None:
            return f"Lines add up to {lines} credits; the org total was not loaded to compare."
        if self.ok:
            return f"Lines add up to {lines} credits = org total {self.org_total:,.2f} ✓"
        return (
            f"Lines add up to {lines} credits ≠ org total {self.org_total:,.2f} (difference {self.difference:,.2f}) ✗"
        )


@dataclass(frozen=True)
class Chargeback:
    """The chargeback of one range. ``complete`` is False when some usage windows did not load."""

    table: pd.DataFrame  # TABLE_COLUMNS (+ the cost column when priced), one row per line
    charged: pd.DataFrame  # line, cost_center, key, username, status, stype, month, weight, credits, charged
    members_by_line: pd.DataFrame  # line, cost_center, key, weight: who belongs to which line
    check: ChargebackCheck
    pricing: Pricing
    cost_centers: CostCenters
    complete: bool = True

    @property
    def total_credits(self) -> float:
        return float(self.table["credits"].sum())

    @property
    def total_cost(self) -> float | None:
        if not self.pricing.priced:
            return None
        return float(np.round(self.table[self.pricing.cost_column].sum(), self.pricing.decimals))


def _line_name(kind: str, center: object) -> str:
    return str(center) if kind == COST_CENTER else LINE_LABELS[kind]


def build_chargeback(
    usage: pd.DataFrame,
    members: pd.DataFrame,
    org_id: str,
    cost_centers: CostCenters,
    pricing: Pricing,
    org_total: float | None = None,
    complete: bool = True,
) -> Chargeback:
    """Credits, cost, share, members, active members and top services per cost center, plus the fixed lines."""
    charged = _charged_usage(usage, members, org_id, cost_centers.assignments)
    roster = _roster(members, cost_centers.assignments)
    per_line = charged.groupby(["line", "cost_center"], as_index=False, sort=False)["charged"].sum()
    centers = sorted(cost_centers.assignments["cost_center"].unique(), key=str.lower)
    skeleton = pd.DataFrame(
        {
            "line": [COST_CENTER] * len(centers) + [NO_COST_CENTER, OVERHEAD, UNATTRIBUTED],
            "cost_center": [*centers, *(LINE_LABELS[k] for k in (NO_COST_CENTER, OVERHEAD, UNATTRIBUTED))],
        }
    )
    table = skeleton.merge(per_line, on=["line", "cost_center"], how="left").rename(columns={"charged": "credits"})
    table["credits"] = table["credits"].fillna(0.0)
    grand = float(table["credits"].sum())
    table["share_pct"] = table["credits"] / grand * 100 if grand else 0.0
    on_roster = roster.groupby("cost_center")["key"].nunique()
    active = charged[(charged["credits"] > 0) & (charged["line"].isin([COST_CENTER, NO_COST_CENTER]))]
    active_counts = active.groupby("cost_center")["key"].nunique()
    # Overhead and unattributed usage is nobody's in the org: 0 members (their drill-down lists the usernames).
    table["members"] = table["cost_center"].map(on_roster).fillna(0).astype(int)
    table["active_members"] = table["cost_center"].map(active_counts).fillna(0).astype(int)
    table["top_services"] = table["cost_center"].map(_top_services(charged)).fillna("")
    cc_rows = table["line"] == COST_CENTER
    ordered = pd.concat(
        [
            table[cc_rows].sort_values(["credits", "cost_center"], ascending=[False, True], kind="stable"),
            table[~cc_rows],
        ],
        ignore_index=True,
    ).rename(columns={"line": "line_kind", "members": "member_count"})[list(TABLE_COLUMNS)]
    if pricing.priced:
        ordered.insert(
            ordered.columns.get_loc("credits") + 1, pricing.cost_column, allocated_costs(ordered["credits"], pricing)
        )
    check = ChargebackCheck(grand, org_total)
    return Chargeback(ordered, charged, roster, check, pricing, cost_centers, complete)


def org_total_credits(org_totals: pd.DataFrame) -> float:
    """The org-wide credits of the range from the org-wide query's rows (the add-up check's reference)."""
    return float(org_totals["credits"].sum())


def members_without_cost_center(chargeback: Chargeback) -> int:
    """How many members the "(no cost center)" line holds, idle ones too."""
    table = chargeback.table
    return int(table.loc[table["line_kind"] == NO_COST_CENTER, "member_count"].sum())


def _charged_usage(usage: pd.DataFrame, members: pd.DataFrame, org_id: str, assignments: pd.DataFrame) -> pd.DataFrame:
    """Usage per (username, userOrgId, service, month) on its line, a split member's credits by weight."""
    # Group on the categorical codes first and make text of the (small) result: converting a
    # million-row frame's categoricals to str costs seconds.
    days = pd.to_datetime(usage["day"]).to_numpy()
    frame = pd.DataFrame(
        {
            "username": usage["username"],
            "user_org_id": usage["user_org_id"],
            "stype": usage["stype"],
            "month": days.astype("datetime64[M]").astype("datetime64[ns]"),
            "credits": usage["credits"].astype(float),
        }
    )
    keys = ["username", "user_org_id", "stype", "month"]
    grouped = frame.groupby(keys, as_index=False, sort=False, observed=True)["credits"].sum()
    for name in ("username", "user_org_id", "stype"):
        grouped[name] = grouped[name].astype(str)
    grouped["status"] = reports.classify(grouped["username"], grouped["user_org_id"], members["username"], org_id)
    grouped["key"] = grouped["username"].str.lower()
    is_member = grouped["status"] == reports.MEMBER
    mine = grouped[is_member].merge(assignments, on="key", how="left")
    mine["line"] = np.where(mine["cost_center"].isna(), NO_COST_CENTER, COST_CENTER)
    mine["cost_center"] = mine["cost_center"].fillna(LINE_LABELS[NO_COST_CENTER])
    mine["weight"] = mine["weight"].fillna(1.0)
    others = grouped[~is_member].copy()
    others["line"] = np.where(others["status"] == reports.UNATTRIBUTED, UNATTRIBUTED, OVERHEAD)
    others["cost_center"] = [LINE_LABELS[k] for k in others["line"]]
    others["weight"] = 1.0
    out = pd.concat([mine, others], ignore_index=True)
    out["charged"] = out["credits"] * out["weight"]
    return out


def _roster(members: pd.DataFrame, assignments: pd.DataFrame) -> pd.DataFrame:
    """Every member on the line(s) they belong to, whether or not they used credits."""
    keys = pd.DataFrame({"key": members["username"].astype(str).str.lower().to_numpy()})
    roster = keys.merge(assignments, on="key", how="left")
    roster["line"] = np.where(roster["cost_center"].isna(), NO_COST_CENTER, COST_CENTER)
    roster["cost_center"] = roster["cost_center"].fillna(LINE_LABELS[NO_COST_CENTER])
    roster["weight"] = roster["weight"].fillna(1.0)
    return roster[["line", "cost_center", "key", "weight"]]


def _top_services(charged: pd.DataFrame) -> pd.Series:
    per = charged.groupby(["cost_center", "stype"], as_index=False, sort=False)["charged"].sum()
    per = per[per["charged"] > 0].sort_values(["cost_center", "charged"], ascending=[True, False], kind="stable")
    per["service"] = [service_name(s) for s in per["stype"]]
    return per.groupby("cost_center", sort=False)["service"].apply(lambda s: ", ".join(s.head(TOP_SERVICES)))


def monthly_trend(chargeback: Chargeback) -> pd.DataFrame:
    """Credits per line and UTC month (``period`` its first day, ``month`` e.g. "Nov 2026"); the range's
    first and last months may be partial."""
    charged = chargeback.charged
    out = charged.groupby(["month", "cost_center"], as_index=False)["charged"].sum()
    out = out.rename(columns={"month": "period", "charged": "credits"})
    out["month"] = out["period"].dt.strftime("%b %Y")
    order = {name: i for i, name in enumerate(chargeback.table["cost_center"])}
    out["order"] = out["cost_center"].map(order)
    return out.sort_values(["period", "order"], ignore_index=True).drop(columns="order")


def has_usage(trend: pd.DataFrame) -> bool:
    """Whether a :func:`monthly_trend` has any credits to chart (an empty or all-zero one has not)."""
    return not trend.empty and float(trend["credits"].sum()) > 0


def line_members(chargeback: Chargeback, members: pd.DataFrame, cost_center: str) -> pd.DataFrame:
    """One line's usernames: each one's credits, the weight charged here and the credits charged.

    For a cost center and "(no cost center)" this lists every member on it, idle ones too; for the
    overhead and unattributed lines, the usernames that used credits.
    """
    charged = chargeback.charged[chargeback.charged["cost_center"] == cost_center]
    per = charged.groupby(["key", "username", "status"], as_index=False, sort=False).agg(
        weight=("weight", "first"), credits=("credits", "sum"), charged_credits=("charged", "sum")
    )
    roster = chargeback.members_by_line[chargeback.members_by_line["cost_center"] == cost_center]
    details = members.assign(key=members["username"].astype(str).str.lower())
    idle_keys = roster.loc[~roster["key"].isin(per["key"]), ["key", "weight"]]
    idle = idle_keys.merge(details[["key", "username"]], on="key", how="left")
    idle = idle.assign(status=reports.MEMBER, credits=0.0, charged_credits=0.0)
    frame = pd.concat([per, idle], ignore_index=True) if len(idle) else per
    frame = frame.merge(details[["key", "full_name", "role", "user_type"]], on="key", how="left")
    frame[["full_name", "role", "user_type"]] = frame[["full_name", "role", "user_type"]].fillna("")
    frame["username"] = frame["username"].where(frame["username"] != "", reports.UNATTRIBUTED_LABEL)
    frame["status"] = frame["status"].map(reports.CATEGORY_LABELS).fillna(frame["status"])
    frame = frame.sort_values(["charged_credits", "username"], ascending=[False, True], ignore_index=True)
    frame = frame.rename(columns={"weight": "share_charged"})[list(DRILL_COLUMNS)]
    if chargeback.pricing.priced:
        cost = costs(frame["charged_credits"], chargeback.pricing)
        frame.insert(len(frame.columns), chargeback.pricing.cost_column, cost)
    return frame


def chargeback_note(chargeback: Chargeback) -> str | None:
    """The sentence a download carries when the figures are not the whole story."""
    if not chargeback.complete:
        return "Incomplete: some usage windows could not be loaded, so these totals are short."
    return None
