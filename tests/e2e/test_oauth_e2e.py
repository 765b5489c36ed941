"""Sign in with ArcGIS in a real browser: the app's button, the emulator's sign-in page with the MFA
step, back in the app signed in (no code, state or token in the URL, page or server log), the
Leaderboard, and sign-out making the token invalid at the emulator."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import pytest
from conftest import (
    DEFAULT_TIMEOUT_MS,
    MAIN,
    SHOWING,
    SIDEBAR,
    StreamlitServer,
    assert_clean,
    open_page,
    screenshot,
    showing,
    wait_for_app,
    wait_signed_in,
)

from creditlens.fake.demo_org import OrgSpec, build_demo_org
from creditlens.fake.oauth_flow import add_oauth_admins, mfa_code, mfa_password

ORG = "Wharf County GIS"
MFA_ADMIN = "wharf_mfa_admin"


@pytest.fixture(scope="module")
def org():
    return add_oauth_admins(build_demo_org(OrgSpec(members=40, days=120, seed=43, name=ORG, url_key="wharf")))


@pytest.fixture(scope="module")
def emu(emulator_factory, org):
    return emulator_factory([org])


@pytest.fixture(scope="module")
def oauth_app(emu):
    """The app with an OAuth client id; the redirect URI is its own URL (not configured)."""
    server = StreamlitServer(env={"CREDITLENS_CLIENT_ID": "creditlens-e2e", "CREDITLENS_CA_BUNDLE": emu.ca_bundle})
    server.start()
    yield server
    server.stop()


def mfa_admin_tokens(emu) -> list[str]:
    """The live access and refresh tokens the emulator issued to the MFA admin."""
    access = [t for t in emu.issued_tokens() if (info := emu.auth.token_info(t)) and info.username == MFA_ADMIN]
    refresh = [t for t in emu.auth.issued_refresh_tokens() if t in {emu.auth.token_info(a).refresh for a in access}]
    return access + refresh


ROOT = Path(__file__).resolve().parents[2]
SKIP_DIRS = {".git", ".venv", "node_modules", "__pycache__"}


def files_holding(roots: list[Path], secrets: list[str], since: float) -> list[Path]:
    """Files written since ``since`` under ``roots`` that contain any of ``secrets``."""
    hits = []
    for root in roots:
        for folder, dirs, names in os.walk(root):
            dirs[:] = [d for d in dirs if d not in SKIP_DIRS]
            for name in names:
                path = Path(folder, name)
                try:
                    recent = path.stat().st_mtime >= since and path.stat().st_size < 200_000_000
                    if recent and any(secret.encode() in path.read_bytes() for secret in secrets):
                        hits.append(path)
                except OSError:
                    continue
    return hits


def test_sign_in_with_arcgis_mfa_admin_leaderboard_and_sign_out(browser, oauth_app, emu, org):
    started = time.time()
    # The browser trusts the emulator's self-signed certificate as it would trust ArcGIS Online's.
    context = browser.new_context(viewport={"width": 1440, "height": 1000}, ignore_https_errors=True)
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    page = context.new_page()
    try:
        page.goto(oauth_app.url)
        wait_for_app(page)
        sidebar = page.locator(SIDEBAR)
        sidebar.get_by_text("ArcGIS Online", exact=True).click()
        url_box = sidebar.get_by_role("textbox", name="Organization URL")
        url_box.wait_for()
        wait_for_app(page)
        url_box.fill(emu.url)
        sidebar.get_by_role("button", name="Sign in with ArcGIS").click()
        proceed = sidebar.get_by_role("link", name="Continue to ArcGIS Online")
        proceed.wait_for()

        # 1-2. ArcGIS Online's sign-in page (a new tab), then the MFA step
        with context.expect_page() as opened:
            proceed.click()
        portal = opened.value
        portal.wait_for_load_state()
        assert portal.url.startswith(emu.url + "/sharing/rest/oauth2/authorize?")
        assert "code_challenge_method=S256" in portal.url
        portal.get_by_label("Username", exact=True).fill(MFA_ADMIN)
        portal.get_by_label("Password", exact=True).fill(mfa_password(MFA_ADMIN))
        portal.get_by_role("button", name="Sign In", exact=True).click()
        portal.get_by_label("Authentication code").fill(mfa_code(org))
        portal.get_by_role("button", name="Verify").click()

        # 3. back in the app, signed in, with nothing secret in the URL or on the page
        portal.wait_for_url(oauth_app.url + "/**")
        wait_signed_in(portal, ORG)
        portal.wait_for_function("() => !/[?&](code|state)=/.test(location.search)")
        secrets = mfa_admin_tokens(emu)
        assert len(secrets) == 2, "one access token and its refresh token"
        assert portal.locator(SIDEBAR).get_by_text(f"Signed in as {'Multifactor Admin'} ({MFA_ADMIN})").count() == 1
        screenshot(portal, "oauth-signed-in", full_page=False)

        # 4. the Leaderboard loads through the token
        open_page(portal, "Leaderboard")
        portal.locator(MAIN).get_by_text(SHOWING).wait_for(timeout=120_000)  # the first fetch of the range
        shown, total = showing(portal)
        assert shown == total > 0
        assert_clean(portal)
        seen = portal.url + portal.content() + oauth_app.log_text()
        every = [*secrets, *emu.issued_secrets()]  # with the redeemed code and PKCE verifier
        for secret in every:
            assert secret not in seen
        assert "code=" not in portal.url and "state=" not in portal.url
        assert files_holding([ROOT, Path(tempfile.gettempdir())], every, started) == []

        # 5. sign-out revokes: the token no longer works at the emulator
        portal.locator(SIDEBAR).get_by_role("button", name="Sign out").click()
        portal.locator(SIDEBAR).get_by_role("button", name="Connect").wait_for()
        assert all(emu.auth.token_info(t) is None for t in secrets)
        assert not set(secrets) & set(emu.auth.issued_refresh_tokens())
        assert portal.locator(MAIN).get_by_text(MFA_ADMIN).count() == 0
    finally:
        context.close()
