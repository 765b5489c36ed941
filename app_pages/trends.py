"""Trends: the org's credits by service over time, the top users' series, and one user's drill-down."""

import streamlit as st

from creditlens import reports
from creditlens.ui import charts as chart_controls
from creditlens.ui import common, data, links, state, timeline, trends

view, page_data = data.open_data_page("Trends")
if page_data.empty:
    common.empty_notice(view)
    st.stop()

board = page_data.leaderboard()
users = reports.drilldown_options(board)
params = trends.bound_params(users)
links.prepare_widgets("trends", params)

with st.container(horizontal=True, vertical_alignment="center"):
    st.subheader("Credits by service")
    granularity = chart_controls.granularity_picker(view)
chart_controls.show(timeline.service_chart(page_data, granularity))

st.subheader("Top users")
top_n = st.slider(
    "Number of users", min_value=1, max_value=trends.MAX_TOP_USERS, key=state.TOP_N, persist_state="session"
)
chart_controls.show(timeline.user_chart(page_data, granularity, top_n))
st.caption(f"Everyone outside the top users is summed as “{reports.EVERYONE_ELSE}”. Idle periods are at zero.")

st.subheader("One user, in detail")
labels = trends.drilldown_labels(board)
user = st.selectbox(
    "User", users, key=state.DRILL, persist_state="session", format_func=lambda name: labels.get(name, name)
)
if user:
    chart_controls.show(timeline.member_chart(page_data, user, granularity))
    st.dataframe(
        reports.member_usage(page_data.frame, user),
        hide_index=True,
        column_order=("day", "service", "credits", "num", "stype", "etype"),
        placeholder=common.EM_DASH,
        column_config=trends.MEMBER_ROWS_CONFIG,
        width="stretch",
        height=360,
    )
links.sync_page_params(params)
