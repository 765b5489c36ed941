"""The app's data path (ui.data): every range read from the archive after ``ensure``, caches per
identity and keyed by the exact data they were built from, where the archive lives, Sync now."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import streamlit as st

from creditlens.archive import Archive
from creditlens.archive.memory import MEMORY_ARCHIVES
from creditlens.errors import PortalError
from creditlens.fake.demo_org import OrgSpec, build_demo_org
from creditlens.portal import Identity, PortalConnection, connect_demo
from creditlens.ui import connection, data, state, syncing
from creditlens.windows import UsageWindow

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
    """One member named after the transport, no usage, and a count of calls by path."""

    name: str
    calls: dict = field(default_factory=dict)

    def post(self, path: str, params: dict[str, str]) -> dict:
        kind = path.rsplit("/", 1)[-1]
        self.calls[kind] = self.calls.get(kind, 0) + 1
        if kind == "users":
            return {"users": [{"username": self.name, "fullName": self.name.title()}], "nextStart": -1}
        if kind == "usage":
            return {"startTime": int(params["startTime"]), "endTime": int(params["endTime"]) + 1, "data": []}
        return {"roles": [], "nextStart": -1}

    def relogin(self) -> None:
        return None


def _fake(url: str, org_id: str, username: str) -> PortalConnection:
    return PortalConnection(Identity(url, org_id, username), {"id": org_id}, {}, CountingTransport(username))


@pytest.fixture(autouse=True)
def clean(monkeypatch):
    monkeypatch.delenv(data.ARCHIVE_DIR_ENV, raising=False)
    st.cache_data.clear()
    st.cache_resource.clear()
    syncing.forget()
    MEMORY_ARCHIVES.clear()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()
    syncing.forget()


def test_members_come_from_each_identitys_own_archive():
    ada = _fake("https://a.maps.arcgis.com", "ORG1", "ada")
    bob = _fake("https://a.maps.arcgis.com", "ORG1", "bob")  # same org, another person
    assert ada.identity.cache_key != bob.identity.cache_key
    assert data.load_members(ada)["username"].tolist() == ["ada"]
    assert data.load_members(bob)["username"].tolist() == ["bob"]
    assert data.load_members(ada)["username"].tolist() == ["ada"]  # not bob's archive
    assert data.archive_of(ada) is not data.archive_of(bob)
    assert ada.transport.calls["users"] == bob.transport.calls["users"] == 1  # the rerun read the archive


def test_refresh_syncs_only_one_identity_again():
    ada = _fake("https://a.maps.arcgis.com", "ORG1", "ada")
    bob = _fake("https://b.maps.arcgis.com", "ORG2", "bob")
    data.load_members(ada), data.load_members(bob)
    before_ada, before_bob = dict(ada.transport.calls), dict(bob.transport.calls)
    generation = data.generation(bob.identity.cache_key)
    data.refresh(ada.identity.cache_key)
    assert data.generation(bob.identity.cache_key) == generation
    data.load_members(ada), data.load_members(bob)
    assert ada.transport.calls["users"] == before_ada["users"] + 1  # members and today fetched again
    assert ada.transport.calls["usage"] > before_ada["usage"]
    assert bob.transport.calls == before_bob  # bob's archive answered without a request


def test_usage_is_per_identity():
    one = connect_demo(org=build_demo_org(OrgSpec(members=20, days=40, seed=1, end_day=TODAY)))
    two = connect_demo(org=build_demo_org(OrgSpec(members=20, days=40, seed=2, end_day=TODAY, url_key="other")))
    assert one.identity != two.identity
    start = TODAY - dt.timedelta(days=9)
    names_one = set(data.load_usage(one, start, TODAY).frame["username"].astype(str)) - {""}
    names_two = set(data.load_usage(two, start, TODAY).frame["username"].astype(str)) - {""}
    assert names_one and names_two and names_one != names_two
    again = data.load_usage(one, start, TODAY)  # one's archive, not two's
    assert set(again.frame["username"].astype(str)) - {""} == names_one


def test_generation_counter_is_per_identity():
    key_a, key_b = "demo://x|A|a", "demo://x|B|b"
    a0, b0 = data.generation(key_a), data.generation(key_b)
    assert data.bump_generation(key_a) == a0 + 1
    assert data.generation(key_a) == a0 + 1 and data.generation(key_b) == b0


# -- issue 10, item 4a: a derived cache keyed by the exact data it was built from -----------------------
class Flaky:
    """The demo portal, failing one usage window until ``healthy`` is set."""

    def __init__(self, inner, start_ms: int) -> None:
        self.inner, self.start_ms, self.healthy = inner, start_ms, False

    def post(self, path, params):
        if not self.healthy and path.endswith("/usage") and params.get("startTime") == str(self.start_ms):
            raise PortalError("The portal did not answer in time.")
        return self.inner.post(path, params)

    def relogin(self):
        return None


def test_a_leaderboard_from_an_incomplete_fetch_is_never_shown_for_the_complete_data(monkeypatch):
    monkeypatch.setattr("creditlens.fetching.RETRY_PAUSE_S", 0.01)
    org = build_demo_org(OrgSpec(members=30, days=120, seed=12, end_day=TODAY, url_key="stale"))
    demo = connect_demo(org=org)
    start = TODAY - dt.timedelta(days=89)
    flaky = Flaky(demo.transport, UsageWindow(start, start).start_ms)
    conn = PortalConnection(Identity("https://stale.example.com", org.org_id, "admin"), demo.org, demo.user, flaky)
    view = state.View(conn, start, TODAY)
    first = data.load_page_data(view)
    assert not first.complete
    short = first.leaderboard()["credits"].sum()
    assert short < org.total_credits(start, TODAY) * 0.999
    flaky.healthy = True
    syncing.forget()  # the usage's own cache entry expired; the leaderboard's did not, before the fix
    second = data.load_page_data(view)  # same identity, range and generation
    assert second.complete and second.key != first.key
    assert second.leaderboard()["credits"].sum() == pytest.approx(org.total_credits(start, TODAY), rel=1e-9)


def test_page_data_built_from_a_plain_usage_result_is_keyed_by_its_content():
    org = build_demo_org(OrgSpec(members=20, days=40, seed=3, end_day=TODAY, url_key="plain"))
    conn = connect_demo(org=org)
    view = state.View(conn, TODAY - dt.timedelta(days=9), TODAY)
    usage = data.load_usage(conn, view.start, view.end)
    members = data.load_members(conn)
    whole = data.PageData(view, members, usage).key
    usage.frame = usage.frame.iloc[: len(usage.frame) // 2]
    assert data.PageData(view, members, usage).key != whole


# -- where the archive lives ------------------------------------------------------------------------------
def test_the_archive_folder_comes_from_secrets_then_the_environment():
    assert data.configured_archive_dir({"archive_dir": "/srv/a"}, {data.ARCHIVE_DIR_ENV: "/env/b"}) == "/srv/a"
    assert data.configured_archive_dir({}, {data.ARCHIVE_DIR_ENV: " /env/b "}) == "/env/b"
    assert data.configured_archive_dir({}, {}) == ""


def test_a_configured_folder_holds_one_file_per_org_and_the_demo_stays_in_memory(monkeypatch, tmp_path):
    monkeypatch.setenv(data.ARCHIVE_DIR_ENV, str(tmp_path))
    ada = _fake("https://a.maps.arcgis.com", "ORG1", "ada")
    archive = data.archive_of(ada)
    assert isinstance(archive, Archive) and archive.path == Path(tmp_path) / "ORG1.duckdb"
    data.load_members(ada)
    assert (tmp_path / "ORG1.duckdb").exists()
    demo = connect_demo(org=build_demo_org(OrgSpec(members=10, days=10, seed=4, end_day=TODAY)))
    assert data.archive_of(demo).in_memory and data.archive_of(demo) is data.archive_of(demo)


def test_sync_now_is_refused_while_another_sync_of_the_org_runs(monkeypatch):
    ada = _fake("https://a.maps.arcgis.com", "ORG9", "ada")
    view = state.View(ada, TODAY, TODAY)
    archive = data.archive_of(ada)
    before = data.generation(view.identity_key)
    with archive.writing(timeout_s=1):
        data.sync_now(view)
    assert st.session_state[data.SYNC_NOTICE] == data.SYNC_BUSY_HELP
    assert data.generation(view.identity_key) == before
    del st.session_state[data.SYNC_NOTICE]
    data.sync_now(view)
    assert data.generation(view.identity_key) == before + 1 and data.SYNC_NOTICE not in st.session_state


def test_memory_archives_stay_bounded():
    for i in range(10):
        data.archive_of(_fake("https://a.maps.arcgis.com", "ORG1", f"user{i}"))
    assert len(MEMORY_ARCHIVES) <= MEMORY_ARCHIVES.max_entries


# -- issue 10, item 10: a Cancel while loading, and nothing of the previous run under the new caption ----------
class CancelOnFirstUsage:
    """The demo portal; the first usage request presses Cancel, as a person would mid-load."""

    def __init__(self, inner) -> None:
        self.inner, self.usage_calls = inner, 0

    def post(self, path, params):
        if path.endswith("/usage"):
            self.usage_calls += 1
            if self.usage_calls == 1:
                syncing.cancel_loading()
        return self.inner.post(path, params)

    def relogin(self):
        return None


def test_cancel_stops_the_load_and_the_page_names_the_days_not_loaded(monkeypatch):
    org = build_demo_org(OrgSpec(members=30, days=400, seed=13, end_day=TODAY, url_key="cancel"))
    demo = connect_demo(org=org)
    portal = CancelOnFirstUsage(demo.transport)
    conn = PortalConnection(Identity("https://cancel.example.com", org.org_id, "admin"), demo.org, demo.user, portal)
    view = state.View(conn, TODAY - dt.timedelta(days=364), TODAY)
    page = data.load_page_data(view)
    assert not page.complete
    assert "Cancelled before this window had loaded" in page.warning
    assert portal.usage_calls < 2 * 7  # the other windows of the year were never asked for


def test_a_load_covers_what_the_previous_run_drew_below_it(monkeypatch):
    org = build_demo_org(OrgSpec(members=20, days=60, seed=14, end_day=TODAY, url_key="cover"))
    demo = connect_demo(org=org)
    conn = PortalConnection(
        Identity("https://cover.example.com", org.org_id, "admin"), demo.org, demo.user, demo.transport
    )
    slots = []
    real_empty = st.empty
    monkeypatch.setattr(st, "empty", lambda: slots.append(1) or real_empty())
    view = state.View(conn, TODAY - dt.timedelta(days=29), TODAY)
    data.load_page_data(view)  # fetches: the old page must not stay visible under the new caption
    assert len(slots) >= syncing.COVER_SLOTS
    slots.clear()
    data.load_page_data(view)  # archived already: nothing drawn, nothing to cover
    assert slots == []


def test_the_progress_bar_stays_within_its_range_whatever_the_counts():
    job = syncing.SyncJob(("key",))
    assert (job.fraction(), job.label("Loading")) == (0.0, "Loading: checking the archive")
    job.done, job.total = 1, 4
    assert (job.fraction(), job.label("Loading")) == (0.25, "Loading: 1 of 4 windows")
    job.done = 5  # more events than planned windows (a window retried as two) must not break the page
    assert (job.fraction(), job.label("Loading")) == (1.0, "Loading: 4 of 4 windows")
