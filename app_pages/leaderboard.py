"""Leaderboard: every username ranked by credits, with filters and downloads of exactly what is shown."""

import streamlit as st

from creditlens import reports
from creditlens.services import service_name
from creditlens.ui import common, data, leaderboard, links, reconciliation, state

view, page_data = data.open_data_page("Leaderboard")
board = page_data.leaderboard()
codes = reports.service_codes(page_data.frame)
params = leaderboard.bound_params(board, codes)
links.prepare_widgets("leaderboard", params)
if page_data.empty:
    common.empty_notice(view)

with st.container(border=True):
    first = st.columns(3)
    first[0].multiselect(
        "Status",
        reports.CATEGORIES,
        key=state.LB_STATUS,
        persist_state="session",
        format_func=reports.CATEGORY_LABELS.get,
        placeholder="All statuses",
    )
    first[1].multiselect("Role", params[1].options, key=state.LB_ROLE, persist_state="session", placeholder="All roles")
    first[2].multiselect(
        "User type", params[2].options, key=state.LB_TYPE, persist_state="session", placeholder="All user types"
    )
    second = st.columns(3)
    second[0].selectbox(
        "Used the service",
        codes,
        key=state.LB_SERVICE,
        persist_state="session",
        format_func=service_name,
        index=None,
        placeholder="Any service",
    )
    second[1].number_input(
        "Minimum credits", min_value=0.0, step=10.0, format="%.2f", key=state.LB_MIN, persist_state="session"
    )
    second[2].text_input(
        "Search",
        key=state.LB_SEARCH,
        persist_state="session",
        placeholder="Username or full name",
        icon=":material/search:",
    )

filters = leaderboard.filters_from_state(st.session_state)
filtered = reports.filter_leaderboard(board, filters)
table = leaderboard.leaderboard_table(filtered)
st.caption(common.count_caption(table, board))
if not page_data.complete:
    st.warning(f"The downloads are incomplete. {common.plain(page_data.warning)}", icon=":material/warning:")
common.download_buttons(
    common.downloads(
        leaderboard.download_frame(filtered),
        view.conn.org_name,
        view.start,
        view.end,
        "leaderboard",
        page_data.warning,
        filters=leaderboard.filters_description(filters),
        check=lambda: reconciliation.add_up_sentence(page_data),
    ),
    key="lb_download",
)
st.dataframe(
    table,
    hide_index=True,
    column_order=leaderboard.screen_column_order(table),
    placeholder="",
    column_config=leaderboard.column_config(reports.board_services(board)),
    width="stretch",
    height=620,
)
links.sync_page_params(params)
