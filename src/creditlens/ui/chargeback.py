"""The Chargeback page's cost-center source, tables, column configuration and management summary.

The numbers are :mod:`creditlens.chargeback`'s; this module only picks the source, caches the groups
per identity and shapes what is shown. Widget keys carry a digest of the identity, so a group or
cost-center choice made in one org never carries over to another.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from typing import Any

import pandas as pd
import streamlit as st

from creditlens import chargeback as cb
from creditlens import exporting, summary_pdf
from creditlens.chargeback import (
    NO_COST_CENTER,
    ROLE,
    has_usage,
    line_members,
    members_without_cost_center,
    monthly_chart,
    monthly_trend,
)
from creditlens.chargeback import org_total_credits as org_total
from creditlens.money import Pricing, format_money
from creditlens.portal import PortalConnection
from creditlens.ui import data, pricing
from creditlens.ui.common import credits_column, plain
from creditlens.ui.data import CACHE_ENTRIES, CACHE_TTL_S, generation
from creditlens.ui.links import ParamSpec
from creditlens.ui.state import View

SOURCE_KEY = "cb_source"
SOURCE = ParamSpec("centers", SOURCE_KEY, "choice", cb.ROLE, cb.SOURCES, what="cost-center source")
PARAMS = (SOURCE,)
LINE_KIND_LABELS = cb.LINE_KIND_LABELS
SOURCE_OPTIONS = (cb.GROUPS, cb.FILE, cb.ROLE, cb.USER_TYPE)

#: What the page lays out straight from the library (the numbers are computed there, not here).
__all__ = [
    "NO_COST_CENTER",
    "ROLE",
    "format_money",
    "has_usage",
    "line_members",
    "members_without_cost_center",
    "monthly_chart",
    "monthly_trend",
    "org_total",
]


def scoped_key(name: str, view: View) -> str:
    """A widget key of this org's data: one per identity, so choices never leak between orgs."""
    digest = hashlib.sha256(view.identity_key.encode()).hexdigest()[:12]
    return f"cb_{name}_{digest}"


# -- groups, cached per identity -------------------------------------------------------------------
@st.cache_data(ttl=CACHE_TTL_S, max_entries=CACHE_ENTRIES, show_spinner="Loading groups")
def _groups_cached(identity_key: str, generation: int, _conn: PortalConnection) -> list[cb.Group]:
    return cb.fetch_groups(_conn)


@st.cache_data(ttl=CACHE_TTL_S, max_entries=CACHE_ENTRIES, show_spinner="Loading group members")
def _members_of_cached(
    identity_key: str, generation: int, group_ids: tuple[str, ...], _groups: Sequence[cb.Group], _conn: PortalConnection
) -> list[cb.Group]:
    by_id = {g.id: g for g in _groups}
    return [cb.fetch_group_members(_conn, by_id[gid]) for gid in group_ids if gid in by_id]


def load_groups(conn: PortalConnection) -> list[cb.Group]:
    key = conn.identity.cache_key
    return _groups_cached(key, generation(key), conn)


def load_group_members(conn: PortalConnection, groups: Sequence[cb.Group], group_ids: Sequence[str]) -> list[cb.Group]:
    key = conn.identity.cache_key
    return _members_of_cached(key, generation(key), tuple(sorted(group_ids)), groups, conn)


# -- the source ------------------------------------------------------------------------------------
def source_label(source: str) -> str:
    return cb.SOURCE_LABELS[source]


def cost_centers(view: View, members: pd.DataFrame, source: str) -> cb.CostCenters | None:
    """The cost centers from the chosen source's own widgets; None (with a hint shown) until it has what it needs."""
    if source in (cb.ROLE, cb.USER_TYPE):
        return cb.from_member_field(members, source)
    if source == cb.FILE:
        return _file_source(view, members)
    return _group_source(view, members)


def _file_source(view: View, members: pd.DataFrame) -> cb.CostCenters | None:
    upload = st.file_uploader(
        "Mapping file (CSV with the header username,cost_center)",
        type=["csv"],
        key=scoped_key("file", view),
        help="One row per member. Usernames match whatever their case; bad rows are reported by line and skipped.",
    )
    if upload is None:
        st.info("Upload a CSV file with the header `username,cost_center` to charge back by your own cost centers.")
        return None
    try:
        centers = cb.from_mapping_csv(upload.getvalue(), members)
    except cb.CostCenterError as exc:
        st.error(plain(exc))
        return None
    report = centers.report
    if report is not None:
        issues = report.issues()
        (st.warning if issues else st.success)(plain(report.summary()), icon=":material/upload_file:")
        if issues:
            with st.expander(f"{len(issues):,d} rows not used"):
                st.dataframe(mapping_issue_table(issues), hide_index=True, width="stretch")
    return centers


def mapping_issue_table(issues: Sequence[cb.RowIssue]) -> pd.DataFrame:
    return pd.DataFrame(
        {"line": [i.line for i in issues], "username": [i.username for i in issues], "why": [i.reason for i in issues]}
    )


def _group_source(view: View, members: pd.DataFrame) -> cb.CostCenters | None:
    with data.friendly_errors("Could not load the organization's groups"):
        groups = load_groups(view.conn)
    if not groups:
        st.info("This organization has no groups to use as cost centers.")
        return None
    by_id = {g.id: g for g in groups}
    key = scoped_key("groups", view)
    tagged = [g.id for g in cb.groups_with_tag(groups, cb.DEFAULT_GROUP_TAG)]
    if key in st.session_state:
        st.session_state[key] = [gid for gid in st.session_state[key] if gid in by_id]
    else:
        st.session_state[key] = tagged
    chosen = st.multiselect(
        "Groups that are cost centers",
        list(by_id),
        key=key,
        format_func=lambda gid: by_id[gid].title,
        placeholder="Pick groups",
        help=f"Groups tagged '{cb.DEFAULT_GROUP_TAG}' are chosen at first. "
        "A member of several chosen groups is split evenly between them.",
    )
    if not chosen:
        st.info("Pick at least one group to charge back by group.")
        return None
    with data.friendly_errors("Could not load the groups' members"):
        filled = load_group_members(view.conn, groups, chosen)
    return cb.from_groups(filled, members)


