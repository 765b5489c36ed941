"""The emulator's OAuth 2.0 authorization-code flow with PKCE, driven with plain HTTP requests."""

from __future__ import annotations

import json
import re
import secrets
import time
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from creditlens.fake.auth import s256
from creditlens.fake.demo_org import OrgSpec, build_demo_org

pytestmark = pytest.mark.integration

CLIENT = "creditlens-test-app"
REDIRECT = "http://127.0.0.1:8501/"


@pytest.fixture(scope="module")
def org():
    return build_demo_org(OrgSpec(members=12, days=30, seed=29, url_key="pkce", name="PKCE Org"))


@pytest.fixture(scope="module")
def emulator(org, emulator_factory):
    return emulator_factory([org], code_ttl_s=1.0)


def post(emulator, path: str, **data) -> requests.Response:
    return requests.post(f"{emulator.url}{path}", data=data, verify=emulator.ca_bundle, timeout=30,
                         allow_redirects=False)  # fmt: skip


def authorize(emulator, challenge: str | None, method: str = "S256", redirect: str = REDIRECT) -> str:
    """The ``oauth_state`` of a fresh sign-in page."""
    params = {"client_id": CLIENT, "response_type": "code", "redirect_uri": redirect, "state": "st-1"}
    if challenge is not None:
        params |= {"code_challenge": challenge, "code_challenge_method": method}
    page = requests.get(f"{emulator.url}/sharing/rest/oauth2/authorize", params=params, verify=emulator.ca_bundle,
                        timeout=30).text  # fmt: skip
    line = next(line for line in page.splitlines() if "{" in line)
    return json.loads(re.search(r"\{.*\}", line)[0])["oauth_state"]


def code_for(emulator, org, verifier: str | None, method: str = "S256") -> str:
    challenge = None if verifier is None else (s256(verifier) if method == "S256" else verifier)
    state = authorize(emulator, challenge, method)
    username = org.admin_username
    reply = post(emulator, "/sharing/oauth2/signin", oauth_state=state, username=username,
                 password=org.passwords[username])  # fmt: skip
    assert reply.status_code == 302
    location = urlsplit(reply.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    query = dict(parse_qsl(location.query))
    assert query["state"] == "st-1"
    return query["code"]


def exchange(emulator, code: str, verifier: str | None, redirect: str = REDIRECT) -> dict:
    data = {"grant_type": "authorization_code", "client_id": CLIENT, "code": code, "redirect_uri": redirect}
    if verifier is not None:
        data["code_verifier"] = verifier
    return post(emulator, "/sharing/rest/oauth2/token", **data).json()


def me(emulator, token: str) -> dict:
    return requests.get(f"{emulator.url}/sharing/rest/community/self", params={"f": "json"}, verify=emulator.ca_bundle,
                        headers={"X-Esri-Authorization": f"Bearer {token}"}, timeout=30).json()  # fmt: skip


def new_verifier() -> str:
    return secrets.token_urlsafe(48)


def test_pkce_s256_code_then_refresh(emulator, org):
    verifier = new_verifier()
    tokens = exchange(emulator, code_for(emulator, org, verifier), verifier)
    assert tokens["username"] == org.admin_username and tokens["ssl"] is True and tokens["expires_in"] > 0
    assert me(emulator, tokens["access_token"])["username"] == org.admin_username
    refreshed = post(emulator, "/sharing/rest/oauth2/token", grant_type="refresh_token", client_id=CLIENT,
                     refresh_token=tokens["refresh_token"]).json()  # fmt: skip
    assert refreshed["access_token"] != tokens["access_token"] and "refresh_token" not in refreshed
    assert me(emulator, refreshed["access_token"])["username"] == org.admin_username


def test_the_plain_method_compares_the_verifier_itself(emulator, org):
    verifier = new_verifier()
    tokens = exchange(emulator, code_for(emulator, org, verifier, method="plain"), verifier)
    assert me(emulator, tokens["access_token"])["username"] == org.admin_username


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        ({"verifier": "not-the-verifier"}, "Invalid code_verifier"),
        ({"verifier": None}, "Invalid code_verifier"),
        ({"redirect": "http://127.0.0.1:9999/"}, "Invalid redirect_uri"),
    ],
)
def test_a_wrong_verifier_or_redirect_is_refused_and_spends_the_code(emulator, org, mangle, message):
    verifier = new_verifier()
    code = code_for(emulator, org, verifier)
    refused = exchange(emulator, code, mangle.get("verifier", verifier), mangle.get("redirect", REDIRECT))
    assert refused["error"]["code"] == 400 and refused["error"]["message"] == message
    assert refused["error"]["error"] == "invalid_request" and refused["error"]["error_description"] == message
    again = exchange(emulator, code, verifier)  # a refused code is used up too
    assert again["error"]["message"] == "Invalid authorization code"


def test_a_code_works_once_and_expires(emulator, org):
    verifier = new_verifier()
    code = code_for(emulator, org, verifier)
    assert "access_token" in exchange(emulator, code, verifier)
    assert exchange(emulator, code, verifier)["error"]["message"] == "Invalid authorization code"
    late = code_for(emulator, org, verifier)
    time.sleep(1.2)  # the module's emulator lets a code live 1 s
    assert exchange(emulator, late, verifier)["error"]["message"] == "Invalid authorization code"


def test_an_unknown_challenge_method_is_refused_at_authorize(emulator):
    params = {"client_id": CLIENT, "response_type": "code", "redirect_uri": REDIRECT, "code_challenge": "x",
              "code_challenge_method": "S512"}  # fmt: skip
    page = requests.get(f"{emulator.url}/sharing/rest/oauth2/authorize", params=params, verify=emulator.ca_bundle,
                        timeout=30)  # fmt: skip
    assert page.status_code == 400 and "Invalid code_challenge_method" in page.text


def test_revoking_a_refresh_token_ends_the_tokens_made_from_it(emulator, org):
    verifier = new_verifier()
    tokens = exchange(emulator, code_for(emulator, org, verifier), verifier)
    refreshed = post(emulator, "/sharing/rest/oauth2/token", grant_type="refresh_token", client_id=CLIENT,
                     refresh_token=tokens["refresh_token"]).json()  # fmt: skip
    done = post(emulator, "/sharing/rest/oauth2/revokeToken", client_id=CLIENT, auth_token=tokens["refresh_token"],
                f="json")  # fmt: skip
    assert done.json() == {"success": True}
    for token in (tokens["access_token"], refreshed["access_token"]):
        assert me(emulator, token)["error"]["code"] == 498
    again = post(emulator, "/sharing/rest/oauth2/token", grant_type="refresh_token", client_id=CLIENT,
                 refresh_token=tokens["refresh_token"]).json()  # fmt: skip
    assert again["error"]["code"] == 498
    unknown = post(emulator, "/sharing/rest/oauth2/revokeToken", client_id=CLIENT, auth_token="nope", f="json")
    assert unknown.json() == {"success": True}  # as documented: success for unknown tokens too


def test_no_code_verifier_or_token_is_recorded(emulator, org):
    emulator.clear_requests()
    verifier = new_verifier()
    code = code_for(emulator, org, verifier)
    tokens = exchange(emulator, code, verifier)
    dump = json.dumps(emulator.requests)
    assert [r["path"] for r in emulator.requests][-1] == "/sharing/rest/oauth2/token"
    for secret in (verifier, code, tokens["access_token"], tokens["refresh_token"], org.passwords[org.admin_username]):
        assert secret not in dump
