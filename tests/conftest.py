"""Shared fixtures: small deterministic demo orgs so tests stay fast."""

from __future__ import annotations

import datetime as dt

import pytest

from creditlens.fake.demo_org import OrgSpec, build_demo_org

END_DAY = dt.date(2026, 6, 30)


@pytest.fixture(scope="session")
def small_spec() -> OrgSpec:
    return OrgSpec(members=130, days=400, seed=5, end_day=END_DAY)


@pytest.fixture(scope="session")
def small_org(small_spec):
    return build_demo_org(small_spec)
