"""Team deployment in process (AppTest): the shared org behind its access gate.

The shared connection signs in for real, through ``arcgis``, to an in-process HTTPS emulator; the
visitor's OIDC identity is AppTest's simulated ``st.user``; the configuration is ``at.secrets``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import streamlit as st
from rendered import shown
from streamlit.testing.v1 import AppTest

from creditlens import deployment, errors
from creditlens.deployment import AccessAttempts, DeploymentConfig, ServerConnection, hash_access_code
from creditlens.fake.demo_org import OrgSpec, build_demo_org
from creditlens.fake.emulator import PortalEmulator
from creditlens.ui import (
    connection,
    gate,
    state,
)

APP = str(Path(__file__).resolve().parents[1] / "app.py")
ORG = "Harbor City GIS"  # not the demo org's name, so seeing it means the shared org is served
CODE = "tidal-basin-42"
AUTH = {  # st.user reads AppTest.user; this section only tells the app that OIDC is configured
    "redirect_uri": "http://localhost:8501/oauth2callback",
    "cookie_secret": "test-cookie-secret",
    "client_id": "credit-lens",
    "client_secret": "test-client-secret",
    "server_metadata_url": "https://login.example.org/.well-known/openid-configuration",
}


@pytest.fixture(scope="module")
def emulator(emulator_factory):
    return emulator_factory([build_demo_org(OrgSpec(members=30, days=120, seed=3, name=ORG, url_key="harbor"))])


@pytest.fixture(autouse=True)
def _isolated(monkeypatch):
    for name in list(os.environ):
        if name.startswith("CREDITLENS_"):
            monkeypatch.delenv(name)
    gate.forget_shared_connections()
    st.cache_data.clear()
    yield
    gate.forget_shared_connections()


def server_secrets(emu: PortalEmulator, password: str = "harbor_analyst-demo-pw", **extra) -> dict:
    return {
        "portal_url": emu.url,
        "username": "harbor_analyst",
        "password": password,
        "ca_bundle": emu.ca_bundle,
        **extra,
    }


def new_app(creditlens: dict, *, auth: bool = False, user: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.secrets["creditlens"] = creditlens
    if auth:
        at.secrets["auth"] = AUTH
    if user is not None:
        at.user = user
    return at


def texts(items) -> list[str]:
    return [str(i.value) for i in items]


def browser_bound(at: AppTest) -> str:
    """Everything the run sends to the browser: every element's protobuf, widgets included."""
    out: list[str] = []

    def walk(node) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None:
            out.append(str(proto))
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    return "\n".join(out)


def shows_org_data(at: AppTest) -> bool:
    return any(m.label.startswith("Credits in range") for m in at.metric) and any(ORG in c.value for c in at.caption)


def connection_radio(at: AppTest):
    return next(r for r in at.radio if r.label == "Connection")


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


# -- the pure decisions ------------------------------------------------------------------------------
SERVER = ServerConnection("https://acme.maps.arcgis.com", "reader", "pw")
HASH = hash_access_code(CODE, iterations=1000)


def test_decide_covers_every_gate():
    oidc = DeploymentConfig(server=SERVER, allowed_domains=frozenset({"example.org"}), oidc_configured=True)
    assert deployment.decide(DeploymentConfig(), {}, None) is deployment.Access.NO_SERVER
    assert deployment.decide(oidc, {}, None) is deployment.Access.SIGN_IN
    assert (
        deployment.decide(oidc, {"is_logged_in": True, "email": "ana@example.org"}, None) is deployment.Access.GRANTED
    )
    assert (
        deployment.decide(oidc, {"is_logged_in": True, "email": "eve@example.com"}, None) is deployment.Access.REFUSED
    )
    assert deployment.decide(oidc, {"is_logged_in": True}, None) is deployment.Access.REFUSED  # no e-mail claim
    coded = DeploymentConfig(server=SERVER, access_code_hash=HASH, max_access_attempts=2)
    attempts = AccessAttempts(limit=2)
    assert deployment.decide(coded, {}, attempts) is deployment.Access.CODE
    attempts.try_code("nope", HASH)
    attempts.try_code("nope", HASH)
    assert deployment.decide(coded, {}, attempts) is deployment.Access.LOCKED
    assert deployment.decide(DeploymentConfig(server=SERVER), {}, None) is deployment.Access.UNCONFIGURED
    assert deployment.decide(DeploymentConfig(server=SERVER, allow_open=True), {}, None) is deployment.Access.OPEN
    both = DeploymentConfig(
        server=SERVER, access_code_hash=HASH, allowed_emails=frozenset({"ana@x.org"}), oidc_configured=True
    )
    signed_in = {"is_logged_in": True, "email": "ana@x.org"}
    assert deployment.decide(both, signed_in, AccessAttempts()) is deployment.Access.CODE  # both gates must be passed


