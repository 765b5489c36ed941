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

from creditlens.errors import (
    InvalidPortalURL,
    LoginFailed,
    NotArcGISOnline,
    NotAuthorized,
    PortalError,
    PortalUnreachable,
    redact,
)
from creditlens.fake.demo_org import DemoOrg, OrgSpec, build_demo_org
from creditlens.fake.portal_api import handle_request
from creditlens.windows import UsageWindow

log = logging.getLogger(__name__)

DEMO_URL = "demo://northwind"
DEFAULT_TIMEOUT_S = 120
RELOGIN_GRACE_S = 10.0  # a sign-in this recent serves every window that saw the old token expire


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
    """
    text = (url or "").strip()
    if not text:
        raise InvalidPortalURL("Enter your organization's URL, for example https://myorg.maps.arcgis.com")
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    if parts.scheme.lower() == "http":
        raise InvalidPortalURL(
            f"'{url}' uses http. ArcGIS Online signs in over HTTPS only: use https://{parts.netloc}{parts.path}"
        )
    if parts.scheme.lower() != "https":
        raise InvalidPortalURL(f"'{url}' is not a web address. Use https://myorg.maps.arcgis.com")
    host = parts.hostname or ""
    if not re.fullmatch(r"[A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\]", host) or ("." not in host and host != "localhost"):
        raise InvalidPortalURL(f"'{url}' is not a valid portal address. Use https://myorg.maps.arcgis.com")
    path = parts.path
    lowered = path.lower()
    for trailer in _TRAILERS:
        if lowered.endswith(trailer):
            path = path[: len(path) - len(trailer)]
            break
    netloc = parts.netloc.split("@")[-1]  # never keep credentials typed into the URL
    return f"https://{netloc.lower()}{path.rstrip('/')}"


# -- the real client ----------------------------------------------------------------------------
class ArcGISTransport:
    """Calls the portal through ``arcgis``'s authenticated connection (``gis._con``)."""

    def __init__(self, gis, timeout_s: int = DEFAULT_TIMEOUT_S) -> None:
        self._gis = gis
        self._rest = gis._portal.resturl  # ends with "/sharing/rest/"
        self._timeout = timeout_s
        self._lock = threading.Lock()
        self._last_login = float("-inf")

    def post(self, path: str, params: dict[str, str]) -> dict:
        try:
            reply = self._gis._con.post(self._rest + path.lstrip("/"), dict(params, f="json"), timeout=self._timeout)
        except Exception as exc:  # arcgis raises bare Exception for everything
            raise portal_error_from(exc) from None
        if not isinstance(reply, dict):
            raise PortalError("The portal answered with something that is not JSON.")
        return reply

    def relogin(self) -> None:
        """Sign in again through ``arcgis``'s own auth handler, once for all windows in flight.

        Windows fetched concurrently all meet the expired token at about the same time; the lock
        and the grace period make the first one sign in and the others reuse its new token,
        instead of racing handshakes on one auth object.
        """
        with self._lock:
            if time.monotonic() - self._last_login < RELOGIN_GRACE_S:
                return
            auth = getattr(self._gis._con._session, "auth", None)
            if auth is not None and hasattr(auth, "_auth_token"):
                auth._auth_token = None
                # arcgis strips the token from paths that once answered "invalid token"; start clean.
                no_go = getattr(auth, "_no_go_token", None)
                if isinstance(no_go, set):
                    no_go.clear()
                try:
                    _ = auth.token  # the handshake, now, under the lock
                except Exception as exc:
                    raise portal_error_from(exc) from None
            self._last_login = time.monotonic()


_CODE = re.compile(r"\(Error Code: (\d+)\)")


def portal_error_from(exc: BaseException) -> PortalError:
    """Turn an ``arcgis`` exception into a :class:`PortalError` with the code and a safe message."""
    text = redact(str(exc))
    match = _CODE.search(text)
    code = int(match.group(1)) if match else None
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    lowered = text.lower()
    if code is None and ("<html" in lowered or "<!doctype" in lowered):
        return PortalError("The portal answered with an HTML error page instead of JSON.", None)
    looks_like_json = text.lstrip()[:1] in ("{", "[")
    if code is None and (looks_like_json or "expecting value" in lowered or "jsondecode" in lowered):
        return PortalError("The portal's reply was not valid JSON.", None)
    if code is None and ("timed out" in lowered or "timeout" in lowered):
        return PortalError("The portal did not answer in time.", None)
    if code is None and ("max retries" in lowered or "too many" in lowered or "retryerror" in lowered):
        status = re.search(r"too many (\d{3}) error", lowered)
        detail = f" (HTTP {status.group(1)})" if status else ""
        return PortalError(f"The portal kept failing{detail} after several retries.", None)
    return PortalError(first[:300], code)


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
    transport = ArcGISTransport(gis, timeout_s)
    portal = dict(gis.properties)
    user = dict(portal.pop("user", None) or {})
    _check_arcgis_online(portal)
    conn = PortalConnection(
        Identity(portal_url, str(portal.get("id") or ""), str(user.get("username") or username.strip())),
        portal,
        user,
        transport,
    )
    check_usage_access(conn)
    return conn


def _sign_in(portal_url: str, username: str, password: str, ca_bundle: str | None, timeout_s: int):
    from arcgis.gis import GIS

    kwargs = {"ca_bundles": ca_bundle} if ca_bundle else {}
    try:
        return GIS(portal_url, username, password, timeout=timeout_s, **kwargs)
    except Exception as exc:
        raise _login_error(exc, portal_url, password) from None


def _login_error(exc: BaseException, portal_url: str, password: str) -> Exception:
    text = redact(str(exc), password)
    lowered = text.lower()
    host = urlsplit(portal_url).netloc
    if "invalid username or password" in lowered or "unable to generate token" in lowered:
        return LoginFailed("Sign-in failed: the username or password is wrong.")
    if "certificate" in lowered or "ssl" in lowered:
        return PortalUnreachable(f"Could not open a secure connection to {host}: its certificate is not trusted.")
    unreachable = (
        "name or service not known",
        "failed to resolve",
        "connection refused",
        "max retries",
        "timed out",
        "newconnectionerror",
        "nodename nor servname",
        "connection aborted",
        "temporary failure in name resolution",
        "no route to host",
        "network is unreachable",
    )
    if any(marker in lowered for marker in unreachable):
        return PortalUnreachable(f"Could not reach {host}. Check the address and your network.")
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return LoginFailed(f"Sign-in to {host} failed: {first[:200]}")


def _check_arcgis_online(portal: dict) -> None:
    if portal.get("isPortal"):
        raise NotArcGISOnline(
            "This is an ArcGIS Enterprise portal. Enterprise has no credits: Credit Lens works with ArcGIS Online."
        )
    if portal.get("portalName") not in (None, "ArcGIS Online") or portal.get("portalMode") not in (None, "multitenant"):
        raise NotArcGISOnline("This portal is not ArcGIS Online, so it has no credit usage to show.")


def check_usage_access(conn: PortalConnection) -> None:
    """Ask for one day of usage; a permission error means this account cannot view credits."""
    today = dt.datetime.now(dt.UTC).date()
    window = UsageWindow(today, today)
    try:
        conn.post(
            usage_path(conn),
            {
                "startTime": str(window.start_ms),
                "endTime": str(window.end_ms),
                "period": "1d",
                "vars": "credits",
                "groupby": "stype",
            },
        )
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
