"""Signing in to a portal and calling its REST API: the real ``arcgis`` client or the demo org.

Both connections expose the same :class:`PortalConnection` interface, so fetching, parsing and
reports run the same code for the demo and for a real organization. The password is handed to
``arcgis.GIS`` and never kept by us; re-login after token expiry goes through ``arcgis``'s own
auth handler.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlsplit

from urllib3.util import Retry

from creditlens.errors import (
    CreditLensError,
    InvalidPortalURL,
    LoginFailed,
    NotArcGISOnline,
    NotAuthorized,
    PortalError,
    PortalUnreachable,
    display_url,
    looks_like_html,
    redact,
)
from creditlens.fake.demo_org import DemoOrg, OrgSpec, build_demo_org
from creditlens.fake.portal_api import handle_request
from creditlens.oauth import MFA_PROMPT, MFA_SIGN_IN, TokenSource, give_token, refuse_prompts
from creditlens.windows import UsageWindow

log = logging.getLogger(__name__)

DEMO_URL = "demo://northwind"
#: Seconds a request may wait for the portal's next bytes. Two tries at most (``READ_RETRIES``), so a
#: portal that stops answering is named within about 2 × 60 s per request, not arcgis's 6 × 600 s.
DEFAULT_TIMEOUT_S = 60
CONNECT_TIMEOUT_S = 10  # opening the connection: a host that does not answer at all
READ_RETRIES = 1
STATUS_RETRIES = 5  # 429/413/5xx, as arcgis's own session does
RETRY_AFTER_CAP_S = 30  # a Retry-After above this is waited for this long only, then asked again
RELOGIN_GRACE_S = 10.0  # a sign-in this recent serves every window that saw the old token expire
TOKEN_LOST = "The sign-in expired and signing in again did not help. Sign out and in."


@dataclass(frozen=True)
class Identity:
    """Who is looking at which org. Every cache is keyed by this, never by a secret."""

    portal_url: str
    org_id: str
    username: str

    @property
    def cache_key(self) -> str:
        return f"{self.portal_url}|{self.org_id}|{self.username}"


class Transport(Protocol):
    def post(self, path: str, params: dict[str, str]) -> dict: ...

    def relogin(self) -> None: ...


@dataclass
class PortalConnection:
    identity: Identity
    org: dict  # the portals/self reply, without the signed-in user
    user: dict
    transport: Transport = field(repr=False)

    @property
    def org_name(self) -> str:
        return str(self.org.get("name") or self.identity.org_id)

    @property
    def available_credits(self) -> float | None:
        """The org's credit balance as ArcGIS Online reports it now, or None when it says nothing usable."""
        try:
            value = float(self.org.get("availableCredits"))
        except (TypeError, ValueError):
            return None
        return value if value == value else None  # NaN is no balance

    @property
    def budgets_enabled(self) -> bool:
        """Whether credit budgeting (per-member allocations) is on for the org."""
        return self.org.get("creditAssignments") == "enabled"

    def post(self, path: str, params: dict[str, str]) -> dict:
        """POST to ``/sharing/rest/<path>``; raises :class:`PortalError` on an error reply."""
        return self.transport.post(path, params)

    def relogin(self) -> None:
        self.transport.relogin()


# -- URLs ---------------------------------------------------------------------------------------
_TRAILERS = ("/home/index.html", "/home/", "/home", "/sharing/rest/", "/sharing/rest", "/sharing/", "/sharing")


