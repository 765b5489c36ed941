"""Chargeback: credits and cost per cost center, lines that add up to the org total, and the PDF summary."""

import streamlit as st

from creditlens.ui import chargeback, charts, common, data, links, pricing

view, page_data = data.open_data_page("Chargeback")
links.prepare_widgets("chargeback", chargeback.PARAMS)
money = pricing.current()

with st.container(border=True):
    source = st.segmented_control(
        "Cost centers from",
        chargeback.SOURCE_OPTIONS,
        key=chargeback.SOURCE_KEY,
        format_func=chargeback.source_label,
        required=True,
    )
    centers = chargeback.cost_centers(view, page_data.members, source or chargeback.ROLE)
links.sync_page_params(chargeback.PARAMS)
if centers is None:
    st.stop()

with data.friendly_errors("Could not load the organization's total"):
    org_totals = page_data.org_totals()
charge = chargeback.load_chargeback(view, page_data, centers, money, chargeback.org_total(org_totals))
incomplete = "" if page_data.complete else " (incomplete)"
metrics = [
    common.Metric(f"Credits in range{incomplete}", common.fmt_credits(charge.total_credits)),
    common.Metric(
        f"Cost in range{incomplete}",
        chargeback.format_money(charge.total_cost, money.currency) if money.priced else common.EM_DASH,
        None,
        money.describe() if money.priced else "Set a credit price in the sidebar to see costs.",
    ),
    common.Metric("Cost centers", common.fmt_int(len(centers.names))),
    common.Metric(
        "Members with no cost center",
        common.fmt_int(chargeback.members_without_cost_center(charge)),
    ),
]
common.show_metrics(metrics, arrows=False)
st.caption(common.plain(centers.describe()))
chargeback.check_notice(charge.check)

st.subheader("By cost center")
st.caption(
    "Org overhead is usage by former members, other organizations' users and public accounts; unattributed "
    "usage carries no username. Costs are rounded to the currency's decimals and add up to the total cost."
)
table = chargeback.chargeback_table(charge)
if not page_data.complete:
    st.warning(f"The downloads are incomplete. {common.plain(page_data.warning)}", icon=":material/warning:")
previous, previous_note = data.load_previous_usage(view)
row = st.container(horizontal=True)
with row:
    common.download_buttons(
        common.downloads(
            table,
            view.conn.org_name,
            view.start,
            view.end,
            "chargeback",
            page_data.warning,
            filters=(("Cost centers", centers.describe()), ("Credit price", money.describe())),
            check=charge.check.describe,
        ),
        key="cb_download",
    )
    common.download_buttons(  # a real org's PDF travels in the session, never under a /media/ URL
        [
            common.Download(
                "Management summary (PDF)",
                chargeback.summary_file_name(view),
                "application/pdf",
                chargeback.summary_maker(view, page_data, previous, previous_note, org_totals, centers, money),
            )
        ],
        key="cb_summary",
    )
st.dataframe(
    table,
    hide_index=True,
    placeholder=common.EM_DASH,
    column_config=chargeback.table_config(money),
    width="stretch",
)

trend = chargeback.monthly_trend(charge)
if chargeback.has_usage(trend):
    st.subheader("By month")
    st.caption("UTC months; the range's first and last months may be partial.")
    charts.show(chargeback.monthly_chart(trend))

st.subheader("Members of one line")
drill_key = chargeback.scoped_key("drill", view)
names = list(charge.table["cost_center"])
links.keep_valid(drill_key, names, names[0])
line = st.selectbox("Line", names, key=drill_key)
members = chargeback.line_members(charge, page_data.members, line)
st.caption(common.plural(len(members), "username"))
common.download_buttons(
    common.downloads(
        members,
        view.conn.org_name,
        view.start,
        view.end,
        "chargeback_line",
        page_data.warning,
        filters=(("Cost centers", centers.describe()), ("Line", line)),
    ),
    key="cb_line_download",
)
st.dataframe(
    members,
    hide_index=True,
    placeholder=common.EM_DASH,
    column_config=chargeback.drill_config(money),
    width="stretch",
)
