"""The HTTPS portal emulator against the real ``arcgis`` client (never mocked)."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
import time
import warnings
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from arcgis.gis import GIS

from creditlens.fake.demo_org import OrgSpec, build_demo_org
from creditlens.fake.emulator import PortalEmulator, main
from creditlens.windows import DAY_MS, EPOCH

pytestmark = pytest.mark.integration

END_DAY = dt.date(2026, 6, 30)
TINY = OrgSpec(members=30, days=120, seed=3, end_day=END_DAY)
LAKESIDE = OrgSpec(members=30, days=120, seed=11, name="Lakeside County GIS", url_key="lakeside", end_day=END_DAY)


def day_ms(day: dt.date) -> int:
    return (day - EPOCH).days * DAY_MS


USAGE_PARAMS = {
    "startTime": str(day_ms(END_DAY - dt.timedelta(days=29))),
    "endTime": str(day_ms(END_DAY + dt.timedelta(days=1))),
    "period": "1d",
    "vars": "credits,num",
    "groupby": "username,stype,etype",
}


@pytest.fixture(scope="module")
def org():
    return build_demo_org(TINY)


@pytest.fixture(scope="module")
def lakeside():
    return build_demo_org(LAKESIDE)


@pytest.fixture(scope="module")
def server(org, lakeside):
    with PortalEmulator([org, lakeside]) as emu:
        yield emu


@pytest.fixture
def emu(server):
    server.faults.clear()
    server.clear_requests()
    yield server
    server.faults.clear()


def login(emu: PortalEmulator, username: str, password: str, **kwargs) -> GIS:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return GIS(emu.url, username, password, ca_bundles=emu.ca_bundle, **kwargs)


def usage_url(emu: PortalEmulator) -> str:
    return emu.url + "/sharing/rest/portals/self/usage"


def usage_calls(emu: PortalEmulator) -> list[dict]:
    return [r for r in emu.requests if r["path"].endswith("/usage")]


# -- login ----------------------------------------------------------------------------------------
def test_oauth_login_default_flow(emu, org):
    gis = login(emu, "northwind_admin", org.passwords["northwind_admin"])
    assert gis.properties.name == org.name == "Northwind Regional GIS"
    assert gis.properties.id == org.org_id
    assert gis.properties.user.username == "northwind_admin"
    assert gis.users.me.username == "northwind_admin"
    paths = [(r["method"], r["path"]) for r in emu.requests]
    assert ("POST", "/sharing/oauth2/signin") in paths
    assert ("GET", "/sharing/rest/oauth2/authorize") in paths
    assert not any(p.endswith("generateToken") for _, p in paths)
    authed = [r for r in emu.requests if r["path"] == "/sharing/rest/portals/self"]
    assert authed and all(r["auth"] == "valid" and r["username"] == "northwind_admin" for r in authed)


def test_gen_token_login(emu, org):
    gis = login(emu, "northwind_analyst", org.passwords["northwind_analyst"], use_gen_token=True)
    assert gis.properties.id == org.org_id
    assert gis.users.me.username == "northwind_analyst"
    paths = [r["path"] for r in emu.requests]
    assert "/sharing/rest/generateToken" in paths
    assert "/sharing/oauth2/signin" not in paths


def test_wrong_password_oauth_raises_clear_message(emu, org):
    with pytest.raises(Exception, match="Invalid username or password"):
        login(emu, "northwind_admin", "not-the-password")
    # arcgis tried the implicit flow, then fell back to the authorization-code flow.
    signins = [r for r in emu.requests if r["path"] == "/sharing/oauth2/signin"]
    assert len(signins) >= 2 and all(r["status"] == 200 for r in signins)


def test_unknown_user_raises_same_message(emu):
    with pytest.raises(Exception, match="Invalid username or password"):
        login(emu, "nobody_at_all", "whatever")


def test_wrong_password_gen_token_raises_clear_message(emu, org):
    with pytest.raises(Exception, match="Unable to generate token") as info:
        login(emu, "northwind_admin", "not-the-password", use_gen_token=True)
    assert "Invalid username or password." in str(info.value)


def test_gen_token_username_is_case_sensitive_oauth_is_not(emu, org):
    password = org.passwords["northwind_admin"]
    gis = login(emu, "NorthWind_Admin", password)
    assert gis.users.me.username == "northwind_admin"
    reply = requests.post(
        emu.url + "/sharing/rest/generateToken",
        verify=emu.ca_bundle,
        data={"username": "NorthWind_Admin", "password": password, "f": "json"},
    )
    assert reply.status_code == 200
    assert reply.json()["error"]["details"] == ["Invalid username or password."]


def oauth_state_of(page: str) -> str:
    line = next(line for line in page.splitlines() if "{" in line)  # what arcgis parses
    return json.loads(re.search(r"\{.*\}", line)[0])["oauth_state"]


def test_oauth_pages_implicit_and_code_flows(emu, org):
    password = org.passwords["northwind_viewer"]
    authorize = emu.url + "/sharing/rest/oauth2/authorize"
    common = {"client_id": "pythonapi", "expiration": "60"}
    page = requests.get(
        authorize,
        verify=emu.ca_bundle,
        params={**common, "response_type": "token", "redirect_uri": emu.url, "state": "xyz"},
    ).text
    signin = emu.url + "/sharing/oauth2/signin"
    reply = requests.post(
        signin,
        verify=emu.ca_bundle,
        allow_redirects=False,
        data={"oauth_state": oauth_state_of(page), "username": "northwind_viewer", "password": password},
    )
    assert reply.status_code == 302
    fragment = dict(parse_qsl(urlsplit(reply.headers["Location"]).fragment))
    assert fragment["state"] == "xyz" and fragment["username"] == "northwind_viewer"
    assert int(fragment["expires_in"]) == 3600  # 60 minutes asked, below the 2 h token_ttl_s
    page = requests.get(
        authorize,
        verify=emu.ca_bundle,
        params={**common, "response_type": "code", "redirect_uri": "urn:ietf:wg:oauth:2.0:oob"},
    ).text
    state = oauth_state_of(page)
    wrong = requests.post(
        signin,
        verify=emu.ca_bundle,
        data={"oauth_state": state, "username": "northwind_viewer", "password": "nope", "authorize": "true"},
    )
    assert '"messages":["Invalid username or password."]' in wrong.text
    assert oauth_state_of(wrong.text) == state  # the same sign-in may be retried
    done = requests.post(
        signin,
        verify=emu.ca_bundle,
        data={"oauth_state": state, "username": "northwind_viewer", "password": password, "authorize": "true"},
    )
    code = re.search(r"<title>SUCCESS code=(.*?)</title>", done.text)[1]
    token = requests.post(
        emu.url + "/sharing/rest/oauth2/token",
        verify=emu.ca_bundle,
        data={
            "grant_type": "authorization_code",
            "code": code,
            "client_id": "pythonapi",
            "redirect_uri": "urn:ietf:wg:oauth:2.0:oob",
            "f": "json",
        },
    ).json()
    me = requests.get(
        emu.url + "/sharing/rest/community/self",
        verify=emu.ca_bundle,
        params={"f": "json"},
        headers={"X-Esri-Authorization": f"Bearer {token['access_token']}"},
    ).json()
    assert me["username"] == "northwind_viewer"
    refreshed = requests.post(
        emu.url + "/sharing/rest/oauth2/token",
        verify=emu.ca_bundle,
        data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"], "client_id": "pythonapi"},
    ).json()
    assert refreshed["access_token"] != token["access_token"]
    again = requests.post(
        emu.url + "/sharing/rest/oauth2/token",
        verify=emu.ca_bundle,
        data={"grant_type": "authorization_code", "code": code, "client_id": "pythonapi"},
    ).json()
    assert again["error"]["code"] == 400  # a code works once


def test_enterprise_portal_logs_in_and_reports_is_portal(org):
    enterprise = build_demo_org(TINY)
    enterprise.portal.update(isPortal=True, portalName="ArcGIS Enterprise", portalMode="singletenant")
    with PortalEmulator([enterprise]) as emu:
        gis = login(emu, "northwind_admin", enterprise.passwords["northwind_admin"])
        assert gis.properties.isPortal is True
        assert gis.properties.portalName == "ArcGIS Enterprise"
        assert gis._is_arcgisonline is False


def test_two_orgs_on_one_emulator(emu, org, lakeside):
    north = login(emu, "northwind_admin", org.passwords["northwind_admin"])
    lake = login(emu, "lakeside_analyst", lakeside.passwords["lakeside_analyst"])
    assert north.properties.id == org.org_id != lakeside.org_id == lake.properties.id
    assert lake.properties.name == "Lakeside County GIS"
    users = lake._con.post(emu.url + "/sharing/rest/portals/self/users", {"start": 1, "num": 100})["users"]
    assert {u["orgId"] for u in users} == {lakeside.org_id}
    rows = lake._con.post(usage_url(emu), dict(USAGE_PARAMS))["data"]
    assert rows and not any(r.get("username", "").endswith("_northwind") for r in rows)


# -- API over HTTPS -------------------------------------------------------------------------------
def test_members_paging_past_100():
    big = build_demo_org(OrgSpec(members=130, days=30, seed=5, end_day=END_DAY))
    with PortalEmulator([big]) as emu:
        gis = login(emu, "northwind_admin", big.passwords["northwind_admin"])
        url = emu.url + "/sharing/rest/portals/self/users"
        first = gis._con.post(url, {"start": 1, "num": 100})
        assert (first["total"], first["num"], first["nextStart"]) == (130, 100, 101)
        second = gis._con.post(url, {"start": first["nextStart"], "num": 100})
        assert (second["num"], second["nextStart"]) == (30, -1)
        names = [u["username"] for u in first["users"] + second["users"]]
        assert len(set(names)) == 130 == len(big.members)
        assert all(u.get("id") for u in first["users"] + second["users"])
        assert emu.connections_opened <= 2  # keep-alive: the session reuses its connection


def test_usage_for_admin_and_analyst_but_not_viewer(emu, org):
    admin = login(emu, "northwind_admin", org.passwords["northwind_admin"])
    reply = admin._con.post(usage_url(emu), dict(USAGE_PARAMS))
    assert reply["period"] == "1d" and reply["data"]
    analyst = login(emu, "northwind_analyst", org.passwords["northwind_analyst"])
    assert analyst._con.get(usage_url(emu), dict(USAGE_PARAMS))["data"]  # GET works too
    viewer = login(emu, "northwind_viewer", org.passwords["northwind_viewer"])
    with pytest.raises(Exception, match=r"do not have permissions[\s\S]*\(Error Code: 403\)"):
        viewer._con.post(usage_url(emu), dict(USAGE_PARAMS))


def test_token_sources_and_auth_errors(emu, org):
    token = emu.issue_token("northwind_admin")
    url = emu.url + "/sharing/rest/portals/self"
    json = {"f": "json"}  # without f the portal answers HTML
    for kwargs in (
        {"params": json, "headers": {"X-Esri-Authorization": f"Bearer {token}"}},
        {"params": json, "headers": {"Authorization": f"Bearer {token}"}},
        {"params": {"f": "json", "token": token}},
    ):
        reply = requests.get(url, verify=emu.ca_bundle, **kwargs)
        assert reply.json()["user"]["username"] == "northwind_admin"
    form = requests.post(url, data={"f": "json", "token": token}, verify=emu.ca_bundle)
    assert form.json()["id"] == org.org_id
    multipart = requests.post(
        emu.url + "/sharing/rest/portals/self/users",
        verify=emu.ca_bundle,
        files={"start": (None, "2"), "num": (None, "5"), "token": (None, token), "f": (None, "json")},
    )
    assert multipart.json()["start"] == 2 and multipart.json()["num"] == 5
    roles = emu.url + "/sharing/rest/portals/self/roles"
    bad = requests.get(roles, params={"f": "json", "token": "nope"}, verify=emu.ca_bundle)
    assert bad.status_code == 200 and bad.json()["error"]["code"] == 498
    assert bad.json()["error"]["message"] == "Invalid token."
    missing = requests.get(roles, params={"f": "json"}, verify=emu.ca_bundle)
    assert missing.status_code == 200 and missing.json()["error"]["code"] == 499
    assert missing.headers["Content-Type"] == "application/json; charset=utf-8"
    anonymous = requests.get(url, params={"f": "json"}, verify=emu.ca_bundle).json()
    assert "user" not in anonymous and anonymous["portalName"] == "ArcGIS Online"


def test_probes_never_ask_for_www_authenticate(emu):
    for path in (
        "/info",
        "/rest/info",
        "/sharing/rest/info",
        "/rest/services",
        "/sharing/info",
        "/sharing/rest/services",
    ):
        reply = requests.get(emu.url + path, params={"f": "json"}, verify=emu.ca_bundle)
        assert "WWW-Authenticate" not in reply.headers
        assert reply.headers["Content-Type"].startswith("application/json")
    info = requests.get(emu.url + "/sharing/rest/info", params={"f": "json"}, verify=emu.ca_bundle).json()
    assert info["authInfo"]["isTokenBasedSecurity"] is True
    assert info["authInfo"]["tokenServicesUrl"] == emu.url + "/sharing/rest/generateToken"
    assert "currentVersion" not in info
    # The certificate names localhost as well as 127.0.0.1.
    port = emu.url.rsplit(":", 1)[1]
    assert requests.get(f"https://localhost:{port}/info", verify=emu.ca_bundle).ok


# -- tokens and faults ----------------------------------------------------------------------------
def test_expired_token_oauth_flow(emu, org):
    """arcgis re-sends an "Invalid token" reply without the token, so the caller sees the 499."""
    gis = login(emu, "northwind_admin", org.passwords["northwind_admin"])
    assert gis._con.post(usage_url(emu), dict(USAGE_PARAMS))["data"]
    emu.expire_tokens()
    emu.clear_requests()
    with pytest.raises(Exception, match=r"Token Required\n\(Error Code: 499\)"):
        gis._con.post(usage_url(emu), dict(USAGE_PARAMS))
    assert [(r["auth"], r["status"]) for r in usage_calls(emu)] == [("invalid", 200), ("none", 200)]
    # portals/self answers the anonymous re-send: no user means the session is gone.
    assert "user" not in gis._con.get(emu.url + "/sharing/rest/portals/self")
    # A new GIS signs in again and works.
    again = login(emu, "northwind_admin", org.passwords["northwind_admin"])
    assert again._con.post(usage_url(emu), dict(USAGE_PARAMS))["data"]


def test_expired_token_gen_token_flow_surfaces_498(emu, org):
    gis = login(emu, "northwind_admin", org.passwords["northwind_admin"], use_gen_token=True)
    emu.expire_tokens()
    with pytest.raises(Exception, match=r"Invalid token\.\n\(Error Code: 498\)"):
        gis._con.post(usage_url(emu), dict(USAGE_PARAMS))


def test_token_ttl_expires_tokens(org):
    with PortalEmulator([org], token_ttl_s=1) as emu:
        token = emu.issue_token("northwind_admin")
        url = emu.url + "/sharing/rest/portals/self/roles"
        assert "roles" in requests.get(url, params={"f": "json", "token": token}, verify=emu.ca_bundle).json()
        time.sleep(1.1)
        expired = requests.get(url, params={"f": "json", "token": token}, verify=emu.ca_bundle).json()
        assert expired["error"]["code"] == 498


def test_429_is_retried_after_retry_after(emu, org):
    gis = login(emu, "northwind_admin", org.passwords["northwind_admin"])
    fault = emu.faults.add("429", retry_after=1)
    emu.clear_requests()
    started = time.monotonic()
    assert gis._con.post(usage_url(emu), dict(USAGE_PARAMS))["data"]
    assert time.monotonic() - started >= 0.9
    assert [(r["status"], r["fault"]) for r in usage_calls(emu)] == [(429, "429"), (200, None)]
    assert fault.hits == 1 and not fault.active


def test_fault_only_for_one_window(emu, org):
    gis = login(emu, "northwind_admin", org.passwords["northwind_admin"])
    other = dict(
        USAGE_PARAMS, startTime=str(day_ms(END_DAY - dt.timedelta(days=59))), endTime=USAGE_PARAMS["startTime"]
    )
    emu.faults.add("html_error", times=None, when=lambda p: p.get("startTime") == USAGE_PARAMS["startTime"])
    assert "data" in gis._con.post(usage_url(emu), dict(other))
    with pytest.raises(Exception, match="<html"):
        gis._con.post(usage_url(emu), dict(USAGE_PARAMS))
    with pytest.raises(Exception, match="<html"):
        gis._con.post(usage_url(emu), dict(USAGE_PARAMS))  # times=None: always


def test_5xx_exhausts_arcgis_retries(emu, org):
    gis = login(emu, "northwind_admin", org.passwords["northwind_admin"])
    emu.faults.add("502", times=None)
    emu.clear_requests()
    with pytest.raises(Exception, match="Max retries exceeded"):
        gis._con.post(usage_url(emu), dict(USAGE_PARAMS))
    assert len(usage_calls(emu)) == 6  # the first try and arcgis's 5 retries


def test_malformed_json_raises(emu, org):
    gis = login(emu, "northwind_admin", org.passwords["northwind_admin"])
    emu.faults.add("malformed_json")
    with pytest.raises(Exception) as info:
        gis._con.post(usage_url(emu), dict(USAGE_PARAMS))
    assert str(info.value).startswith('{"startTime"')
    assert gis._con.post(usage_url(emu), dict(USAGE_PARAMS))["data"]  # times=1: next call is fine


def test_498_fault_and_slow_and_timeout(emu, org):
    token = emu.issue_token("northwind_admin")
    kwargs = {"data": dict(USAGE_PARAMS, f="json", token=token), "verify": emu.ca_bundle}
    emu.faults.add("498")
    assert requests.post(usage_url(emu), **kwargs).json()["error"]["code"] == 498
    emu.faults.add("slow", delay_s=0.3)
    started = time.monotonic()
    assert requests.post(usage_url(emu), **kwargs).json()["data"]
    assert time.monotonic() - started >= 0.3
    emu.faults.add("timeout", delay_s=1.0)
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.post(usage_url(emu), timeout=0.3, **kwargs)
    emu.faults.add("html_error", status=502, times=1)
    reply = requests.post(usage_url(emu), **kwargs)
    assert reply.status_code == 502 and reply.headers["Content-Type"].startswith("text/html")


def test_fault_validation(emu):
    with pytest.raises(ValueError, match="unknown fault kind"):
        emu.faults.add("404")
    with pytest.raises(ValueError):
        emu.faults.add("500", times=0)


# -- control endpoint and secrets -----------------------------------------------------------------
def test_control_endpoint(emu, org):
    control = emu.url + "/__emulator__"
    token = emu.issue_token("northwind_admin")
    added = requests.post(
        control + "/faults",
        verify=emu.ca_bundle,
        json={"kind": "500", "path": "usage", "times": 1, "start_time": USAGE_PARAMS["startTime"]},
    )
    assert added.json()["kind"] == "500"
    assert requests.get(control + "/faults", verify=emu.ca_bundle).json()["faults"][0]["conditional"] is True
    data = dict(USAGE_PARAMS, f="json", token=token)
    other = dict(data, startTime=str(day_ms(END_DAY - dt.timedelta(days=59))), endTime=USAGE_PARAMS["startTime"])
    assert requests.post(usage_url(emu), verify=emu.ca_bundle, data=other).ok  # another window: no fault
    assert requests.post(usage_url(emu), verify=emu.ca_bundle, data=data).status_code == 500
    assert requests.post(usage_url(emu), verify=emu.ca_bundle, data=data).ok  # times=1
    recorded = requests.get(control + "/requests", verify=emu.ca_bundle).json()["requests"]
    assert [(r["status"], r["fault"]) for r in recorded] == [(200, None), (500, "500"), (200, None)]
    assert not any(r["path"].startswith("/__emulator__") for r in recorded)
    requests.post(control + "/faults", verify=emu.ca_bundle, json={"kind": "429", "times": None})
    assert requests.delete(control + "/faults", verify=emu.ca_bundle).json()["success"] is True
    assert emu.faults.active == []
    assert requests.post(control + "/expire-tokens", verify=emu.ca_bundle).json()["success"] is True
    gone = requests.get(
        emu.url + "/sharing/rest/community/self", verify=emu.ca_bundle, params={"f": "json", "token": token}
    ).json()
    assert gone["error"]["code"] == 498
    orgs = requests.get(control + "/orgs", verify=emu.ca_bundle).json()["orgs"]
    assert [o["name"] for o in orgs] == ["Northwind Regional GIS", "Lakeside County GIS"]
    bad = requests.post(control + "/faults", verify=emu.ca_bundle, json={"kind": "nonsense"})
    assert bad.status_code == 400


def test_recorded_requests_hold_no_secrets(emu, org):
    password = org.passwords["northwind_admin"]
    oauth = login(emu, "northwind_admin", password)
    gen = login(emu, "northwind_admin", password, use_gen_token=True)
    with pytest.raises(Exception, match="Invalid username or password"):
        login(emu, "northwind_admin", "wrong-" + password)
    requests.get(
        emu.url + "/sharing/rest/portals/self", verify=emu.ca_bundle, params={"f": "json", "token": gen._con.token}
    )
    dump = json.dumps(emu.requests)
    secrets_seen = [password, "wrong-" + password, oauth._con.token, gen._con.token]
    assert all(s and s not in dump for s in secrets_seen)
    for record in emu.requests:
        assert not {"password", "token", "access_token", "oauth_state"} & set(record["params"])
        assert set(record) >= {"method", "path", "params", "username", "timestamp"}
    control = requests.get(emu.url + "/__emulator__/requests", verify=emu.ca_bundle).text
    assert all(s not in control for s in secrets_seen)


# -- command line ---------------------------------------------------------------------------------
def test_main_subprocess_prints_url_and_serves(tmp_path):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "creditlens.fake.emulator",
            "--members",
            "20",
            "--days",
            "30",
            "--port",
            "0",
            "--cert-dir",
            str(tmp_path),
            "--ready-file",
            str(tmp_path / "ready.json"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        first = proc.stdout.readline().strip()
        ready = json.loads((tmp_path / "ready.json").read_text())  # written before the banner
        url = ready["url"]
        assert first == f"Credit Lens portal emulator listening on {url}"
        assert url.startswith("https://127.0.0.1:") and int(url.rsplit(":", 1)[1]) > 0
        block = [proc.stdout.readline() for _ in range(8)]
        text = "".join(block)
        assert "northwind_admin" in text and "northwind_admin-demo-pw" in text
        bundle = ready["ca_bundle"]
        assert bundle == str(tmp_path / "creditlens-emulator-cert.pem")
        assert f"CREDITLENS_CA_BUNDLE={bundle}" in text
        info = requests.get(url + "/sharing/rest/info", params={"f": "json"}, verify=bundle).json()
        assert info["authInfo"]["isTokenBasedSecurity"] is True
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0


def test_main_parses_options_without_serving():
    with pytest.raises(SystemExit):
        main(["--help"])


def test_cert_dir_reuses_certificate(tmp_path, org):
    with PortalEmulator([org], cert_dir=tmp_path) as first:
        pem = Path(first.ca_bundle).read_bytes()
    with PortalEmulator([org], cert_dir=tmp_path) as second:
        assert Path(second.ca_bundle).read_bytes() == pem
        assert requests.get(second.url + "/info", verify=second.ca_bundle).ok
