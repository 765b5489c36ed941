"""The Overview page's metrics and tables."""

from __future__ import annotations

import pandas as pd

from creditlens import reports
from creditlens.ui.charts import GRANULARITY
from creditlens.ui.common import Metric, fmt_credits, fmt_int, fmt_pct
from creditlens.ui.data import PageData

PARAMS = (GRANULARITY,)


def overview_kpis(data: PageData, previous: pd.DataFrame | None) -> reports.OverviewKpis:
    conn = data.view.conn
    return reports.overview_kpis(data.frame, previous, data.members, data.view.org_id, conn.available_credits)


PROVISIONAL_NOTE = (
    "Provisional: the range includes today (UTC), which ArcGIS Online is still counting, so today's figures "
    "will still rise, and the comparison sets this range so far against the whole previous period."
)


def overview_metrics(
    kpis: reports.OverviewKpis, complete: bool = True, previous_note: str | None = None, provisional: bool = False
) -> list[Metric]:
    """The four overview KPIs as display strings; ``provisional`` when the range reaches into today."""
    incomplete = " (incomplete)" if not complete else (" (provisional)" if provisional else "")
    change = kpis.change_pct
    if kpis.previous_credits is None:
        compare = previous_note or "No previous period to compare with."
    else:
        compare = f"Previous period of equal length: {fmt_credits(kpis.previous_credits)} credits."
    if provisional:
        compare = f"{compare} {PROVISIONAL_NOTE}"
    delta = None
    if change is not None:
        delta = f"{fmt_pct(change, signed=True)} {'so far vs previous' if provisional else 'vs previous period'}"
    return [
        Metric(f"Credits in range{incomplete}", fmt_credits(kpis.credits), delta, compare),
        Metric(
            "Active members",
            fmt_int(kpis.active_members),
            None,
            "Members of the organization who used credits in the range.",
        ),
        Metric(
            f"Non-member credits{' (incomplete)' if not complete else ''}",  # the note below says provisional
            fmt_credits(kpis.non_member_credits),
            None,
            "Former members, users of other organizations, public accounts and unattributed usage. "
            "See the Reconciliation page.",
        ),
        Metric(
            "Available credits",
            fmt_credits(kpis.available_credits),
            None,
            "The organization's credit balance as ArcGIS Online reports it now, whatever the range.",
        ),
    ]
