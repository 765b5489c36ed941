"""Watch: when the credits run out, who is spiking, and what the alert rules would fire right now."""

import streamlit as st

from creditlens.ui import charts as chart_controls
from creditlens.ui import common, data, watch
from creditlens.ui.common import plain

view = data.require_view()
watch.open_watch_page(view)
watch_data = watch.load_watch_data(view)
if not watch_data.usage.complete:
    watch.incomplete_notice(watch_data, view)
    st.stop()

st.subheader("When the credits run out")
outlook = watch.org_forecast(watch_data, view.conn)
if outlook is None:
    st.info("ArcGIS Online does not report this organization's available credits, so there is no forecast.")
else:
    common.show_metrics(watch.forecast_metrics(outlook, view.conn), arrows=False)
    st.markdown(f"**{plain(outlook.projection.describe())}**")
    chart_controls.show(watch.forecast_chart(outlook))
    st.caption(plain(watch.assumption(outlook)))

st.subheader("Members with an allocation")
if not view.conn.budgets_enabled:
    st.info("Credit budgeting is off for this organization, so no member has an allocation to run out of.")
else:
    members = watch.member_table(watch_data, outlook.projection.expires if outlook else None)
    if members.empty:
        st.info("Credit budgeting is on, but no member has an allocation yet.")
    else:
        st.caption("The same projection for each member's allocation, from their own transaction credits.")
        st.dataframe(
            members, hide_index=True, placeholder=common.EM_DASH, column_config=watch.MEMBER_CONFIG, width="stretch"
        )

configured = watch.configured_rules(view.conn)
st.subheader(f"Spikes in the last {watch.SPIKE_DAYS} days")
settings = watch.spike_settings_inputs(watch.spike_defaults(configured))
st.caption(f"A spike is {plain(settings.describe())}. First use: a service the member had not used in 30 days.")
flagged = watch.spike_table(watch_data, settings)
if flagged.empty:
    st.success("No spikes: every member stayed within their own usual range.", icon=":material/check_circle:")
else:
    st.dataframe(
        flagged, hide_index=True, placeholder=common.EM_DASH, column_config=watch.SPIKE_CONFIG, width="stretch"
    )

st.subheader("Alert rules right now")
if configured.error:
    st.error(f"The alert rules could not be read: {plain(configured.error)}")
elif configured.rules is None:
    st.info(
        "No alert rules are set up. Write them in a TOML file and point `alert_rules` in the `[creditlens]` "
        "section of `.streamlit/secrets.toml` (or `CREDITLENS_ALERT_RULES`) at it; `creditlens alerts check` "
        "sends the same alerts by email or to Slack and Teams. See docs/alerts.md."
    )
else:
    evaluation = watch.evaluate(watch_data, configured.rules, view.conn)
    st.caption(
        f"What {plain(configured.source)} would fire now, on whole UTC days ending yesterday. "
        "`creditlens alerts check` sends these by email or webhook."
    )
    for problem in evaluation.problems:
        st.warning(plain(problem), icon=":material/warning:")
    st.dataframe(
        watch.rules_overview(configured.rules, evaluation),
        hide_index=True,
        placeholder=common.EM_DASH,
        column_config=watch.RULES_CONFIG,
        width="stretch",
    )
    if evaluation.alerts:
        st.caption("The alerts they fire: credits in the rule's window, or the balance or allocation used.")
        st.dataframe(
            watch.alerts_table(evaluation),
            hide_index=True,
            placeholder=common.EM_DASH,
            column_config=watch.ALERTS_CONFIG,
            width="stretch",
        )
    else:
        st.success("No rule fires right now.", icon=":material/check_circle:")
