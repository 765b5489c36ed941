"""Overview: the range's credits against the previous period, credits by service, top members."""

import streamlit as st

from creditlens import reports
from creditlens.ui import charts as chart_controls
from creditlens.ui import common, data, leaderboard, links, overview, timeline
from creditlens.ui.leaderboard import column_config

view = data.open_page("Overview")
links.prepare_widgets("overview", overview.PARAMS)
page_data = data.load_page_data(view)
data.incomplete_notice(page_data)
if page_data.empty:
    common.empty_notice(view)
    links.sync_page_params(overview.PARAMS)
    st.stop()

previous, previous_note = data.load_previous_usage(view)
kpis = overview.overview_kpis(page_data, previous)
provisional = timeline.is_provisional(view)
common.show_metrics(overview.overview_metrics(kpis, page_data.complete, previous_note, provisional), arrows=True)
if provisional:
    st.caption(overview.PROVISIONAL_NOTE)

with st.container(horizontal=True, vertical_alignment="center"):
    st.subheader("Credits by service")
    granularity = chart_controls.granularity_picker(view)
chart_controls.show(timeline.service_chart(page_data, granularity))

common.table_heading("Top 10 members")
top = reports.top_members(page_data.leaderboard(), 10)
st.dataframe(
    top,
    hide_index=True,
    column_order=leaderboard.screen_column_order(top),
    placeholder=common.EM_DASH,
    column_config=column_config([]),
    width="stretch",
)
st.caption("Non-members and every other username are on the Leaderboard and Reconciliation pages.")
links.sync_page_params(overview.PARAMS)
