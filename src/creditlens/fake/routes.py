"""One request in, one reply out: faults, sign-in, the portal's resources, and the request record.

The HTTP handler in :mod:`creditlens.fake.server` only reads the request and sends what
:func:`answer` returns; state lives in the emulator's models (auth, faults, request log, orgs).
"""

from __future__ import annotations

import sys
import time
import traceback
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from creditlens.fake import control, oauth_flow, portal_api, signin
from creditlens.fake.auth import Token
from creditlens.fake.errors import error_payload
from creditlens.fake.faults import DELAYING, Fault
from creditlens.fake.pages import resource_page
from creditlens.fake.wire import Reply, rel_path

if TYPE_CHECKING:
    from creditlens.fake.emulator import PortalEmulator

#: ``portals/self`` fields an anonymous visitor sees.
PUBLIC_PORTAL_FIELDS = (
    "id",
    "name",
    "urlKey",
    "customBaseUrl",
    "portalName",
    "portalMode",
    "isPortal",
    "access",
    "culture",
    "region",
    "units",
    "supportsOAuth",
)


@dataclass
class Request:
    method: str
    path: str  # decoded, single slashes, with a leading "/"
    params: dict[str, str]  # query string and form or JSON body
    json_body: Any
    token: str | None  # from X-Esri-Authorization / Authorization: Bearer, or the token parameter
    client_host: str
    base_url: str  # https://<Host header>
    headers: dict[str, str] = field(default_factory=dict)


def answer(emu: PortalEmulator, request: Request) -> Reply:
    if control.is_control(request.path):
        return control.handle(emu, request.method, request.path, request.params, request.json_body, request.client_host)
    reply = _preflight(request) if request.method == "OPTIONS" else _answer(emu, request)
    reply.headers.update(_cors_headers(request))
    return reply


def _answer(emu: PortalEmulator, request: Request) -> Reply:
    started = time.time()
    info = emu.auth.token_info(request.token) if request.token else None
    fault = emu.faults.take(rel_path(request.path), request.params)
    reply = None
    if fault is not None:
        if fault.kind in DELAYING:
            emu.pause(fault.delay_s)
        else:
            reply = fault.reply()
    if reply is None:
        try:
            reply = route(emu, request, info)
        except Exception:
            traceback.print_exc(file=sys.stderr)
            reply = Reply.json(error_payload(500, "An internal error occurred in the emulator."), status=500)
        if fault is not None and fault.kind == "malformed_json":
            reply = Fault.truncate(reply)
    org = emu.orgs[info.org_index] if info else None
    emu.log.record(
        {
            "method": request.method,
            "path": request.path,
            "params": request.params,
            "username": info.username if info else (request.params.get("username") or None),
            "auth": "valid" if info else ("invalid" if request.token else "none"),
            "org": org.spec.url_key if org else None,
            "status": reply.status,
            "fault": fault.kind if fault else None,
            "timestamp": started,
        }
    )
    if emu.verbose:
        print(
            f"{request.method} {request.path} -> {reply.status} ({len(reply.body)} bytes, "
            f"{time.time() - started:.3f}s)",
            file=sys.stderr,
            flush=True,
        )
    return reply


