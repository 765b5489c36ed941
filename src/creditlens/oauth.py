"""Sign in with ArcGIS: OAuth 2.0 authorization code with PKCE (S256), for the app and the CLI.

ArcGIS Online is a plain OAuth 2.0 server (no OpenID Connect discovery, no ID token), so the flow is
done here: ``oauth2/authorize`` with ``response_type=code`` and an S256 ``code_challenge``;
``oauth2/token`` with ``grant_type=authorization_code`` and the ``code_verifier``; ``refresh_token``
renewals; ``oauth2/revokeToken`` on sign-out. Parameters and replies, with sources:
``shared/reference/arcgis-online-groups-errors-oauth.md`` §4. The access token is then handed to
``arcgis.GIS(url, token=...)`` through :func:`creditlens.portal.connect_with_token`.

Secrets: the code verifier lives only in :class:`PendingSignIns` (server memory, keyed by the random
single-use ``state``), tokens only in :class:`OAuthTokens`. Neither has a ``repr`` that shows them,
none is logged, and no message repeats a server's words that could carry them.
"""

from __future__ import annotations

import base64
import builtins
import contextlib
import hashlib
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlencode

from creditlens.errors import LoginFailed

log = logging.getLogger(__name__)

OOB_REDIRECT = "urn:ietf:wg:oauth:2.0:oob"  # the out-of-band redirect: the portal shows the code to copy
PENDING_TTL_S = 300  # a sign-in started must come back within five minutes
MAX_PENDING = 1000  # unfinished sign-ins kept at most (a flood of clicks cannot grow memory without end)
REFRESH_MARGIN_S = 120  # renew an access token this long before it expires
REFRESH_EXPIRATION_MIN = 1440  # the refresh token lives a day: long enough for a working session
HTTP_TIMEOUT_S = (10, 30)

AGAIN = "Press Sign in with ArcGIS again."
STATE_UNKNOWN = f"This sign-in was already used or has expired (a sign-in must finish within 5 minutes). {AGAIN}"
CODE_REFUSED = f"ArcGIS Online refused the sign-in code: it was already used or has expired. {AGAIN}"
VERIFIER_REFUSED = f"ArcGIS Online refused the sign-in: the PKCE code verifier did not match. {AGAIN}"
REDIRECT_REFUSED = (
    "ArcGIS Online refused the sign-in: the redirect URL does not match the one the sign-in started with. "
    "Check CREDITLENS_REDIRECT_URI and the OAuth app's redirect URLs."
)
SESSION_OVER = "The ArcGIS Online sign-in has ended (the refresh token expired or was revoked). Sign in again."


MFA_PROMPT = "arcgis asked for a multifactor authentication code"
MFA_SIGN_IN = (
    "This account uses multifactor authentication, which a username and password alone cannot pass: "
    "use Sign in with ArcGIS (in the command line: --client-id)."
)


class SignInRefused(LoginFailed):
    """A Sign in with ArcGIS step that failed: one sentence in our words."""


# -- no terminal prompts during a password sign-in ----------------------------------------------
class PromptRefused(Exception):
    """Raised instead of reading the terminal: a sign-in inside a server must never wait on stdin."""


_prompts_lock = threading.Lock()
_prompts_refused = 0
_saved_input = builtins.input


def _refuse(prompt: object = "") -> str:
    raise PromptRefused(MFA_PROMPT)


@contextlib.contextmanager
def refuse_prompts() -> Iterator[None]:
    """While inside, ``input()`` raises :class:`PromptRefused` (counted, so concurrent sign-ins nest).

    ``arcgis`` asks an MFA account's code with ``input()`` during ``GIS(url, user, password)``: in
    the app that would block the sign-in on the server's terminal. Refused, the error carries
    :data:`MFA_PROMPT`, which :func:`creditlens.portal._login_error` turns into :data:`MFA_SIGN_IN`.
    """
    global _prompts_refused, _saved_input
    with _prompts_lock:
        if _prompts_refused == 0:
            _saved_input = builtins.input
            builtins.input = _refuse
        _prompts_refused += 1
    try:
        yield
    finally:
        with _prompts_lock:
            _prompts_refused -= 1
            if _prompts_refused == 0:
                builtins.input = _saved_input


# -- PKCE ---------------------------------------------------------------------------------------
def new_verifier() -> str:
    """A PKCE code verifier: base64url of 32 random bytes (43 characters, RFC 7636 §4.1)."""
    return _b64url(secrets.token_bytes(32))


def s256_challenge(verifier: str) -> str:
    """The S256 code challenge: base64url(SHA-256(verifier)) without padding (RFC 7636 §4.2)."""
    return _b64url(hashlib.sha256(verifier.encode("ascii")).digest())


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


