"""Team deployment: the shared org connection and the access gate in front of it.

A deployment (see ``docs/deployment.md`` and :mod:`creditlens.deployment`) may carry one
server-side connection that every visitor sees through. Its data is served only to visitors who
pass the gate: OIDC sign-in (``st.login``) with an e-mail allow-list, or a shared access code with a
bounded number of tries per session. The gate decides access to the shared org only; the demo org
stays open to everyone, and "sign in with my own account" (when allowed) is not gated because it
brings its own credentials.

The first half of this module is pure decisions (:func:`decide`, :func:`connection_modes`,
:func:`setup_hint`, …) tested without Streamlit; the second half draws them.

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
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

import streamlit as st

from creditlens.deployment import (
    AccessAttempts,
    DeploymentConfig,
    DeploymentConfigError,
    ServerConnection,
    email_allowed,
    load_deployment_config,
)
from creditlens.errors import CreditLensError, redact
from creditlens.portal import PortalConnection, connect

log = logging.getLogger(__name__)

#: The connection radio's value for the shared org (the label shows the org's name once connected).
SHARED = "Shared organization"
OWN_ACCOUNT_LABEL = "Sign in with my own account"
DOCS = "docs/deployment.md"

ATTEMPTS_KEY = "cl_access_attempts"  # this session's AccessAttempts
CODE_KEY = "cl_access_code"  # the code widget; emptied by its callback, never holds a code after it
CODE_NOTICE_KEY = "cl_access_code_notice"
OIDC_ERROR_KEY = "cl_oidc_error"
RETRY_AFTER_S = 30  # a failed shared sign-in is retried at most this often (protects the account from lockout)


class Access(StrEnum):
    """Where one visitor stands with the shared org."""

    NO_SERVER = "no_server"  # no server-side connection configured: the app as it always was
    GRANTED = "granted"  # passed the gate
    OPEN = "open"  # no gate, explicitly allowed (allow_open)
    SIGN_IN = "sign_in"  # OIDC: not signed in yet
    REFUSED = "refused"  # OIDC: signed in, not on the allow-list
    CODE = "code"  # access code: not entered yet
    LOCKED = "locked"  # access code: too many wrong codes in this session
    UNCONFIGURED = "unconfigured"  # a server connection but no gate: not served

    @property
    def allowed(self) -> bool:
        return self in (Access.GRANTED, Access.OPEN)


# -- pure decisions ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Setup:
    """The deployment configuration, or why it could not be read (the message names no secret)."""

    config: DeploymentConfig
    error: str | None = None

    @property
    def deployed(self) -> bool:
        """A team deployment: a shared connection, or settings for one that are broken."""
        return self.config.server is not None or self.error is not None


def load_setup(secrets_section: Mapping | None, environ: Mapping[str, str], oidc_configured: bool) -> Setup:
    """The config, failing closed: broken settings serve no shared org and no own-account sign-in."""
    try:
        return Setup(load_deployment_config(secrets_section, environ, oidc_configured=oidc_configured))
    except DeploymentConfigError as exc:
        return Setup(DeploymentConfig(server=None, allow_user_login=False), str(exc))


def decide(config: DeploymentConfig, user: Mapping | None, attempts: AccessAttempts | None) -> Access:
    """May this visitor see the shared org? ``user`` is ``st.user``; ``attempts`` this session's code tries.

    When both gates are configured, both must be passed (sign-in first, then the code).
    """
    if config.server is None:
        return Access.NO_SERVER
    if not config.gated:
        return Access.OPEN if config.allow_open else Access.UNCONFIGURED
    if config.uses_oidc:
        user = user or {}
        if not user.get("is_logged_in"):
            return Access.SIGN_IN
        if not email_allowed(_text(user.get("email")), config.allowed_emails, config.allowed_domains):
            return Access.REFUSED
    if config.uses_access_code and (attempts is None or not attempts.granted):
        return Access.LOCKED if attempts is not None and attempts.locked else Access.CODE
    return Access.GRANTED


def connection_modes(setup: Setup, demo: str, own_account: str) -> tuple[str, ...]:
    """The connection radio's options: unchanged (demo, own account) when there is no deployment."""
    config = setup.config
    modes: list[str] = []
    if config.server is not None:
        modes.append(SHARED)
    modes.append(demo)
    if config.allow_user_login:
        modes.append(own_account)
    return tuple(modes)


def mode_label(mode: str, setup: Setup, own_account: str, org_name: str | None = None) -> str:
    """How the radio shows a mode: the shared org by name once known; "my own account" in a deployment."""
    if mode == SHARED:
        return f"{org_name} (shared)" if org_name else SHARED
    if mode == own_account and setup.deployed:
        return OWN_ACCOUNT_LABEL
    return mode


def code_notice(attempts: AccessAttempts, blank: bool = False) -> str | None:
    """What to say after a try at the access code (never why beyond "not right")."""
    if attempts.granted:
        return None
    if attempts.locked:
        return locked_message(attempts)
    if blank:
        return "Enter the access code."
    if attempts.failures:
        left = attempts.remaining
        return f"That access code is not right. {left} {'try' if left == 1 else 'tries'} left."
    return None


def locked_message(attempts: AccessAttempts) -> str:
    return (
        f"Locked: {attempts.failures} wrong access codes in this session, so no more tries are accepted. "
        "Ask the person who shared this link for the code."
    )