def normalize_portal_url(url: str | None) -> str:
    """The portal's root URL (``https://host[/adaptor]``) from what a person typed.

    Accepts ``…/home`` and ``…/sharing/rest`` forms; refuses plain http and things that are not URLs.
    A ``user:password@`` typed into the address is dropped, and no message repeats it.
    """
    text = (url or "").strip()
    if not text:
        raise InvalidPortalURL("Enter your organization's URL, for example https://myorg.maps.arcgis.com")
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    shown = display_url(text)
    netloc = parts.netloc.rpartition("@")[2]  # never keep credentials typed into the URL
    if parts.scheme.lower() == "http":
        raise InvalidPortalURL(
            f"'{shown}' uses http. ArcGIS Online signs in over HTTPS only: use https://{netloc}{parts.path}"
        )
    if parts.scheme.lower() != "https":
        raise InvalidPortalURL(f"'{shown}' is not a web address. Use https://myorg.maps.arcgis.com")
    host = parts.hostname or ""
    if not re.fullmatch(r"[A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\]", host) or ("." not in host and host != "localhost"):
        raise InvalidPortalURL(f"'{shown}' is not a valid portal address. Use https://myorg.maps.arcgis.com")
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0 or (port is None and netloc.endswith(":")):
        raise InvalidPortalURL(f"'{shown}' has an invalid port: a port is a number from 1 to 65535.")
    path = parts.path
    lowered = path.lower()
    for trailer in _TRAILERS:
        if lowered.endswith(trailer):
            path = path[: len(path) - len(trailer)]
            break
    return f"https://{netloc.lower()}{path.rstrip('/')}"


# -- the real client ----------------------------------------------------------------------------
class BoundedRetry(Retry):
    """urllib3's retry policy with ``Retry-After`` capped at :data:`RETRY_AFTER_CAP_S`.

    A portal (or a proxy in front of it) that answers ``Retry-After: 3600`` would otherwise hold the
    request for an hour. ``Retry.new`` builds every later state with ``type(self)``, so the cap stays.
    """

    def get_retry_after(self, response) -> float | None:
        seconds = super().get_retry_after(response)
        return None if seconds is None else min(seconds, RETRY_AFTER_CAP_S)


def request_retry() -> BoundedRetry:
    """The retry policy of every portal request: bounded reads, capped waits, arcgis's status list."""
    return BoundedRetry(
        total=STATUS_RETRIES + READ_RETRIES,
        connect=1,
        read=READ_RETRIES,
        status=STATUS_RETRIES,
        status_forcelist=(413, 429, 500, 502, 503, 504),
        allowed_methods=None,  # POST too: every call Credit Lens makes only reads
        raise_on_status=True,
    )


def bounded_adapter(ca_bundle: str | None):
    """arcgis's own TLS adapter (trust store plus ``ca_bundle``) with :func:`request_retry`."""
    from arcgis.auth.tools import EsriTrustStoreAdapter

    return EsriTrustStoreAdapter(additional_certs=[ca_bundle] if ca_bundle else None, max_retries=request_retry())


