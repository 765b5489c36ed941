"""Sign in with ArcGIS in the app (AppTest) against the emulator: the button, the return in a new
session, a replayed return, sign-out revoking the token, the hints, and a secret scan of the page."""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from rendered import shown
from streamlit.testing.v1 import AppTest

from creditlens import oauth
from creditlens.fake.demo_org import OrgSpec, build_demo_org
from creditlens.fake.oauth_flow import add_oauth_admins, browser_sign_in, mfa_code, mfa_password
from creditlens.ui import oauth as oauth_ui
from creditlens.ui import state

pytestmark = pytest.mark.integration

APP = str(Path(__file__).resolve().parents[1] / "app.py")
REDIRECT = "http://127.0.0.1:8599/"
MFA_ADMIN = "quay_mfa_admin"


@pytest.fixture(scope="module")
def org(small_org):
    spec = OrgSpec(members=25, days=60, seed=37, end_day=small_org.last_day, url_key="quay", name="Quay GIS")
    return add_oauth_admins(build_demo_org(spec))


@pytest.fixture(scope="module")
def emu(emulator_factory, org):
    return emulator_factory([org])


@pytest.fixture
def configured(emu, monkeypatch):
    for name in ("CREDITLENS_PORTAL_URL", "CREDITLENS_USERNAME", "CREDITLENS_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CREDITLENS_CLIENT_ID", "creditlens-app")
    monkeypatch.setenv("CREDITLENS_REDIRECT_URI", REDIRECT)
    monkeypatch.setenv("CREDITLENS_CA_BUNDLE", emu.ca_bundle)


def app() -> AppTest:
    return AppTest.from_file(APP, default_timeout=180)


def online_form(emu) -> AppTest:
    at = app().run()
    at.sidebar.radio(key=state.MODE).set_value(state.ONLINE).run()
    at.sidebar.text_input(key=state.URL).set_value(emu.url)
    return at


def button(at: AppTest, label: str):
    return next(b for b in at.sidebar.button if b.label == label)


def start_sign_in(emu) -> tuple[AppTest, str]:
    """Press Sign in with ArcGIS; the authorize URL the Continue link opens."""
    at = online_form(emu)
    at.sidebar.text_input(key=state.PASSWORD).set_value("typed-but-unused")
    button(at, "Sign in with ArcGIS").click().run()
    assert not at.exception
    assert at.session_state[state.PASSWORD] == ""  # this way in never keeps a typed password
    opened = at.session_state[oauth_ui.OPEN]
    return at, opened.url


def back_with(location: str) -> AppTest:
    """A new browser session opened at the redirect URL (Streamlit's session does not survive the redirect)."""
    assert location.startswith(REDIRECT)
    at = app()
    for key, values in parse_qs(urlsplit(location).query).items():
        at.query_params[key] = values[-1]
    return at.run()


def mfa_return(emu, org) -> str:
    _, url = start_sign_in(emu)
    return browser_sign_in(url, MFA_ADMIN, mfa_password(MFA_ADMIN), mfa_code(org), verify=emu.ca_bundle)


def errors(at: AppTest) -> list[str]:
    return [shown(e.value) for e in at.sidebar.error]


def captions(at: AppTest) -> list[str]:
    return [shown(c.value) for c in at.sidebar.caption]


def page_text(at: AppTest) -> str:
    return str(at._tree)  # every element the script sent, as the browser would get it


def test_without_a_client_id_the_form_explains_how_to_register_one(emu, monkeypatch):
    monkeypatch.delenv("CREDITLENS_CLIENT_ID", raising=False)
    at = online_form(emu)
    assert "Sign in with ArcGIS" not in [b.label for b in at.sidebar.button]
    assert any("Developer credentials" in c.value and "CREDITLENS_CLIENT_ID" in c.value for c in at.sidebar.caption)


def test_the_button_starts_a_pkce_sign_in_at_the_org(emu, configured):
    _, url = start_sign_in(emu)
    query = {k: v[-1] for k, v in parse_qs(urlsplit(url).query).items()}
    assert url.startswith(emu.url + "/sharing/rest/oauth2/authorize?")
    assert query["client_id"] == "creditlens-app" and query["redirect_uri"] == REDIRECT
    assert query["response_type"] == "code" and query["code_challenge_method"] == "S256"
    assert oauth_ui.pending_sign_ins().is_open(query["state"])


