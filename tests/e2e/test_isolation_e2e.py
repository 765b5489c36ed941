"""Two admins of two organizations use ONE ``streamlit run`` process at the same time and never see
each other's data: not on screen, not in a download, not after the other refreshes.

One emulator serves both orgs (``creditlens emulator --second-org``: Northwind and Lakeside); two
browser contexts (two Streamlit sessions) sign in to the same app server, each as its own org's admin,
and their actions are interleaved so that the server runs both sessions' scripts concurrently.
"""

from __future__ import annotations

from dataclasses import dataclass

from conftest import (
    MAIN,
    SHOWING,
    SIDEBAR,
    assert_clean,
    choose_period,
    download_csv,
    fill_sign_in,
    header_caption,
    new_page,
    read_grid,
    showing,
    wait_for_app,
    wait_for_query,
    wait_signed_in,
    wait_until,
)

from creditlens import dates


@dataclass(frozen=True)
class Org:
    name: str
    key: str  # the url key: members' usernames carry it (``ann.lee_lakeside``, ``lakeside_admin``)

    @property
    def admin(self) -> str:
        return f"{self.key}_admin"

    @property
    def file_slug(self) -> str:
        return self.name.lower().replace(" ", "-")


NORTHWIND = Org("Northwind Regional GIS", "northwind")
LAKESIDE = Org("Lakeside County GIS", "lakeside")


def check_own_data_only(page, org: Org, other: Org) -> int:
    """The page shows ``org``'s leaderboard and nothing of ``other``; returns the rows shown."""
    assert_clean(page)
    assert header_caption(page).startswith(f"{org.name} · ")
    page.locator(SIDEBAR).get_by_text(f"({org.admin})").wait_for()
    shown, _ = showing(page)
    rows = read_grid(page, rows=shown, everything=False)
    members = [r["Username"] for r in rows if r["Status"] == "Member"]
    assert members, "no member among the top rows"
    assert all(org.key in name for name in members), members
    assert not any(other.key in r["Username"] for r in rows)
    text = page.evaluate("document.body.textContent")
    assert org.name in text
    assert other.name not in text and other.key not in text.lower()
    return shown


def check_own_download(page, org: Org, other: Org, rows: int) -> None:
    file_name, csv_rows = download_csv(page)
    assert file_name.startswith(f"creditlens_{org.file_slug}_")
    assert len(csv_rows) == rows
    usernames = [r["Username"] for r in csv_rows]  # the app's downloads have human headers
    assert all(org.key in r["Username"] for r in csv_rows if r["Status"] == "Member")
    assert not [name for name in usernames if other.key in name.lower()]


def usage_requests_by_org(emulator) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in emulator.control("requests")["requests"]:
        if r["auth"] == "valid" and r["path"].endswith("/usage"):
            counts[r["org"]] = counts.get(r["org"], 0) + 1
    return counts


def test_two_orgs_share_one_server_and_never_see_each_other(emulator_app, emulator_process, browser):
    assert {NORTHWIND.name: NORTHWIND.key, LAKESIDE.name: LAKESIDE.key}.items() <= emulator_process.orgs.items()
    north, lake = new_page(browser), new_page(browser)
    sessions = ((north, NORTHWIND, LAKESIDE), (lake, LAKESIDE, NORTHWIND))
    try:
        for page, _, _ in sessions:
            page.goto(f"{emulator_app.url}/leaderboard")
        connect = []
        for page, org, _ in sessions:
            wait_for_app(page)
            connect.append(fill_sign_in(page, emulator_process.url, org.admin, emulator_process.passwords[org.admin]))
        for button in connect:  # both sign-ins and both first loads run on the server at the same time
            button.click()
        for page, org, _ in sessions:
            wait_signed_in(page, org.name)
            page.locator(MAIN).get_by_text(SHOWING).wait_for(timeout=60_000)
            wait_for_app(page)
        for page, org, other in sessions:
            check_own_data_only(page, org, other)

        # The same new range in both at once: the same cache question from two identities.
        for page, _, _ in sessions:
            choose_period(page, "Last 90 days")
        label = dates.range_label(*dates.preset_range("Last 90 days"))
        for page, org, _ in sessions:
            wait_for_query(page, range="last-90-days")
            page.locator(MAIN).get_by_text(f"{org.name} · {label}").wait_for(timeout=60_000)
            wait_for_app(page)
        for page, org, other in sessions:
            shown = check_own_data_only(page, org, other)
            check_own_download(page, org, other, shown)

        # Lakeside refreshes its data while Northwind keeps working: only Lakeside is fetched again.
        emulator_process.control("requests", method="DELETE")
        lake.locator(SIDEBAR).get_by_role("button", name="Refresh data").click()
        search = north.locator(MAIN).get_by_role("textbox", name="Search")
        search.fill("a")
        search.press("Enter")
        wait_for_query(north, range="last-90-days", q="a")
        wait_until(lambda: LAKESIDE.key in usage_requests_by_org(emulator_process), 60, "Lakeside's refetch")
        for page, _, _ in sessions:
            wait_for_app(page)
        lake.locator(MAIN).get_by_text(f"{LAKESIDE.name} · {label}").wait_for()
        fetched = usage_requests_by_org(emulator_process)
        assert NORTHWIND.key not in fetched, fetched  # Northwind's cached data was not dropped
        for page, org, other in sessions:
            check_own_data_only(page, org, other)

        # Northwind reloads its tab: a new session, signed in to nothing (the sign-in lives in the
        # session only), while Lakeside's session carries on unaffected.
        north.reload()
        wait_for_app(north)
        north.locator(MAIN).locator("h1", has_text="Leaderboard").wait_for()
        assert north.locator(SIDEBAR).get_by_role("radio", name="Demo organization").is_checked()
        assert north.locator(SIDEBAR).get_by_role("button", name="Sign out").count() == 0
        assert LAKESIDE.name not in north.evaluate("document.body.textContent")
        assert_clean(north)
        lake_search = lake.locator(MAIN).get_by_role("textbox", name="Search")
        lake_search.fill("e")
        lake_search.press("Enter")
        wait_for_query(lake, range="last-90-days", q="e")
        wait_for_app(lake)
        check_own_data_only(lake, LAKESIDE, NORTHWIND)
        assert "northwind" not in lake.evaluate("document.body.textContent").lower()
    finally:
        north.context.close()
        lake.context.close()
