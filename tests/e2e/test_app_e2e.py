"""The app in a real browser: every page, the custom range, leaderboard filters and downloads, shared
links and the ArcGIS Online sign-in against the HTTPS emulator.

Screenshots of every page go to ``test-artifacts/screenshots/``. With ``CREDITLENS_UPDATE_DOCS=1`` the
tour also refreshes the README's images (``docs/overview.png``, ``docs/leaderboard.png``,
``docs/reconciliation.png``: the 1440x900 viewport).
"""

from __future__ import annotations

import datetime as dt
import os
import re
from urllib.parse import urlsplit

from conftest import (
    ARTIFACTS,
    MAIN,
    ROOT,
    SHOWING,
    SIDEBAR,
    assert_clean,
    choose_period,
    download_csv,
    header_caption,
    new_page,
    open_page,
    query,
    read_grid,
    screenshot,
    showing,
    sign_in,
    wait_for_app,
    wait_for_query,
)
from playwright.sync_api import expect

from creditlens import dates

DEMO_ORG = "Northwind Regional GIS"
EMULATOR_ORG = "Northwind Regional GIS"  # the emulator's first org
DOCS = ROOT / "docs"
DOC_IMAGES = ("overview", "leaderboard", "reconciliation")

#: For each page (sidebar title, url path): text it must show once loaded.
PAGES = {
    "Overview": ("", ["Credits in range", "Active members", "Credits by service", "Top 10 members"]),
    "Leaderboard": ("leaderboard", [SHOWING, "Download CSV"]),
    "Trends": ("trends", ["Top users", "One user, in detail", "Everyone outside the top users"]),
    "Reconciliation": (
        "reconciliation",
        ["Usernames that are not current members", "Members with no usage", re.compile(r"= org total .* ✓")],
    ),
    "Budgets": ("budgets", ["Members with an allocation", "Over their allocation", "Every allocation"]),
}


def wait_rendered(page) -> None:
    """Wait until every chart has drawn and every dataframe has its grid (before a screenshot)."""
    page.wait_for_function(
        """() => {
            const charts = [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')];
            const frames = [...document.querySelectorAll('[data-testid="stDataFrame"]')];
            return charts.every(c => c.querySelector('canvas, svg'))
                && frames.every(f => f.querySelector('table[role="grid"]'));
        }"""
    )


def type_day(page, end: str, day: dt.date) -> None:
    """Type a day into the custom range's start or end field (year, month and day segments)."""
    page.locator(SIDEBAR).get_by_role("spinbutton", name=f"year, Dates {end} date").click()
    page.keyboard.type(day.strftime("%Y%m%d"))


def test_every_page_through_the_sidebar(demo_server, browser):
    page = new_page(browser, 1440, 900)  # the README images are this viewport
    page.goto(demo_server.url)
    page.locator(MAIN).get_by_text("Top 10 members").wait_for(timeout=90_000)  # the first run builds the org
    wait_for_app(page)
    label = dates.range_label(*dates.preset_range(dates.DEFAULT_PRESET))
    for title, (path, texts) in PAGES.items():
        if title != "Overview":
            open_page(page, title)
        assert urlsplit(page.url).path == f"/{path}"
        assert query(page.url) == {"range": "last-30-days"}, page.url
        main = page.locator(MAIN)
        for text in texts:
            main.get_by_text(text).first.wait_for()
        assert header_caption(page) == f"{DEMO_ORG} · {label} · All dates are UTC"
        if title == "Overview":
            assert main.locator('[data-testid="stMetric"]').count() == 4
        wait_rendered(page)
        page.mouse.move(1430, 890)  # no hover highlight in the pictures
        assert_clean(page)
        name = title.lower()
        if name in DOC_IMAGES:  # the README's pictures: what a first-time visitor sees on arrival
            screenshot(page, name, full_page=False, directory=ARTIFACTS / "docs")
            if os.environ.get("CREDITLENS_UPDATE_DOCS") == "1":
                screenshot(page, name, full_page=False, directory=DOCS)
        screenshot(page, name)
    page.context.close()


