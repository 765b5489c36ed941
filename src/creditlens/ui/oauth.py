"""Sign in with ArcGIS in the app: the button in the sign-in form, and the return from ArcGIS Online.

Streamlit's session does not survive the redirect, so the code verifier waits server-side in one
:class:`~creditlens.oauth.PendingSignIns` per process, keyed by ``state``; the browser carries only
``state`` (and, on the way back, the one-time ``code``), which are removed from its URL at once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

import streamlit as st

from creditlens.errors import CreditLensError
from creditlens.oauth import OAuthTokens, PendingSignIns, SignInRefused, authorize_url, exchange_code
from creditlens.portal import PortalConnection, connect_with_token, normalize_portal_url
from creditlens.ui import connection, state

log = logging.getLogger(__name__)

CLIENT_ENV, REDIRECT_ENV = "CREDITLENS_CLIENT_ID", "CREDITLENS_REDIRECT_URI"
OPEN = "cl_oauth_open"  # this session's started sign-in: its state and authorize URL (no verifier)
TOKENS = "cl_oauth_tokens"  # the signed-in session's OAuthTokens (session only, like the connection)
RETURN_PARAMS = ("code", "state", "error", "error_description")
PASSWORD_HINT = (
    "Accounts on an enterprise login (SAML) or with multifactor authentication have no password here: "
    "use Sign in with ArcGIS."
)
REGISTER_HELP = (
    "**Sign in with ArcGIS** (enterprise logins, multifactor authentication) needs an OAuth app: in ArcGIS "
    "Online, Content › New item › Developer credentials › OAuth 2.0 credentials, with this app's URL as a "
    "redirect URL; then set `CREDITLENS_CLIENT_ID` (or `[creditlens] client_id`). See docs/oauth.md."
)


@dataclass(frozen=True)
class OpenSignIn:
    state: str
    url: str  # the authorize URL: only public values (client id, state, challenge)


@dataclass(frozen=True)
class OAuthSettings:
    client_id: str
    redirect_uri: str  # empty: the app's own URL


def settings() -> OAuthSettings:
    """``[creditlens] client_id``/``redirect_uri`` over ``CREDITLENS_CLIENT_ID``/``CREDITLENS_REDIRECT_URI``."""
    try:
        section = dict(st.secrets.get("creditlens") or {})
    except FileNotFoundError:  # no secrets.toml
        section = {}

    def get(key: str, env: str) -> str:
        return str(section.get(key) or os.environ.get(env) or "").strip()

    return OAuthSettings(get("client_id", CLIENT_ENV), get("redirect_uri", REDIRECT_ENV))


@st.cache_resource
def pending_sign_ins() -> PendingSignIns:
    """The process's unfinished sign-ins (shared by sessions: the return arrives in a new one)."""
    return PendingSignIns()


def app_url() -> str:
    """This app's own URL (scheme, host and base path), where ArcGIS Online sends the browser back."""
    parts = urlsplit(str(st.context.url or ""))
    base = str(st.get_option("server.baseUrlPath") or "").strip("/")
    origin = f"{parts.scheme}://{parts.netloc}" if parts.netloc else f"http://localhost:{st.get_option('server.port')}"
    return f"{origin}/{base + '/' if base else ''}"


def redirect_uri(configured: OAuthSettings) -> str:
    return configured.redirect_uri or app_url()


# -- the button ---------------------------------------------------------------------------------
def sign_in_button() -> None:
    """Inside the sign-in form: "Sign in with ArcGIS", then the link to ArcGIS Online's sign-in page."""
    configured = settings()
    if not configured.client_id:
        st.caption(REGISTER_HELP)
        return
    st.form_submit_button(
        "Sign in with ArcGIS",
        on_click=begin,
        icon=":material/key:",
        help="Your organization's own sign-in page: enterprise logins and multifactor authentication work there.",
    )
    opened = st.session_state.get(OPEN)
    if isinstance(opened, OpenSignIn) and pending_sign_ins().is_open(opened.state):
        st.link_button("Continue to ArcGIS Online", opened.url, type="primary", icon=":material/open_in_new:")
        st.caption("ArcGIS Online's sign-in opens in a new tab; you come back there signed in.")
    error = st.session_state.get(state.LOGIN_ERROR)
    if error and "username or password is wrong" in str(error):
        st.caption(PASSWORD_HINT)


