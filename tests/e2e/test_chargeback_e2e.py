"""Chargeback in a real browser: a price set in the sidebar, group cost centers, the CSV against the table shown."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from conftest import MAIN, SIDEBAR, new_page, query, read_grid, screenshot, wait_for_app, wait_for_query

from creditlens import dates


def number(cell: str) -> float:
    return float(cell.replace(",", ""))


def download(page, button: str, nth: int = 0) -> tuple[str, bytes]:
    with page.expect_download() as info:
        page.locator(MAIN).get_by_role("button", name=button).nth(nth).click()
    return info.value.suggested_filename, Path(info.value.path()).read_bytes()


def test_price_groups_and_the_csv_match_the_table(demo_server, browser):
    page = new_page(browser)
    try:
        page.goto(f"{demo_server.url}/chargeback")
        main = page.locator(MAIN)
        main.get_by_text("By cost center").wait_for(timeout=90_000)
        wait_for_app(page)

        sidebar = page.locator(SIDEBAR)
        price = sidebar.get_by_role("spinbutton", name="Credit price")
        price.fill("0.125")
        price.press("Enter")
        wait_for_query(page, price="0.125")
        sidebar.get_by_role("combobox", name="Currency").click()
        page.get_by_role("option", name="EUR", exact=True).click()
        wait_for_query(page, price="0.125", currency="EUR")
        main.get_by_role("radio", name="ArcGIS Online groups").click()
        wait_for_query(page, centers="groups")
        main.get_by_text("Groups that are cost centers").wait_for()
        main.get_by_text("Cost centers from ArcGIS Online groups").wait_for()
        assert "split evenly between them" in main.get_by_text("Cost centers from ArcGIS Online groups").inner_text()
        wait_for_app(page)

        file_name, payload = download(page, "Download CSV")
        start, end = dates.preset_range(dates.DEFAULT_PRESET)
        assert file_name == f"creditlens_northwind-regional-gis_{start}_{end}_chargeback.csv"
        lines = list(csv.DictReader(io.StringIO(payload.decode("utf-8-sig"))))
        rows = read_grid(page, rows=len(lines), index=0)
        # the download is the table shown: the same headers in the same order, the same rows
        assert list(lines[0]) == list(rows[0])
        assert [r["Cost center"] for r in lines] == [r["Cost center"] for r in rows]
        assert "Planning" in [r["Cost center"] for r in lines]  # the demo org's department groups
        assert [r["Line kind"] for r in lines] == [r["Line kind"] for r in rows]
        # the grid's accessible table holds the values; the CSV rounds credits to 4 decimals, costs to 2
        assert [float(r["Credits"]) for r in lines] == [round(number(r["Credits"]), 4) for r in rows]
        assert [float(r["Cost (EUR)"]) for r in lines] == [round(number(r["Cost (EUR)"]), 2) for r in rows]
        assert [int(r["Member count"]) for r in lines] == [int(number(r["Member count"])) for r in rows]
        for line in lines:  # the price really is in the download: each cost is its credits × 0.125
            assert abs(float(line["Cost (EUR)"]) - float(line["Credits"]) * 0.125) <= 0.01 + 1e-9
        total = sum(float(r["Credits"]) for r in lines)
        check = main.get_by_text("Lines add up to").inner_text()
        assert f"Lines add up to {total:,.2f} credits = org total" in check and "✓" in check
        cost_metric = main.get_by_test_id("stMetric").filter(has_text="Cost in range").inner_text()
        assert f"EUR {sum(float(r['Cost (EUR)']) for r in lines):,.2f}" in cost_metric

        name, pdf = download(page, "Management summary (PDF)")
        assert name.endswith("_summary.pdf") and pdf.startswith(b"%PDF-")
        screenshot(page, "chargeback-1440")
        assert query(page.url)["currency"] == "EUR"
    finally:
        page.context.close()


def test_chargeback_on_a_phone(demo_server, browser):
    page = new_page(browser, width=390, height=844)
    try:
        page.goto(f"{demo_server.url}/chargeback?price=0.1")
        page.locator(MAIN).get_by_text("By cost center").wait_for(timeout=90_000)
        wait_for_app(page)
        assert page.locator(MAIN).get_by_text("Lines add up to").is_visible()
        screenshot(page, "chargeback-390")
    finally:
        page.context.close()


def test_a_mapping_file_upload_reports_its_rows(demo_server, browser, tmp_path):
    page = new_page(browser)
    try:
        page.goto(f"{demo_server.url}/chargeback?centers=file")
        main = page.locator(MAIN)
        main.get_by_text("Mapping file (CSV with the header username,cost_center)").wait_for(timeout=90_000)
        wait_for_app(page)
        mapping = tmp_path / "centers.csv"
        mapping.write_text("username,cost_center\nNORTHWIND_ADMIN,IT\nghost,IT\n,IT\n")
        main.locator('input[type="file"]').set_input_files(str(mapping))
        main.get_by_text("3 rows: 1 matched a member, 1 bad row skipped, 1 matched no username.").wait_for()
        wait_for_app(page)
        main.get_by_text("Cost centers from a mapping file").wait_for()
        main.get_by_text("2 rows not used").click()  # the expander of skipped rows, above the table
        issues = read_grid(page, index=0)
        assert sorted((r["line"], r["why"]) for r in issues) == [
            ("3", "matches no member's username"),
            ("4", "no username"),
        ]
        rows = read_grid(page, index=1)
        assert "IT" in [r["Cost center"] for r in rows]
    finally:
        page.context.close()
