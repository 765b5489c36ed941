"""Sign-in-only admins for "Sign in with ArcGIS" (issue 16): an enterprise-login admin and an MFA admin.

:func:`add_oauth_admins` gives an org two extra administrators, appended after every existing
member and drawn from no random generator, so no existing member, usage number or draw changes:

- ``<urlKey>_sso_admin`` signs in through the org's enterprise (SAML) login. It has no ArcGIS
  password, so username/password sign-in (OAuth sign-in page or ``generateToken``) fails with
  "Invalid username or password." exactly as for an unknown account (inference: an enterprise
  account has no built-in password for ArcGIS Online to check). On the OAuth sign-in page the
  "enterprise login" form stands in for the identity provider's round trip.
- ``<urlKey>_mfa_admin`` has a password and multifactor authentication on: after the right
  password the sign-in redirects to ``/sharing/oauth2/mfa?oauth_state=…``, which asks for the
  authentication code (:func:`mfa_code`). That is the path ``arcgis`` 2.4.4 follows
  (``auth/_auth/_token.py``: it checks that the URL it lands on contains ``/mfa`` and POSTs
  ``oauth_state`` and ``mfa_code`` to ``/sharing/oauth2/mfa``). ``generateToken`` refuses it
  (chosen: it cannot ask for a code).

Everything else of the flow (PKCE S256, codes, refresh and revoke) is :mod:`creditlens.fake.auth`.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from html import escape
from urllib.parse import urlencode

from creditlens.fake.auth import AuthModel
from creditlens.fake.demo_org import DemoOrg
from creditlens.fake.pages import signin_page
from creditlens.fake.signin import SESSION_EXPIRED, _grant_reply
from creditlens.fake.wire import Reply, int_or_none

ENTERPRISE, MFA = "enterprise", "mfa"
SSO_SUFFIX, MFA_SUFFIX = "_sso_admin", "_mfa_admin"
WRONG_CODE = "The verification code is incorrect. Try again."
ENTERPRISE_SIGNIN_PATH = "/sharing/oauth2/saml/signin"


def add_oauth_admins(org: DemoOrg) -> DemoOrg:
    """Append the enterprise-login and MFA admins to ``org`` (idempotent); returns ``org``."""
    template = org.member(org.admin_username)
    if template is None or org.member(org.spec.url_key + SSO_SUFFIX) is not None:
        return org
    for suffix, kind, full_name in (
        (SSO_SUFFIX, ENTERPRISE, "Enterprise Login Admin"),
        (MFA_SUFFIX, MFA, "Multifactor Admin"),
    ):
        username = org.spec.url_key + suffix
        member = {
            **template,
            "username": username,
            "id": hashlib.md5(f"{org.org_id}:{username}".encode()).hexdigest(),
            "fullName": full_name,
            "firstName": full_name.split()[0],
            "lastName": "Admin",
            "email": f"{username}@{org.spec.url_key}.example.org",
            "privileges": list(template["privileges"]),
            "groups": [],
            "storageUsage": 0,
            "assignedCredits": None,
            "availableCredits": org.portal.get("availableCredits"),
        }
        if kind == ENTERPRISE:
            member.update(provider="enterprise", idpUsername=f"{username.split('_')[0]}.admin@idp.example.org")
        else:
            member["mfaEnabled"] = True
        org.members.append(member)
        org.truth[username] = "member"
    org.__dict__.pop("_members_by_key", None)  # the cached lookup must see the new members
    return org


def kind_of(member: Mapping | None) -> str | None:
    """``ENTERPRISE``, ``MFA`` or None for an ordinary account."""
    if not member:
        return None
    if member.get("provider") == "enterprise":
        return ENTERPRISE
    return MFA if member.get("mfaEnabled") else None


def mfa_password(username: str) -> str:
    return f"{username}-demo-pw"


def mfa_code(org: DemoOrg) -> str:
    """The org's demo authentication code: six digits, fixed per org (a synthetic authenticator)."""
    return f"{int(hashlib.sha256(f'mfa:{org.org_id}'.encode()).hexdigest(), 16) % 1_000_000:06d}"


def demo_accounts(org: DemoOrg) -> list[dict]:
    """The sign-in-only admins of ``org`` with what a person needs to sign in as them."""
    accounts = []
    for member in org.members:
        kind = kind_of(member)
        if kind == ENTERPRISE:
            accounts.append({"username": member["username"], "kind": kind, "note": "enterprise login (no password)"})
        elif kind == MFA:
            accounts.append(
                {
                    "username": member["username"],
                    "kind": kind,
                    "password": mfa_password(member["username"]),
                    "mfa_code": mfa_code(org),
                    "note": "administrator with multifactor authentication",
                }
            )
    return accounts


# -- the emulator side -----------------------------------------------------------------------------


def _find(auth: AuthModel, username: str) -> tuple[int, str, str] | None:
    """(org index, username, kind) of a sign-in-only admin, matched case-insensitively."""
    for index, org in enumerate(auth.orgs):
        member = org.member(username or "")
        kind = kind_of(member)
        if kind is not None:
            return index, member["username"], kind
    return None


