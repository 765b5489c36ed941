"""Shared fixtures: small deterministic demo orgs so tests stay fast, and one emulator factory."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence

import pytest

from creditlens import reports
from creditlens.fake.demo_org import DemoOrg, OrgSpec, build_demo_org
from creditlens.fake.emulator import PortalEmulator
from creditlens.fetching import fetch_members, fetch_usage
from creditlens.portal import connect, connect_demo

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
