"""The monthly chargeback chart: a pure Altair spec the page and the PDF both draw."""

from __future__ import annotations

import json

import altair as alt
import pandas as pd

from creditlens import charts
from creditlens.chargeback._centers import LINE_LABELS, NO_COST_CENTER, OVERHEAD, UNATTRIBUTED

# -- the chart (a pure Altair spec: the page and the PDF draw the same one) ---------------------------
FIXED_LINE_COLORS = {
    LINE_LABELS[NO_COST_CENTER]: "#bab0ac",
    LINE_LABELS[OVERHEAD]: "#9d9d9d",
    LINE_LABELS[UNATTRIBUTED]: "#6b6b6b",
}


def monthly_chart(trend: pd.DataFrame, height: int = 320) -> alt.Chart:
    """Stacked bars of credits per UTC month and line (``trend`` from :func:`monthly_trend`); fixed lines in greys."""
    order = list(dict.fromkeys(trend["cost_center"]))
    centers = [name for name in order if name not in FIXED_LINE_COLORS]
    colors = [charts.PALETTE[i % len(charts.PALETTE)] for i in range(len(centers))]
    fixed = [name for name in FIXED_LINE_COLORS if name in order]
    domain = [*centers, *fixed]
    return (
        alt.Chart(trend[["month", "cost_center", "credits"]])
        .mark_bar(stroke="white", strokeWidth=0.5)
        .encode(
            # months as bands, not a time axis: a partial month is one bar like the others
            x=alt.X("month:O", title=None, sort=list(dict.fromkeys(trend["month"])), axis=alt.Axis(labelAngle=0)),
            y=alt.Y("sum(credits):Q", title="Credits", axis=alt.Axis(format=",.0f")),
            color=alt.Color(
                "cost_center:N",
                title="Cost center",
                sort=domain,
                scale=alt.Scale(domain=domain, range=[*colors, *(FIXED_LINE_COLORS[n] for n in fixed)]),
                legend=alt.Legend(orient="bottom", columns=3, labelLimit=220),
            ),
            order=alt.Order("stack_rank:Q", sort="ascending"),
            tooltip=[
                alt.Tooltip("month:O", title="Month (UTC)"),
                alt.Tooltip("cost_center:N", title="Cost center"),
                alt.Tooltip("credits:Q", title="Credits", format=",.2f"),
            ],
        )
        .transform_calculate(stack_rank=f"indexof({json.dumps(domain)}, datum.cost_center)")
        .properties(height=height)
    )
