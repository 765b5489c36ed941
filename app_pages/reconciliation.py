"""Reconciliation: who besides current members used this organization's credits, and do the totals add up."""

import streamlit as st

from creditlens import reports
from creditlens.ui import common, data, reconciliation

view, page_data = data.open_data_page("Reconciliation")

rec = reports.reconcile_members(page_data.frame, page_data.members, view.org_id)
st.markdown(
    "The usage report lists every credit charged to this organization by the username that caused it. "
    "Apps, notebooks and premium content shared by the organization can be used by people who are not in "
    "the member list today, and their credits are billed here too, so they appear in the report."
)
common.show_metrics(reconciliation.reconciliation_metrics(rec), arrows=False)

common.table_heading("Credits by category")
st.dataframe(
    reconciliation.category_table(rec),
    hide_index=True,
    placeholder=common.EM_DASH,
    width="stretch",
    column_config={
        "category": st.column_config.TextColumn("Category"),
        "with_usage": st.column_config.NumberColumn("Usernames with usage", format="%,d"),
        "without_usage": st.column_config.NumberColumn(
            "Idle members", format="%,d", help="Members of the organization who used no credits in the range"
        ),
        "credits": common.credits_column("Credits"),
    },
)
st.markdown(reconciliation.category_help_markdown())
if page_data.empty:
    common.empty_notice(view)
else:
    reconciliation.show_totals_check(page_data)

common.table_heading("Usernames that are not current members")
non_members = reconciliation.non_member_table(
    rec, reconciliation.external_org_names(page_data, rec), reconciliation.former_member_snapshots(page_data)
)
if non_members.empty:
    st.info("Every username in this range is a current member.")
else:
    st.dataframe(
        non_members,
        hide_index=True,
        column_order=(
            "username",
            "credits",
            "category",
            "full_name",
            "last_seen",
            "user_org_name",
            "user_org_id",
            "num",
        ),
        placeholder=common.EM_DASH,
        width="stretch",
        column_config={
            "username": st.column_config.TextColumn("Username"),
            "category": st.column_config.TextColumn("Category"),
            "full_name": st.column_config.TextColumn(
                "Full name", help="For a former member: the name the archive saw before the account went"
            ),
            "last_seen": st.column_config.DateColumn(
                "Last seen (UTC)", format="YYYY-MM-DD", help="The last member list the archive saw it in"
            ),
            "user_org_name": st.column_config.TextColumn(
                "User's org", help="The external organization's name, where ArcGIS Online gives it"
            ),
            "user_org_id": st.column_config.TextColumn("User's org id", help="Empty for public accounts"),
            "credits": common.credits_column("Credits"),
            "num": st.column_config.NumberColumn("Operations", format="%,d"),
        },
    )

common.table_heading("Members with no usage in the range")
if rec.idle_members.empty:
    st.info("Every member used credits in this range.")
else:
    st.caption(common.count_caption(rec.idle_members, page_data.members, "members"))
    st.dataframe(
        rec.idle_members,
        hide_index=True,
        placeholder=common.EM_DASH,
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
