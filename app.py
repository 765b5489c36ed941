"""Credit Lens: ArcGIS Online credit usage per member, for any period.

The router: page config, the shared sidebar (connection, period, refresh) and navigation.
Pages live in ``app_pages/``; the Streamlit glue they share lives in ``creditlens.webapp``.
"""

from __future__ import annotations

import streamlit as st

from creditlens import dates, gate, webapp
from creditlens.portal import PortalConnection

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
MODE_LABELS_KEY = "cl_mode_labels"  # the connection radio's labels in the previous run


def connection_section(setup: gate.Setup) -> tuple[PortalConnection | None, gate.SharedState | None]:
    """The connection radio and what goes under it: (connection or None, the shared org's state in shared mode)."""
    config = setup.config
    if setup.error:
        st.error(f"The team deployment settings are incomplete: {setup.error} See {gate.DOCS}.")
    modes = gate.connection_modes(setup, webapp.DEMO, webapp.ONLINE)
    if st.session_state.get(webapp.MODE_KEY) not in (None, *modes):
        st.session_state[webapp.MODE_KEY] = modes[0]
    # Decide (and connect) before drawing the radio, so its label can name the shared org.
    shared = gate.shared_state(config) if st.session_state.get(webapp.MODE_KEY, modes[0]) == gate.SHARED else None
    shared_name = shared.conn.org_name if shared is not None and shared.conn is not None else None
    labels = {mode: gate.mode_label(mode, setup, webapp.ONLINE, shared_name) for mode in modes}
    if st.session_state.get(MODE_LABELS_KEY, labels) != labels and webapp.MODE_KEY in st.session_state:
        # An option was renamed (the shared org got its name): re-send the choice, or the browser drops it.
        st.session_state[webapp.MODE_KEY] = st.session_state[webapp.MODE_KEY]
    st.session_state[MODE_LABELS_KEY] = labels
    st.radio("Connection", modes, key=webapp.MODE_KEY, format_func=labels.get)
    mode = st.session_state[webapp.MODE_KEY]
    if mode == webapp.DEMO:
        conn = webapp.demo_connection()
        st.caption(webapp.connection_status(conn) + "  \nA synthetic organization: nothing leaves this computer.")
        return conn, None
    if mode == gate.SHARED and shared is not None:
        gate.shared_status(config, shared)
        return shared.conn, shared
    return own_account_section(use_env=not setup.deployed), None


def own_account_section(use_env: bool) -> PortalConnection | None:
    """Signing in with an ArcGIS Online account; a team deployment never pre-fills it from the environment."""
    env = webapp.env_defaults() if use_env else webapp.EnvDefaults("", "", False, webapp.env_defaults().ca_bundle)
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
        st.form_submit_button(
            "Connect", type="primary", on_click=webapp.sign_in, args=(use_env,), icon=":material/login:"
        )
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


setup = gate.current_setup()
with st.sidebar:
    connection, shared = connection_section(setup)
    st.divider()
    period = period_section()
    if connection is not None:
        st.button(
            "Refresh data",
            on_click=webapp.refresh,
            args=(connection.identity.cache_key,),
            icon=":material/refresh:",
            help=webapp.REFRESH_SHARED_HELP if shared is not None else webapp.REFRESH_HELP,
        )

if connection is not None and period.ok:
    st.session_state[webapp.VIEW_KEY] = webapp.View(connection, period.start, period.end, period.preset)
else:
    st.session_state[webapp.VIEW_KEY] = None
webapp.sync_app_params(period, webapp.PAGE_PARAMS.get(page.url_path, ()))

if shared is not None and shared.conn is None:
    # The shared org is not shown (yet): the access gate, a refusal, the lockout or a setup hint instead.
    gate.render_gate(setup.config, shared, webapp.DEMO, webapp.MODE_KEY)
else:
    try:
        page.run()
    except Exception as exc:  # the last line of defence: a page never shows a traceback
        webapp.log_unexpected(f"page '{page.url_path}' failed", exc)
        st.error(f"Something went wrong on this page ({type(exc).__name__}). Try **Refresh data** in the sidebar.")
