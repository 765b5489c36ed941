"""The Reconciliation page's metrics, tables and the add-up check."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import streamlit as st

from creditlens import orgnames, reports
from creditlens.errors import CreditLensError
from creditlens.reports import category_counts
from creditlens.ui.common import Metric, fmt_credits, fmt_int, plain, plural
from creditlens.ui.data import CACHE_ENTRIES, CACHE_TTL_S, PageData, generation

PARAMS = ()


def reconciliation_metrics(rec: reports.Reconciliation) -> list[Metric]:
    """One card per category: its credits, and how many usernames used them (idle members said apart)."""
    metrics = []
    for row in category_counts(rec).itertuples(index=False):
        count = plural(row.with_usage, "username")
        if row.status == reports.MEMBER:
            count = f"{fmt_int(row.with_usage)} active, {fmt_int(row.without_usage)} idle"
        metrics.append(Metric(row.category, fmt_credits(row.credits), count))
    return metrics


def category_table(rec: reports.Reconciliation) -> pd.DataFrame:
    """Per category: label, usernames with usage, members without, and credits."""
    counts = category_counts(rec)
    return counts[["category", "with_usage", "without_usage", "credits"]]


def category_help_markdown() -> str:
    """One plain-language line per category."""
    return "\n".join(f"- **{reports.CATEGORY_LABELS[c]}**: {reports.CATEGORY_HELP[c]}" for c in reports.CATEGORIES)


def non_member_table(
    rec: reports.Reconciliation, org_names: Mapping[str, str] | None = None, former: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Every non-member username with its category; an external org's name where the portal gives one; and, for
    a former member the archive saw in an earlier member snapshot, the full name and the last day it was seen."""
    table = rec.non_members
    names = org_names or {}
    external = (table["status"] == reports.EXTERNAL).to_numpy()
    org_ids = table["user_org_id"].astype(str)
    seen = _former_details(former)
    keys = table["username"].astype(str).str.lower()
    is_former = (table["status"] == reports.FORMER).to_numpy()
    return pd.DataFrame(
        {
            "username": table["username"].to_numpy(),
            "category": table["status"].map(reports.CATEGORY_LABELS).to_numpy(),
            "full_name": np.where(is_former, keys.map(seen["full_name"]).fillna(""), ""),
            "last_seen": pd.to_datetime(np.where(is_former, keys.map(seen["last_seen"]), None)),
            "user_org_name": np.where(external, org_ids.map(lambda i: names.get(i, "")), ""),
            "user_org_id": org_ids.to_numpy(),
            "credits": table["credits"].to_numpy(),
            "num": table["num"].to_numpy(),
        }
    )


def _former_details(former: pd.DataFrame | None) -> pd.DataFrame:
    """Full name and last-seen day by lower-case username, from the archive's member snapshots."""
    if former is None or former.empty:
        return pd.DataFrame({"full_name": pd.Series(dtype=object), "last_seen": pd.Series(dtype=object)})
    details = former.assign(key=former["username"].astype(str).str.lower()).drop_duplicates("key")
    return details.set_index("key")[["full_name", "last_seen"]]


def former_member_snapshots(data: PageData) -> pd.DataFrame | None:
    """What the archive remembers of members who have since left (None when the data is not archived)."""
    return data.archived.former_members if data.archived is not None else None


@st.cache_data(ttl=CACHE_TTL_S, max_entries=CACHE_ENTRIES, show_spinner=False)
def _org_names_cached(identity_key: str, generation: int, org_ids: tuple[str, ...], _conn) -> dict[str, str]:
    return orgnames.external_org_names(_conn, org_ids)


def external_org_names(data: PageData, rec: reports.Reconciliation) -> dict[str, str]:
    """The names the portal gives the external orgs in this range (asked once per identity and org)."""
    ids = rec.table.loc[rec.table["status"] == reports.EXTERNAL, "user_org_id"].astype(str)
    key = data.view.identity_key
    return _org_names_cached(key, generation(key), tuple(sorted(set(ids))), data.view.conn)


def totals_line(check: reports.TotalsCheck) -> tuple[bool, str]:
    """(ok, sentence) for "per-user + unattributed = org total"."""
    parts = f"Per-user {fmt_credits(check.per_user)} + unattributed {fmt_credits(check.unattributed)}"
    if check.ok:
        return True, f"{parts} = org total {fmt_credits(check.org_total)} ✓"
    return False, (
        f"{parts} = {fmt_credits(check.usage_total)}, but the org total is "
        f"{fmt_credits(check.org_total)} (difference {fmt_credits(check.difference)})."
    )


def add_up_sentence(data: PageData) -> str | None:
    """The add-up check as one sentence for a download's About sheet (the whole range, before filters)."""
    try:
        check = reports.totals_check(data.summary, data.org_totals())
    except CreditLensError as exc:
        return f"Not made: the org-wide total could not be loaded ({exc})."
    return f"{totals_line(check)[1]} (the whole range, before any filter)"


def show_totals_check(data: PageData) -> None:
    """ "per-user + unattributed = org total" from a second, org-wide query."""
    try:
        check = reports.totals_check(data.summary, data.org_totals())
    except CreditLensError as exc:
        st.warning(f"The org-wide total could not be loaded, so the check was skipped: {plain(exc)}")
        return
    ok, text = totals_line(check)
    if ok:
        st.success(text, icon=":material/check_circle:")
    elif not data.complete:
        st.warning(f"{text} The per-user usage is incomplete, which explains a difference.")
    else:
        st.warning(text)