def route(emu: PortalEmulator, request: Request, info: Token | None) -> Reply:
    low, params = request.path.lower(), request.params
    if low in ("/info", "/rest/info", "/sharing/rest/info"):
        return Reply.json(_info(request.base_url))
    if low in ("/sharing/rest", "/sharing"):
        return Reply.json({"currentVersion": "2025.2"})
    if low == "/sharing/rest/oauth2/authorize":
        return oauth_flow.with_enterprise_login(signin.authorize(emu.auth, params))
    if low in ("/sharing/oauth2/signin", "/sharing/rest/oauth2/signin"):
        return oauth_flow.sign_in(emu.auth, params) or signin.sign_in(emu.auth, params)
    if low in ("/sharing/oauth2/mfa", "/sharing/rest/oauth2/mfa"):  # issue 16: the MFA admin's code step
        return oauth_flow.mfa(emu.auth, request.method, params)
    if low == oauth_flow.ENTERPRISE_SIGNIN_PATH:
        return oauth_flow.enterprise_sign_in(emu.auth, params)
    if low in ("/sharing/rest/oauth2/token", "/sharing/oauth2/token"):
        return signin.token(emu.auth, params)
    if low in ("/sharing/rest/oauth2/revoketoken", "/sharing/oauth2/revoketoken"):
        return signin.revoke(emu.auth, params)
    if low in ("/sharing/rest/generatetoken", "/sharing/generatetoken"):
        if request.method in ("GET", "HEAD"):
            return formatted(error_payload(405, "Method not supported.", [], "GWM_0005"), params)
        return signin.generate_token(emu.auth, params)
    if low.startswith("/sharing/rest/"):
        return formatted(_resource(emu, request, info), params)
    # Not a portal resource. Never a WWW-Authenticate header: arcgis would switch to IWA/Basic.
    return Reply.json(error_payload(404, "Not Found", [f"'{request.path}' does not exist."]), status=404)


def _resource(emu: PortalEmulator, request: Request, info: Token | None) -> dict:
    """A portal resource: anonymous ``portals/self``, a token error, or ``portal_api``'s answer."""
    path = rel_path(request.path)
    if request.token is None and path.lower() == "portals/self":
        return _anonymous_portal(emu)
    if request.token is None and path.lower() == "community/self":
        return error_payload(400, "Not logged in.", [], "COM_0019")
    if request.token is None:
        return error_payload(499, "Token Required", [], "GWM_0003")
    if info is None:
        return error_payload(498, "Invalid token.")
    return portal_api.handle_request(emu.orgs[info.org_index], info.username, path, request.params)


def formatted(payload: dict, params: dict[str, str]) -> Reply:
    """``f=json`` compact, ``f=pjson`` indented, no ``f`` (or ``f=html``) an HTML page, as the portal does."""
    fmt = str(params.get("f") or "html").lower()
    if fmt == "html":
        return Reply.html(resource_page(payload))
    return Reply.json(payload, pretty=fmt == "pjson")


def _preflight(request: Request) -> Reply:
    """A CORS preflight: the methods and headers a browser client may use."""
    asked = _header(request, "Access-Control-Request-Headers")
    headers = {
        "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
        "Access-Control-Allow-Headers": asked or "Authorization, Content-Type, X-Esri-Authorization",
        "Access-Control-Max-Age": "86400",
    }
    return Reply(200, b"", "text/plain; charset=utf-8", headers)


def _cors_headers(request: Request) -> dict[str, str]:
    """Every reply may be read by a browser app on any origin (credentials only for a named origin)."""
    origin = _header(request, "Origin")
    if not origin:
        return {"Access-Control-Allow-Origin": "*"}
    return {"Access-Control-Allow-Origin": origin, "Access-Control-Allow-Credentials": "true", "Vary": "Origin"}


def _header(request: Request, name: str) -> str:
    return next((v for k, v in request.headers.items() if k.lower() == name.lower()), "")


def _anonymous_portal(emu: PortalEmulator) -> dict:
    """``portals/self`` without a token: public properties only and no ``user``, as ArcGIS Online
    answers anonymous visitors (one org: that org's public face; several: the generic portal)."""
    if len(emu.orgs) == 1:
        portal = emu.orgs[0].portal
        return {k: portal[k] for k in PUBLIC_PORTAL_FIELDS if k in portal}
    return {
        "name": "ArcGIS Online",
        "portalName": "ArcGIS Online",
        "portalMode": "multitenant",
        "isPortal": False,
        "access": "public",
        "culture": "en",
        "supportsOAuth": True,
    }


def _info(base: str) -> dict:
    return {
        "owningSystemUrl": base,
        "authInfo": {"isTokenBasedSecurity": True, "tokenServicesUrl": f"{base}/sharing/rest/generateToken"},
    }
