"""The management summary PDF and the chargeback CLI, through the real ``arcgis`` client against the emulator.

The PDF is read back as text with pypdf, and every figure looked for in it is computed here by the
functions the pages use, then formatted as the pages format it.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

import pandas as pd
import pytest
from pypdf import PdfReader

from creditlens import chargeback as C
from creditlens import fetching, reports
from creditlens.cli import main
from creditlens.fetching import fetch_members, fetch_org_totals, fetch_usage
from creditlens.money import Pricing, format_money
from creditlens.portal import connect
from creditlens.summary_pdf import fmt_credits, fmt_int, fmt_pct, service_totals, services_shown

pytestmark = pytest.mark.integration

DAYS = 90


@pytest.fixture(scope="module")
def emulator(small_org, emulator_factory):
    return emulator_factory([small_org])


@pytest.fixture(scope="module")
def span(small_org) -> tuple[dt.date, dt.date]:
    end = small_org.last_day
    return end - dt.timedelta(days=DAYS - 1), end


@pytest.fixture
def cli(emulator, small_org, monkeypatch, capsys):
    """``creditlens …`` signed in to the emulator as the admin; returns (exit code, stderr)."""
    monkeypatch.setenv("CREDITLENS_PASSWORD", small_org.passwords[small_org.admin_username])
    monkeypatch.delenv("CREDITLENS_CREDIT_PRICE", raising=False)
    monkeypatch.delenv("CREDITLENS_CURRENCY", raising=False)
    monkeypatch.setattr(fetching, "RETRY_PAUSE_S", 0.05)
    source = ["--portal", emulator.url, "--username", small_org.admin_username, "--ca-bundle", emulator.ca_bundle]

    def run(command: str, *args: str) -> tuple[int, str]:
        capsys.readouterr()
        code = main([command, *source, *args])
        return code, capsys.readouterr().err

    return run


@pytest.fixture(scope="module")
def page_numbers(emulator, small_org, span):
    """What the Overview and Chargeback pages compute for the range (groups, 0.10 USD)."""
    conn = connect(
        emulator.url, small_org.admin_username, small_org.passwords[small_org.admin_username], emulator.ca_bundle
    )
    start, end = span
    members = fetch_members(conn)
    usage = fetch_usage(conn, start, end).frame
    prev_start, prev_end = reports.previous_period(start, end)
    previous = fetch_usage(conn, prev_start, prev_end).frame
    org_total = float(fetch_org_totals(conn, start, end)["credits"].sum())
    kpis = reports.overview_kpis(usage, previous, members, conn.identity.org_id, conn.available_credits)
    centers = C.groups_cost_centers(conn, members, tag="chargeback")
    charge = C.build_chargeback(usage, members, conn.identity.org_id, centers, Pricing(0.1, "USD"), org_total)
    return conn, kpis, charge, org_total


def pdf_text(path) -> str:
    reader = PdfReader(str(path))
    return re.sub(r"\s+", " ", " ".join(page.extract_text() or "" for page in reader.pages))


def test_the_summary_pdf_holds_the_pages_numbers(cli, tmp_path, span, page_numbers, small_org):
    _, kpis, charge, org_total = page_numbers
    start, end = span
    out = tmp_path / "summary.pdf"
    code, err = cli(
        "summary", "--start", str(start), "--end", str(end), "--out", str(out),
        "--cost-centers", "groups", "--price", "0.10", "--currency", "USD",
    )  # fmt: skip
    assert code == 0, err
    assert out.read_bytes().startswith(b"%PDF-")
    assert len(PdfReader(str(out)).pages) >= 3
    text = pdf_text(out)
    assert small_org.name in text
    assert f"{start.isoformat()} to {end.isoformat()} (UTC, {DAYS} days)" in text
    made = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
    assert f"Made: {made}" in text
    # KPIs against the previous period, as the Overview shows them
    assert fmt_credits(kpis.credits) in text
    assert fmt_credits(kpis.previous_credits) in text
    assert fmt_pct(kpis.change_pct, signed=True) in text
    assert fmt_int(kpis.active_members) in text
    assert fmt_credits(kpis.non_member_credits) in text
    assert format_money(charge.total_cost, "USD") in text
    # every chargeback line with its cost, as the Chargeback page shows it
    for _, line in charge.table.iterrows():
        row = f"{line['cost_center']} {fmt_credits(line['credits'])} {format_money(line['cost_usd'], 'USD')}"
        assert row in text, row
    assert f"Lines add up to {fmt_credits(org_total)} credits = org total {fmt_credits(org_total)} ✓" in text
    assert "Reconciliation: Per-user" in text
    assert "Top 10 members" in text and "Budgets over their allocation" in text
    assert "split evenly between them" in text  # the demo org has members in two department groups
    assert "is counted on each line" in text  # why the Members column adds up to more than the Total's
    assert "Chargeback by month" in text and "first and last months may be partial" in " ".join(text.split())


def test_a_summary_with_a_missing_window_needs_allow_partial_and_says_incomplete(cli, emulator, tmp_path, span):
    start, end = span
    # the summary fetches the previous period and the range in one go: break the window that ends the range
    bad = fetching.split_windows(reports.previous_period(start, end)[0], end)[-1]
    assert bad.start >= start
    emulator.faults.add("html_error", times=None, when=lambda p: p.get("startTime") == str(bad.start_ms))
    try:
        out = tmp_path / "partial.pdf"
        code, err = cli("summary", "--start", str(start), "--end", str(end), "--out", str(out))
        assert code != 0
        assert bad.start.isoformat() in err and "--allow-partial" in err
        assert not out.exists()
        code, err = cli("summary", "--start", str(start), "--end", str(end), "--out", str(out), "--allow-partial")
        assert code == 0, err
        text = pdf_text(out)
        assert "INCOMPLETE." in text and bad.start.isoformat() in text
        assert "Credits in range (incomplete)" in text
    finally:
        emulator.faults.clear()


def test_export_chargeback_has_the_pages_columns_and_sums_to_the_org_total(cli, tmp_path, span, page_numbers):
    _, _, charge, org_total = page_numbers
    start, end = span
    out = tmp_path / "chargeback.csv"
    code, err = cli(
        "export", "--start", str(start), "--end", str(end), "--report", "chargeback",
        "--cost-centers", "groups", "--price", "0.10", "--currency", "USD", "--out", str(out),
    )  # fmt: skip
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert list(rows[0]) == list(charge.table.columns)
    assert [r["cost_center"] for r in rows] == list(charge.table["cost_center"])
    assert sum(float(r["credits"]) for r in rows) == pytest.approx(org_total, rel=1e-6)
    assert [float(r["cost_usd"]) for r in rows] == pytest.approx(list(charge.table["cost_usd"]))
    assert "= org total" in err and "✓" in err


def test_export_chargeback_from_a_mapping_file_reports_its_rows(cli, tmp_path, span, small_org):
    start, end = span
    names = [m["username"] for m in small_org.members]
    mapping = tmp_path / "centers.csv"
    mapping.write_text(f"username,cost_center\n{names[1].upper()},Planning\nnobody,Planning\n{names[2]},\n")
    out = tmp_path / "chargeback.csv"
    code, err = cli(
        "export", "--start", str(start), "--end", str(end), "--report", "chargeback",
        "--cost-centers", str(mapping), "--out", str(out),
    )  # fmt: skip
    assert code == 0, err
    assert "3 rows: 1 matched a member, 1 bad row skipped, 1 matched no username." in err
    assert "line 3 (nobody): matches no member's username" in err
    assert "line 4" in err and "no cost center" in err
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert "Planning" in [r["cost_center"] for r in rows]
    assert list(rows[0]) == list(C.TABLE_COLUMNS)  # no price configured: no made-up cost column


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--report", "chargeback"], "needs --cost-centers"),
        (["--report", "chargeback", "--cost-centers", "nowhere.csv"], "neither"),
        (["--report", "chargeback", "--cost-centers", "groups", "--group-tag", "no-such"], "No groups tagged"),
    ],
)
def test_export_chargeback_bad_input_is_one_line(cli, span, args, message):
    start, end = span
    code, err = cli("export", "--start", str(start), "--end", str(end), *args)
    assert code != 0
    assert message in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(("flag", "value"), [("--price", "-1"), ("--price", "abc"), ("--currency", "dollars")])
def test_bad_price_or_currency_flags_are_refused(cli, span, tmp_path, flag, value):
    start, end = span
    with pytest.raises(SystemExit) as exit_info:
        cli("summary", "--start", str(start), "--end", str(end), "--out", str(tmp_path / "x.pdf"), flag, value)
    assert exit_info.value.code == 2


def test_the_summary_service_table_sums_the_rest_and_keeps_its_total(page_numbers, span):
    conn = page_numbers[0]
    usage = fetch_usage(conn, *span).frame
    services = service_totals(usage, Pricing(0.1, "USD"))
    assert len(services) > 10  # the demo org uses more services than the table lists by name
    shown = services_shown(services, rows=10)
    assert len(shown) == 10
    assert shown["service"].iloc[-1] == f"Other services ({len(services) - 9})"
    assert shown["credits"].sum() == pytest.approx(usage["credits"].sum(), rel=1e-9)
    assert round(shown["cost_usd"].sum(), 2) == round(services["cost_usd"].sum(), 2)
    assert shown["share_pct"].sum() == pytest.approx(100.0)


def test_untrusted_names_are_written_as_typed_and_an_empty_range_says_so():
    from creditlens.fetching import members_frame
    from creditlens.summary_pdf import build_summary, render_pdf

    members = members_frame([{"username": "a", "fullName": "<b>Ann</b>", "role": "org_user"}])
    usage = pd.DataFrame(
        {
            "day": pd.to_datetime([]),
            "username": pd.Categorical([]),
            "user_org_id": pd.Categorical([]),
            "stype": pd.Categorical([]),
            "etype": pd.Categorical([]),
            "credits": pd.Series([], dtype=float),
            "num": pd.Series([], dtype="int64"),
        }
    )
    hostile = "Émile & <b>Co</b> =SUM(1) [x](https://evil)"
    summary = build_summary(
        org_name=hostile, org_id="org1", start=dt.date(2026, 6, 1), end=dt.date(2026, 6, 30), usage=usage,
        previous=None, members=members, org_totals=None, cost_centers=C.from_member_field(members, "role"),
        pricing=Pricing(), available_credits=None, budgets_enabled=False, warning="Incomplete: 3 day(s) missing.",
    )  # fmt: skip
    reader = PdfReader(io.BytesIO(render_pdf(summary)))
    text = re.sub(r"\s+", " ", " ".join(page.extract_text() or "" for page in reader.pages))
    assert hostile in text
    assert "INCOMPLETE." in text and "No credits were used in the range." in text
    assert "Cost in range" not in text  # no price: no made-up money