def test_modes_and_labels():
    plain = deployment.Setup(DeploymentConfig())
    assert deployment.connection_modes(plain, state.DEMO, state.ONLINE) == (state.DEMO, state.ONLINE)
    assert deployment.mode_label(state.ONLINE, plain, state.ONLINE) == state.ONLINE
    shared = deployment.Setup(DeploymentConfig(server=SERVER, allow_user_login=False))
    assert deployment.connection_modes(shared, state.DEMO, state.ONLINE) == (deployment.SHARED, state.DEMO)
    assert deployment.mode_label(deployment.SHARED, shared, state.ONLINE, "Acme") == "Acme (shared)"
    both = deployment.Setup(DeploymentConfig(server=SERVER, allow_user_login=True))
    assert deployment.connection_modes(both, state.DEMO, state.ONLINE)[-1] == state.ONLINE
    assert deployment.mode_label(state.ONLINE, both, state.ONLINE) == deployment.OWN_ACCOUNT_LABEL
    broken = deployment.load_setup({"portal_url": "https://acme.maps.arcgis.com"}, {}, False)
    assert broken.error and deployment.connection_modes(broken, state.DEMO, state.ONLINE) == (state.DEMO,)


def test_setup_hint_names_settings_never_values():
    config = DeploymentConfig(server=SERVER, allowed_emails=frozenset({"ana@secret-partner.com"}))
    hint = deployment.setup_hint(config)
    assert "access_code_hash" in hint and "allow_open" in hint and "deployment.md" in hint
    assert "no `[auth]` section" in hint
    assert "secret-partner" not in hint and "pw" not in hint.split()


# -- OIDC --------------------------------------------------------------------------------------------
def test_an_allowed_email_sees_the_shared_org(emulator):
    at = new_app(
        server_secrets(emulator, allowed_emails=["ana@partner.com"]),
        auth=True,
        user={"is_logged_in": True, "email": "Ana@Partner.com"},
    ).run()
    assert_clean(at)
    assert shows_org_data(at)
    radio = connection_radio(at)
    assert radio.value == deployment.SHARED and radio.options == [f"{ORG} (shared)", state.DEMO]
    assert not [t for t in at.text_input]  # no credential fields anywhere
    assert any("Ana" in c.value for c in at.caption) and at.button(key="cl_oidc_sign_out")
    assert "harbor_analyst-demo-pw" not in browser_bound(at)


def test_an_allowed_domain_sees_the_shared_org_and_can_sign_out(emulator):
    at = new_app(
        server_secrets(emulator, allowed_domains=["example.org"]),
        auth=True,
        user={"is_logged_in": True, "email": "bo@example.org"},
    ).run()
    assert_clean(at)
    assert shows_org_data(at)
    at.button(key="cl_oidc_sign_out").click().run()
    assert_clean(at)
    assert not shows_org_data(at)
    assert any(b.label == "Sign in" for b in at.button)


def test_a_refused_user_is_told_only_not_allowed(emulator):
    config = server_secrets(emulator, allowed_domains=["example.org"], allowed_emails=["ana@partner.com"])
    at = new_app(config, auth=True, user={"is_logged_in": True, "email": "eve@example.com"}).run()
    assert_clean(at)
    assert not shows_org_data(at)
    assert [shown(e.value) for e in at.error] == ["Signed in as eve@example.com: not allowed."]
    everything = browser_bound(at)
    assert "example.org" not in everything and "partner.com" not in everything  # never who is allowed
    assert ORG not in everything  # and nothing of the org
    at.button(key="cl_oidc_refused_sign_out").click().run()
    assert any(b.label == "Sign in" for b in at.button)


def test_not_signed_in_gets_a_sign_in_button_and_the_demo(emulator):
    emulator.clear_requests()
    at = new_app(
        server_secrets(emulator, allowed_domains=["example.org"]), auth=True, user={"is_logged_in": False}
    ).run()
    assert_clean(at)
    assert any(b.label == "Sign in" for b in at.button) and not shows_org_data(at)
    assert emulator.requests == []  # nobody signed in to the portal for a visitor who did not pass the gate
    connection_radio(at).set_value(state.DEMO).run()
    assert_clean(at)
    assert any(m.label.startswith("Credits in range") for m in at.metric)  # the demo needs no gate


# -- access code ---------------------------------------------------------------------------------------
def code_app(emu: PortalEmulator, attempts: int = 3) -> AppTest:
    return new_app(
        server_secrets(emu, access_code_hash=hash_access_code(CODE, iterations=1000), max_access_attempts=attempts)
    ).run()


