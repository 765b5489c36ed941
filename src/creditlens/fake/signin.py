"""Sign-in replies: ``oauth2/authorize``, ``oauth2/signin``, ``oauth2/token``, ``revokeToken``, ``generateToken``.

Thin: each reads its parameters, asks :class:`~creditlens.fake.auth.AuthModel`, and renders a page,
a redirect or JSON. How ``arcgis`` uses these is written in :mod:`creditlens.fake.emulator`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from urllib.parse import urlencode

from creditlens.fake.auth import AuthModel, Authorization, OAuthError
from creditlens.fake.errors import error_payload
from creditlens.fake.pages import approval_page, error_page, signin_page
from creditlens.fake.wire import Reply, int_or_none, join_url

OOB_REDIRECT = "urn:ietf:wg:oauth:2.0:oob"
INVALID_LOGIN = "Invalid username or password."
SESSION_EXPIRED = "Your sign in session has expired. Please sign in again."


def authorize(auth: AuthModel, params: Mapping[str, str]) -> Reply:
    client_id = params.get("client_id", "").strip()
    if not client_id:
        return Reply.html(error_page("Error", "Error: Invalid client_id"), status=400)
    response_type = params.get("response_type", "token")
    if response_type not in ("token", "code"):
        return Reply.html(error_page("Error", "Invalid response_type"), status=400)
    redirect_uri = params.get("redirect_uri", "").strip()
    if not redirect_uri:
        return Reply.html(error_page("Error", "Invalid redirect_uri"), status=400)
    method = params.get("code_challenge_method") or "plain"
    if params.get("code_challenge") and method not in ("S256", "plain"):
        return Reply.html(error_page("Error", "Invalid code_challenge_method"), status=400)
    request = Authorization(
        client_id,
        response_type,
        redirect_uri,
        params.get("state"),
        int_or_none(params.get("expiration")),
        time.time(),
        params.get("code_challenge") or None,
        method,
    )
    oauth_state = auth.begin(request)
    return Reply.html(signin_page(oauth_state, client_id, response_type))


def sign_in(auth: AuthModel, params: Mapping[str, str]) -> Reply:
    oauth_state = params.get("oauth_state", "")
    request = auth.pending(oauth_state)
    if request is None:
        return Reply.html(signin_page(None, messages=[SESSION_EXPIRED]))
    found = auth.check_password(params.get("username", ""), params.get("password", ""), case_sensitive=False)
    if found is None:
        return Reply.html(signin_page(oauth_state, request.client_id, request.response_type, [INVALID_LOGIN]))
    grant = auth.complete(oauth_state, found, int_or_none(params.get("expiration")))
    if grant is None:  # the same sign-in finished twice at once
        return Reply.html(signin_page(None, messages=[SESSION_EXPIRED]))
    return _grant_reply(grant.authorization, grant.value, grant.lifetime_s, grant.username)


def _grant_reply(request: Authorization, value: str, lifetime_s: int, username: str) -> Reply:
    state = {"state": request.state} if request.state else {}
    if request.response_type == "code":
        if request.redirect_uri == OOB_REDIRECT:
            return Reply.html(approval_page(value))
        return Reply.redirect(join_url(request.redirect_uri, "?", urlencode({"code": value, **state})))
    fragment = {"access_token": value, "expires_in": str(lifetime_s), "username": username, "ssl": "true", **state}
    return Reply.redirect(join_url(request.redirect_uri, "#", urlencode(fragment)))


def token(auth: AuthModel, params: Mapping[str, str]) -> Reply:
    grant = params.get("grant_type", "")
    try:
        if grant == "authorization_code":
            access, refresh, lifetime, username = auth.redeem(
                params.get("code", ""), params.get("redirect_uri"), params.get("code_verifier")
            )
            return Reply.json(
                {
                    "access_token": access,
                    "expires_in": lifetime,
                    "username": username,
                    "ssl": True,
                    "refresh_token": refresh,
                    "refresh_token_expires_in": 1209599,
                }
            )
        if grant == "refresh_token":
            access, lifetime, username = auth.refresh(
                params.get("refresh_token", ""), int_or_none(params.get("expiration"))
            )
            return Reply.json({"access_token": access, "expires_in": lifetime, "username": username, "ssl": True})
    except OAuthError as refused:
        return Reply.json(oauth_error(refused.code, refused.error, refused.message))
    return Reply.json(
        error_payload(400, "Unsupported grant_type", [f"'{grant}' is not supported."], error="unsupported_grant_type")
    )


def oauth_error(code: int, error: str, message: str) -> dict:
    """An OAuth refusal as ArcGIS sends it: OAuth's ``error``/``error_description`` inside ArcGIS's error."""
    return error_payload(code, message, [], error=error, error_description=message)


def revoke(auth: AuthModel, params: Mapping[str, str]) -> Reply:
    """``oauth2/revokeToken``: always ``{"success": true}``, even for unknown tokens (as documented)."""
    auth.revoke(params.get("auth_token", "") or params.get("token", ""))
    return Reply.json({"success": True})


def generate_token(auth: AuthModel, params: Mapping[str, str]) -> Reply:
    username, password = params.get("username", ""), params.get("password", "")
    missing = [f"'{name}' must be specified." for name in ("username", "password") if not params.get(name)]
    if missing:
        return Reply.json(error_payload(400, "Unable to generate token.", missing))
    found = auth.check_password(username, password, case_sensitive=True)
    if found is None:
        return Reply.json(error_payload(400, "Unable to generate token.", [INVALID_LOGIN]))
    expiration = int_or_none(params.get("expiration")) or 60
    issued = auth.new_token(found[0], found[1], expiration)
    expires_ms = int((time.time() + auth.lifetime(expiration)) * 1000)
    return Reply.json({"token": issued, "expires": expires_ms, "ssl": True})
