"""Downloads: human and code headers, rounding, formula neutralisation, XLSX formats and the About sheet."""

import csv
import datetime as dt
import io
import json

import openpyxl
import pandas as pd
import pytest

from creditlens import exporting, reports
from creditlens.cli import main as cli_main

START, END = dt.date(2026, 10, 1), dt.date(2026, 10, 31)


def board_like(full_names=("Ann A", "Bob B")) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "rank": [1, 2],
            "username": ["ann", "bob"],
            "full_name": list(full_names),
            "status": [reports.MEMBER, reports.FORMER],
            "credits": [2513.7599999999998, 0.000149999],
            "share_pct": [99.99999, 0.0000059],
            "num": [12, 3],
            "cost": [1.005001, 2.499],
            "Geocoding": [1.23456789, 0.0],
        }
    )


def read_csv(payload: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(payload.decode("utf-8"))))


def workbook(payload: bytes) -> openpyxl.Workbook:
    return openpyxl.load_workbook(io.BytesIO(payload))


def test_human_headers_and_labels_in_the_apps_form():
    rows = read_csv(exporting.to_csv_bytes(board_like(), "human"))
    assert rows[0] == [
        *("Rank", "Username", "Full name", "Status", "Credits", "Share %", "Operations", "Cost", "Geocoding")
    ]
    assert [r[3] for r in rows[1:]] == ["Member", "Former member"]


def test_cli_form_keeps_snake_case_and_status_codes():
    rows = read_csv(exporting.to_csv_bytes(board_like()))
    assert rows[0] == list(board_like().columns)
    assert [r[3] for r in rows[1:]] == ["member", "former_member"]


def test_credits_round_to_four_decimals_and_costs_to_two():
    rows = read_csv(exporting.to_csv_bytes(board_like()))
    first, second = rows[1], rows[2]
    assert first[4] == "2513.76" and second[4] == "0.0001"
    assert first[7] == "1.01" and second[7] == "2.5"
    assert first[8] == "1.2346"
    records = json.loads(exporting.to_json_bytes(board_like()))
    assert records[0]["credits"] == 2513.76 and records[0]["Geocoding"] == 1.2346


@pytest.mark.parametrize("prefix", ["=", "+", "-", "@", "\t", "\r"])
def test_formula_prefixes_are_neutralised_in_csv(prefix):
    hostile = f'{prefix}HYPERLINK("http://evil.example","click")'
    rows = read_csv(exporting.to_csv_bytes(board_like((hostile, "Bob B")), "human"))
    assert rows[1][2] == "'" + hostile
    assert rows[2][2] == "Bob B"
    assert rows[1][4] == "2513.76"  # numbers stay numbers, negative ones included below
    negative = board_like()
    negative["credits"] = [-5.0, 1.0]
    assert read_csv(exporting.to_csv_bytes(negative))[1][4] == "-5.0"


def test_formula_in_a_name_is_text_in_xlsx_and_numbers_stay_numbers():
    hostile = '=HYPERLINK("http://evil.example","click")'
    book = workbook(exporting.to_xlsx_bytes(board_like((hostile, "@SUM(A1)")), sheet="Leaderboard"))
    sheet = book["Leaderboard"]
    names = [sheet.cell(row=r, column=3) for r in (2, 3)]
    assert [c.value for c in names] == ["'" + hostile, "'@SUM(A1)"]
    assert all(c.data_type == "s" for c in names)
    assert sheet.cell(row=2, column=5).data_type == "n" and sheet.cell(row=2, column=5).value == 2513.76


def test_hostile_service_header_and_org_name_are_neutralised():
    frame = board_like().rename(columns={"Geocoding": "=cmd|' /C calc'!A0"})
    header = read_csv(exporting.to_csv_bytes(frame))[0]
    assert header[-1].startswith("'=")
    about = exporting.About("=evil()", START, END, "Leaderboard")
    book = workbook(exporting.to_xlsx_bytes(frame, about, sheet="Leaderboard"))
    assert book["About"]["B1"].value == "'=evil()" and book["About"]["B1"].data_type == "s"
    assert book["Leaderboard"].cell(row=1, column=9).value.startswith("'=")


