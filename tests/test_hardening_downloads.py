"""Issue 10, item 1: a real org's downloads never get a URL in Streamlit's media store.

The browser half (click, save, then replay every URL from a fresh client) is
``tests/e2e/test_gate_e2e.py::test_a_download_cannot_be_fetched_again_without_the_gate``; these
AppTest checks pin what the server sends before and around a click.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from creditlens.fake.demo_org import OrgSpec, build_demo_org
from creditlens.ui import downloads, gate

pytestmark = pytest.mark.integration

APP = str(Path(__file__).resolve().parents[1] / "app.py")
LEADERBOARD = "app_pages/leaderboard.py"


@pytest.fixture(scope="module")
def org():
    return build_demo_org(OrgSpec(members=30, days=120, seed=3, name="Harbor City GIS", url_key="harbor"))


@pytest.fixture(scope="module")
def emulator(org, emulator_factory):
    return emulator_factory([org])


@pytest.fixture(autouse=True)
def _isolated(monkeypatch):
    for name in list(os.environ):
        if name.startswith("CREDITLENS_"):
            monkeypatch.delenv(name)
    gate.forget_shared_connections()
    st.cache_data.clear()
    yield
    gate.forget_shared_connections()


def bidi_components(at: AppTest) -> list:
    found = []

    def walk(node) -> None:
        for child in getattr(node, "children", {}).values():
            if getattr(child, "type", None) == "bidi_component":
                found.append(child.proto)
            walk(child)

    walk(at._tree)
    return [p for p in found if p.component_name == downloads.COMPONENT_NAME]


def shared_leaderboard(emulator, org) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.secrets["creditlens"] = {
        "portal_url": emulator.url,
        "username": "harbor_analyst",
        "password": org.passwords["harbor_analyst"],
        "ca_bundle": emulator.ca_bundle,
        "allow_open": True,
    }
    at.run()
    return at.switch_page(LEADERBOARD).run()


def test_a_real_orgs_leaderboard_offers_no_media_store_download(emulator, org):
    at = shared_leaderboard(emulator, org)
    assert not at.exception
    assert len(at.download_button) == 0  # st.download_button would put the file under /media/
    buttons = bidi_components(at)
    labels = [json.loads(p.json)["label"] for p in buttons]
    assert labels == ["Download CSV", "Download Excel"]
    for proto in buttons:
        sent = json.loads(proto.json)
        assert set(sent) == {"label", "ticket"}  # no file bytes until the visitor asks for them


def test_the_demo_org_keeps_streamlits_own_buttons():
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.switch_page(LEADERBOARD).run()
    assert len(at.download_button) == 2  # synthetic data: nothing to protect
    assert bidi_components(at) == []


def _tickets_script() -> None:
    import streamlit as st

    from creditlens.ui import downloads

    first = downloads.current_ticket("k")
    st.session_state["results"] = [
        downloads.current_ticket("k") == first,  # stable until used
        downloads.redeem_ticket("k", "not-the-ticket"),
        downloads.redeem_ticket("k", None),
        downloads.redeem_ticket("k", first),
        downloads.redeem_ticket("k", first),  # a replayed click builds nothing
        downloads.current_ticket("k") != first,
        downloads.is_protected(),  # no view yet: treated as a real org
    ]


def test_a_click_ticket_is_good_once_and_a_missing_view_counts_as_real():
    at = AppTest.from_function(_tickets_script).run()
    assert at.session_state["results"] == [True, False, False, True, False, True, True]


def test_the_file_handed_to_the_browser_is_the_exact_bytes():
    payload = b'rank,username\n1,=HYPERLINK("x")\n\xff'
    item = downloads.Download("Download CSV", "org_2026-01-01_2026-01-31_leaderboard.csv", "text/csv", lambda: payload)
    sent = downloads.file_payload(item, item.make())
    assert base64.b64decode(sent["b64"]) == payload
    assert sent["name"] == item.file_name and sent["mime"] == "text/csv"
    assert sent["id"] != downloads.file_payload(item, payload)["id"]  # every hand-over is its own


def test_every_download_goes_through_the_session_bound_seam():
    root = Path(__file__).resolve().parents[1]
    sources = [root / "app.py", *sorted((root / "app_pages").glob("*.py")), *sorted((root / "src").rglob("*.py"))]
    seam = root / "src" / "creditlens" / "ui" / "downloads.py"
    bypass = [str(p.relative_to(root)) for p in sources if p != seam and ".download_button(" in p.read_text()]
    assert bypass == [], "st.download_button serves files from /media/ to anyone: use ui.downloads.download_buttons"