class ArcGISTransport:
    """Calls the portal through ``arcgis``'s authenticated connection (``gis._con``).

    Every call signs in again once when the portal says the token is gone (498/499), whatever the
    resource: members, roles and ``portals/self`` as well as usage.
    """

    def __init__(self, gis, timeout_s: int = DEFAULT_TIMEOUT_S, tokens: TokenSource | None = None) -> None:
        self._gis = gis
        self._tokens = tokens  # a token sign-in: renewals come from here, not from arcgis's handler
        self._rest = gis._portal.resturl  # ends with "/sharing/rest/"
        self._timeout = (CONNECT_TIMEOUT_S, timeout_s)
        self._lock = threading.Lock()
        self._last_login = float("-inf")
        self._logins = 0  # sign-ins so far: a call that saw the token fail under login n needs login n + 1

    def post(self, path: str, params: dict[str, str]) -> dict:
        seen = self._logins
        if self._tokens is not None:
            self._use_token()
        try:
            return self._post_once(path, params)
        except PortalError as exc:
            if not exc.is_token_expired:
                raise
        log.info("the portal dropped the token on %s; signing in again", path.split("/")[-1])
        self._sign_in_again(seen)
        try:
            return self._post_once(path, params)
        except PortalError as exc:
            if exc.is_token_expired:
                raise PortalError(TOKEN_LOST, exc.code) from None
            raise

    def _post_once(self, path: str, params: dict[str, str]) -> dict:
        try:
            reply = self._gis._con.post(self._rest + path.lstrip("/"), dict(params, f="json"), timeout=self._timeout)
        except Exception as exc:  # arcgis raises bare Exception for everything
            raise portal_error_from(exc) from None
        if not isinstance(reply, dict):
            raise PortalError("The portal answered with something that is not JSON.")
        if path.strip("/") == "portals/self" and "user" not in reply:
            # arcgis re-sends a call whose token failed without any token, and portals/self then
            # answers as for an anonymous visitor: no user. That is a lost token, not a reply.
            raise PortalError("Token Required.", 499)
        return reply

    def relogin(self) -> None:
        """Sign in again, unless another caller did within :data:`RELOGIN_GRACE_S`.

        Windows fetched concurrently all meet the expired token at about the same time; the lock
        and the grace period make the first one sign in and the others reuse its new token.
        """
        with self._lock:
            if time.monotonic() - self._last_login < RELOGIN_GRACE_S:
                return
            self._handshake()

    def _sign_in_again(self, seen: int) -> None:
        """Sign in again once for every call that saw sign-in number ``seen`` fail (under the lock)."""
        with self._lock:
            if self._logins != seen:  # someone signed in after this call began: use that token,
                self._forget_refused_paths()  # which a call that failed late may have barred again
                return
            self._handshake()

    def _forget_refused_paths(self) -> None:
        """arcgis stops sending any token to a path that once answered "invalid token"; start clean."""
        auth = getattr(self._gis._con._session, "auth", None)
        no_go = getattr(auth, "_no_go_token", None)
        if isinstance(no_go, set):
            no_go.clear()

    def _use_token(self, renew: bool = False) -> None:
        """A token sign-in: hand arcgis the access token, renewed when about to expire (or ``renew``)."""
        try:
            give_token(self._gis, self._tokens.renew() if renew else self._tokens.access_token())
        except CreditLensError as exc:
            raise PortalError(str(exc)) from None

    def _handshake(self) -> None:
        """A new token through ``arcgis``'s own auth handler, now (the caller holds the lock)."""
        auth = getattr(self._gis._con._session, "auth", None)
        if self._tokens is not None:  # a token sign-in renews with its refresh token
            self._use_token(renew=True)
        elif auth is not None and hasattr(auth, "_auth_token"):
            auth._auth_token = None
            self._forget_refused_paths()
            try:
                _ = auth.token  # the handshake, now, under the lock
            except Exception as exc:
                raise portal_error_from(exc) from None
        self._last_login = time.monotonic()
        self._logins += 1


_CODE = re.compile(r"\(Error Code: (\d+)\)")


def portal_error_from(exc: BaseException) -> PortalError:
    """Turn an ``arcgis`` exception into a :class:`PortalError` with the code and a safe message.

    The text is classified first and redacted after (redacting can change the words we look for);
    only a portal's own one-line JSON error message is ever repeated, never a web page or urllib3's text.
    """
    text = str(exc)
    match = _CODE.search(text)
    code = int(match.group(1)) if match else None
    lowered = text.lower()
    if code is None and looks_like_html(text):
        return PortalError("The portal answered with an HTML error page instead of JSON.", None)
    looks_like_json = text.lstrip()[:1] in ("{", "[")
    if code is None and (looks_like_json or "expecting value" in lowered or "jsondecode" in lowered):
        return PortalError("The portal's reply was not valid JSON.", None)
    if code is None and ("timed out" in lowered or "timeout" in lowered):
        return PortalError("The portal did not answer in time.", None)
    if code is None and ("max retries" in lowered or "too many" in lowered or "retryerror" in lowered):
        status = re.search(r"too many (\d{3}) error", lowered)
        if status is None and "connection" in lowered:
            return PortalError("The connection to the portal failed.", None)
        detail = f" (HTTP {status.group(1)})" if status else ""
        return PortalError(f"The portal kept failing{detail} after several retries.", None)
    if code is None and ("connection" in lowered or "httpsconnectionpool" in lowered):
        return PortalError("The connection to the portal failed.", None)
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return PortalError(redact(first)[:300], code)