# -- pending sign-ins ---------------------------------------------------------------------------
@dataclass(frozen=True)
class PendingSignIn:
    """One sign-in between the button and the return: where it goes, and the verifier (never shown)."""

    portal_url: str
    redirect_uri: str
    verifier: str = field(repr=False)
    created: float = 0.0


class PendingSignIns:
    """Unfinished sign-ins keyed by ``state``: random, single use, gone after :data:`PENDING_TTL_S`.

    The browser carries only ``state``; the verifier stays here. One store per server process.
    """

    def __init__(self, ttl_s: float = PENDING_TTL_S, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._pending: dict[str, PendingSignIn] = {}

    def begin(self, portal_url: str, redirect_uri: str) -> tuple[str, str]:
        """Start a sign-in: ``(state, code_challenge)`` for the authorize URL."""
        state = secrets.token_urlsafe(32)
        verifier = new_verifier()
        with self._lock:
            self._drop_stale()
            while len(self._pending) >= MAX_PENDING:
                self._pending.pop(next(iter(self._pending)))  # the oldest goes first
            self._pending[state] = PendingSignIn(portal_url, redirect_uri, verifier, self._clock())
        return state, s256_challenge(verifier)

    def is_open(self, state: str | None) -> bool:
        """Whether ``state`` is still waiting (and not about to expire: a minute of it must be left)."""
        with self._lock:
            found = self._pending.get(state or "")
        return found is not None and self._clock() - found.created < self._ttl - 60

    def take(self, state: str | None) -> PendingSignIn:
        """The sign-in for ``state``, removed: a second return with the same ``state`` is refused."""
        with self._lock:
            found = self._pending.pop(state or "", None)
        if found is None or self._clock() - found.created > self._ttl:
            raise SignInRefused(STATE_UNKNOWN)
        return found

    def _drop_stale(self) -> None:
        now = self._clock()
        for key in [k for k, v in self._pending.items() if now - v.created > self._ttl]:
            del self._pending[key]

    def __len__(self) -> int:
        with self._lock:
            return len(self._pending)


def authorize_url(
    portal_url: str,
    client_id: str,
    redirect_uri: str,
    state: str,
    code_challenge: str,
    expiration_min: int = REFRESH_EXPIRATION_MIN,
) -> str:
    """The portal's ``oauth2/authorize`` URL for the code flow with PKCE S256.

    ``portal_url`` is the org's own URL, so an org with an enterprise (SAML) login offers it.
    """
    query = {
        "client_id": client_id,
        "response_type": "code",
        "redirect_uri": redirect_uri,
        "state": state,
        "code_challenge": code_challenge,
        "code_challenge_method": "S256",
        "expiration": str(expiration_min),
    }
    return f"{portal_url}/sharing/rest/oauth2/authorize?{urlencode(query)}"


# -- token endpoint -----------------------------------------------------------------------------
@dataclass
class TokenGrant:
    """What ``oauth2/token`` answered. Tokens never appear in ``repr``."""

    access_token: str = field(repr=False)
    expires_at: float  # epoch seconds
    username: str
    refresh_token: str | None = field(default=None, repr=False)


def exchange_code(
    portal_url: str,
    client_id: str,
    code: str,
    verifier: str,
    redirect_uri: str,
    ca_bundle: str | None = None,
) -> TokenGrant:
    """Redeem an authorization code with its PKCE verifier."""
    if not code:
        raise SignInRefused(f"ArcGIS Online sent no sign-in code. {AGAIN}")
    reply = _token_request(
        portal_url,
        {
            "client_id": client_id,
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": verifier,
            "redirect_uri": redirect_uri,
        },
        ca_bundle,
    )
    return _grant(reply, None)


def refresh_access(portal_url: str, client_id: str, refresh_token: str, ca_bundle: str | None = None) -> TokenGrant:
    """A new access token from the refresh token (the refresh token stays the same)."""
    reply = _token_request(
        portal_url,
        {"client_id": client_id, "grant_type": "refresh_token", "refresh_token": refresh_token},
        ca_bundle,
        refreshing=True,
    )
    return _grant(reply, refresh_token)


def revoke_token(portal_url: str, client_id: str, token: str, ca_bundle: str | None = None) -> bool:
    """``oauth2/revokeToken``: True when the portal confirmed. A refresh token takes its access tokens along."""
    try:
        reply = _post(
            f"{portal_url}/sharing/rest/oauth2/revokeToken", {"client_id": client_id, "auth_token": token}, ca_bundle
        )
    except SignInRefused:
        return False
    return reply.get("success") is True


def _token_request(portal_url: str, data: dict[str, str], ca_bundle: str | None, refreshing: bool = False) -> dict:
    reply = _post(f"{portal_url}/sharing/rest/oauth2/token", data, ca_bundle)
    if isinstance(reply.get("error"), dict) or "access_token" not in reply:
        raise SignInRefused(SESSION_OVER if refreshing else refusal_message(reply))
    return reply


def _post(url: str, data: dict[str, str], ca_bundle: str | None) -> dict:
    """POST a form and read JSON; every failure is one sentence without the server's text.

    Through the same adapter as every ``arcgis`` call (system trust store plus ``ca_bundle``, bounded
    retries), so the token endpoint is trusted exactly as the portal is.
    """
    import requests

    from creditlens.portal import bounded_adapter  # here: portal imports this module

    try:
        with requests.Session() as session:
            session.mount("https://", bounded_adapter(ca_bundle))
            response = session.post(url, data={**data, "f": "json"}, timeout=HTTP_TIMEOUT_S, allow_redirects=False)
        reply = response.json()
    except requests.exceptions.SSLError:
        raise SignInRefused(
            "Could not open a secure connection to the portal: its certificate is not trusted."
        ) from None
    except requests.exceptions.Timeout:
        raise SignInRefused("The portal did not answer the sign-in in time. Try again.") from None
    except requests.exceptions.RequestException:
        raise SignInRefused("Could not reach the portal to finish the sign-in. Check your network.") from None
    except ValueError:
        raise SignInRefused("The portal's sign-in reply was not JSON.") from None
    if not isinstance(reply, dict):
        raise SignInRefused("The portal's sign-in reply was not understood.")
    return reply


def refusal_message(reply: dict) -> str:
    """Our sentence for a refused code exchange, from the error's words (never repeated verbatim)."""
    error = reply.get("error") if isinstance(reply.get("error"), dict) else {}
    words = " ".join(str(error.get(k) or "") for k in ("message", "error_description", "error")).lower()
    words += " " + " ".join(str(d) for d in error.get("details") or []).lower()
    if "code_verifier" in words or "verifier" in words:
        return VERIFIER_REFUSED
    if "redirect_uri" in words or "redirect uri" in words:
        return REDIRECT_REFUSED
    if "code" in words or "invalid_grant" in words or "expired" in words:
        return CODE_REFUSED
    if "client_id" in words:
        return "ArcGIS Online does not know this app's client id. Check CREDITLENS_CLIENT_ID."
    code = error.get("code")
    shown = f" (error {code})" if isinstance(code, int) or (isinstance(code, str) and code.isdigit()) else ""
    return f"ArcGIS Online refused the sign-in{shown}. {AGAIN}"


def _grant(reply: dict, refresh_token: str | None) -> TokenGrant:
    try:
        lifetime = float(reply.get("expires_in") or 1800)
    except (TypeError, ValueError):
        lifetime = 1800.0
    username = str(reply.get("username") or "")
    if not re.fullmatch(r"[\w.@\-]{1,256}", username):
        username = ""
    return TokenGrant(
        str(reply["access_token"]),
        time.time() + lifetime,
        username,
        str(reply.get("refresh_token") or refresh_token or "") or None,
    )


# -- one signed-in session ----------------------------------------------------------------------
class TokenSource(Protocol):
    """Access tokens of a token sign-in, as :class:`creditlens.portal.ArcGISTransport` asks for them."""

    def access_token(self) -> str: ...

    def renew(self) -> str: ...


def give_token(gis, token: str) -> None:
    """Hand ``arcgis`` a new access token (``GIS(url, token=...)`` keeps it on the session's auth)."""
    auth = getattr(gis._con._session, "auth", None)
    if auth is None or getattr(auth, "token", None) == token:
        return
    auth.token = token
    # arcgis stops sending a token to paths that once answered "invalid token"; start clean.
    for name in ("_no_go_token", "_invalid_token_urls"):
        no_go = getattr(auth, name, None)
        if isinstance(no_go, set):
            no_go.clear()


class OAuthTokens:
    """The tokens of one Sign in with ArcGIS session: renewed before they expire, revoked on sign-out.

    :class:`creditlens.portal.ArcGISTransport` asks :meth:`access_token` before each call and
    :meth:`renew` when the portal answers 498/499 (its one re-sign-in path).
    """

    def __init__(
        self,
        portal_url: str,
        client_id: str,
        grant: TokenGrant,
        ca_bundle: str | None = None,
        *,
        clock: Callable[[], float] = time.time,
        margin_s: float = REFRESH_MARGIN_S,
    ) -> None:
        self.portal_url = portal_url
        self.client_id = client_id
        self._grant = grant
        self._ca_bundle = ca_bundle
        self._clock = clock
        self._margin = margin_s
        self._lock = threading.Lock()
        self.renewals = 0

    def __repr__(self) -> str:
        return f"OAuthTokens(portal_url={self.portal_url!r}, username={self._grant.username!r})"

    @property
    def username(self) -> str:
        return self._grant.username

    @property
    def can_refresh(self) -> bool:
        return bool(self._grant.refresh_token)

    def access_token(self) -> str:
        """The access token, renewed first when less than the margin is left."""
        with self._lock:
            if self.can_refresh and self._grant.expires_at - self._clock() < self._margin:
                self._refresh()
            return self._grant.access_token

    def renew(self) -> str:
        """A new access token now (the portal said the old one is gone)."""
        with self._lock:
            if not self.can_refresh:
                raise SignInRefused(SESSION_OVER)
            self._refresh()
            return self._grant.access_token

    def _refresh(self) -> None:
        grant = refresh_access(self.portal_url, self.client_id, self._grant.refresh_token or "", self._ca_bundle)
        if not grant.username:
            grant.username = self._grant.username
        self._grant = grant
        self.renewals += 1
        log.info("renewed the ArcGIS Online access token")

    def revoke(self) -> bool:
        """Revoke the refresh token (which takes its access tokens) and the access token; forget both."""
        with self._lock:
            grant, self._grant = self._grant, TokenGrant("", 0.0, self._grant.username)
        done = True
        for token in (grant.refresh_token, grant.access_token):
            if token:
                done = revoke_token(self.portal_url, self.client_id, token, self._ca_bundle) and done
        return done


# -- the command line: out of band --------------------------------------------------------------
def out_of_band_sign_in(
    portal_url: str,
    client_id: str,
    read_code: Callable[[str], str],
    show: Callable[[str], None],
    ca_bundle: str | None = None,
    expiration_min: int = REFRESH_EXPIRATION_MIN,
) -> OAuthTokens:
    """The out-of-band flow (``redirect_uri=urn:ietf:wg:oauth:2.0:oob``), with PKCE S256.

    ``show`` prints the authorize URL; the person signs in in any browser (enterprise login and MFA
    work there) and ``read_code`` reads the code the portal then shows. Unlike ``arcgis``'s own
    out-of-band sign-in, the certificate is checked and the code is bound to a verifier.
    """
    state = secrets.token_urlsafe(16)
    verifier = new_verifier()
    url = authorize_url(portal_url, client_id, OOB_REDIRECT, state, s256_challenge(verifier), expiration_min)
    show(f"Open this address in a browser, sign in, and paste the code it shows:\n{url}")
    code = (read_code("Code: ") or "").strip()
    if not code:
        raise SignInRefused("No code was entered.")
    grant = exchange_code(portal_url, client_id, code, verifier, OOB_REDIRECT, ca_bundle)
    return OAuthTokens(portal_url, client_id, grant, ca_bundle)


# -- a remembered sign-in: the refresh token in the OS keyring, never a file ------------------------
KEYRING_SERVICE = "creditlens"
REMEMBER_EXPIRATION_MIN = 20160  # two weeks, ArcGIS Online's default refresh token lifetime


def keyring_entry(portal_url: str, client_id: str) -> str:
    return f"{portal_url}|{client_id}"


def remembered_sign_in(portal_url: str, client_id: str, ca_bundle: str | None = None) -> OAuthTokens | None:
    """The sign-in ``--remember`` kept, renewed now; None when there is none, no keyring, or it has ended."""
    import keyring
    from keyring.errors import KeyringError

    entry = keyring_entry(portal_url, client_id)
    try:
        refresh = keyring.get_password(KEYRING_SERVICE, entry)
    except KeyringError:
        return None
    if not refresh:
        return None
    try:
        grant = refresh_access(portal_url, client_id, refresh, ca_bundle)
    except SignInRefused:
        forget_sign_in(portal_url, client_id)  # revoked or expired: the next run asks in the browser
        return None
    return OAuthTokens(portal_url, client_id, grant, ca_bundle)


def remember_sign_in(tokens: OAuthTokens) -> bool:
    """Keep the refresh token in the OS keyring (``keyring``); False when the system has none."""
    import keyring
    from keyring.errors import KeyringError

    if not tokens.can_refresh:
        return False
    try:
        keyring.set_password(
            KEYRING_SERVICE, keyring_entry(tokens.portal_url, tokens.client_id), tokens._grant.refresh_token or ""
        )
    except KeyringError:
        return False
    return True


def forget_sign_in(portal_url: str, client_id: str) -> None:
    import keyring
    from keyring.errors import KeyringError, PasswordDeleteError

    with contextlib.suppress(KeyringError, PasswordDeleteError):
        keyring.delete_password(KEYRING_SERVICE, keyring_entry(portal_url, client_id))