# -- the chargeback, cached per identity -----------------------------------------------------------------
def centers_digest(centers: cb.CostCenters) -> str:
    """What identifies a cost-center assignment in a cache key: its source and its rows, never a file name."""
    rows = pd.util.hash_pandas_object(centers.assignments, index=False).to_numpy().tobytes()
    return f"{centers.source}:{hashlib.sha256(rows).hexdigest()}"


@st.cache_data(ttl=CACHE_TTL_S, max_entries=CACHE_ENTRIES, show_spinner="Adding up the cost centers")
def _chargeback_cached(
    identity_key: str,
    generation: int,
    start: dt.date,
    end: dt.date,
    digest: str,
    price: float | None,
    currency: str,
    org_total: float,
    complete: bool,
    _usage: pd.DataFrame,
    _members: pd.DataFrame,
    org_id: str,
    _centers: cb.CostCenters,
) -> cb.Chargeback:
    return cb.build_chargeback(_usage, _members, org_id, _centers, Pricing(price, currency), org_total, complete)


def load_chargeback(
    view: View, page_data: data.PageData, centers: cb.CostCenters, money: Pricing, org_total: float
) -> cb.Chargeback:
    """The chargeback of the view, recomputed only when the data, the cost centers or the price change."""
    key = view.identity_key
    return _chargeback_cached(
        key, generation(key), view.start, view.end, centers_digest(centers), money.price, money.currency,
        org_total, page_data.complete, page_data.frame, page_data.members, view.org_id, centers,
    )  # fmt: skip


# -- tables -----------------------------------------------------------------------------------------
def chargeback_table(charge: cb.Chargeback) -> pd.DataFrame:
    """What the page shows and downloads: the lines, with their kind as a label."""
    out = charge.table.copy()
    out["line_kind"] = charge.table["line_kind"].map(LINE_KIND_LABELS).fillna(charge.table["line_kind"])
    return out


def table_config(money: Pricing) -> dict[str, Any]:
    """Headers from the same place as the downloads' (:func:`exporting.human_header`)."""
    h = exporting.human_header
    return {
        "cost_center": st.column_config.TextColumn(h("cost_center")),
        "line_kind": st.column_config.TextColumn(
            h("line_kind"), width=120, help="A cost center, or one of the fixed lines"
        ),
        "credits": credits_column(h("credits"), "Credits charged to this line in the range"),
        **pricing.cost_column_config(money),
        "share_pct": st.column_config.NumberColumn(h("share_pct"), format="%.1f", help="Share of the org total"),
        "member_count": st.column_config.NumberColumn(
            h("member_count"), format="%d", help="Members on this line, idle too"
        ),
        "active_members": st.column_config.NumberColumn(
            h("active_members"), format="%d", help="Members on this line who used credits in the range"
        ),
        "top_services": st.column_config.TextColumn(h("top_services")),
    }


def drill_config(money: Pricing) -> dict[str, Any]:
    h = exporting.human_header
    return {
        "username": st.column_config.TextColumn(h("username")),
        "full_name": st.column_config.TextColumn(h("full_name")),
        "status": st.column_config.TextColumn(h("status")),
        "role": st.column_config.TextColumn(h("role")),
        "user_type": st.column_config.TextColumn(h("user_type")),
        "share_charged": st.column_config.NumberColumn(
            h("share_charged"),
            format="%.2f",
            help="The share of the username's credits charged to this line: 1 ÷ its lines",
        ),
        "credits": credits_column(h("credits"), "The username's credits in the range"),
        "charged_credits": credits_column(h("charged_credits"), "Credits × weight: what this line is charged"),
        **pricing.cost_column_config(money),
    }


def check_notice(check: cb.ChargebackCheck) -> None:
    """The add-up check, as plain text."""
    if check.ok:
        st.success(plain(check.describe()), icon=":material/check_circle:")
    else:
        st.error(plain(check.describe()), icon=":material/error:")


# -- the management summary -------------------------------------------------------------------------
def summary_file_name(view: View) -> str:
    return exporting.export_filename(view.conn.org_name, view.start, view.end, "summary", "pdf")


def summary_maker(
    view: View,
    page_data: data.PageData,
    previous: pd.DataFrame | None,
    previous_note: str | None,
    org_totals: pd.DataFrame,
    centers: cb.CostCenters,
    money: Pricing,
):
    """A function that makes the PDF when the button is clicked (pure work: everything is loaded already)."""
    usage, members = page_data.frame.copy(), page_data.members.copy()
    warning = page_data.warning

    def make() -> bytes:
        summary = summary_pdf.build_summary(
            org_name=view.conn.org_name,
            org_id=view.org_id,
            start=view.start,
            end=view.end,
            usage=usage,
            previous=previous,
            members=members,
            org_totals=org_totals,
            cost_centers=centers,
            pricing=money,
            available_credits=view.conn.available_credits,
            budgets_enabled=view.conn.budgets_enabled,
            warning=warning,
            previous_note=previous_note,
            made_at=dt.datetime.now(dt.UTC),
        )
        return summary_pdf.render_pdf(summary)

    return make