def connect(
    url: str, username: str, password: str, ca_bundle: str | None = None, timeout_s: int = DEFAULT_TIMEOUT_S
) -> PortalConnection:
    """Sign in with ``arcgis.GIS`` and check this is ArcGIS Online and the user may read usage."""
    portal_url = normalize_portal_url(url)
    if not (username or "").strip():
        raise LoginFailed("Enter your ArcGIS Online username.")
    if not password:
        raise LoginFailed("Enter your password.")
    gis = _sign_in(portal_url, username.strip(), password, ca_bundle, timeout_s)
    return _checked_connection(gis, portal_url, username.strip(), ArcGISTransport(gis, timeout_s))


def connect_with_token(
    url: str,
    token: str,
    ca_bundle: str | None = None,
    timeout_s: int = DEFAULT_TIMEOUT_S,
    tokens: TokenSource | None = None,
) -> PortalConnection:
    """``arcgis.GIS(url, token=...)`` checked as :func:`connect`, same identity; ``tokens`` renews the token."""
    portal_url = normalize_portal_url(url)
    if not (token or "").strip():
        raise LoginFailed("No access token was given.")
    gis = _sign_in(portal_url, None, None, ca_bundle, timeout_s, token=token.strip())
    if not (gis.properties.get("user") or {}).get("username"):  # arcgis went on anonymously: refused
        raise LoginFailed("ArcGIS Online did not accept the access token: it is invalid or has expired.")
    return _checked_connection(gis, portal_url, "", ArcGISTransport(gis, timeout_s, tokens))


def _checked_connection(gis, portal_url: str, username: str, transport: ArcGISTransport) -> PortalConnection:
    """The :class:`PortalConnection` of a signed-in ``gis``, once it is ArcGIS Online and may read usage."""
    portal = dict(gis.properties)
    user = dict(portal.pop("user", None) or {})
    _check_arcgis_online(portal)
    identity = Identity(portal_url, str(portal.get("id") or ""), str(user.get("username") or username))
    conn = PortalConnection(identity, portal, user, transport)
    check_usage_access(conn)
    return conn


def _sign_in(portal_url: str, username, password, ca_bundle: str | None, timeout_s: int, token: str | None = None):
    from arcgis.gis import GIS

    kwargs = {key: value for key, value in (("ca_bundles", ca_bundle), ("token", token)) if value}
    adapter = {"https://": bounded_adapter(ca_bundle)}
    try:
        # arcgis also uses ``timeout`` as the token's lifetime in minutes, so it stays a number here;
        # the adapter bounds retries and Retry-After for sign-in and every later call.
        # refuse_prompts: for an MFA account arcgis would ask for the code with input() on our terminal.
        with refuse_prompts():
            return GIS(portal_url, username, password, timeout=timeout_s, adapter=adapter, **kwargs)
    except Exception as exc:
        raise _login_error(exc, portal_url, password or token) from None


def _login_error(exc: BaseException, portal_url: str, password: str) -> Exception:
    """One sentence for a failed sign-in, in our words: matched on the raw text, then masked."""
    text = str(exc)
    lowered = text.lower()
    host = urlsplit(portal_url).netloc
    if MFA_PROMPT in lowered:
        return LoginFailed(MFA_SIGN_IN)
    if "invalid username or password" in lowered or "unable to generate token" in lowered:
        return LoginFailed("Sign-in failed: the username or password is wrong.")
    if "certificate" in lowered or "ssl" in lowered:
        return PortalUnreachable(f"Could not open a secure connection to {host}: its certificate is not trusted.")
    if "timed out" in lowered or "timeout" in lowered:
        return PortalUnreachable(f"{host} did not answer in time. Check the address and your network.")
    if any(marker in lowered for marker in _UNREACHABLE):
        return PortalUnreachable(f"Could not reach {host}. Check the address and your network.")
    not_org = f"{portal_url} is not an ArcGIS Online organization address"
    if looks_like_html(text) or "expecting value" in lowered or "jsondecode" in lowered:
        return NotArcGISOnline(
            f"{not_org}: it answered with a web page, not the portal's API. "
            "Use your organization's URL, e.g. https://myorg.maps.arcgis.com"
        )
    if "(error code: 404)" in lowered or lowered.startswith("not found") or "does not exist" in lowered:
        return NotArcGISOnline(
            f"{not_org}: the server has no ArcGIS portal there (Not Found). "
            "Use your organization's URL, e.g. https://myorg.maps.arcgis.com"
        )
    if "invalid url" in lowered or "failed to parse" in lowered:
        return InvalidPortalURL(
            f"'{display_url(portal_url)}' is not a valid portal address. Use https://myorg.maps.arcgis.com"
        )
    match = _CODE.search(text)
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    if match is None or looks_like_html(first) or "connectionpool" in first.lower():
        return LoginFailed(f"Sign-in to {host} failed ({type(exc).__name__}).")
    return LoginFailed(f"Sign-in to {host} failed: {redact(first, password)[:200]}")


