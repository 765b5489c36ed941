"""The emulator's ready file: what a process that starts the emulator reads instead of its banner."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from creditlens.fake.demo_org import OrgSpec, build_demo_org
from creditlens.fake.emulator import PortalEmulator
from creditlens.fake.oauth_flow import add_oauth_admins, mfa_code

pytestmark = pytest.mark.integration


def read_when_ready(path: Path, proc: subprocess.Popen, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else "exited"
        if path.exists():
            return json.loads(path.read_text())
        time.sleep(0.1)
    raise TimeoutError(f"no ready file at {path}")


def generate_token(info: dict, username: str, password: str) -> dict:
    return requests.post(
        info["url"] + "/sharing/rest/generateToken",
        data={"username": username, "password": password, "f": "json"},
        verify=info["ca_bundle"],
        timeout=30,
    ).json()


def test_the_command_writes_a_ready_file_and_removes_it_on_exit(tmp_path):
    ready = tmp_path / "state" / "ready.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "creditlens.fake.emulator", "--members", "20", "--days", "30", "--second-org",
         "--cert-dir", str(tmp_path / "cert"), "--ready-file", str(ready)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        info = read_when_ready(ready, proc)
        assert stat.S_IMODE(os.stat(ready).st_mode) == 0o600  # it names the demo passwords
        assert info["ca_bundle"] == str(tmp_path / "cert" / "creditlens-emulator-cert.pem")
        assert [o["urlKey"] for o in info["orgs"]] == ["northwind", "lakeside"]
        accounts = {a["username"]: a for o in info["orgs"] for a in o["accounts"]}
        assert set(accounts) == {f"{k}_{r}" for k in ("northwind", "lakeside") for r in ("admin", "analyst", "viewer")}
        assert accounts["lakeside_viewer"]["note"] == "user: may not view credit usage"
        admin = accounts["northwind_admin"]
        assert "token" in generate_token(info, admin["username"], admin["password"])
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    assert proc.returncode == 0 and not ready.exists()


def test_the_in_process_emulator_writes_what_ready_info_says(tmp_path):
    org = build_demo_org(OrgSpec(members=10, days=20, seed=9, url_key="ready", name="Ready Org"))
    ready = tmp_path / "ready.json"
    with PortalEmulator([org], ready_file=ready) as emu:
        info = json.loads(ready.read_text())
        assert info == emu.ready_info()
        assert info["url"] == emu.url and info["ca_bundle"] == emu.ca_bundle
        (only,) = info["orgs"]
        assert (only["id"], only["name"], only["members"]) == (org.org_id, "Ready Org", 10)
        assert {a["username"]: a["password"] for a in only["accounts"]} == org.passwords
        reply = generate_token(info, "ready_analyst", org.passwords["ready_analyst"])
        assert emu.issued_tokens() == [reply["token"]]
    assert not ready.exists()


def test_sign_in_with_arcgis_admins_are_listed_apart(tmp_path):
    plain = build_demo_org(OrgSpec(members=10, days=20, seed=9, url_key="plain"))
    both = add_oauth_admins(build_demo_org(OrgSpec(members=10, days=20, seed=10, url_key="both")))
    with PortalEmulator([plain, both], ready_file=tmp_path / "ready.json") as emu:
        info = json.loads((tmp_path / "ready.json").read_text())
        assert info == emu.ready_info()
    first, second = info["orgs"]
    assert first["oauth_accounts"] == []
    kinds = {a["username"]: a for a in second["oauth_accounts"]}
    assert set(kinds) == {"both_sso_admin", "both_mfa_admin"}
    assert "password" not in kinds["both_sso_admin"] and kinds["both_mfa_admin"]["mfa_code"] == mfa_code(both)
    assert {a["username"] for a in second["accounts"]} == set(both.passwords)  # password accounts only
