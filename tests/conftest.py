"""Shared fixtures: small deterministic demo orgs so tests stay fast, and one emulator factory."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence

import pytest

from creditlens.fake.demo_org import DemoOrg, OrgSpec, build_demo_org
from creditlens.fake.emulator import PortalEmulator

END_DAY = dt.date(2026, 6, 30)

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
