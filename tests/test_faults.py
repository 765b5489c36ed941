"""Faults per usage window, injected by the emulator, seen through the real arcgis client."""

from __future__ import annotations

import datetime as dt

import pytest

from creditlens import fetching
from creditlens.cli import main
from creditlens.fake.demo_org import OrgSpec, build_demo_org
from creditlens.fake.emulator import PortalEmulator
from creditlens.fetching import fetch_usage
from creditlens.portal import connect

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def quick_retry(monkeypatch):
    monkeypatch.setattr(fetching, "RETRY_PAUSE_S", 0.05)


def year(org):
    return org.last_day - dt.timedelta(days=179), org.last_day


def only_window(start_ms):
    return lambda params: params.get("startTime") == str(start_ms)


def usage_calls(emulator):
    return [r for r in emulator.requests if r["path"].endswith("/usage")]


@pytest.mark.parametrize("kind", ["429", "500", "502", "503", "malformed_json", "html_error"])
def test_a_transient_fault_is_absorbed_and_nothing_is_lost(conn, emulator, small_org, kind):
    start, end = year(small_org)
    emulator.faults.add(kind, times=1, retry_after=1)
    result = fetch_usage(conn, start, end)
    assert result.complete, result.warning()
    assert result.frame["credits"].sum() == pytest.approx(small_org.total_credits(start, end), rel=1e-9)


def test_token_expiry_mid_range_logs_in_again_once(conn, emulator, small_org):
    start, end = year(small_org)
    windows = fetching.split_windows(start, end)
    emulator.faults.add("498", times=1, when=only_window(windows[1].start_ms))
    emulator.clear_requests()
    result = fetch_usage(conn, start, end, max_workers=1)
    assert result.complete
    assert result.frame["credits"].sum() == pytest.approx(small_org.total_credits(start, end), rel=1e-9)
    signins = [r for r in emulator.requests if "oauth2/signin" in r["path"]]
    assert len(signins) == 1  # one new login, not one per window


def test_expired_tokens_get_a_fresh_login(conn, emulator, small_org):
    start, end = year(small_org)
    emulator.expire_tokens()
    result = fetch_usage(conn, start, end)
    assert result.complete


def test_a_window_that_keeps_failing_is_named_not_dropped(conn, emulator, small_org):
    start, end = year(small_org)
    windows = fetching.split_windows(start, end)
    bad = windows[2]
    emulator.faults.add("html_error", times=None, when=only_window(bad.start_ms))
    emulator.clear_requests()
    result = fetch_usage(conn, start, end)
    assert not result.complete
    assert result.missing_windows == [bad]
    assert bad.label() in result.warning()
    loaded = result.frame["day"].dt.date
    assert not ((loaded >= bad.start) & (loaded <= bad.end)).any()
    expected = small_org.total_credits(start, end) - small_org.total_credits(bad.start, bad.end)
    assert result.frame["credits"].sum() == pytest.approx(expected, rel=1e-9)
    tries = [r for r in usage_calls(emulator) if r["params"]["startTime"] == str(bad.start_ms)]
    assert len(tries) == 2  # our single retry on top of arcgis's own (HTML is not retried by arcgis)


def test_the_cli_names_failed_windows_and_allow_partial_writes_the_rest(
    emulator, small_org, tmp_path, capsys, monkeypatch
):
    start, end = year(small_org)
    bad = fetching.split_windows(start, end)[0]
    emulator.faults.add("malformed_json", times=None, when=only_window(bad.start_ms))
    monkeypatch.setenv("CREDITLENS_PASSWORD", small_org.passwords[small_org.admin_username])
    args = [
        "export",
        "--portal",
        emulator.url,
        "--username",
        small_org.admin_username,
        "--ca-bundle",
        emulator.ca_bundle,
        "--start",
        start.isoformat(),
        "--end",
        end.isoformat(),
        "--report",
        "usage",
    ]
    out = tmp_path / "usage.csv"
    assert main([*args, "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert bad.label() in err and "Nothing was written" in err and not out.exists()
    assert main([*args, "--out", str(out), "--allow-partial"]) == 0
    err = capsys.readouterr().err
    assert "warning" in err and bad.label() in err and out.exists()
    emulator.faults.clear()


def test_a_persistent_server_error_costs_a_bounded_number_of_requests(conn, emulator, small_org):
    start, end = year(small_org)
    bad = fetching.split_windows(start, end)[1]
    emulator.faults.add("500", times=None, when=only_window(bad.start_ms))
    emulator.clear_requests()
    result = fetch_usage(conn, start, end)
    assert result.missing_windows == [bad]
    tries = [r for r in usage_calls(emulator) if r["params"]["startTime"] == str(bad.start_ms)]
    assert 2 <= len(tries) <= 12  # arcgis's 1+5 tries, times our one retry: no retry storm


def test_a_window_that_times_out_is_reported(small_org):
    # A tiny org keeps every other window far below the 1 s client timeout, even on a loaded machine.
    tiny = build_demo_org(OrgSpec(members=6, days=130, seed=9, end_day=small_org.last_day, url_key="tiny"))
    with PortalEmulator([tiny]) as emu:
        quick = connect(
            emu.url, tiny.admin_username, tiny.passwords[tiny.admin_username], ca_bundle=emu.ca_bundle, timeout_s=1
        )
        start, end = tiny.last_day - dt.timedelta(days=119), tiny.last_day
        bad = fetching.split_windows(start, end)[0]
        emu.faults.add("timeout", times=None, delay_s=2.5, when=only_window(bad.start_ms))
        result = fetch_usage(quick, start, end)
    assert result.missing_windows == [bad]
    assert "did not answer in time" in result.warning()


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("malformed_json", "The portal's reply was not valid JSON."),
        ("html_error", "The portal answered with an HTML error page instead of JSON."),
        ("498", "The sign-in expired and signing in again did not help. Sign out and in."),
        ("503", "The portal kept failing (HTTP 503) after several retries."),
    ],
)
def test_persistent_faults_get_plain_messages(conn, emulator, small_org, kind, message):
    end = small_org.last_day
    emulator.faults.add(kind, times=None, retry_after=0)
    result = fetch_usage(conn, end - dt.timedelta(days=9), end)
    emulator.faults.clear()
    assert [f.message for f in result.failures] == [message]