def test_xlsx_has_number_formats_widths_and_a_frozen_header():
    frame = board_like()
    frame["day"] = pd.to_datetime(["2026-10-01", "2026-10-02"])
    sheet = workbook(exporting.to_xlsx_bytes(frame, sheet="Usage"))["Usage"]
    headers = [c.value for c in sheet[1]]
    fmt = {h: sheet.cell(row=2, column=i + 1).number_format for i, h in enumerate(headers)}
    assert fmt["Credits"] == "#,##0.00##" and fmt["Geocoding"] == "#,##0.00##"
    assert fmt["Cost"] == "#,##0.00"
    assert fmt["Operations"] == "#,##0"
    assert fmt["Share %"] == "0.0"
    assert fmt["Day (UTC)"] == "yyyy-mm-dd"
    assert sheet.cell(row=2, column=headers.index("Day (UTC)") + 1).value == dt.datetime(2026, 10, 1)
    assert sheet.freeze_panes == "A2"
    widths = {h: sheet.column_dimensions[chr(ord("A") + i)].width for i, h in enumerate(headers)}
    assert widths["Full name"] >= len("Full name") + 2
    assert widths["Credits"] >= len("2,513.76")
    assert all(8 <= w <= 48 for w in widths.values())


def test_about_sheet_comes_first_and_holds_org_range_filters_time_and_check():
    made = dt.datetime(2026, 12, 1, 9, 30, tzinfo=dt.UTC)
    about = exporting.About(
        "Northwind Regional GIS",
        START,
        END,
        "Leaderboard",
        filters=[("Status", "Member, Former member"), ("Minimum credits", "10")],
        check="Per-user 10.00 + unattributed 1.00 = org total 11.00 ✓",
        made_at=made,
    )
    book = workbook(exporting.to_xlsx_bytes(board_like(), about, sheet="Leaderboard"))
    assert book.sheetnames == ["About", "Leaderboard"]
    facts = {row[0]: row[1] for row in book["About"].iter_rows(values_only=True)}
    assert facts["Organization"] == "Northwind Regional GIS"
    assert facts["Range (UTC)"].startswith("2026-10-01 to 2026-10-31 (31 days")
    assert "Status: Member, Former member" in facts["Filters"] and "Minimum credits: 10" in facts["Filters"]
    assert facts["Made (UTC)"] == "2026-12-01 09:30:00 UTC"
    assert facts["Add-up check"].endswith("✓")
    assert facts["Complete"] == "Yes" and facts["Rows"] == "2"


def test_about_sheet_says_when_the_data_is_incomplete():
    about = exporting.About("Org", START, END, "Leaderboard", warning="Incomplete: 1 of 2 windows could not be loaded.")
    facts = dict(workbook(exporting.to_xlsx_bytes(board_like(), about))["About"].iter_rows(values_only=True))
    assert facts["Complete"].startswith("No. Incomplete: 1 of 2 windows")
    assert facts["Filters"] == "None (every row)"


def test_snake_case_columns_not_listed_are_spelled_out():
    frame = pd.DataFrame({"cost_center": ["A"], "imageryanalysis": [1.0], "cost_eur": [2.345]})
    rows = read_csv(exporting.to_csv_bytes(frame, "human"))
    assert rows[0] == ["Cost center", "imageryanalysis", "Cost (EUR)"]
    assert rows[1][2] == "2.35"  # a cost: two decimals


def cli_csv(capsys, *extra: str) -> list[list[str]]:
    code = cli_main(["export", "--demo", "--start", "2026-11-01", "--end", "2026-11-20", *extra])
    assert code == 0
    return read_csv(capsys.readouterr().out.encode("utf-8"))


@pytest.mark.parametrize("report", ["leaderboard", "reconciliation", "usage"])
def test_cli_human_headers_match_the_codes_form_column_for_column(capsys, report):
    codes = cli_csv(capsys, "--report", report)
    human = cli_csv(capsys, "--report", report, "--headers", "human")
    assert len(codes[0]) == len(human[0]) and len(codes) == len(human)
    assert [exporting.human_header(c) for c in codes[0]] == human[0]
    if "status" in codes[0]:
        i = codes[0].index("status")
        assert {r[i] for r in human[1:]} <= set(reports.CATEGORY_LABELS.values())
        assert {r[i] for r in codes[1:]} <= set(reports.CATEGORIES)


def test_unknown_header_style_is_refused():
    with pytest.raises(ValueError):
        exporting.table_for(board_like(), "shouting")  # type: ignore[arg-type]
