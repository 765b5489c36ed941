import csv
import datetime as dt
import io
import json

import pytest

from creditlens.cli import main

TODAY = dt.datetime.now(dt.UTC).date()
START = (TODAY - dt.timedelta(days=89)).isoformat()
END = TODAY.isoformat()


def portal_usage_export(url: str) -> list[str]:
    """An export of one report from a portal, the arguments every portal-side CLI test shares."""
    return ["export", "--portal", url, "--username", "u", "--start", START, "--end", END, "--report", "usage"]


DEMO = ["export", "--demo", "--demo-members", "60", "--start", START, "--end", END]


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_leaderboard_csv_has_the_promised_columns(capsys):
    code, out, err = run(capsys, *DEMO, "--report", "leaderboard")
    assert code == 0 and err == ""
    rows = list(csv.DictReader(io.StringIO(out)))
    assert {"username", "status", "credits"} <= set(rows[0])
    credits = [float(r["credits"]) for r in rows]
    assert credits == sorted(credits, reverse=True)
    assert {r["status"] for r in rows} >= {"member", "external", "public", "unattributed"}


def test_reconciliation_json_includes_zero_usage_members(capsys, tmp_path):
    target = tmp_path / "rec.json"
    code, out, _ = run(capsys, *DEMO, "--report", "reconciliation", "--format", "json", "--out", str(target))
    assert code == 0 and out == ""
    records = json.loads(target.read_text())
    assert set(records[0]) == {"username", "status", "user_org_id", "credits", "num"}
    idle = [r for r in records if r["status"] == "member" and r["credits"] == 0]
    assert idle, "members with zero usage must be listed"
    assert not list(tmp_path.glob("*.part"))


def test_usage_and_members_reports(capsys):
    code, out, _ = run(capsys, *DEMO, "--report", "usage")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and {"day", "username", "user_org_id", "stype", "service", "etype", "credits", "num"} == set(
        rows[0]
    )
    assert min(r["day"] for r in rows) >= START and max(r["day"] for r in rows) <= END
    code, out, _ = run(capsys, *DEMO, "--report", "members")
    assert code == 0 and len(list(csv.DictReader(io.StringIO(out)))) == 60


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--start", END, "--end", START], "before it starts"),
        (["--start", "2026-13-01", "--end", END], "not a date"),
        (
            [
                "--start",
                (TODAY + dt.timedelta(days=3)).isoformat(),
                "--end",
                (TODAY + dt.timedelta(days=4)).isoformat(),
            ],
            "future",
        ),
        (["--start", (TODAY - dt.timedelta(days=800)).isoformat(), "--end", END], "two years"),
    ],
)
def test_bad_dates_get_one_line_and_exit_1(capsys, args, message):
    code, out, err = run(capsys, "export", "--demo", *args, "--report", "usage")
    assert code == 1 and out == ""
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "Enter your organization's URL"),
        ("http://myorg.maps.arcgis.com", "HTTPS only"),
        ("not a url at all", "not a valid portal address"),
        ("ftp://x.org", "not a web address"),
    ],
)
def test_bad_portal_urls_are_refused_before_the_password_is_asked(capsys, monkeypatch, url, message):
    monkeypatch.delenv("CREDITLENS_PASSWORD", raising=False)
    code, _, err = run(capsys, *portal_usage_export(url))
    assert code == 1 and message in err and "Traceback" not in err


def test_missing_password_without_a_terminal_is_a_clear_error(capsys, monkeypatch, tmp_path):
    monkeypatch.delenv("CREDITLENS_PASSWORD", raising=False)
    monkeypatch.chdir(tmp_path)  # no .env here
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    code, _, err = run(capsys, *portal_usage_export("https://myorg.maps.arcgis.com"))
    assert code == 1 and "CREDITLENS_PASSWORD" in err


def test_unreachable_host_is_named(capsys, monkeypatch):
    monkeypatch.setenv("CREDITLENS_PASSWORD", "sentinel-Pa55word!")
    code, _, err = run(capsys, *portal_usage_export("https://127.0.0.1:9"))
    assert code == 1 and "Could not reach 127.0.0.1:9" in err
    assert "sentinel-Pa55word!" not in err


def test_hash_access_code_reads_stdin_and_prints_a_verifiable_hash(capsys, monkeypatch):
    from creditlens.deployment import verify_access_code

    monkeypatch.setattr("sys.stdin", io.StringIO("team code 2026\n"))
    code, out, _ = run(capsys, "hash-access-code")
    assert code == 0 and verify_access_code("team code 2026", out.strip()) and "team code" not in out
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    code, _, err = run(capsys, "hash-access-code")
    assert code == 1 and "at least 8" in err


def test_a_priced_leaderboard_has_the_cost_column_the_app_download_has(capsys):
    code, out, _ = run(capsys, *DEMO, "--report", "leaderboard", "--price", "0.10", "--currency", "EUR")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    header = list(rows[0])
    assert header[header.index("credits") + 1] == "cost_eur"
    assert all(float(r["cost_eur"]) == pytest.approx(float(r["credits"]) * 0.10, abs=0.006) for r in rows)


@pytest.mark.parametrize("report", ["usage", "reconciliation", "members"])
def test_a_price_for_a_report_without_money_is_refused_not_ignored(capsys, report):
    code, out, err = run(capsys, *DEMO, "--report", report, "--price", "0.10")
    assert code != 0 and out == ""
    assert "--price and --currency apply to leaderboard and chargeback reports" in err
    assert "Traceback" not in err