def sign_in(auth: AuthModel, params: Mapping[str, str]) -> Reply | None:
    """``/sharing/oauth2/signin`` for the sign-in-only admins; None hands the request to the usual sign-in."""
    oauth_state = params.get("oauth_state", "")
    if params.get("mfa_code") is not None:
        return mfa(auth, "POST", params)
    found = _find(auth, params.get("username", ""))
    if found is None or found[2] != MFA or auth.pending(oauth_state) is None:
        return None  # the enterprise admin has no password: the usual sign-in refuses it as ArcGIS Online does
    index, username, _ = found
    if not secrets.compare_digest(mfa_password(username).encode(), (params.get("password") or "").encode()):
        return None
    auth.await_second_factor(oauth_state, (index, username))
    return Reply.redirect("/sharing/oauth2/mfa?" + urlencode({"oauth_state": oauth_state}))


def mfa(auth: AuthModel, method: str, params: Mapping[str, str]) -> Reply:
    """``/sharing/oauth2/mfa``: the code page (GET) and its answer (POST ``oauth_state``, ``mfa_code``)."""
    oauth_state = params.get("oauth_state", "")
    verified = auth.awaiting_second_factor(oauth_state)
    request = auth.pending(oauth_state)
    if verified is None or request is None:
        return Reply.html(signin_page(None, messages=[SESSION_EXPIRED]))
    if method != "POST":
        return Reply.html(signin_page(oauth_state, request.client_id, request.response_type, ask_code=True))
    index, username = verified
    code = (params.get("mfa_code") or "").strip()
    if not secrets.compare_digest(mfa_code(auth.orgs[index]).encode(), code.encode()):
        page = signin_page(oauth_state, request.client_id, request.response_type, [WRONG_CODE], ask_code=True)
        return Reply.html(page)
    auth.second_factor_done(oauth_state)
    return _complete(auth, oauth_state, (index, username), params)


def enterprise_sign_in(auth: AuthModel, params: Mapping[str, str]) -> Reply:
    """The enterprise login's return (the identity provider's round trip collapsed into one form)."""
    oauth_state = params.get("oauth_state", "")
    request = auth.pending(oauth_state)
    found = _find(auth, params.get("username", ""))
    if request is None:
        return Reply.html(signin_page(None, messages=[SESSION_EXPIRED]))
    if found is None or found[2] != ENTERPRISE:
        return Reply.html(
            signin_page(oauth_state, request.client_id, request.response_type, ["Your identity provider refused you."])
        )
    return _complete(auth, oauth_state, found[:2], params)


def _complete(auth: AuthModel, oauth_state: str, account: tuple[int, str], params: Mapping[str, str]) -> Reply:
    grant = auth.complete(oauth_state, account, int_or_none(params.get("expiration")))
    if grant is None:
        return Reply.html(signin_page(None, messages=[SESSION_EXPIRED]))
    return _grant_reply(grant.authorization, grant.value, grant.lifetime_s, grant.username)


def with_enterprise_login(reply: Reply) -> Reply:
    """The authorize page plus the org's enterprise-login form (ArcGIS Online shows it on the org's page)."""
    body = reply.body.decode("utf-8")
    marker = 'name="oauth_state" value="'
    if reply.status != 200 or marker not in body:
        return reply
    oauth_state = body.split(marker, 1)[1].split('"', 1)[0]  # already escaped by the page
    form = (
        f'<form method="post" action="{ENTERPRISE_SIGNIN_PATH}" class="enterprise">\n'
        f'<input type="hidden" name="oauth_state" value="{oauth_state}">\n'
        '<label>Enterprise account <input name="username" autocomplete="username"></label>\n'
        f'<button type="submit">{escape("Sign in with your organization")}</button>\n</form>\n'
    )
    return Reply.html(body.replace("</body>", form + "</body>", 1), status=reply.status)


# -- what a person's browser does (for tests and the CLI's out-of-band flow) ---------------------------
def browser_sign_in(
    authorize: str,
    username: str,
    password: str | None = None,
    code: str | None = None,
    verify: str | bool = True,
) -> str:
    """Open ``authorize``, sign in (password, then the MFA code; or the enterprise login without a
    password) and return where the portal sends the browser: the redirect URL, or for the
    out-of-band redirect the code shown on the page."""
    import re
    from urllib.parse import urljoin

    import requests

    base = authorize.split("/sharing/", 1)[0]
    page = requests.get(authorize, verify=verify, timeout=30)
    found = re.search(r'name="oauth_state" value="([^"]+)"', page.text)
    if found is None:
        raise RuntimeError(f"no sign-in form on the authorize page (HTTP {page.status_code})")
    oauth_state = found[1]
    if password is None:
        reply = requests.post(
            base + ENTERPRISE_SIGNIN_PATH,
            data={"oauth_state": oauth_state, "username": username},
            verify=verify,
            allow_redirects=False,
            timeout=30,
        )
    else:
        reply = requests.post(
            base + "/sharing/oauth2/signin",
            data={"oauth_state": oauth_state, "username": username, "password": password},
            verify=verify,
            allow_redirects=False,
            timeout=30,
        )
        if reply.status_code == 302 and "/oauth2/mfa" in reply.headers["Location"]:
            reply = requests.post(
                urljoin(base, "/sharing/oauth2/mfa"),
                data={"oauth_state": oauth_state, "mfa_code": code or ""},
                verify=verify,
                allow_redirects=False,
                timeout=30,
            )
    if reply.status_code == 302:
        return reply.headers["Location"]
    shown = re.search(r"<title>SUCCESS code=(.*?)</title>", reply.text)
    if shown:
        return shown[1]
    raise RuntimeError(
        "the sign-in did not finish: " + ", ".join(re.findall(r'<p class="error">(.*?)</p>', reply.text))
    )
