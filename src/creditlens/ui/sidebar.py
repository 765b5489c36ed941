"""The shared sidebar: which org (demo, own account, or a deployment's shared org) and which UTC period."""

from __future__ import annotations

import streamlit as st

from creditlens import dates, deployment
from creditlens.deployment import SHARED, Setup
from creditlens.portal import PortalConnection
from creditlens.ui import connection, gate, links, oauth, pricing, state
from creditlens.ui.common import plain
from creditlens.ui.data import REFRESH_HELP, REFRESH_SHARED_HELP, refresh
from creditlens.ui.period import CUSTOM_RANGE, PRESET_OPTIONS, RangeChoice, custom_range_value, resolve_range


def connection_section(setup: Setup) -> tuple[PortalConnection | None, gate.SharedState | None]:
    """The connection radio and what goes under it: (connection or None, the shared org's state in shared mode)."""
    config = setup.config
    oauth.handle_return()  # back from Sign in with ArcGIS: before the radio, which it switches to ArcGIS Online
    if setup.error:
        st.error(f"The team deployment settings are incomplete: {setup.error} See {deployment.DOCS}.")
    modes = deployment.connection_modes(setup, state.DEMO, state.ONLINE)
    if st.session_state.get(state.MODE) not in (None, *modes):
        st.session_state[state.MODE] = modes[0]
    # Decide (and connect) before drawing the radio, so its label can name the shared org.
    shared = gate.shared_state(config) if st.session_state.get(state.MODE, modes[0]) == SHARED else None
    shared_name = shared.conn.org_name if shared is not None and shared.conn is not None else None
    labels = {mode: deployment.mode_label(mode, setup, state.ONLINE, shared_name) for mode in modes}
    if st.session_state.get(state.MODE_LABELS, labels) != labels and state.MODE in st.session_state:
        # An option was renamed (the shared org got its name): re-send the choice, or the browser drops it.
        st.session_state[state.MODE] = st.session_state[state.MODE]
    st.session_state[state.MODE_LABELS] = labels
    st.radio("Connection", modes, key=state.MODE, format_func=labels.get)
    mode = st.session_state[state.MODE]
    if mode == state.DEMO:
        conn = connection.demo_connection()
        st.caption(connection.connection_status(conn, demo=True))
        return conn, None
    if mode == SHARED and shared is not None:
        gate.shared_status(config, shared)
        return shared.conn, shared
    return own_account_section(use_env=not setup.deployed), None


def own_account_section(use_env: bool) -> PortalConnection | None:
    """Signing in with an ArcGIS Online account; a team deployment never pre-fills it from the environment."""
    env = connection.env_defaults()
    if not use_env:
        env = connection.EnvDefaults("", "", False, env.ca_bundle)
    conn = st.session_state.get(state.CONN)
    if conn is not None:
        st.caption(connection.connection_status(conn))
        st.button("Sign out", on_click=oauth.sign_out, icon=":material/logout:")
        return conn
    st.session_state.setdefault(state.URL, env.portal_url)
    st.session_state.setdefault(state.USER, env.username)
    with st.form("sign_in", border=False):
        st.text_input("Organization URL", key=state.URL, placeholder="https://myorg.maps.arcgis.com")
        st.text_input("Username", key=state.USER, autocomplete="username")
        st.text_input("Password", key=state.PASSWORD, type="password", autocomplete="current-password")
        if env.has_password:
            st.caption("Using the password from the environment when this field is left empty.")
        if env.ca_bundle:
            st.caption("Trusting the certificates in CREDITLENS_CA_BUNDLE.")
        st.form_submit_button(
            "Connect", type="primary", on_click=connection.sign_in, args=(use_env,), icon=":material/login:"
        )
        oauth.sign_in_button()
    error = st.session_state.get(state.LOGIN_ERROR)
    if error:
        st.error(plain(error))
    return None


def period_section() -> RangeChoice:
    """The preset or custom UTC range, seeded from the link until it has been drawn once."""
    today = dates.utc_today()
    links.seed_range_from_link(today)
    st.session_state.setdefault(state.PRESET, dates.DEFAULT_PRESET)
    preset = st.selectbox("Period", PRESET_OPTIONS, key=state.PRESET)
    last_valid = st.session_state.get(state.LAST_RANGE)
    custom = None
    if preset == CUSTOM_RANGE:
        value = custom_range_value(st.session_state.get(state.CUSTOM), last_valid, today)
        if value is not None:
            st.session_state[state.CUSTOM] = value
        custom = st.date_input(
            "Dates",
            key=state.CUSTOM,
            min_value=dates.oldest_day(today),
            max_value=today,
            format="YYYY-MM-DD",
        )
    links.range_seeded()
    choice = resolve_range(preset, custom, today, last_valid)
    if choice.ok and choice.notice is None:
        st.session_state[state.LAST_RANGE] = (choice.start, choice.end)
    if choice.error:
        st.error(choice.error)
    if choice.notice:
        st.info(choice.notice)
    if choice.ok:
        st.caption(dates.range_label(choice.start, choice.end))
    st.caption("All dates are UTC.")
    return choice


def refresh_button(conn: PortalConnection, shared: bool) -> None:
    st.button(
        "Refresh data",
        on_click=refresh,
        args=(conn.identity.cache_key,),
        icon=":material/refresh:",
        help=REFRESH_SHARED_HELP if shared else REFRESH_HELP,
    )


def render(setup: Setup) -> tuple[PortalConnection | None, gate.SharedState | None, RangeChoice]:
    """The whole sidebar; returns the connection (if any), the shared org's state, and the period."""
    with st.sidebar:
        conn, shared = connection_section(setup)
        st.divider()
        period = period_section()
        links.share_section(period)  # the rolling link and "Copy link with these dates"
        pricing.render()  # the credit price and currency, for every cost column
        if conn is not None:
            refresh_button(conn, shared is not None)
    return conn, shared, period
