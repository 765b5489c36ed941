"""Budgets: members' credit allocations, and who is over or near theirs."""

import streamlit as st

from creditlens import reports, webapp

view = webapp.require_view()
webapp.page_header("Budgets", view)
if not webapp.budgets_enabled(view.conn):
    st.info(
        "Credit budgeting is turned off for this organization, so members have no credit allocations. "
        "An administrator can turn it on in Organization > Settings > Credit budgeting.",
        icon=":material/info:",
    )
    st.stop()

data = webapp.load_page_data(view)
webapp.incomplete_notice(data)
status = reports.budget_status(data.members, data.frame)
if status.empty:
    st.info("Credit budgeting is on, but no member has an allocation yet.", icon=":material/info:")
    st.stop()

for column, metric in zip(st.columns(4), webapp.budget_metrics(status), strict=True):
    column.metric(metric.label, metric.value, border=True)

st.subheader("Over or near their allocation")
alerts = webapp.budget_alerts(status)
if alerts.empty:
    st.success("No member has used 90% or more of their allocation.", icon=":material/check_circle:")
else:
    st.dataframe(
        alerts, hide_index=True, placeholder=webapp.EM_DASH, width="stretch", column_config=webapp.BUDGET_CONFIG
    )

st.subheader("Every allocation")
st.caption(
    "Assigned, used and available are the allocation's running totals as ArcGIS Online reports them now; "
    "“Credits in range” is what the member used in the selected range (storage is not part of allocations)."
)
if data.empty:
    webapp.empty_notice(view)
st.dataframe(
    webapp.budget_table(status),
    hide_index=True,
    placeholder=webapp.EM_DASH,
    width="stretch",
    column_config=webapp.BUDGET_CONFIG,
)
