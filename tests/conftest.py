"""Shared fixtures: small deterministic demo orgs so tests stay fast, and one emulator factory."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence

import pytest

from creditlens import fetching, reports
from creditlens.fake.demo_org import DemoOrg, OrgSpec, build_demo_org
from creditlens.fake.emulator import PortalEmulator
from creditlens.fetching import fetch_members, fetch_usage
from creditlens.portal import connect, connect_demo
from creditlens.windows import UsageWindow

END_DAY = dt.date(2026, 6, 30)
BOARD_DAY = dt.date(2026, 3, 31)  # the last day of the ``demo`` fixture's month of usage

StartEmulator = Callable[..., PortalEmulator]


@pytest.fixture(scope="session")
def small_spec() -> OrgSpec:
    return OrgSpec(members=130, days=400, seed=5, end_day=END_DAY)


@pytest.fixture(scope="session")
def small_org(small_spec):
    return build_demo_org(small_spec)


@pytest.fixture(scope="module")
def emulator_factory() -> Iterator[StartEmulator]:
    """``start(orgs, **kw)`` starts a :class:`PortalEmulator`; every one started is stopped with the module."""
    started: list[PortalEmulator] = []

    def start(orgs: Sequence[DemoOrg], **kwargs) -> PortalEmulator:
        emulator = PortalEmulator(list(orgs), **kwargs).start()
        started.append(emulator)
        return emulator

    yield start
    for emulator in reversed(started):
        emulator.stop()


@pytest.fixture(scope="module")
def emulator(small_org, emulator_factory):
    """The small org served over HTTPS (a test file that needs other orgs defines its own ``emulator``)."""
    return emulator_factory([small_org])


@pytest.fixture
def conn(emulator, small_org):
    """The small org's administrator signed in with the real arcgis client; faults cleared around each test."""
    emulator.faults.clear()
    yield connect(
        emulator.url,
        small_org.admin_username,
        small_org.passwords[small_org.admin_username],
        ca_bundle=emulator.ca_bundle,
    )
    emulator.faults.clear()


@pytest.fixture(scope="module")
def demo():
    """(connection, members, a month of usage, its leaderboard) of a 60-member demo org ending BOARD_DAY."""
    org = build_demo_org(OrgSpec(members=60, days=120, seed=3, end_day=BOARD_DAY))
    conn = connect_demo(org=org)
    members = fetch_members(conn)
    usage = fetch_usage(conn, BOARD_DAY - dt.timedelta(days=29), BOARD_DAY).frame
    board = reports.leaderboard(usage, members, conn.identity.org_id)
    return conn, members, usage, board


@pytest.fixture
def first_day_never_loads(monkeypatch) -> None:
    """Every sync loses the first day of its first window, the way the archive fetches it: the rest of
    that window is fetched and the day is reported as a failed window."""
    real = fetching.fetch_windows_into

    def partial(conn, windows, sink, *args, **kwargs):
        first = windows[0]
        rest = [UsageWindow(first.start + dt.timedelta(days=1), first.end)] if first.days > 1 else []
        failures = real(conn, [*rest, *windows[1:]], sink, *args, **kwargs)
        return [
            fetching.WindowFailure(UsageWindow(first.start, first.start), "The portal did not answer in time."),
            *failures,
        ]

    monkeypatch.setattr(fetching, "fetch_windows_into", partial)
