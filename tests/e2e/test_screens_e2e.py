"""Every page on a desktop (1440×900) and a phone (390 px wide), for Today, Last 7 days, Last year and a
400-day custom range: screenshots under ``test-artifacts/screens/`` for people to look at, and checks
that hold on every screen. Every request the page makes is recorded; one to another host fails the test
(nothing leaves this computer: no font, icon or favicon host, no telemetry).
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode, urlsplit

import pytest
from conftest import ROOT, assert_clean, screenshot, wait_for_app

from creditlens import dates
from creditlens.ui import pages

SCREENS = ROOT / "test-artifacts" / "screens"
VIEWPORTS = {"desktop": (1440, 900), "phone": (390, 844)}


def ranges() -> dict[str, dict[str, str]]:
    today = dates.utc_today()
    return {
        "today": {"range": "today"},
        "last-7-days": {"range": "last-7-days"},
        "last-year": {"range": "last-year"},
        "custom-400-days": {"start": str(today - dt.timedelta(days=399)), "end": str(today)},
    }


def wait_drawn(page) -> None:
    """Every chart drawn and every table gridded (before a screenshot)."""
    page.wait_for_function(
        """() => {
            const charts = [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')];
            const frames = [...document.querySelectorAll('[data-testid="stDataFrame"]')];
            return charts.every(c => c.querySelector('canvas, svg'))
                && frames.every(f => f.querySelector('table[role="grid"], canvas'));
        }""",
        timeout=90_000,
    )


@pytest.fixture(scope="module")
def offsite_log():
    """Every request to a host other than the app's, from every screen of this module."""
    return []


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
@pytest.mark.parametrize("period", list(ranges()))
def test_every_page_looks_right_and_nothing_leaves_the_machine(demo_server, browser, period, viewport, offsite_log):
    width, height = VIEWPORTS[viewport]
    context = browser.new_context(viewport={"width": width, "height": height}, is_mobile=viewport == "phone")
    context.set_default_timeout(90_000)
    own = urlsplit(demo_server.url).netloc
    requests: list[str] = []
    context.on("request", lambda request: requests.append(request.url))
    context.on("websocket", lambda ws: requests.append(ws.url))
    page = context.new_page()
    try:
        for entry in pages.PAGES:  # every page the app registers
            name = entry.url_path or "overview"
            page.goto(f"{demo_server.url}/{entry.url_path}?{urlencode(ranges()[period])}")
            page.locator('[data-testid="stMain"] h1', has_text=entry.title).first.wait_for()
            wait_for_app(page, timeout_ms=120_000)
            wait_drawn(page)
            assert_clean(page)
            screenshot(page, f"{period}_{name}_{viewport}", directory=SCREENS)
            if viewport == "phone":
                overflow = page.evaluate(
                    """w => [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')]
                        .map(c => c.getBoundingClientRect().right).filter(r => r > w + 1)""",
                    width,
                )
                assert not overflow, f"{name}: a chart runs past the phone's edge ({overflow})"
    finally:
        context.close()
    offsite = [
        url for url in requests if urlsplit(url).scheme not in ("data", "blob", "about") and urlsplit(url).netloc != own
    ]
    offsite_log.extend(offsite)
    assert not offsite, f"requests to other hosts: {sorted(set(offsite))}"


def test_the_favicon_comes_from_the_app(demo_server, browser):
    context = browser.new_context()
    page = context.new_page()
    try:
        page.goto(demo_server.url)
        wait_for_app(page, timeout_ms=120_000)
        page.wait_for_function("() => document.querySelector('link[rel~=\"icon\"]')")
        href = page.evaluate("() => document.querySelector('link[rel~=\"icon\"]').href")
        assert urlsplit(href).netloc == urlsplit(demo_server.url).netloc, href
        assert page.request.get(href).ok
    finally:
        context.close()