def setup_hint(config: DeploymentConfig) -> str:
    """For an ungated server connection: how to configure a gate (markdown; names settings, never values)."""
    lines = [
        "This app has a shared organization connection but **no access gate**, so its data is not served. "
        "The person who runs it can add one of these to `.streamlit/secrets.toml` (section `[creditlens]`) "
        "or to the environment:",
        "",
        "- **a shared access code**: run `creditlens hash-access-code` and set `access_code_hash` "
        "(`CREDITLENS_ACCESS_CODE_HASH`);",
        "- **single sign-on**: an `[auth]` section for `st.login` and `allowed_emails` or `allowed_domains` "
        "(`CREDITLENS_ALLOWED_EMAILS`, `CREDITLENS_ALLOWED_DOMAINS`);",
        "- or `allow_open = true` (`CREDITLENS_ALLOW_OPEN`) to serve it to anyone who can reach this app, "
        "only on a network you trust.",
    ]
    if config.oidc_configured and not (config.allowed_emails or config.allowed_domains):
        lines += ["", "An `[auth]` section is present, but no `allowed_emails` or `allowed_domains` list."]
    elif (config.allowed_emails or config.allowed_domains) and not config.oidc_configured:
        lines += ["", "An allow-list is set, but there is no `[auth]` section to sign in with."]
    lines += ["", f"Details: `{DOCS}` in the Credit Lens repository."]
    return "\n".join(lines)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


# -- the shared connection ------------------------------------------------------------------------
@st.cache_resource(max_entries=4, show_spinner="Connecting to the shared organization…")
def _shared_connection(portal_url: str, username: str, ca_bundle: str | None, _server: ServerConnection):
    """Signed in once per process and identity. The password is an unhashed argument, never a key."""
    return connect(_server.portal_url, _server.username, _server.password, ca_bundle=_server.ca_bundle)


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
    attempts = st.session_state.get(ATTEMPTS_KEY)
    if attempts is None:
        attempts = st.session_state[ATTEMPTS_KEY] = AccessAttempts(limit=config.max_access_attempts)
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
        f"**{conn.org_name}**  \nEveryone who opens this app sees this organization through one shared account."
    )
    if shared.access is Access.OPEN:
        st.caption("Open to anyone who can reach this app (no access gate).")
    if config.uses_oidc and st.user.get("is_logged_in"):
        st.caption(f"You: {_escape(str(st.user.get('email') or ''))}")
        st.button("Sign out", key="cl_oidc_sign_out", on_click=st.logout, icon=":material/logout:")


def render_gate(config: DeploymentConfig, shared: SharedState, demo: str, mode_key: str) -> None:
    """The main panel while the shared org is not shown: the gate, a refusal, the lockout or a setup hint."""
    st.title("Credit Lens")
    st.markdown("Who in this organization uses ArcGIS Online credits, on what, and when.")
    access = shared.access
    if shared.error:
        st.error(shared.error)
    elif access is Access.CODE:
        _code_form(config)
    elif access is Access.LOCKED:
        st.error(locked_message(session_attempts(config)), icon=":material/lock:")
    elif access is Access.SIGN_IN:
        _sign_in_prompt()
    elif access is Access.REFUSED:
        email = _escape(str(st.user.get("email") or "this account"))
        st.error(f"Signed in as {email}: not allowed.", icon=":material/block:")
        st.button("Sign out", key="cl_oidc_refused_sign_out", on_click=st.logout, icon=":material/logout:")
    elif access is Access.UNCONFIGURED:
        st.warning(setup_hint(config), icon=":material/lock:")
    st.button(f"Explore the {demo.lower()} instead", on_click=_switch_mode, args=(mode_key, demo),
              icon=":material/science:")


def _code_form(config: DeploymentConfig) -> None:
    with st.form("access_code", border=True, width=420):
        st.markdown("**Enter the access code** you were given to see this organization's credit usage.")
        st.text_input("Access code", key=CODE_KEY, type="password", autocomplete="off")
        st.form_submit_button("Enter", type="primary", on_click=_check_code, args=(config,),
                              icon=":material/key:")
    notice = st.session_state.get(CODE_NOTICE_KEY)
    if notice:
        st.error(notice)


def _check_code(config: DeploymentConfig) -> None:
    """The access-code form callback: one try, then the field is emptied."""
    state = st.session_state
    code = str(state.get(CODE_KEY) or "")
    state[CODE_KEY] = ""
    attempts = session_attempts(config)
    if attempts is None:
        return
    blank = not code.strip()
    if not blank:
        attempts.try_code(code, config.access_code_hash or "")
    state[CODE_NOTICE_KEY] = code_notice(attempts, blank)


def _sign_in_prompt() -> None:
    st.info("Sign in to see this organization's credit usage.", icon=":material/login:")
    st.button("Sign in", type="primary", on_click=_start_login, icon=":material/login:")
    error = st.session_state.get(OIDC_ERROR_KEY)
    if error:
        st.error(error)


def _start_login() -> None:
    st.session_state.pop(OIDC_ERROR_KEY, None)
    try:
        st.login()
    except Exception as exc:  # Authlib missing, or an incomplete [auth] section: tell, don't crash
        log.warning("st.login failed with %s", type(exc).__name__)
        st.session_state[OIDC_ERROR_KEY] = (
            "Sign-in is not available: the server's sign-in settings are incomplete or the Authlib package "
            f"is not installed. The person who runs this app should check `{DOCS}`."
        )


def _switch_mode(mode_key: str, mode: str) -> None:
    st.session_state[mode_key] = mode


def _escape(text: str) -> str:
    """Plain text inside markdown: no links, emphasis or HTML from an identity provider's claims."""
    return "".join("\\" + c if c in "\\`*_{}[]()<>#+-.!|~$" else c for c in text)
