"""The app's downloads: human headers, the same columns as the CLI's, and an About sheet with the range."""

from __future__ import annotations

import csv
import io

import openpyxl
import pytest

from creditlens import dates, reports
from creditlens.cli import main as cli_main
from creditlens.fetching import fetch_members, fetch_usage
from creditlens.portal import connect_demo
from creditlens.ui import common, leaderboard

START, END = dates.preset_range("Last 30 days")


@pytest.fixture(scope="module")
def board():
    conn = connect_demo()
    usage = fetch_usage(conn, START, END).frame
    return conn, reports.leaderboard(usage, fetch_members(conn), conn.identity.org_id)


@pytest.fixture(autouse=True)
def _no_price(monkeypatch):
    """No credit price configured: neither the app nor the CLI adds a cost column."""
    for name in ("CREDITLENS_CREDIT_PRICE", "CREDITLENS_CURRENCY"):
        monkeypatch.delenv(name, raising=False)


def app_files(conn, frame, filters=()):
    items = common.downloads(
        leaderboard.download_frame(frame),
        conn.org_name,
        START,
        END,
        "leaderboard",
        filters=filters,
        check=lambda: "Per-user 1.00 + unattributed 0.00 = org total 1.00 ✓",
    )
    return items[0].make(), items[1].make()


def header(payload: bytes) -> list[str]:
    return next(csv.reader(io.StringIO(payload.decode("utf-8"))))


def test_the_apps_csv_headers_are_human(board):
    conn, frame = board
    csv_bytes, _ = app_files(conn, frame)
    first = header(csv_bytes)
    assert first[:9] == [
        "Rank",
        "Username",
        "Full name",
        "Status",
        "Role",
        "User type",
        "Credits",
        "Share %",
        "Operations",
    ]
    assert not any("_" in h for h in first)
    rows = list(csv.DictReader(io.StringIO(csv_bytes.decode("utf-8"))))
    assert {r["Status"] for r in rows} <= set(reports.CATEGORY_LABELS.values())
    assert "Former member" in {r["Status"] for r in rows}


def test_the_app_and_the_cli_have_the_same_columns_in_the_same_order(board, capsys):
    conn, frame = board
    csv_bytes, _ = app_files(conn, frame)
    code = cli_main(
        ["export", "--demo", "--start", str(START), "--end", str(END), "--report", "leaderboard", "--headers", "human"]
    )
    assert code == 0
    cli_csv = capsys.readouterr().out.encode("utf-8")
    assert header(cli_csv) == header(csv_bytes)
    app_rows = list(csv.reader(io.StringIO(csv_bytes.decode())))[1:]
    cli_rows = list(csv.reader(io.StringIO(cli_csv.decode())))[1:]
    assert [r[:6] for r in app_rows] == [r[:6] for r in cli_rows]  # same usernames, ranks, statuses, roles
    for app_row, cli_row in zip(app_rows, cli_rows, strict=True):  # values equal up to the 4th decimal
        for a, c in zip(app_row[6:], cli_row[6:], strict=True):
            assert a == c or float(a) == pytest.approx(float(c), abs=2e-4)


def test_the_xlsx_has_formats_and_an_about_sheet_with_the_range_and_filters(board):
    conn, frame = board
    filters = reports.LeaderboardFilters(statuses=(reports.MEMBER, reports.FORMER), min_credits=5)
    shown = reports.filter_leaderboard(frame, filters)
    _, xlsx = app_files(conn, shown, leaderboard.filters_description(filters))
    book = openpyxl.load_workbook(io.BytesIO(xlsx))
    assert book.sheetnames == ["About", "Leaderboard"]
    about = dict(book["About"].iter_rows(values_only=True))
    assert about["Organization"] == conn.org_name
    assert about["Range (UTC)"].startswith(f"{START} to {END} (30 days")
    assert about["Filters"] == "Status: Member, Former member; Minimum credits: 5"
    assert about["Rows"] == f"{len(shown):,d}" and about["Add-up check"].endswith("✓")
    sheet = book["Leaderboard"]
    headers = [c.value for c in sheet[1]]
    credits = sheet.cell(row=2, column=headers.index("Credits") + 1)
    assert isinstance(credits.value, float) and credits.number_format == "#,##0.00##"
    assert sheet.freeze_panes == "A2"
    assert sheet.max_row == len(shown) + 1


def test_the_screen_table_blanks_unused_services_but_the_file_keeps_numbers(board):
    conn, frame = board
    table = leaderboard.leaderboard_table(frame)
    services = reports.board_services(frame)
    assert table[services].isna().any().any() and not (table[services] == 0).any().any()
    csv_bytes, _ = app_files(conn, frame)
    rows = list(csv.DictReader(io.StringIO(csv_bytes.decode("utf-8"))))
    assert all(r[services[0]] != "" for r in rows)


def test_unknown_service_codes_are_marked_in_the_header():
    config = leaderboard.column_config(["Geocoding", "imageryanalysis"])
    assert config["Geocoding"]["label"] == "Geocoding"
    assert config["imageryanalysis"]["label"] == "imageryanalysis (service code)"
    assert "pinned" not in config["username"] or not config["username"]["pinned"]


def test_filters_description_is_empty_without_filters():
    assert leaderboard.filters_description(reports.LeaderboardFilters()) == []
    text = leaderboard.filters_description(reports.LeaderboardFilters(service="geocode", search=" ann "))
    assert text == [("Used the service", "Geocoding"), ("Search", "ann")]


def test_the_screen_shows_who_and_how_much_first(board):
    _, frame = board
    table = leaderboard.leaderboard_table(frame).assign(cost_usd=1.0)
    order = leaderboard.screen_column_order(table)
    assert order[:5] == ["rank", "username", "credits", "cost_usd", "share_pct"]
    assert sorted(order) == sorted(table.columns)  # every column is still shown
