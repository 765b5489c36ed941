"""Regression tests for issue 10 fixes that had none: item 6 (a shared link's range on a cold app), item 11
(filters across orgs, an unknown page, the demo's status line, an org with no usage) and item 2 on the
Chargeback and Watch pages.

Sign-ins go through the real ``arcgis`` client to the in-process HTTPS emulator.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import os
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
import streamlit as st
from rendered import shown
from streamlit.components.v2.bidi_component.main import _make_trigger_id
from streamlit.proto.WidgetStates_pb2 import WidgetState
from streamlit.testing.v1 import AppTest
from test_untrusted_text import ACTIVE_MARKDOWN, HOSTILE_LINK, HOSTILE_NAME, HOSTILE_ORG, rendered_markdown

from creditlens import dates
from creditlens.archive.memory import MEMORY_ARCHIVES
from creditlens.fake.demo_org import OrgSpec, build_demo_org
from creditlens.ui import common, connection, downloads, gate, state, syncing

pytestmark = pytest.mark.integration

APP = str(Path(__file__).resolve().parents[1] / "app.py")
TODAY = dates.utc_today()


@pytest.fixture(scope="module")
def orgs():
    first = build_demo_org(OrgSpec(members=25, days=400, seed=41, url_key="gapsa", name="Gaps First Org"))
    second = build_demo_org(OrgSpec(members=20, days=400, seed=42, url_key="gapsb", name="Gaps Second Org"))
    quiet = build_demo_org(OrgSpec(members=8, days=60, seed=43, url_key="gapsq", name="Gaps Quiet Org")).clear_usage()
    return {"first": first, "second": second, "quiet": quiet}


@pytest.fixture(scope="module")
def emulator(orgs, emulator_factory):
    return emulator_factory(orgs.values())


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, emulator):
    for name in list(os.environ):
        if name.startswith("CREDITLENS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv(connection.ENV_CA, emulator.ca_bundle)
    gate.forget_shared_connections()
    st.cache_data.clear()
    emulator.faults.clear()
    yield
    st.cache_data.clear()


def widget(items, label):
    return next(w for w in items if w.label == label)


def new_app(**query) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=90)
    at.query_params.update(query)
    return at


def sign_in(at: AppTest, emulator, org) -> AppTest:
    """Switch to ArcGIS Online and sign in as the org's administrator, from whatever page ``at`` is on."""
    widget(at.radio, "Connection").set_value(state.ONLINE).run()
    widget(at.text_input, "Organization URL").input(emulator.url)
    widget(at.text_input, "Username").input(org.admin_username)
    widget(at.text_input, "Password").input(org.passwords[org.admin_username])
    widget(at.button, "Connect").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [shown(e.value) for e in at.error]
    return at


def sidebar_text(at: AppTest) -> str:
    return "\n".join(shown(el.value) for el in [*at.sidebar.markdown, *at.sidebar.caption])


# -- item 6: a shared link keeps its range on a cold app ---------------------------------------------------
def test_a_shared_link_keeps_last_year_when_signing_in_straight_away_on_a_cold_app(emulator, orgs):
    st.cache_data.clear()
    st.cache_resource.clear()  # cold: not even the demo org is built yet
    at = new_app(range="last-year")
    at.switch_page("app_pages/reconciliation.py").run()
    sign_in(at, emulator, orgs["first"])
    start, end = dates.preset_range("Last year")
    assert widget(at.selectbox, "Period").value == "Last year"
    assert at.query_params["range"] == "last-year"
    assert [t.value for t in at.title] == ["Reconciliation"]
    page_captions = [shown(c.value) for c in at.main.caption]
    assert any(f"Gaps First Org · {dates.range_label(start, end)}" in c for c in page_captions), page_captions


def test_a_shared_link_keeps_its_range_when_a_click_cuts_the_cold_first_run_short(emulator, orgs, monkeypatch):
    """The visitor clicks while the demo org is still being built: that run stops before the period is drawn."""
    real = connection.demo_connection
    calls: list[int] = []

    def cut_short() -> object:
        conn = real()
        calls.append(1)
        if len(calls) == 1:
            st.rerun()  # what a click during the build does: the run starts over from the top
        return conn

    monkeypatch.setattr(connection, "demo_connection", cut_short)
    test_a_shared_link_keeps_last_year_when_signing_in_straight_away_on_a_cold_app(emulator, orgs)
    assert len(calls) >= 2, "the first run should have been cut short and run again"


