"""The Reconciliation page's metrics, tables and the add-up check."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from creditlens import reports
from creditlens.errors import CreditLensError
from creditlens.ui.common import Metric, fmt_credits, plain, plural
from creditlens.ui.data import PageData, load_org_totals

PARAMS = ()


def reconciliation_metrics(rec: reports.Reconciliation) -> list[Metric]:
    return [
        Metric(label, fmt_credits(credits), plural(count, "username"))
        for label, count, credits in zip(
            rec.summary["label"], rec.summary["usernames"], rec.summary["credits"], strict=True
        )
    ]


def category_table(rec: reports.Reconciliation) -> pd.DataFrame:
    """Per category: label, usernames and credits."""
    summary = rec.summary
    return pd.DataFrame(
        {
            "category": summary["label"].to_numpy(),
            "usernames": summary["usernames"].to_numpy(),
            "credits": summary["credits"].to_numpy(),
        }
    )


def category_help_markdown() -> str:
    """One plain-language line per category."""
    return "\n".join(f"- **{reports.CATEGORY_LABELS[c]}**: {reports.CATEGORY_HELP[c]}" for c in reports.CATEGORIES)


def non_member_table(rec: reports.Reconciliation) -> pd.DataFrame:
    table = rec.non_members
    return pd.DataFrame(
        {
            "username": table["username"].to_numpy(),
            "category": table["status"].map(reports.CATEGORY_LABELS).to_numpy(),
            "user_org_id": table["user_org_id"].to_numpy(),
            "credits": table["credits"].to_numpy(),
            "num": table["num"].to_numpy(),
        }
    )


def totals_line(check: reports.TotalsCheck) -> tuple[bool, str]:
    """(ok, sentence) for "per-user + unattributed = org total"."""
    parts = f"Per-user {fmt_credits(check.per_user)} + unattributed {fmt_credits(check.unattributed)}"
    if check.ok:
        return True, f"{parts} = org total {fmt_credits(check.org_total)} ✓"
    return False, (
        f"{parts} = {fmt_credits(check.per_user + check.unattributed)}, but the org total is "
        f"{fmt_credits(check.org_total)} (difference {fmt_credits(check.difference)})."
    )


def add_up_sentence(data: PageData) -> str | None:
    """The add-up check as one sentence for a download's About sheet (the whole range, before filters)."""
    try:
        check = reports.totals_check(data.frame, load_org_totals(data.view.conn, data.view.start, data.view.end))
    except CreditLensError as exc:
        return f"Not made: the org-wide total could not be loaded ({exc})."
    return f"{totals_line(check)[1]} (the whole range, before any filter)"


def show_totals_check(data: PageData) -> None:
    """ "per-user + unattributed = org total" from a second, org-wide query."""
    try:
        check = reports.totals_check(data.frame, load_org_totals(data.view.conn, data.view.start, data.view.end))
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
