"""Budgets: members' credit allocations, and who is over or near theirs."""

import streamlit as st

from creditlens import reports
from creditlens.ui import budgets, common, data

view = data.open_page("Budgets")
if not view.conn.budgets_enabled:
    st.info(
        "Credit budgeting is turned off for this organization, so members have no credit allocations. "
        "An administrator can turn it on in Organization > Settings > Credit budgeting.",
        icon=":material/info:",
    )
    st.stop()

page_data = data.load_page_data(view)
data.incomplete_notice(page_data)
status = reports.budget_status(page_data.members, page_data.frame)
if status.empty:
    st.info("Credit budgeting is on, but no member has an allocation yet.", icon=":material/info:")
    st.stop()

common.show_metrics(budgets.budget_metrics(status))

common.table_heading("Over or near their allocation")
alerts = reports.budget_alerts(status)
if alerts.empty:
    st.success(
        f"No member has used {reports.NEAR_BUDGET_PCT:.0f}% or more of their allocation.",
        icon=":material/check_circle:",
    )
else:
    alert_table = budgets.budget_table(alerts)
    st.dataframe(
        alert_table,
        hide_index=True,
        placeholder=common.EM_DASH,
        width="stretch",
        column_config=budgets.column_config(status),
        column_order=budgets.screen_column_order(alert_table),
    )

common.table_heading("Every allocation")
st.caption(
    "Assigned, used and available are the allocation's running totals as ArcGIS Online reports them now; "
    "“Credits in range” is what the member used in the selected range (storage is not part of allocations)."
)
if page_data.empty:
    common.empty_notice(view)
table = budgets.budget_table(status)
st.dataframe(
    table,
    hide_index=True,
    placeholder=common.EM_DASH,
    width="stretch",
    column_config=budgets.column_config(status),
    column_order=budgets.screen_column_order(table),
)