# -- item 11a: one org's leaderboard filters never carry over to the next ------------------------------------
def test_leaderboard_filters_are_cleared_by_signing_out_and_into_another_org(emulator, orgs):
    at = sign_in(new_app().run(), emulator, orgs["first"])
    at.switch_page("app_pages/leaderboard.py").run()
    everyone_first = len(at.dataframe[0].value)
    widget(at.multiselect, "Status").select("member").run()
    widget(at.number_input, "Minimum credits").set_value(5.0).run()
    widget(at.text_input, "Search").input("a").run()
    assert not at.exception
    assert len(at.dataframe[0].value) < everyone_first  # the filters were in force on the first org
    assert {"status", "min", "q"} <= set(at.query_params)
    widget(at.button, "Sign out").click().run()
    assert not at.exception
    sign_in(at, emulator, orgs["second"])
    at.switch_page("app_pages/leaderboard.py").run()
    assert not at.exception and not at.error
    assert "Gaps Second Org" in sidebar_text(at)
    assert widget(at.multiselect, "Status").value == []
    assert widget(at.number_input, "Minimum credits").value == 0.0
    assert widget(at.text_input, "Search").value == ""
    assert not {"status", "min", "q"} & set(at.query_params)
    board = at.dataframe[0].value
    assert len(board) > 0 and set(board["username"]) >= {m["username"] for m in orgs["second"].members}


# -- item 11b: an unknown page says so, naming the path as text ------------------------------------------------
@pytest.mark.parametrize("path", ["old_report", "![pixel](https:/evil.example/p.png)"])
def test_an_unknown_page_is_named_as_plain_text(path):
    at = new_app()
    at.context["url"] = f"http://localhost:8501/{path}"
    at.run()
    assert not at.exception
    (warning,) = [w for w in at.warning if "There is no page called" in w.value]
    assert shown(warning.value) == f"There is no page called '{path}', so Credit Lens opened Overview."
    assert not ACTIVE_MARKDOWN.search(warning.value), warning.value
    assert "_" not in path or "\\_" in warning.value  # Markdown's emphasis marks are escaped, not applied
    assert [t.value for t in at.title] == ["Overview"]


def test_a_known_page_gets_no_unknown_page_warning():
    at = new_app()
    at.context["url"] = "http://localhost:8501/leaderboard"
    at.run()
    at.switch_page("app_pages/leaderboard.py").run()
    assert not at.exception
    assert not [w for w in at.warning if "There is no page called" in w.value]


# -- item 11c: only a real sign-in says "Signed in as" ---------------------------------------------------------
def test_the_demo_sidebar_does_not_say_signed_in_but_a_real_sign_in_does(emulator, orgs):
    at = new_app().run()
    assert not at.exception
    demo = sidebar_text(at)
    assert "synthetic organization" in demo
    assert "Signed in as" not in demo
    org = orgs["first"]
    sign_in(at, emulator, org)
    real = sidebar_text(at)
    assert "Gaps First Org" in real
    assert f"Signed in as {org.member(org.admin_username)['fullName']} ({org.admin_username})" in real


# -- item 11d: an org with no usage still gets its Leaderboard and a download ---------------------------------
def session_downloads(at: AppTest) -> list:
    """The session-bound download components on the page (a real org's downloads)."""
    found = []

    def walk(node) -> None:
        for child in getattr(node, "children", {}).values():
            proto = getattr(child, "proto", None)
            if getattr(child, "type", None) == "bidi_component" and proto.component_name == downloads.COMPONENT_NAME:
                found.append(proto)
            walk(child)

    walk(at._tree)
    return found


def click_session_download(at: AppTest, label: str) -> bytes:
    """Press a session-bound download button the way its JavaScript does, and return the file it hands over."""
    (button,) = [p for p in session_downloads(at) if json.loads(p.json).get("label") == label]
    ticket = json.loads(button.json)["ticket"]
    states = at._tree.get_widget_states()
    click = WidgetState(id=_make_trigger_id(button.id, "events"))
    click.json_trigger_value = json.dumps([{"event": "requested", "value": ticket}])
    states.widgets.append(click)
    at._run(states)
    assert not at.exception, [e.value for e in at.exception]
    files = [json.loads(p.json)["file"] for p in session_downloads(at) if "file" in json.loads(p.json)]
    assert len(files) == 1, "one click hands over one file"
    return base64.b64decode(files[0]["b64"])


