"""The access gate's widgets and the shared org connection of a team deployment.

A deployment (see ``docs/deployment.md``) may carry one server-side connection that every visitor
sees through, served only to visitors who pass the gate. The decisions are pure functions in
:mod:`creditlens.deployment`; this module draws them and keeps the shared connection.

Secrets: the server-side password lives in :class:`~creditlens.deployment.ServerConnection` and is
handed to ``connect()`` only. It is never put in a widget, a message, session state or a cache key:
the shared connection is cached per process by (portal URL, username, CA bundle), which is the same
identity for every visitor, by design.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import streamlit as st

from creditlens.deployment import (
    DOCS,
    RETRY_AFTER_S,
    Access,
    AccessAttempts,
    DeploymentConfig,
    Rebuild,
    ServerConnection,
    Setup,
    code_notice,
    decide,
    load_setup,
    locked_message,
    rebuild_decision,
    setup_hint,
)
from creditlens.errors import CreditLensError, PortalError, redact
from creditlens.portal import PortalConnection, Transport, connect
from creditlens.ui import state
from creditlens.ui.common import plain

log = logging.getLogger(__name__)


# -- the shared connection ------------------------------------------------------------------------
class SharedTransport:
    """The shared connection's transport, rebuilt once for every visitor when its sign-in is lost.

    The inner transport already signs in again once on 498/499. When that does not help (the portal
    revoked the sessions, or arcgis's auth handler is stuck), a call here makes a whole new
    connection (a new sign-in, a new ``arcgis.GIS``) and asks again. Visitors whose calls failed on
    the same broken connection wait on the lock and then reuse the new one; the decision is
    :func:`creditlens.deployment.rebuild_decision`.
    """

    def __init__(self, inner: Transport, rebuild: Callable[[], Transport]) -> None:
        self._current = (inner, 0)  # (transport, generation), swapped whole under the lock
        self._rebuild = rebuild
        self._lock = threading.Lock()
        self._last_attempt: float | None = None

    @property
    def generation(self) -> int:
        return self._current[1]

    def post(self, path: str, params: dict[str, str]) -> dict:
        inner, generation = self._current
        try:
            return inner.post(path, params)
        except PortalError as exc:
            if not exc.is_token_expired:
                raise
        return self._rebuilt(generation).post(path, params)

    def relogin(self) -> None:
        self._current[0].relogin()

    def _rebuilt(self, failed_generation: int) -> Transport:
        with self._lock:
            inner, generation = self._current
            now = time.monotonic()
            decision = rebuild_decision(failed_generation, generation, self._last_attempt, now)
            if decision is Rebuild.REUSE:
                return inner
            if decision is Rebuild.WAIT:
                raise PortalError(
                    "The shared organization's sign-in was lost and signing in again just failed; "
                    f"it is tried again within {RETRY_AFTER_S} seconds.",
                    498,
                )
            self._last_attempt = now
            log.warning("the shared connection lost its sign-in; connecting again for every visitor")
            try:
                fresh = self._rebuild()
            except CreditLensError as exc:
                raise PortalError(f"Signing in to the shared organization again failed: {exc}", None) from None
            self._current = (fresh, generation + 1)
            return fresh


def connect_shared(server: ServerConnection) -> PortalConnection:
    """Sign in with the server-side account; the connection rebuilds itself once its sign-in is lost."""

    def sign_in() -> PortalConnection:
        return connect(server.portal_url, server.username, server.password, ca_bundle=server.ca_bundle)

    conn = sign_in()
    return replace(conn, transport=SharedTransport(conn.transport, lambda: sign_in().transport))


@st.cache_resource(max_entries=4, show_spinner="Connecting to the shared organization…")
def _shared_connection(portal_url: str, username: str, ca_bundle: str | None, _server: ServerConnection):
    """Signed in once per process and identity. The password is an unhashed argument, never a key."""
    return connect_shared(_server)


_FAILURES: dict[tuple[str, str, str | None], tuple[float, str]] = {}
_FAILURES_LOCK = threading.Lock()


def shared_connection(server: ServerConnection) -> tuple[PortalConnection | None, str | None]:
    """(connection, None) or (None, a message for the visitor). Failures are retried at most every 30 s."""
    key = (server.portal_url, server.username, server.ca_bundle)
    with _FAILURES_LOCK:
        failed = _FAILURES.get(key)
    if failed is not None and time.monotonic() - failed[0] < RETRY_AFTER_S:
        return None, failed[1]
    try:
        return _shared_connection(*key, server), None
    except CreditLensError as exc:
        reason = redact(str(exc), server.password)
    except Exception as exc:  # never a traceback, never the text (it could echo the request)
        log.warning("shared sign-in failed with %s", type(exc).__name__)
        reason = f"The sign-in failed unexpectedly ({type(exc).__name__})."
    message = (
        f"Could not connect to the shared organization. {reason} "
        f"The person who runs this app should check its settings; it tries again within {RETRY_AFTER_S} seconds."
    )
    with _FAILURES_LOCK:
        _FAILURES[key] = (time.monotonic(), message)
    return None, message


def forget_shared_connections() -> None:
    """Drop the cached shared connections and remembered failures (tests, or after a password change)."""
    _shared_connection.clear()
    with _FAILURES_LOCK:
        _FAILURES.clear()


# -- Streamlit glue -------------------------------------------------------------------------------
def current_setup() -> Setup:
    """The deployment setup from ``st.secrets`` (``[creditlens]``, ``[auth]``) and the environment."""
    try:
        section = st.secrets.get("creditlens")
        oidc = "auth" in st.secrets
    except FileNotFoundError:  # no secrets.toml: StreamlitSecretNotFoundError is a FileNotFoundError
        section, oidc = None, False
    return load_setup(section, os.environ, oidc)


def session_attempts(config: DeploymentConfig) -> AccessAttempts | None:
    if not config.uses_access_code:
        return None
    attempts = st.session_state.get(state.ACCESS_ATTEMPTS)
    if attempts is None:
        attempts = st.session_state[state.ACCESS_ATTEMPTS] = AccessAttempts(limit=config.max_access_attempts)
    return attempts


def current_access(config: DeploymentConfig) -> Access:
    return decide(config, st.user.to_dict(), session_attempts(config))


@dataclass
class SharedState:
    """The shared org for this run: where the visitor stands, and the connection once allowed."""

    access: Access
    conn: PortalConnection | None = None
    error: str | None = None


def shared_state(config: DeploymentConfig) -> SharedState:
    """Decide for this visitor and, once allowed, connect (cached per process). Draws nothing but a spinner."""
    access = current_access(config)
    if not access.allowed or config.server is None:
        return SharedState(access)
    conn, error = shared_connection(config.server)
    return SharedState(access, conn, error)


def shared_status(config: DeploymentConfig, shared: SharedState) -> None:
    """The sidebar under the radio in shared mode."""
    conn = shared.conn
    if conn is None:
        st.caption("Not connected: see the main panel." if shared.error else "Not available yet: see the main panel.")
        return
    st.caption(
        f"**{plain(conn.org_name)}**  \nEveryone who opens this app sees this organization through one shared account."
    )
    if shared.access is Access.OPEN:
        st.caption("Open to anyone who can reach this app (no access gate).")
    if config.uses_oidc and st.user.get("is_logged_in"):
        st.caption(f"You: {plain(str(st.user.get('email') or ''))}")
        st.button("Sign out", key="cl_oidc_sign_out", on_click=st.logout, icon=":material/logout:")


def render_gate(config: DeploymentConfig, shared: SharedState, demo: str, mode_key: str) -> None:
    """The main panel while the shared org is not shown: the gate, a refusal, the lockout or a setup hint."""
    st.title("Credit Lens")
    st.markdown("Who in this organization uses ArcGIS Online credits, on what, and when.")
    access = shared.access
    if shared.error:
        st.error(plain(shared.error))  # it quotes the portal's words: text, never Markdown
    elif access is Access.CODE:
        _code_form(config)
    elif access is Access.LOCKED:
        st.error(locked_message(session_attempts(config)), icon=":material/lock:")
    elif access is Access.SIGN_IN:
        _sign_in_prompt()
    elif access is Access.REFUSED:
        email = plain(str(st.user.get("email") or "this account"))
        st.error(f"Signed in as {email}: not allowed.", icon=":material/block:")
        st.button("Sign out", key="cl_oidc_refused_sign_out", on_click=st.logout, icon=":material/logout:")
    elif access is Access.UNCONFIGURED:
        st.warning(setup_hint(config), icon=":material/lock:")
    st.button(
        f"Explore the {demo.lower()} instead", on_click=_switch_mode, args=(mode_key, demo), icon=":material/science:"
    )


def _code_form(config: DeploymentConfig) -> None:
    with st.form("access_code", border=True, width=420):
        st.markdown("**Enter the access code** you were given to see this organization's credit usage.")
        st.text_input("Access code", key=state.ACCESS_CODE, type="password", autocomplete="off")
        st.form_submit_button("Enter", type="primary", on_click=_check_code, args=(config,), icon=":material/key:")
    notice = st.session_state.get(state.ACCESS_CODE_NOTICE)
    if notice:
        st.error(notice)


def _check_code(config: DeploymentConfig) -> None:
    """The access-code form callback: one try, then the field is emptied."""
    session = st.session_state
    code = str(session.get(state.ACCESS_CODE) or "")
    session[state.ACCESS_CODE] = ""
    attempts = session_attempts(config)
    if attempts is None:
        return
    blank = not code.strip()
    if not blank:
        attempts.try_code(code, config.access_code_hash or "")
    session[state.ACCESS_CODE_NOTICE] = code_notice(attempts, blank)


def _sign_in_prompt() -> None:
    st.info("Sign in to see this organization's credit usage.", icon=":material/login:")
    st.button("Sign in", type="primary", on_click=_start_login, icon=":material/login:")
    error = st.session_state.get(state.OIDC_ERROR)
    if error:
        st.error(error)


def _start_login() -> None:
    st.session_state.pop(state.OIDC_ERROR, None)
    try:
        st.login()
    except Exception as exc:  # Authlib missing, or an incomplete [auth] section: tell, don't crash
        log.warning("st.login failed with %s", type(exc).__name__)
        st.session_state[state.OIDC_ERROR] = (
            "Sign-in is not available: the server's sign-in settings are incomplete or the Authlib package "
            f"is not installed. The person who runs this app should check `{DOCS}`."
        )


def _switch_mode(mode_key: str, mode: str) -> None:
    st.session_state[mode_key] = mode
