"""Credit Lens: ArcGIS Online credit usage per member, for any period.

The router: page config, the shared sidebar (connection, period, refresh) and navigation.
Pages live in ``app_pages/``; the Streamlit glue they share lives in ``creditlens.webapp``.
"""

from __future__ import annotations

import streamlit as st

from creditlens import dates, webapp

st.set_page_config(page_title="Credit Lens", layout="wide", page_icon=":material/toll:")
webapp.load_env()

PAGES = [
    st.Page("app_pages/overview.py", title="Overview", icon=":material/dashboard:", default=True),
    st.Page("app_pages/leaderboard.py", title="Leaderboard", icon=":material/leaderboard:", url_path="leaderboard"),
    st.Page("app_pages/trends.py", title="Trends", icon=":material/show_chart:", url_path="trends"),
    st.Page("app_pages/reconciliation.py", title="Reconciliation", icon=":material/rule:", url_path="reconciliation"),
    st.Page("app_pages/budgets.py", title="Budgets", icon=":material/savings:", url_path="budgets"),
]
page = st.navigation(PAGES)


def connection_section():
    env = webapp.env_defaults()
    st.radio("Connection", webapp.CONNECTION_MODES, key=webapp.MODE_KEY)
    if st.session_state[webapp.MODE_KEY] == webapp.DEMO:
        conn = webapp.demo_connection()
        st.caption(webapp.connection_status(conn) + "  \nA synthetic organization: nothing leaves this computer.")
        return conn
    conn = st.session_state.get(webapp.CONN_KEY)
    if conn is not None:
        st.caption(webapp.connection_status(conn))
        st.button("Sign out", on_click=webapp.sign_out, icon=":material/logout:")
        return conn
    st.session_state.setdefault(webapp.URL_KEY, env.portal_url)
    st.session_state.setdefault(webapp.USER_KEY, env.username)
    with st.form("sign_in", border=False):
        st.text_input("Organization URL", key=webapp.URL_KEY, placeholder="https://myorg.maps.arcgis.com")
        st.text_input("Username", key=webapp.USER_KEY, autocomplete="username")
        st.text_input("Password", key=webapp.PASSWORD_KEY, type="password", autocomplete="current-password")
        if env.has_password:
            st.caption("Using the password from the environment when this field is left empty.")
        if env.ca_bundle:
            st.caption("Trusting the certificates in CREDITLENS_CA_BUNDLE.")
        st.form_submit_button("Connect", type="primary", on_click=webapp.sign_in, icon=":material/login:")
    error = st.session_state.get(webapp.LOGIN_ERROR_KEY)
    if error:
        st.error(error)
    return None


def period_section() -> webapp.RangeChoice:
    today = dates.utc_today()
    webapp.seed_range_from_link(today)
    st.session_state.setdefault(webapp.PRESET_KEY, dates.DEFAULT_PRESET)
    preset = st.selectbox("Period", webapp.PRESET_OPTIONS, key=webapp.PRESET_KEY)
    last_valid = st.session_state.get(webapp.LAST_RANGE_KEY)
    custom = None
    if preset == webapp.CUSTOM_RANGE:
        value = webapp.custom_range_value(st.session_state.get(webapp.CUSTOM_KEY), last_valid, today)
        if value is not None:
            st.session_state[webapp.CUSTOM_KEY] = value
        custom = st.date_input(
            "Dates",
            key=webapp.CUSTOM_KEY,
            min_value=dates.oldest_day(today),
            max_value=today,
            format="YYYY-MM-DD",
        )
    choice = webapp.resolve_range(preset, custom, today, last_valid)
    if choice.ok and choice.notice is None:
        st.session_state[webapp.LAST_RANGE_KEY] = (choice.start, choice.end)
    if choice.error:
        st.error(choice.error)
    if choice.notice:
        st.info(choice.notice)
    if choice.ok:
        st.caption(dates.range_label(choice.start, choice.end))
    st.caption("All dates are UTC.")
    return choice


with st.sidebar:
    connection = connection_section()
    st.divider()
    period = period_section()
    if connection is not None:
        st.button(
            "Refresh data",
            on_click=webapp.refresh,
            args=(connection.identity.cache_key,),
            icon=":material/refresh:",
            help="Fetch this organization's data again (other people's cached data is not affected).",
        )

if connection is not None and period.ok:
    st.session_state[webapp.VIEW_KEY] = webapp.View(connection, period.start, period.end, period.preset)
else:
    st.session_state[webapp.VIEW_KEY] = None
webapp.sync_app_params(period, webapp.PAGE_PARAMS.get(page.url_path, ()))

try:
    page.run()
except Exception as exc:  # the last line of defence: a page never shows a traceback
    webapp.log_unexpected(f"page '{page.url_path}' failed", exc)
    st.error(f"Something went wrong on this page ({type(exc).__name__}). Try **Refresh data** in the sidebar.")