def begin() -> None:
    """The button's callback: a new pending sign-in for the organization URL in the form."""
    session = st.session_state
    session[state.PASSWORD] = ""  # this way in never uses a password typed into the form
    session.pop(state.LOGIN_ERROR, None)
    earlier = session.pop(OPEN, None)
    if isinstance(earlier, OpenSignIn):  # pressed again: the earlier sign-in can no longer come back
        with contextlib.suppress(SignInRefused):
            pending_sign_ins().take(earlier.state)
    configured = settings()
    try:
        portal_url = normalize_portal_url(str(session.get(state.URL) or ""))
    except CreditLensError as exc:
        session[state.LOGIN_ERROR] = str(exc)
        return
    back = redirect_uri(configured)
    opened, challenge = pending_sign_ins().begin(portal_url, back)
    session[OPEN] = OpenSignIn(opened, authorize_url(portal_url, configured.client_id, back, opened, challenge))


# -- the return ---------------------------------------------------------------------------------
def handle_return() -> None:
    """Before the connection radio: finish a sign-in the browser came back with (``?code=…&state=…``)."""
    params = st.query_params
    if not any(key in params for key in RETURN_PARAMS):
        return
    code, returned, error = params.get("code"), params.get("state"), params.get("error")
    for key in RETURN_PARAMS:  # out of the browser's URL (and history) at once
        if key in params:
            del params[key]
    configured = settings()
    if not configured.client_id:
        return  # Sign in with ArcGIS is not set up: these were not ours
    session = st.session_state
    session[state.MODE] = state.ONLINE
    session.pop(state.LOGIN_ERROR, None)
    try:
        conn, tokens = finish(configured, code, returned, error)
    except CreditLensError as exc:
        session[state.LOGIN_ERROR] = str(exc)
        return
    except Exception as exc:  # never a traceback, never the message (it could carry a token)
        log.warning("Sign in with ArcGIS failed with %s", type(exc).__name__)
        session[state.LOGIN_ERROR] = f"Sign in with ArcGIS failed unexpectedly ({type(exc).__name__}). Try again."
        return
    revoke_session_tokens()  # a previous Sign in with ArcGIS session in this browser session ends here
    connection.forget_org_widgets()
    session[state.URL] = conn.identity.portal_url
    session[state.CONN], session[TOKENS] = conn, tokens


def finish(
    configured: OAuthSettings, code: str | None, returned: str | None, error: str | None
) -> tuple[PortalConnection, OAuthTokens]:
    """Exchange the code for tokens and sign in with them: the same connection as a password sign-in."""
    pending = pending_sign_ins().take(returned)  # single use: a replayed state is refused here
    if error:
        shown = error if re.fullmatch(r"[a-z_]{1,40}", error) else "refused"
        raise SignInRefused(f"ArcGIS Online did not sign you in ({shown}). Press Sign in with ArcGIS to try again.")
    ca_bundle = connection.env_defaults().ca_bundle
    with st.spinner("Signing in with ArcGIS…"):
        grant = exchange_code(
            pending.portal_url, configured.client_id, code or "", pending.verifier, pending.redirect_uri, ca_bundle
        )
        tokens = OAuthTokens(pending.portal_url, configured.client_id, grant, ca_bundle)
        try:
            return connect_with_token(pending.portal_url, grant.access_token, ca_bundle, tokens=tokens), tokens
        except BaseException:
            tokens.revoke()  # a sign-in that goes no further leaves no live token behind
            raise


# -- sign-out -----------------------------------------------------------------------------------
def sign_out() -> None:
    """The Sign out button: revoke a Sign in with ArcGIS session's tokens, then sign out as usual."""
    revoke_session_tokens()
    connection.sign_out()


def revoke_session_tokens() -> None:
    tokens = st.session_state.pop(TOKENS, None)
    if isinstance(tokens, OAuthTokens) and not tokens.revoke():
        log.warning("ArcGIS Online did not confirm revoking the token at sign-out")