def test_custom_range_from_the_sidebar(demo_server, page, browser):
    page.goto(demo_server.url)
    wait_for_app(page)
    page.locator(MAIN).get_by_text("Top 10 members").wait_for(timeout=90_000)
    today = dates.utc_today()
    choose_period(page, "Custom range")
    # The date input starts from the range shown so far (the last 30 days).
    first, last = dates.preset_range(dates.DEFAULT_PRESET, today)
    wait_for_query(page, start=first.isoformat(), end=last.isoformat())

    start, end = today - dt.timedelta(days=70), today - dt.timedelta(days=56)
    type_day(page, "start", start)
    type_day(page, "end", end)
    page.locator(f"{MAIN} h1").click()  # the date input commits when it loses focus
    wait_for_query(page, start=start.isoformat(), end=end.isoformat())
    wait_for_app(page)

    label = dates.range_label(start, end)
    assert label.endswith("(UTC, 15 days)")
    page.locator(SIDEBAR).get_by_text(label, exact=True).wait_for()
    page.locator(MAIN).get_by_text(f"{DEMO_ORG} · {label}").first.wait_for()  # charts carry the same caption
    assert set(query(page.url)) == {"start", "end"}, page.url  # no preset next to a custom range
    assert_clean(page)

    # A link to a custom range reopens it in a new session, widget included.
    other = new_page(browser)
    try:
        other.goto(page.url)
        other.locator(MAIN).get_by_text(f"{DEMO_ORG} · {label}").first.wait_for()  # charts carry the same caption
        wait_for_app(other)
        assert other.locator(SIDEBAR).get_by_role("combobox", name="Period").input_value() == "Custom range"
        other.locator(SIDEBAR).get_by_text(label, exact=True).wait_for()
        assert_clean(other)
    finally:
        other.context.close()

    # Back to a preset: the link names the preset again.
    choose_period(page, "Last 90 days")
    wait_for_query(page, range="last-90-days")
    page.locator(SIDEBAR).get_by_text(dates.range_label(*dates.preset_range("Last 90 days", today))).wait_for()
    assert set(query(page.url)) == {"range"}, page.url


def test_leaderboard_filter_and_csv_download_match_the_table(demo_server, page):
    page.goto(f"{demo_server.url}/leaderboard")
    main = page.locator(MAIN)
    main.get_by_text(SHOWING).wait_for(timeout=90_000)
    wait_for_app(page)
    _, everyone = showing(page)

    status = main.get_by_role("combobox", name="Status")
    for option in ("External org", "Public account"):
        status.click()
        page.get_by_role("option", name=option, exact=True).click()
        page.keyboard.press("Escape")
        wait_for_app(page)
    wait_for_query(page, status="external,public")
    shown, total = showing(page)
    assert total == everyone and 0 < shown < total

    rows = read_grid(page, rows=shown)
    assert len(rows) == shown
    assert {r["Status"] for r in rows} == {"External org", "Public account"}

    file_name, csv_rows = download_csv(page)
    start, end = dates.preset_range(dates.DEFAULT_PRESET)
    assert file_name == f"creditlens_northwind-regional-gis_{start}_{end}_leaderboard.csv"
    assert len(csv_rows) == shown
    assert [r["Username"] for r in csv_rows] == [r["Username"] for r in rows]
    assert [r["Status"] for r in csv_rows] == [r["Status"] for r in rows]
    assert [r["Rank"] for r in csv_rows] == [r["Rank"] for r in rows]
    assert_clean(page)

    # Every filter, minimum credits included, is still set after a visit to another page.
    minimum = main.get_by_role("spinbutton", name="Minimum credits")
    minimum.fill("10")
    minimum.press("Enter")
    wait_for_query(page, status="external,public", min="10")
    wait_for_app(page)
    filtered = showing(page)
    assert filtered[0] <= shown
    open_page(page, "Overview")
    open_page(page, "Leaderboard")
    wait_for_query(page, status="external,public")  # written by the same call as min=
    assert query(page.url).get("min") == "10", page.url
    assert showing(page) == filtered
    assert minimum.input_value() == "10.00"
    assert_clean(page)