def enter(at: AppTest, code: str) -> AppTest:
    at.text_input(key=state.ACCESS_CODE).input(code)
    return next(b for b in at.button if b.label == "Enter").click().run()


def test_the_right_access_code_opens_the_shared_org(emulator):
    at = code_app(emulator)
    assert_clean(at)
    assert not shows_org_data(at)
    assert at.text_input(key=state.ACCESS_CODE).proto.type == at.text_input(key=state.ACCESS_CODE).proto.PASSWORD
    enter(at, CODE)
    assert_clean(at)
    assert shows_org_data(at)
    assert CODE not in repr(at.session_state.to_dict())  # the field was emptied
    assert "harbor_analyst-demo-pw" not in browser_bound(at)
    at.switch_page("app_pages/leaderboard.py").run()  # the pages stay thin and unchanged
    assert_clean(at)
    assert [t.value for t in at.title] == ["Leaderboard"]


def test_a_wrong_code_then_the_lockout(emulator):
    at = code_app(emulator, attempts=3)
    enter(at, "guess-1")
    assert texts(at.error) == ["That access code is not right. 2 tries left."]
    enter(at, "")
    assert texts(at.error) == ["Enter the access code."]  # a blank try does not count
    enter(at, "guess-2")
    enter(at, "guess-3")
    assert_clean(at)
    assert len(at.error) == 1 and at.error[0].value.startswith("Locked: 3 wrong access codes")
    assert not [t for t in at.text_input if t.key == state.ACCESS_CODE]  # no more tries in this session
    assert not shows_org_data(at)
    connection_radio(at).set_value(state.DEMO).run()
    connection_radio(at).set_value(deployment.SHARED).run()
    assert not [t for t in at.text_input if t.key == state.ACCESS_CODE]  # still locked after a round trip
    next(b for b in at.button if b.label.startswith("Explore the demo")).click().run()
    assert connection_radio(at).value == state.DEMO
    assert any(m.label.startswith("Credits in range") for m in at.metric)


# -- no gate, open, failures -----------------------------------------------------------------------------
def test_no_gate_serves_no_org_data_and_says_how_to_configure_one(emulator):
    emulator.clear_requests()
    at = new_app(server_secrets(emulator)).run()
    assert_clean(at)
    assert not shows_org_data(at)
    assert len(at.warning) == 1 and "no access gate" in at.warning[0].value
    assert "docs/deployment.md" in at.warning[0].value
    assert emulator.requests == []
    next(b for b in at.button if b.label.startswith("Explore the demo")).click().run()
    assert any(m.label.startswith("Credits in range") for m in at.metric)


def test_allow_open_serves_the_shared_org_without_a_gate(emulator):
    at = new_app(server_secrets(emulator, allow_open=True)).run()
    assert_clean(at)
    assert shows_org_data(at)
    assert any("no access gate" in c.value for c in at.caption)


def test_own_account_sign_in_is_offered_only_when_allowed(emulator, monkeypatch):
    monkeypatch.setenv(connection.ENV_PASSWORD, "personal-env-pw")  # never used for a visitor in a deployment
    seen = {}

    def refuse(url, username, password, ca_bundle=None):
        seen["password"] = password
        raise errors.CreditLensError("Enter your password.")

    monkeypatch.setattr(connection, "connect", refuse)
    at = new_app(server_secrets(emulator, allow_open=True, allow_user_login=True)).run()
    radio = connection_radio(at)
    assert radio.options == [f"{ORG} (shared)", state.DEMO, deployment.OWN_ACCOUNT_LABEL]
    radio.set_value(state.ONLINE).run()
    assert_clean(at)
    assert not any("password from the environment" in c.value for c in at.caption)
    next(b for b in at.button if b.label == "Connect").click().run()
    assert seen == {"password": ""}


def test_a_shared_login_failure_is_a_clear_message_without_the_password(emulator):
    wrong = "Wrong-Server-Pw-123"
    at = new_app(server_secrets(emulator, password=wrong, allow_open=True)).run()
    assert_clean(at)
    assert not shows_org_data(at)
    assert len(at.error) == 1
    assert shown(at.error[0].value).startswith("Could not connect to the shared organization. Sign-in failed")
    assert wrong not in browser_bound(at)
    before = len(emulator.requests)
    at.run()  # a failure is remembered for a while: the account is not hammered into a lockout
    assert len(emulator.requests) == before and len(at.error) == 1


def test_broken_settings_fail_closed(emulator):
    at = new_app({"portal_url": emulator.url, "username": "harbor_analyst"}).run()
    assert_clean(at)
    assert any("settings are incomplete" in e.value for e in at.error)
    assert connection_radio(at).options == [state.DEMO]
