"""Issue 10 in a team deployment: the shared connection survives a lost sign-in (item 5), and the
gate shows the portal's words as text, never Markdown.

The shared connection signs in for real, through ``arcgis``, to the in-process HTTPS emulator.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from creditlens.deployment import Rebuild, ServerConnection, rebuild_decision
from creditlens.errors import LoginFailed, PortalError
from creditlens.fake.demo_org import OrgSpec, build_demo_org
from creditlens.portal import TOKEN_LOST
from creditlens.ui import gate

pytestmark = pytest.mark.integration

APP = str(Path(__file__).resolve().parents[1] / "app.py")
HOSTILE = "![x](https://evil.example/p.png) **Harbor** [Sign in again](https://evil.example)"


@pytest.fixture(scope="module")
def org():
    return build_demo_org(OrgSpec(members=30, days=120, seed=3, name=HOSTILE, url_key="harbor"))


@pytest.fixture(scope="module")
def emulator(org, emulator_factory):
    return emulator_factory([org])


@pytest.fixture
def server(emulator, org):
    username = next(name for name in org.passwords if name.endswith("_analyst"))
    emulator.faults.clear()
    yield ServerConnection(emulator.url, username, org.passwords[username], emulator.ca_bundle)
    emulator.faults.clear()


@pytest.fixture(autouse=True)
def _isolated(monkeypatch):
    for name in list(os.environ):
        if name.startswith("CREDITLENS_"):
            monkeypatch.delenv(name)
    gate.forget_shared_connections()
    st.cache_data.clear()
    yield
    gate.forget_shared_connections()


def full_sign_ins(emulator) -> int:
    """New connections: ``connect`` checks one day of usage once per connection; a re-sign-in does not."""
    return sum(1 for r in emulator.requests if r["path"].endswith("/usage"))


# -- the pure decision -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("failed", "current", "last", "now", "expected"),
    [
        (0, 0, None, 100.0, Rebuild.REBUILD),  # the first loss: rebuild
        (0, 1, 99.0, 100.0, Rebuild.REUSE),  # someone rebuilt after this call began
        (1, 1, 95.0, 100.0, Rebuild.WAIT),  # the new one failed too, moments later: do not hammer
        (1, 1, 60.0, 100.0, Rebuild.REBUILD),  # long enough ago: try again
    ],
)
def test_the_shared_connection_is_rebuilt_once_per_loss_and_not_hammered(failed, current, last, now, expected):
    assert rebuild_decision(failed, current, last, now, min_interval_s=30) is expected


# -- through the real client --------------------------------------------------------------------------
def test_a_shared_connection_whose_sign_in_is_lost_is_rebuilt_for_everyone(emulator, server):
    conn = gate.connect_shared(server)
    # arcgis answers a 498 by asking once more without any token (the first two faults); the
    # transport then signs in again and asks again (the third): still refused, so the shared
    # connection rebuilds itself, and the fourth request, through the new connection, is answered.
    emulator.faults.add("498", path="portals/self/roles", times=3)
    emulator.clear_requests()
    reply = conn.post("portals/self/roles", {})
    assert "roles" in reply
    assert conn.transport.generation == 1
    assert full_sign_ins(emulator) == 1
    emulator.clear_requests()
    assert "roles" in conn.post("portals/self/roles", {})  # later visitors use the new connection
    assert full_sign_ins(emulator) == 0


def test_a_rebuild_that_cannot_sign_in_says_so_and_waits(emulator, server):
    conn = gate.connect_shared(server)
    emulator.faults.add("498", path="portals/self/roles", times=None)
    with pytest.raises(PortalError) as first:
        conn.post("portals/self/roles", {})
    assert str(first.value) == TOKEN_LOST  # rebuilt, and the fresh connection's token fails as well
    emulator.clear_requests()
    with pytest.raises(PortalError) as second:
        conn.post("portals/self/roles", {})
    assert "tried again within 30 seconds" in str(second.value)
    assert full_sign_ins(emulator) == 0  # no second rebuild right away: the account is not hammered


class LostToken:
    """A transport whose token is gone for good (what the inner transport raises after its own retry)."""

    def __init__(self) -> None:
        self.calls = 0

    def post(self, path: str, params: dict[str, str]) -> dict:
        self.calls += 1
        raise PortalError(TOKEN_LOST, 498)

    def relogin(self) -> None:
        return None


class Working:
    def post(self, path: str, params: dict[str, str]) -> dict:
        return {"ok": path}

    def relogin(self) -> None:
        return None


def test_concurrent_visitors_share_one_rebuild():
    rebuilt = []
    gate_open = threading.Event()

    def rebuild():
        gate_open.wait(5)  # every visitor has failed on the old connection before the rebuild ends
        rebuilt.append(1)
        return Working()

    transport = gate.SharedTransport(LostToken(), rebuild)
    results: list[object] = []

    def visit() -> None:
        try:
            results.append(transport.post("portals/self/roles", {}))
        except BaseException as exc:
            results.append(exc)

    threads = [threading.Thread(target=visit) for _ in range(8)]
    for thread in threads:
        thread.start()
    gate_open.set()
    for thread in threads:
        thread.join()
    assert rebuilt == [1]
    assert results == [{"ok": "portals/self/roles"}] * 8


def test_a_failed_rebuild_is_one_message_without_the_password():
    def rebuild():
        raise LoginFailed("Sign-in failed: the username or password is wrong.")

    transport = gate.SharedTransport(LostToken(), rebuild)
    with pytest.raises(PortalError) as caught:
        transport.post("portals/self/roles", {})
    assert str(caught.value) == (
        "Signing in to the shared organization again failed: Sign-in failed: the username or password is wrong."
    )


# -- untrusted text in the gate -----------------------------------------------------------------------
def test_the_shared_org_name_is_shown_as_text_not_markdown(server):
    at = AppTest.from_file(APP, default_timeout=60)
    at.secrets["creditlens"] = {
        "portal_url": server.portal_url,
        "username": server.username,
        "password": server.password,
        "ca_bundle": server.ca_bundle,
        "allow_open": True,
    }
    at.run()
    captions = [c.value for c in at.caption if "Everyone who opens this app" in c.value]
    assert captions, [c.value for c in at.caption]
    shown = captions[0]
    assert "![x](" not in shown and "[Sign in again](" not in shown  # no live image or link syntax
    assert r"\!\[x\]\(https" in shown  # escaped: the reader sees the name as typed
