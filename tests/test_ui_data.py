"""Per-identity caches, generations and the progress workaround (ui.data), and environment defaults."""

from __future__ import annotations

import datetime as dt
import inspect
from dataclasses import dataclass

import pytest
import streamlit as st

from creditlens.fake.demo_org import OrgSpec, build_demo_org
from creditlens.portal import Identity, PortalConnection, connect_demo
from creditlens.ui import (
    connection,
    data,
)

TODAY = dt.date(2026, 3, 31)


def test_env_defaults_never_carry_the_password():
    env = connection.env_defaults(
        {
            connection.ENV_URL: " https://x.maps.arcgis.com ",
            connection.ENV_PASSWORD: "s3cret",
            connection.ENV_USER: "ada",
        }
    )
    assert env == connection.EnvDefaults("https://x.maps.arcgis.com", "ada", True, None)
    assert "s3cret" not in repr(env)


@dataclass
class CountingTransport:
    """Answers the member list with one user named after the transport, and counts calls."""

    name: str
    calls: int = 0

    def post(self, path: str, params: dict[str, str]) -> dict:
        self.calls += 1
        if path.endswith("/users"):
            return {"users": [{"username": self.name, "fullName": self.name.title()}], "nextStart": -1}
        return {"roles": [], "nextStart": -1}

    def relogin(self) -> None:
        return None


def _fake(url: str, org_id: str, username: str) -> PortalConnection:
    return PortalConnection(Identity(url, org_id, username), {"id": org_id}, {}, CountingTransport(username))


@pytest.fixture
def clean_caches():
    st.cache_data.clear()
    yield
    st.cache_data.clear()


def test_loader_signatures_are_keyed_by_identity_and_generation():
    for loader in (data._usage_cached, data._org_totals_cached):
        assert list(inspect.signature(loader).parameters) == ["identity_key", "generation", "start", "end", "_conn"]
    assert list(inspect.signature(data._members_cached).parameters) == ["identity_key", "generation", "_conn"]


def test_members_cache_is_per_identity(clean_caches):
    ada = _fake("https://a.maps.arcgis.com", "ORG1", "ada")
    bob = _fake("https://a.maps.arcgis.com", "ORG1", "bob")  # same org, another person
    assert ada.identity.cache_key != bob.identity.cache_key
    assert data.load_members(ada)["username"].tolist() == ["ada"]
    assert data.load_members(bob)["username"].tolist() == ["bob"]
    assert data.load_members(ada)["username"].tolist() == ["ada"]  # not bob's cached frame
    assert (ada.transport.calls, bob.transport.calls) == (2, 2)  # users + roles, once each


def test_refresh_bumps_only_one_identity(clean_caches):
    ada = _fake("https://a.maps.arcgis.com", "ORG1", "ada")
    bob = _fake("https://b.maps.arcgis.com", "ORG2", "bob")
    data.load_members(ada), data.load_members(bob)
    before = data.generation(bob.identity.cache_key)
    data.refresh(ada.identity.cache_key)
    assert data.generation(bob.identity.cache_key) == before
    data.load_members(ada), data.load_members(bob)
    assert ada.transport.calls == 4  # fetched again after its refresh
    assert bob.transport.calls == 2  # still served from the cache


def test_usage_cache_is_per_identity(clean_caches):
    one = connect_demo(org=build_demo_org(OrgSpec(members=20, days=40, seed=1, end_day=TODAY)))
    two = connect_demo(org=build_demo_org(OrgSpec(members=20, days=40, seed=2, end_day=TODAY, url_key="other")))
    assert one.identity != two.identity
    start = TODAY - dt.timedelta(days=9)
    first = data.load_usage(one, start, TODAY)
    second = data.load_usage(two, start, TODAY)
    names_one = set(first.frame["username"].astype(str)) - {""}
    names_two = set(second.frame["username"].astype(str)) - {""}
    assert names_one and names_two and names_one != names_two
    again = data.load_usage(one, start, TODAY)  # served from one's cache entry, not two's
    assert set(again.frame["username"].astype(str)) - {""} == names_one


def test_generation_counter_is_per_identity():
    key_a, key_b = "demo://x|A|a", "demo://x|B|b"
    a0, b0 = data.generation(key_a), data.generation(key_b)
    assert data.bump_generation(key_a) == a0 + 1
    assert data.generation(key_a) == a0 + 1 and data.generation(key_b) == b0


def test_progress_updates_are_kept_out_of_cache_replay():
    from streamlit.runtime.scriptrunner_utils.script_run_context import in_cached_function

    token = in_cached_function.set(True)  # as inside a cached loader
    try:
        with data._not_replayed() as allowed:
            assert allowed and in_cached_function.get() is False
        assert in_cached_function.get() is True
    finally:
        in_cached_function.reset(token)