_UNREACHABLE = (
    "name or service not known",
    "failed to resolve",
    "connection refused",
    "max retries",
    "newconnectionerror",
    "nodename nor servname",
    "connection aborted",
    "temporary failure in name resolution",
    "no route to host",
    "network is unreachable",
    "a connection error has occurred",
)


def _check_arcgis_online(portal: dict) -> None:
    if portal.get("isPortal"):
        raise NotArcGISOnline(
            "This is an ArcGIS Enterprise portal. Enterprise has no credits: Credit Lens works with ArcGIS Online."
        )
    if portal.get("portalName") not in (None, "ArcGIS Online") or portal.get("portalMode") not in (None, "multitenant"):
        raise NotArcGISOnline("This portal is not ArcGIS Online, so it has no credit usage to show.")


def check_usage_access(conn: PortalConnection) -> None:
    """Ask for one day of usage; a permission error means this account cannot view credits."""
    from creditlens.fetching import ORG_GROUPBY, usage_params  # fetching builds on this module

    today = dt.datetime.now(dt.UTC).date()
    try:
        conn.post(usage_path(conn), usage_params(UsageWindow(today, today), ORG_GROUPBY, variables="credits"))
    except PortalError as exc:
        if exc.is_permission or "permission" in str(exc).lower() or "not authorized" in str(exc).lower():
            raise NotAuthorized(
                f"{conn.identity.username} may not view credit usage. Sign in as an administrator, or give the "
                "account a custom role with the privilege to manage credits."
            ) from None
        raise


def usage_path(conn: PortalConnection) -> str:
    return f"portals/{conn.identity.org_id or 'self'}/usage"


# -- the demo org -------------------------------------------------------------------------------
class DemoTransport:
    """Answers in process with the same request→payload function the emulator serves over HTTPS."""

    def __init__(self, org: DemoOrg, username: str) -> None:
        self._org = org
        self._username = username

    def post(self, path: str, params: dict[str, str]) -> dict:
        wire_params = {k: str(v) for k, v in params.items()}
        reply = handle_request(self._org, self._username, path, wire_params)
        raise_for_error(reply)
        return reply

    def relogin(self) -> None:  # nothing expires in process
        return None


def raise_for_error(reply: object) -> None:
    if isinstance(reply, dict) and isinstance(reply.get("error"), dict):
        error = reply["error"]
        code = error.get("code")
        raise PortalError(
            str(error.get("message") or "The portal returned an error."),
            int(code) if isinstance(code, int | str) and str(code).isdigit() else None,
        )


def connect_demo(spec: OrgSpec | None = None, org: DemoOrg | None = None) -> PortalConnection:
    """A connection to the synthetic demo org, signed in as its administrator."""
    org = org or build_demo_org(spec)
    username = org.admin_username
    transport = DemoTransport(org, username)
    portal = transport.post("portals/self", {})
    user = portal.pop("user")
    return PortalConnection(Identity(f"demo://{org.spec.url_key}", org.org_id, username), portal, user, transport)
