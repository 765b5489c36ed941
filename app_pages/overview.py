"""Overview: the range's credits against the previous period, credits by service, top members."""

import streamlit as st

from creditlens import webapp

view = webapp.require_view()
webapp.page_header("Overview", view)
specs = [webapp.granularity_spec()]
webapp.seed_from_link("overview", specs)
webapp.prepare_widgets(specs)
data = webapp.load_page_data(view)
webapp.incomplete_notice(data)
if data.empty:
    webapp.empty_notice(view)
    webapp.sync_page_params(specs)
    st.stop()

previous, previous_note = webapp.load_previous_usage(view)
kpis = webapp.overview_kpis(data, previous)
for column, metric in zip(st.columns(4), webapp.overview_metrics(kpis, data.complete, previous_note), strict=True):
    column.metric(metric.label, metric.value, metric.delta, help=metric.help, border=True, delta_color="off")

with st.container(horizontal=True, vertical_alignment="center"):
    st.subheader("Credits by service")
    granularity = webapp.granularity_picker(view)
trend = webapp.service_trend_for(data, granularity)
st.altair_chart(webapp.stacked_service_chart(trend, granularity), width="stretch")

st.subheader("Top 10 members")
board = data.leaderboard()
st.dataframe(
    webapp.top_members(board, 10),
    hide_index=True,
    placeholder=webapp.EM_DASH,
    column_config=webapp.leaderboard_column_config([]),
    width="stretch",
)
st.caption("Non-members and every other username are on the Leaderboard and Reconciliation pages.")
webapp.sync_page_params(specs)