def test_return_signs_in_removes_code_and_state_and_leaks_no_secret(emu, org, configured, caplog):
    caplog.set_level(logging.DEBUG)
    location = mfa_return(emu, org)
    query = parse_qs(urlsplit(location).query)
    code = query["code"][0]
    verifier = oauth_ui.pending_sign_ins()._pending[query["state"][0]].verifier  # server memory only
    at = back_with(location)
    assert not at.exception
    conn = at.session_state[state.CONN]
    assert conn.identity.username == MFA_ADMIN and conn.identity.org_id == org.org_id
    assert at.session_state[state.MODE] == state.ONLINE
    assert "code" not in at.query_params and "state" not in at.query_params
    assert [b.label for b in at.sidebar.button if b.label == "Sign out"] == ["Sign out"]
    assert any("Signed in as" in c and MFA_ADMIN in c for c in captions(at))
    tokens = at.session_state[oauth_ui.TOKENS]
    secrets = [code, verifier, *emu.issued_secrets()]
    assert tokens.access_token() in secrets
    shown = page_text(at) + caplog.text + str(dict(at.query_params))
    for secret in secrets:
        assert secret not in shown


def test_a_replayed_return_is_refused_with_a_clear_message(emu, org, configured):
    location = mfa_return(emu, org)
    first = back_with(location)
    assert first.session_state[state.CONN].identity.username == MFA_ADMIN
    again = back_with(location)  # the same link opened again (history, a shared screenshot of the URL)
    assert state.CONN not in again.session_state
    assert errors(again) == [oauth.STATE_UNKNOWN]
    assert "code" not in again.query_params


def test_a_refusal_from_arcgis_online_is_shown_in_our_words(emu, configured):
    _, url = start_sign_in(emu)
    returned = {k: v[-1] for k, v in parse_qs(urlsplit(url).query).items()}["state"]
    at = back_with(f"{REDIRECT}?error=access_denied&error_description=**click+here**&state={returned}")
    assert errors(at) == ["ArcGIS Online did not sign you in (access_denied). Press Sign in with ArcGIS to try again."]
    assert "click here" not in page_text(at)


def test_sign_out_revokes_the_token_at_the_portal(emu, org, configured):
    at = back_with(mfa_return(emu, org))
    tokens = at.session_state[oauth_ui.TOKENS]
    access = tokens.access_token()
    assert emu.auth.token_info(access) is not None
    button(at, "Sign out").click().run()
    assert state.CONN not in at.session_state and oauth_ui.TOKENS not in at.session_state
    assert emu.auth.token_info(access) is None


def test_password_sign_in_of_the_oauth_admins_points_to_sign_in_with_arcgis(emu, configured):
    for username, message in (
        (MFA_ADMIN, oauth.MFA_SIGN_IN),
        ("quay_sso_admin", "Sign-in failed: the username or password is wrong."),
    ):
        at = online_form(emu)
        at.sidebar.text_input(key=state.USER).set_value(username)
        at.sidebar.text_input(key=state.PASSWORD).set_value(mfa_password(username))
        button(at, "Connect").click().run()
        assert errors(at) == [message]
        assert "Sign in with ArcGIS" in message or oauth_ui.PASSWORD_HINT in captions(at)


def test_pressing_the_button_again_retires_the_earlier_sign_in(emu, configured):
    at, url = start_sign_in(emu)
    first = parse_qs(urlsplit(url).query)["state"][0]
    button(at, "Sign in with ArcGIS").click().run()
    second = parse_qs(urlsplit(at.session_state[oauth_ui.OPEN].url).query)["state"][0]
    assert second != first
    assert not oauth_ui.pending_sign_ins().is_open(first) and oauth_ui.pending_sign_ins().is_open(second)


def test_a_token_that_dies_mid_session_is_renewed_and_the_page_reloads_unnoticed(emu, org, configured):
    at = back_with(mfa_return(emu, org))
    tokens = at.session_state[oauth_ui.TOKENS]
    first, renewals = tokens.access_token(), tokens.renewals
    emu.auth.revoke(first)  # the access token dies at the portal, as when it expires
    emu.clear_requests()
    button(at, "Refresh data").click().run()
    assert not at.exception and not at.error and not errors(at)
    assert tokens.renewals == renewals + 1 and tokens.access_token() != first
    paths = [r["path"] for r in emu.requests]
    assert "/sharing/rest/oauth2/token" in paths  # renewed with the refresh token, no sign-in page
    usage = [r["auth"] for r in emu.requests if r["path"].endswith("/usage")]
    assert usage and usage[-1] == "valid"  # the range was fetched again, through the new token
    assert any("Signed in as" in c and MFA_ADMIN in c for c in captions(at))
    assert any("Quay GIS" in shown(c.value) for c in at.main.caption)  # the page, not a sign-in prompt
