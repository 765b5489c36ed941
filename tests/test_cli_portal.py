"""The CLI against the HTTPS emulator: account and portal problems get one line and exit 1."""

from __future__ import annotations

import csv
import io

import pytest

from creditlens.cli import main
from creditlens.fake.demo_org import OrgSpec, build_demo_org

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def emulator(small_org, emulator_factory):
    ent = build_demo_org(OrgSpec(members=8, days=30, seed=41, end_day=small_org.last_day, url_key="entcli"))
    ent.portal.update(isPortal=True, portalName="ArcGIS Enterprise", portalMode="singletenant")
    quiet = build_demo_org(
        OrgSpec(members=8, days=30, seed=42, end_day=small_org.last_day, url_key="quietcli")
    ).clear_usage()
    return emulator_factory([small_org, ent, quiet])


def export(emulator, capsys, monkeypatch, username, url_suffix="", report="usage"):
    org = next(o for o in emulator.orgs if username in o.passwords)
    monkeypatch.setenv("CREDITLENS_PASSWORD", org.passwords[username])
    day = org.last_day.isoformat()
    code = main(
        [
            "export",
            "--portal",
            emulator.url + url_suffix,
            "--username",
            username,
            "--ca-bundle",
            emulator.ca_bundle,
            "--start",
            day,
            "--end",
            day,
            "--report",
            report,
        ]
    )
    out, err = capsys.readouterr()
    return code, out, err


def test_account_without_usage_privilege(emulator, capsys, monkeypatch, small_org):
    code, out, err = export(emulator, capsys, monkeypatch, f"{small_org.spec.url_key}_viewer")
    assert code == 1 and out == "" and "may not view credit usage" in err and err.count("\n") == 1


def test_enterprise_portal(emulator, capsys, monkeypatch):
    code, _, err = export(emulator, capsys, monkeypatch, "entcli_admin")
    assert code == 1 and "ArcGIS Enterprise" in err and "Traceback" not in err


def test_org_with_no_usage_writes_an_empty_table_and_lists_idle_members(emulator, capsys, monkeypatch):
    code, out, err = export(emulator, capsys, monkeypatch, "quietcli_admin")
    assert code == 0 and err == "" and list(csv.DictReader(io.StringIO(out))) == []
    code, out, _ = export(emulator, capsys, monkeypatch, "quietcli_admin", report="reconciliation")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and len(rows) == 8 and {r["status"] for r in rows} == {"member"}
    assert {float(r["credits"]) for r in rows} == {0.0}


def test_home_url_is_normalised(emulator, capsys, monkeypatch, small_org):
    code, out, _ = export(emulator, capsys, monkeypatch, small_org.admin_username, url_suffix="/home")
    assert code == 0 and out.startswith("day,username")
