"""Bad input in the app: each gets a clear message, never a traceback, and the app stays usable.

The sign-ins go through the real ``arcgis`` client to an in-process HTTPS emulator.
"""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path

import pytest
import streamlit as st
from rendered import shown
from streamlit.testing.v1 import AppTest

from creditlens import dates
from creditlens.fake import portal_api
from creditlens.fake.demo_org import OrgSpec, build_demo_org
from creditlens.ui import (
    connection,
    period,
    state,
)

pytestmark = pytest.mark.integration

APP = str(Path(__file__).resolve().parents[1] / "app.py")
TODAY = dates.utc_today()
PAGES = ("overview", "leaderboard", "trends", "reconciliation", "budgets")


@pytest.fixture(scope="module")
def orgs():
    main = build_demo_org(OrgSpec(members=25, days=400, seed=31, url_key="inputs", name="Inputs Test Org"))
    enterprise = build_demo_org(OrgSpec(members=8, days=30, seed=32, url_key="ent"))
    enterprise.portal.update(isPortal=True, portalName="ArcGIS Enterprise", portalMode="singletenant")
    quiet = build_demo_org(OrgSpec(members=8, days=60, seed=33, url_key="quiet", name="Quiet Org")).clear_usage()
    return {"main": main, "ent": enterprise, "quiet": quiet}


@pytest.fixture(scope="module")
def emulator(orgs, emulator_factory):
    return emulator_factory(orgs.values())


@pytest.fixture(autouse=True)
def _clean(monkeypatch, emulator):
    for name in (connection.ENV_URL, connection.ENV_USER, connection.ENV_PASSWORD):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(connection.ENV_CA, emulator.ca_bundle)
    st.cache_data.clear()
    emulator.faults.clear()
    yield
    st.cache_data.clear()


def widget(items, label):
    return next(w for w in items if w.label == label)


def messages(at) -> str:
    return "\n".join(shown(e.value) for e in [*at.error, *at.warning, *at.info, *at.success])


def sign_in(url: str, username: str, password: str, **query) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=90)
    at.query_params.update(query)
    at.run()
    widget(at.radio, "Connection").set_value(state.ONLINE).run()
    widget(at.text_input, "Organization URL").input(url)
    widget(at.text_input, "Username").input(username)
    widget(at.text_input, "Password").input(password)
    widget(at.button, "Connect").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def assert_still_usable(at: AppTest) -> None:
    """After the message, the demo still works from the same session."""
    widget(at.radio, "Connection").set_value(state.DEMO).run()
    assert not at.exception and not at.error
    assert any(m.label.startswith("Credits in range") for m in at.metric)


def admin(orgs, key="main"):
    org = orgs[key]
    return org.admin_username, org.passwords[org.admin_username]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("", "Enter your organization's URL"),
        ("definitely not a url", "not a valid portal address"),
        ("http://myorg.maps.arcgis.com", "HTTPS only"),
        ("https://127.0.0.1:9", "Could not reach 127.0.0.1:9"),
    ],
)
def test_bad_portal_urls(orgs, url, expected):
    user, password = admin(orgs)
    at = sign_in(url, user, password)
    assert expected in messages(at)
    assert password not in messages(at)
    assert_still_usable(at)


@pytest.mark.parametrize("suffix", ["/home", "/sharing/rest", "/sharing/rest/"])
def test_home_and_sharing_rest_urls_are_normalised(emulator, orgs, suffix):
    user, password = admin(orgs)
    at = sign_in(emulator.url + suffix, user, password)
    assert not at.error
    assert "Inputs Test Org" in " ".join(shown(c.value) for c in [*at.sidebar.markdown, *at.sidebar.caption])


def test_wrong_password(emulator, orgs):
    user, _ = admin(orgs)
    at = sign_in(emulator.url, user, "Wrong-Pa55word-Sentinel")
    assert "username or password is wrong" in messages(at)
    assert "Wrong-Pa55word-Sentinel" not in messages(at) + repr(at.session_state.to_dict())
    assert_still_usable(at)


def test_account_without_the_usage_privilege(emulator, orgs):
    org = orgs["main"]
    at = sign_in(emulator.url, "inputs_viewer", org.passwords["inputs_viewer"])
    assert "may not view credit usage" in messages(at)
    assert_still_usable(at)


def test_enterprise_portal(emulator, orgs):
    user, password = admin(orgs, "ent")
    at = sign_in(emulator.url, user, password)
    assert "ArcGIS Enterprise" in messages(at) and "no credits" in messages(at)
    assert_still_usable(at)


def test_org_with_no_usage_shows_empty_states_on_every_page(emulator, orgs):
    user, password = admin(orgs, "quiet")
    at = sign_in(emulator.url, user, password)
    for page in PAGES:
        at.switch_page(f"app_pages/{page}.py").run()
        assert not at.exception and not at.error, page
    at.switch_page("app_pages/overview.py").run()
    assert "No credits were used" in messages(at)


