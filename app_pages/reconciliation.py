"""Reconciliation: who besides current members used this organization's credits, and do the totals add up."""

import streamlit as st

from creditlens import reports, webapp

view, data = webapp.open_data_page("Reconciliation")

rec = reports.reconcile_members(data.frame, data.members, view.org_id)
st.markdown(webapp.WHY_NON_MEMBERS)
for column, metric in zip(st.columns(len(reports.CATEGORIES)), webapp.reconciliation_metrics(rec), strict=True):
    column.metric(metric.label, metric.value, metric.delta, border=True, delta_color="off", delta_arrow="off")

st.subheader("Credits by category")
st.dataframe(
    webapp.category_table(rec),
    hide_index=True,
    placeholder=webapp.EM_DASH,
    width="stretch",
    column_config={
        "category": st.column_config.TextColumn("Category"),
        "usernames": st.column_config.NumberColumn("Usernames", format="%,d"),
        "credits": webapp.credits_column("Credits"),
    },
)
st.markdown(webapp.category_help_markdown())
if data.empty:
    webapp.empty_notice(view)
else:
    webapp.show_totals_check(data)

st.subheader("Usernames that are not current members")
non_members = webapp.non_member_table(rec)
if non_members.empty:
    st.info("Every username in this range is a current member.")
else:
    st.dataframe(
        non_members,
        hide_index=True,
        placeholder=webapp.EM_DASH,
        width="stretch",
        column_config={
            "username": st.column_config.TextColumn("Username"),
            "category": st.column_config.TextColumn("Category"),
            "user_org_id": st.column_config.TextColumn("User's org id", help="Empty for public accounts"),
            "credits": webapp.credits_column("Credits"),
            "num": st.column_config.NumberColumn("Operations", format="%,d"),
        },
    )

st.subheader("Members with no usage in the range")
if rec.idle_members.empty:
    st.info("Every member used credits in this range.")
else:
    st.caption(webapp.count_caption(rec.idle_members, data.members, "members"))
    st.dataframe(
        rec.idle_members,
        hide_index=True,
        placeholder=webapp.EM_DASH,
        width="stretch",
        column_config={
            "username": st.column_config.TextColumn("Username"),
            "full_name": st.column_config.TextColumn("Full name"),
            "role": st.column_config.TextColumn("Role"),
            "user_type": st.column_config.TextColumn("User type"),
            "last_login": st.column_config.DatetimeColumn("Last sign-in (UTC)", format="YYYY-MM-DD"),
            "disabled": st.column_config.CheckboxColumn("Disabled"),
        },
    )