def test_a_shared_link_opens_the_same_view(demo_server, page, browser):
    page.goto(demo_server.url)
    page.locator(MAIN).get_by_text("Top 10 members").wait_for(timeout=90_000)
    wait_for_app(page)
    choose_period(page, "Last 90 days")
    wait_for_query(page, range="last-90-days")
    open_page(page, "Leaderboard")
    main = page.locator(MAIN)
    main.get_by_text(SHOWING).wait_for()
    search = main.get_by_role("textbox", name="Search")
    search.fill("garcia")
    search.press("Enter")
    wait_for_query(page, range="last-90-days", q="garcia")
    wait_for_app(page)
    status = main.get_by_role("combobox", name="Status")
    status.click()
    page.get_by_role("option", name="Member", exact=True).click()
    page.keyboard.press("Escape")
    wait_for_query(page, range="last-90-days", q="garcia", status="member")
    wait_for_app(page)
    shown, total = showing(page)
    assert 0 < shown < total
    rows = read_grid(page, rows=shown)
    assert all("garcia" in (r["Username"] + r["Full name"]).lower() and r["Status"] == "Member" for r in rows)
    caption = header_caption(page)
    link = page.url
    assert urlsplit(link).path == "/leaderboard"

    other = new_page(browser)
    try:
        other.goto(link)
        other_main = other.locator(MAIN)
        other_main.get_by_text(SHOWING).wait_for(timeout=60_000)
        wait_for_app(other)
        assert header_caption(other) == caption
        assert dates.range_label(*dates.preset_range("Last 90 days")) in caption
        # Poll the inputs: the browser may paint a widget's value a moment after the caption.
        expect(other.locator(SIDEBAR).get_by_role("combobox", name="Period")).to_have_value("Last 90 days")
        expect(other_main.get_by_role("textbox", name="Search")).to_have_value("garcia", timeout=30_000)
        other_main.locator('[data-testid="stMultiSelect"]', has_text="Status").get_by_text("Member").wait_for()
        assert showing(other) == (shown, total)
        assert [r["Username"] for r in read_grid(other, rows=shown)] == [r["Username"] for r in rows]
        assert query(other.url) == query(link)
        assert_clean(other)
    finally:
        other.context.close()


def test_sign_in_to_the_emulator(emulator_app, emulator_process, page):
    emulator_process.control("requests", method="DELETE")
    page.goto(emulator_app.url)
    wait_for_app(page)
    sidebar = page.locator(SIDEBAR)
    sidebar.get_by_text("ArcGIS Online", exact=True).click()
    page.locator(MAIN).get_by_text("Sign in to your ArcGIS Online organization in the sidebar").wait_for()
    sidebar.get_by_text("Trusting the certificates in CREDITLENS_CA_BUNDLE.").wait_for()

    # The emulator's first org is built like the demo org (same name), so where the data came from is
    # checked in the emulator's request log below; the sidebar also offers "Sign out" only when signed in.
    username = "northwind_admin"
    password = emulator_process.passwords[username]
    assert emulator_process.orgs[EMULATOR_ORG] == "northwind"
    sign_in(page, emulator_process.url, username, password, EMULATOR_ORG)
    sidebar.get_by_text(f"Signed in as Northwind Admin ({username})").wait_for()
    page.locator(MAIN).get_by_text("Top 10 members").wait_for(timeout=60_000)
    assert header_caption(page).startswith(f"{EMULATOR_ORG} · ")
    assert_clean(page)

    # The data came from the emulator, with the token issued to this account.
    seen = emulator_process.control("requests")["requests"]
    signed = [r for r in seen if r["auth"] == "valid"]
    assert any("portals/self" in r["path"] for r in signed)
    assert any(r["path"].endswith("/usage") for r in signed)
    assert {r["username"] for r in signed} == {username}
    assert {r["org"] for r in signed} == {"northwind"}

    open_page(page, "Leaderboard")
    shown, total = showing(page)
    assert shown == total
    usernames = [r["Username"] for r in read_grid(page, rows=shown, everything=False)]
    assert any(name.endswith("_northwind") for name in usernames)
    assert password not in page.url and password not in page.content()
    assert_clean(page)