def test_reversed_custom_range_is_put_in_order():
    at = AppTest.from_file(APP, default_timeout=60).run()
    widget(at.selectbox, "Period").select(period.CUSTOM_RANGE).run()
    first, last = TODAY - dt.timedelta(days=20), TODAY - dt.timedelta(days=10)
    at.date_input[0].set_value((last, first)).run()
    assert not at.exception and not at.error
    assert at.query_params["start"] == first.isoformat() and at.query_params["end"] == last.isoformat()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (
            {"start": (TODAY + dt.timedelta(days=5)).isoformat(), "end": (TODAY + dt.timedelta(days=9)).isoformat()},
            "future",
        ),
        (
            {
                "start": (TODAY - dt.timedelta(days=900)).isoformat(),
                "end": (TODAY - dt.timedelta(days=800)).isoformat(),
            },
            "two years",
        ),
        ({"start": (TODAY - dt.timedelta(days=760)).isoformat(), "end": TODAY.isoformat()}, "two years"),
        ({"start": TODAY.isoformat(), "end": (TODAY - dt.timedelta(days=3)).isoformat()}, ""),
    ],
)
def test_bad_ranges_in_a_link(query, expected):
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update(query)
    at.run()
    assert not at.exception
    assert expected in messages(at)
    assert any(m.label.startswith("Credits in range") for m in at.metric)  # a usable view, not a dead end


def corrupt(kind: str):
    """Wrap the emulator's payloads: the usage reply changes in one way a real server might."""
    real = portal_api.handle_request

    def wrapper(org, username, path, params):
        reply = real(org, username, path, params)
        if not path.endswith("usage") or "data" not in reply or params.get("groupby") == "stype":
            return reply
        reply = copy.deepcopy(reply)
        rows = reply["data"]
        if kind == "unknown_stype" and rows:
            rows[0]["stype"] = "hyperdrive"
        elif kind == "missing_keys":
            for row in rows[:3]:
                row.pop("username", None)
                row.pop("etype", None)
        elif kind == "non_numeric" and rows:
            rows[0]["credits"][0][1] = "twelve"
        elif kind == "huge" and rows:
            rows[0]["credits"][-1][1] = "1.4562242E12"
        return reply

    return wrapper


def test_unknown_stype_is_shown_raw(emulator, orgs, monkeypatch):
    monkeypatch.setattr(portal_api, "handle_request", corrupt("unknown_stype"))
    at = sign_in(emulator.url, *admin(orgs))
    at.switch_page("app_pages/leaderboard.py").run()
    assert not at.exception and not at.error
    assert "hyperdrive" in at.dataframe[0].value.columns


def test_rows_missing_keys_count_as_unattributed(emulator, orgs, monkeypatch):
    monkeypatch.setattr(portal_api, "handle_request", corrupt("missing_keys"))
    at = sign_in(emulator.url, *admin(orgs))
    at.switch_page("app_pages/reconciliation.py").run()
    assert not at.exception and not at.error
    assert "= org total" in messages(at) and "✓" in messages(at)


def test_non_numeric_values_fail_that_window_by_name(emulator, orgs, monkeypatch):
    monkeypatch.setattr(portal_api, "handle_request", corrupt("non_numeric"))
    at = sign_in(emulator.url, *admin(orgs))
    text = messages(at)
    assert "Incomplete" in text and "not a number" in text
    assert widget(at.button, "Retry missing windows")
    assert_still_usable(at)


def test_huge_values_are_shown_not_broken(emulator, orgs, monkeypatch):
    monkeypatch.setattr(portal_api, "handle_request", corrupt("huge"))
    at = sign_in(emulator.url, *admin(orgs))
    assert not at.exception and not at.error
    credits = next(m.value for m in at.metric if m.label.startswith("Credits in range"))
    assert float(credits.replace(",", "")) > 1e12


def test_server_fault_on_a_window_is_named_with_a_retry(emulator, orgs):
    at = sign_in(emulator.url, *admin(orgs), range="last-90-days")
    emulator.faults.add("html_error", times=None, when=lambda p: p.get("groupby") != "stype")
    widget(at.button, "Refresh data").click().run()
    assert not at.exception
    assert "Incomplete" in messages(at) and "HTML error page" in messages(at)
    emulator.faults.clear()
    widget(at.button, "Retry missing windows").click().run()
    assert not at.exception and "Incomplete" not in messages(at)


def test_app_sign_in_leaks_no_password_or_token(emulator, orgs, caplog, tmp_path, monkeypatch):
    import logging
    import tempfile

    sentinel = "Sentinel-App-Pa55-91c2"
    org = orgs["main"]
    monkeypatch.setitem(org.passwords, org.admin_username, sentinel)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    tempfile.tempdir = None
    caplog.set_level(logging.DEBUG)
    try:
        at = sign_in(emulator.url, org.admin_username, sentinel)
        for page in PAGES:
            at.switch_page(f"app_pages/{page}.py").run()
            assert not at.exception and not at.error, page
    finally:
        tempfile.tempdir = None
    secrets = [sentinel, *emulator.issued_secrets()]
    seen = "\n".join([repr(at.session_state.to_dict()), repr(dict(at.query_params)), repr(at._tree), caplog.text])
    for secret in secrets:
        assert secret not in seen
    written = [p for p in tmp_path.rglob("*") if p.is_file() and any(s.encode() in p.read_bytes() for s in secrets)]
    assert written == []
