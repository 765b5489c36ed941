"""Untrusted text stays text (issue 10, item 2): names from the portal and link values are never Markdown.

A hostile org name, member name and link parameter would, if rendered as Markdown, fetch a remote image
(leaking the app's URL as referrer) or draw a clickable "sign in again" phishing link in the app's own
boxes. Every Markdown-rendered element must carry them escaped.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
import streamlit as st
from rendered import shown
from streamlit.testing.v1 import AppTest

from creditlens.fake.demo_org import OrgSpec, build_demo_org
from creditlens.ui import common, connection

HOSTILE_ORG = "![pixel](https://evil.example/p.png) [Session expired: sign in again](https://evil.example/login)"
HOSTILE_NAME = "<img src=https://evil.example/x> **Boss** [click](javascript:alert(1))"
HOSTILE_LINK = "[Session expired: sign in again](https://evil.example/login)"
#: Markdown that would become an image, a link or raw HTML: an unescaped ``![``, ``](`` or ``<``.
ACTIVE_MARKDOWN = re.compile(r"(?<!\\)!(?<!\\)\[|(?<!\\)\]\(|(?<!\\)<")


@pytest.fixture
def hostile_demo(monkeypatch):
    org = build_demo_org(OrgSpec(members=40, days=60, seed=3, name=HOSTILE_ORG, end_day=dt.datetime.now(dt.UTC).date()))
    org.members[5]["fullName"] = HOSTILE_NAME
    monkeypatch.setattr(connection, "demo_org", lambda day_iso: org)
    st.cache_data.clear()
    yield org
    st.cache_data.clear()


def rendered_markdown(at: AppTest) -> list[str]:
    """The source of every element Streamlit renders as Markdown, main area and sidebar."""
    kinds = ("markdown", "caption", "title", "header", "subheader", "warning", "error", "info", "success")
    return [el.value for kind in kinds for el in getattr(at, kind)] + [
        el.value for kind in kinds for el in getattr(at.sidebar, kind)
    ]


def test_plain_escapes_every_active_construct():
    for text in (HOSTILE_ORG, HOSTILE_NAME, HOSTILE_LINK, ":red[alarm] :material/lock:", "line\nbreak # head"):
        escaped = common.plain(text)
        assert not ACTIVE_MARKDOWN.search(escaped), escaped
        assert shown(escaped) == " ".join(text.split())  # the reader sees exactly the text
        assert "\n" not in escaped


@pytest.mark.parametrize("page", ["overview", "leaderboard", "trends", "reconciliation", "budgets"])
def test_hostile_org_member_and_link_render_as_text(hostile_demo, page):
    at = AppTest.from_file("../app.py", default_timeout=90)
    at.query_params.update({"range": HOSTILE_LINK, "status": HOSTILE_LINK, "q": HOSTILE_NAME})
    at.run()
    if page != "overview":
        at.switch_page(f"app_pages/{page}.py").run()
    assert not at.exception
    texts = rendered_markdown(at)
    assert any("evil.example" in shown(t) for t in texts), "the hostile text should be on screen"
    for text in texts:
        assert not ACTIVE_MARKDOWN.search(text), text
