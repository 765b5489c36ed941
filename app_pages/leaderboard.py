"""Leaderboard: every username ranked by credits, with filters and downloads of exactly what is shown."""

import streamlit as st

from creditlens import reports, webapp
from creditlens.services import service_name

view, data = webapp.open_data_page("Leaderboard")
if data.empty:
    webapp.empty_notice(view)
    st.stop()

board = data.leaderboard()
codes = webapp.service_codes(data.frame)
specs = webapp.leaderboard_specs(board, codes)
webapp.seed_from_link("leaderboard", specs)
webapp.prepare_widgets(specs)

with st.container(border=True):
    first = st.columns(3)
    first[0].multiselect(
        "Status",
        reports.CATEGORIES,
        key=webapp.LB_STATUS_KEY,
        persist_state="session",
        format_func=reports.CATEGORY_LABELS.get,
        placeholder="All statuses",
    )
    first[1].multiselect(
        "Role", specs[1].options, key=webapp.LB_ROLE_KEY, persist_state="session", placeholder="All roles"
    )
    first[2].multiselect(
        "User type", specs[2].options, key=webapp.LB_TYPE_KEY, persist_state="session", placeholder="All user types"
    )
    second = st.columns(3)
    second[0].selectbox(
        "Used the service",
        codes,
        key=webapp.LB_SERVICE_KEY,
        persist_state="session",
        format_func=service_name,
        index=None,
        placeholder="Any service",
    )
    second[1].number_input(
        "Minimum credits", min_value=0.0, step=10.0, format="%.2f", key=webapp.LB_MIN_KEY, persist_state="session"
    )
    second[2].text_input(
        "Search",
        key=webapp.LB_SEARCH_KEY,
        persist_state="session",
        placeholder="Username or full name",
        icon=":material/search:",
    )

filtered = webapp.filter_leaderboard(board, webapp.filters_from_state(st.session_state))
table = webapp.leaderboard_table(filtered)
st.caption(webapp.count_caption(table, board))
if not data.complete:
    st.warning(f"The downloads are incomplete. {data.warning}", icon=":material/warning:")
webapp.download_buttons(
    webapp.downloads(table, view.conn.org_name, view.start, view.end, "leaderboard", data.warning), key="lb_download"
)
st.dataframe(
    table,
    hide_index=True,
    placeholder=webapp.EM_DASH,
    column_config=webapp.leaderboard_column_config(webapp.board_services(board)),
    width="stretch",
    height=620,
)
webapp.sync_page_params(specs)
