"""The data path's share of issue 10: each test is named for the defect it guards against.

The sign-in, deadline and logging cases drive the real ``arcgis`` client against the emulator; the
short-reply case needs a reply no well-behaved portal sends, so it wraps the demo transport.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading

import pytest

from creditlens import fetching
from creditlens.fetching import FetchControl, default_deadline_s, fetch_members, fetch_usage
from creditlens.portal import PortalConnection, connect_demo
from creditlens.windows import DAY_MS, split_windows

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def quick_retry(monkeypatch):
    monkeypatch.setattr(fetching, "RETRY_PAUSE_S", 0.05)


def quarter(org):
    return org.last_day - dt.timedelta(days=89), org.last_day


class ShortReplies:
    """Answers like the demo portal, but every usage reply's own span stops ``days_short`` days early."""

    def __init__(self, inner, days_short: int) -> None:
        self.inner, self.days_short, self.calls = inner, days_short, 0

    def post(self, path, params):
        reply = self.inner.post(path, params)
        if path.endswith("/usage"):
            self.calls += 1
            reply = dict(reply, endTime=int(reply["endTime"]) - self.days_short * DAY_MS)
        return reply

    def relogin(self):
        self.inner.relogin()


def test_a_reply_covering_fewer_days_than_asked_is_a_failed_window_not_a_complete_one(small_org):
    demo = connect_demo(org=small_org)
    short = ShortReplies(demo.transport, days_short=20)
    conn = PortalConnection(demo.identity, demo.org, demo.user, short)
    start, end = quarter(small_org)
    result = fetch_usage(conn, start, end)
    assert not result.complete
    assert result.missing_windows == split_windows(start, end)
    assert "covers only" in result.failures[0].message
    assert short.calls == 2 * len(split_windows(start, end))  # each window retried once, then named


def test_a_reply_one_day_short_is_caught_too(small_org):
    demo = connect_demo(org=small_org)
    conn = PortalConnection(demo.identity, demo.org, demo.user, ShortReplies(demo.transport, days_short=1))
    result = fetch_usage(conn, small_org.last_day - dt.timedelta(days=9), small_org.last_day)
    assert not result.complete and "not the whole window" in result.warning()


def test_a_whole_reply_still_passes_the_span_check(small_org):
    start, end = quarter(small_org)
    result = fetch_usage(connect_demo(org=small_org), start, end)
    assert result.complete
    assert result.frame["credits"].sum() == pytest.approx(small_org.total_credits(start, end), rel=1e-9)


def test_member_paging_signs_in_again_after_the_portal_drops_the_token(conn, emulator, small_org):
    emulator.expire_tokens()  # a portal restart, or an admin revoking sessions
    emulator.clear_requests()
    members = fetch_members(conn)
    assert len(members) == len(small_org.members)
    pages = [r for r in emulator.requests if r["path"].endswith("portals/self/users")]
    assert pages[-1]["auth"] == "valid" and any(r["auth"] != "valid" for r in pages)


def test_a_portal_that_stops_answering_is_named_at_the_fetch_deadline(conn, emulator, small_org):
    start, end = quarter(small_org)
    emulator.faults.add("slow", times=None, delay_s=3.0)
    began = threading.Event()
    result = fetch_usage(conn, start, end, progress=lambda *_: began.set(), control=FetchControl(deadline_s=0.5))
    assert began.is_set()
    assert not result.complete
    assert result.missing_windows == split_windows(start, end)
    assert all("deadline of 0.5 s" in f.message for f in result.failures)


def test_cancel_stops_a_fetch_and_names_every_window_not_loaded(conn, emulator, small_org):
    start, end = quarter(small_org)
    emulator.faults.add("slow", times=None, delay_s=2.0)
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    result = fetch_usage(conn, start, end, control=FetchControl(deadline_s=60, cancel=cancel))
    assert result.missing_windows == split_windows(start, end)
    assert all(f.message.startswith("Cancelled") for f in result.failures)


def test_the_fetch_deadline_is_configurable_and_defaults_to_minutes():
    assert default_deadline_s({}) == fetching.DEFAULT_DEADLINE_S >= 120
    assert default_deadline_s({"CREDITLENS_FETCH_DEADLINE_S": "42"}) == 42
    assert default_deadline_s({"CREDITLENS_FETCH_DEADLINE_S": "soon"}) == fetching.DEFAULT_DEADLINE_S


def test_failed_windows_are_logged_server_side_without_secrets(conn, emulator, small_org, caplog):
    start, end = quarter(small_org)
    emulator.faults.add("500", times=None)
    with caplog.at_level(logging.WARNING, logger="creditlens.fetching"):
        result = fetch_usage(conn, start, end)
    assert not result.complete
    logged = [r.getMessage() for r in caplog.records if r.name == "creditlens.fetching"]
    for window in result.missing_windows:
        assert any(window.label() in line for line in logged)
    tokens = emulator.issued_tokens()
    password = small_org.passwords[small_org.admin_username]
    assert tokens and not any(secret in line for line in logged for secret in [*tokens, password])
