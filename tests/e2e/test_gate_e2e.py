"""Team deployment in a real browser: the access-code gate in front of a server-side org connection.

``streamlit run`` gets its shared connection from the environment and signs in, through ``arcgis``,
to a portal emulator running in this test process, so the test can read every token the emulator
issued and check that none of them, nor the server password, ever reaches the browser.
"""

from __future__ import annotations

import csv
import io
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import MAIN, StreamlitServer, open_page, screenshot, wait_for_app

from creditlens.deployment import hash_access_code
from creditlens.fake.demo_org import OrgSpec, build_demo_org

ORG = "Harbor City GIS"
USERNAME = "harbor_analyst"  # the emulator's least-privilege account (a custom role that may view usage)
PASSWORD = f"{USERNAME}-demo-pw"
CODE = "tidal-basin-42"
TIMEOUT = 60_000


@pytest.fixture(scope="module")
def emulator(emulator_factory):
    return emulator_factory([build_demo_org(OrgSpec(members=30, days=120, seed=3, name=ORG, url_key="harbor"))])


@pytest.fixture(scope="module")
def gated_server(emulator):
    server = StreamlitServer(
        env={
            "CREDITLENS_SERVER_PORTAL_URL": emulator.url,
            "CREDITLENS_SERVER_USERNAME": USERNAME,
            "CREDITLENS_SERVER_PASSWORD": PASSWORD,
            "CREDITLENS_SERVER_CA_BUNDLE": emulator.ca_bundle,
            "CREDITLENS_ACCESS_CODE_HASH": hash_access_code(CODE, iterations=1000),
            "CREDITLENS_MAX_ACCESS_ATTEMPTS": "3",
        }
    ).start()
    yield server
    server.stop()


def open_gate(page, server: StreamlitServer):
    page.goto(server.url)
    wait_for_app(page)
    field = page.get_by_label("Access code")
    field.wait_for(timeout=TIMEOUT)
    return field


def try_code(page, code: str) -> None:
    page.get_by_label("Access code").fill(code)
    page.get_by_role("button", name="Enter").click()


def test_a_wrong_code_then_the_right_one(page, gated_server):
    open_gate(page, gated_server)
    main = page.get_by_test_id("stMain")
    assert ORG not in main.inner_text()
    assert page.get_by_label("Access code").get_attribute("type") == "password"
    screenshot(page, "gate-access-code")
    try_code(page, "not-the-code")
    page.get_by_text("That access code is not right. 2 tries left.").wait_for(timeout=TIMEOUT)
    assert page.get_by_label("Access code").input_value() == ""
    screenshot(page, "gate-wrong-code")
    try_code(page, CODE)
    page.get_by_text(f"{ORG} ·").wait_for(timeout=TIMEOUT)
    page.get_by_text("Credits in range").first.wait_for(timeout=TIMEOUT)
    wait_for_app(page)
    assert page.get_by_label("Access code").count() == 0
    sidebar = page.get_by_test_id("stSidebar")
    assert sidebar.get_by_role("radio", name=f"{ORG} (shared)").is_checked()
    assert sidebar.get_by_label("Password").count() == 0  # no credential fields for the shared org
    page.get_by_test_id("stDataFrame").locator("canvas").first.wait_for(timeout=TIMEOUT)
    screenshot(page, "gate-granted")


def test_the_lockout_in_a_fresh_session(page, gated_server):
    open_gate(page, gated_server)
    for left in (2, 1):
        try_code(page, f"guess-{left}")
        page.get_by_text(f"not right. {left} {'try' if left == 1 else 'tries'} left").wait_for(timeout=TIMEOUT)
    try_code(page, "guess-0")
    page.get_by_text("Locked: 3 wrong access codes in this session").wait_for(timeout=TIMEOUT)
    wait_for_app(page)
    assert page.get_by_label("Access code").count() == 0
    assert ORG not in page.get_by_test_id("stMain").inner_text()
    screenshot(page, "gate-locked")
    page.get_by_role("button", name="Explore the demo organization instead").click()
    page.get_by_text("Northwind Regional GIS ·").wait_for(timeout=TIMEOUT)  # the demo needs no gate


def test_no_password_or_token_reaches_the_browser(browser, gated_server, emulator):
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = context.new_page()
    frames: list[bytes] = []
    responses = []

    def on_websocket(ws) -> None:
        for event in ("framereceived", "framesent"):
            ws.on(event, lambda payload: frames.append(payload.encode() if isinstance(payload, str) else payload))

    page.on("websocket", on_websocket)
    page.on("response", lambda response: responses.append(response))
    try:
        open_gate(page, gated_server)
        try_code(page, CODE)
        page.get_by_text(f"{ORG} ·").wait_for(timeout=TIMEOUT)
        page.get_by_text("Credits in range").first.wait_for(timeout=TIMEOUT)
        wait_for_app(page)
        page.get_by_role("link", name="Leaderboard").click()
        page.get_by_role("heading", name="Leaderboard").wait_for(timeout=TIMEOUT)
        wait_for_app(page)
        received = list(frames)
        for response in responses:
            try:
                received.append(response.body())
            except Exception:  # redirects and the like have no body
                continue
        received.append(page.content().encode())
    finally:
        context.close()

    tokens = emulator.issued_secrets()
    assert tokens, "the shared connection should have signed in to the emulator"
    everything = b"\n".join(received)
    assert ORG.encode() in b"\n".join(frames)  # the recording did capture the org's data as it was sent
    assert PASSWORD.encode() not in everything
    leaked = [t[:6] + "…" for t in tokens if t.encode() in everything]
    assert not leaked, f"{len(leaked)} emulator token(s) reached the browser"
    assert PASSWORD not in gated_server.log_text()


def fetch_fresh(url: str) -> bytes:
    """``url`` from a new client: no cookie, no session, no gate. Nothing when it will not answer."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url), timeout=15) as reply:
            return reply.read()
    except (urllib.error.URLError, ValueError, OSError):  # 4xx/5xx, or a scheme urllib cannot fetch (blob:)
        return b""


def test_a_download_cannot_be_fetched_again_without_the_gate(page, gated_server):
    fetched: list[str] = []
    page.on("request", lambda request: fetched.append(request.url))
    open_gate(page, gated_server)
    try_code(page, CODE)
    page.get_by_text(f"{ORG} ·").wait_for(timeout=TIMEOUT)
    wait_for_app(page)
    open_page(page, "Leaderboard")
    with page.expect_download(timeout=TIMEOUT) as info:
        page.locator(MAIN).get_by_role("button", name="Download CSV").click()
    download = info.value
    body = Path(download.path()).read_bytes()
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows, "the download should hold the leaderboard"
    username = next(value for key, value in rows[0].items() if key.lower() == "username")
    assert download.suggested_filename.endswith(".csv")

    assert fetch_fresh(download.url) == b""  # the URL the browser saved from gives a fresh client nothing
    for url in dict.fromkeys(fetched):  # nor does any other URL this page fetched
        replayed = fetch_fresh(url)
        assert username.encode() not in replayed and body not in replayed, f"{url} serves the data without the gate"
