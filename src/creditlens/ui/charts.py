"""Chart controls shared by the pages that chart over time; the specs themselves are in creditlens.charts."""

from __future__ import annotations

import altair as alt
import streamlit as st

from creditlens import reports
from creditlens.ui import state
from creditlens.ui.links import ParamSpec
from creditlens.ui.state import View

GRANULARITIES = ("auto", "day", "week", "month")
GRANULARITY = ParamSpec("by", state.GRANULARITY, "choice", "auto", GRANULARITIES, what="chart granularity")


def granularity_label(choice: str, view: View) -> str:
    if choice == "auto":
        return f"Auto ({reports.resolve_granularity('auto', view.start, view.end)})"
    return choice.title()


def granularity_picker(view: View) -> str:
    """The day/week/month override; returns the granularity to chart with."""
    st.session_state.setdefault(state.GRANULARITY, "auto")
    choice = st.segmented_control(
        "Granularity",
        GRANULARITIES,
        key=state.GRANULARITY,
        persist_state="session",
        format_func=lambda g: granularity_label(g, view),
        required=True,
        label_visibility="collapsed",
    )
    return reports.resolve_granularity(choice, view.start, view.end)


def show(chart: alt.Chart) -> None:
    st.altair_chart(chart, width="stretch")