def test_an_org_with_no_usage_lists_its_members_at_zero_with_a_working_csv(emulator, orgs):
    org = orgs["quiet"]
    at = sign_in(new_app().run(), emulator, org)
    at.switch_page("app_pages/leaderboard.py").run()
    assert not at.exception and not at.error
    assert any("No credits were used" in i.value for i in at.info)
    members = {m["username"] for m in org.members}
    table = at.dataframe[0].value
    assert set(table["username"]) == members and len(table) == len(members)
    assert (table["credits"] == 0).all()
    assert set(table["status"]) == {"Member"}
    csv = click_session_download(at, "Download CSV")
    rows = pd.read_csv(io.BytesIO(csv), keep_default_na=False)
    assert set(rows["Username"]) == members and len(rows) == len(members)
    assert (rows["Credits"] == 0).all()


# -- item 2 on the Chargeback and Watch pages ---------------------------------------------------------------
FORMULAS = tuple(f'{p}HYPERLINK("https://evil.example/f","click")' for p in "=+-@")
FORMULA_START = tuple("=+-@")


@pytest.fixture
def hostile_demo(monkeypatch):
    """The demo org with a hostile org name, and every member named in Markdown, HTML or a formula."""
    org = build_demo_org(OrgSpec(members=40, days=400, seed=3, name=HOSTILE_ORG, end_day=TODAY))
    names = (HOSTILE_NAME, *FORMULAS)
    for n, member in enumerate(org.members):
        member["fullName"] = names[n % len(names)]
    monkeypatch.setattr(connection, "demo_org", lambda day_iso: org)
    forget_archived_data()
    yield org
    forget_archived_data()


def forget_archived_data() -> None:
    """Nothing archived from another test's demo org may stand in for the hostile one."""
    st.cache_data.clear()
    syncing.forget()
    MEMORY_ARCHIVES.clear()


def offered_files(monkeypatch) -> list:
    """Every download a page offers, as handed to the buttons (the same ``make`` a click runs)."""
    offered: list = []
    real = common.download_buttons

    def spy(items, key):
        offered.extend(items)
        return real(items, key)

    monkeypatch.setattr(common, "download_buttons", spy)
    return offered


def cells(item) -> list[str]:
    """Every text cell of a CSV or XLSX download, headers included."""
    payload = item.make()
    if item.file_name.endswith(".csv"):
        return [c for row in csv.reader(io.StringIO(payload.decode("utf-8-sig"))) for c in row]
    book = openpyxl.load_workbook(io.BytesIO(payload))
    return [c.value for ws in book.worksheets for row in ws.iter_rows() for c in row if isinstance(c.value, str)]


def is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("page", ["chargeback", "watch"])
def test_hostile_names_on_chargeback_and_watch_render_as_text(hostile_demo, page):
    at = new_app(range=HOSTILE_LINK, q=HOSTILE_NAME)
    at.run()
    at.switch_page(f"app_pages/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert [t.value for t in at.title] == [page.title()]
    texts = rendered_markdown(at)
    assert any("evil.example" in shown(t) for t in texts), "the hostile text should be on screen"
    for text in texts:
        assert not ACTIVE_MARKDOWN.search(text), text
    tables = [str(c) for frame in at.dataframe for c in frame.value.to_numpy().ravel() if "evil.example" in str(c)]
    if page == "chargeback":
        assert tables, "the members' names should be in the line's table"
        assert set(tables) <= {HOSTILE_NAME, *FORMULAS}  # a table cell holds the name exactly as typed


def test_chargeback_downloads_neutralise_every_formula(hostile_demo, monkeypatch):
    offered = offered_files(monkeypatch)
    at = new_app().run()
    at.switch_page("app_pages/chargeback.py").run()
    assert not at.exception
    sheets = [item for item in offered if item.file_name.endswith((".csv", ".xlsx"))]
    assert {item.file_name.rsplit(".", 1)[1] for item in sheets} == {"csv", "xlsx"}
    for item in sheets:
        found = cells(item)
        live = [c for c in found if c.startswith(FORMULA_START) and not is_number(c)]
        assert live == [], (item.file_name, live)
    line = [item for item in sheets if "chargeback_line" in item.file_name]
    assert line, "the line's members download should be offered"
    for item in line:
        found = cells(item)
        assert any(c == "'" + f for c in found for f in FORMULAS), "the names are kept, neutralised"
