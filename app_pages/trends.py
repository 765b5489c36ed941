"""Trends: the org's credits by service over time, the top users' series, and one user's drill-down."""

import streamlit as st

from creditlens import webapp

view, data = webapp.open_data_page("Trends")
if data.empty:
    webapp.empty_notice(view)
    st.stop()

board = data.leaderboard()
users = webapp.drilldown_options(board)
specs = webapp.trends_specs(users, users[0] if users else None)
webapp.seed_from_link("trends", specs)
webapp.prepare_widgets(specs)

with st.container(horizontal=True, vertical_alignment="center"):
    st.subheader("Credits by service")
    granularity = webapp.granularity_picker(view)
st.altair_chart(webapp.stacked_service_chart(webapp.service_trend_for(data, granularity), granularity), width="stretch")

st.subheader("Top users")
top_n = st.slider(
    "Number of users", min_value=1, max_value=webapp.MAX_TOP_USERS, key=webapp.TOP_N_KEY, persist_state="session"
)
st.altair_chart(webapp.user_line_chart(webapp.user_trend_for(data, granularity, top_n), granularity), width="stretch")
st.caption("Everyone outside the top users is summed as “Everyone else”.")

st.subheader("One user, in detail")
labels = webapp.drilldown_labels(board)
user = st.selectbox(
    "User", users, key=webapp.DRILL_KEY, persist_state="session", format_func=lambda name: labels.get(name, name)
)
if user:
    st.altair_chart(
        webapp.stacked_service_chart(webapp.member_trend(data.frame, user, granularity), granularity, height=280),
        width="stretch",
    )
    st.dataframe(
        webapp.member_rows(data.frame, user),
        hide_index=True,
        placeholder=webapp.EM_DASH,
        column_config=webapp.MEMBER_ROWS_CONFIG,
        width="stretch",
        height=360,
    )
webapp.sync_page_params(specs)
