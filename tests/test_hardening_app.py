"""Issue 10, item 9 in the app: a URL with ``user:password@`` in it is never sent back to the browser.

AppTest's element tree is what the websocket carries to the page, so searching every element but
the URL field itself (which holds what the person typed) covers the page and the frames.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from creditlens.ui import gate, state

APP = str(Path(__file__).resolve().parents[1] / "app.py")
SECRET = "Tr0ub4dor-9"


@pytest.fixture(autouse=True)
def _isolated(monkeypatch):
    for name in list(os.environ):
        if name.startswith("CREDITLENS_"):
            monkeypatch.delenv(name)
    gate.forget_shared_connections()
    st.cache_data.clear()


def widget(items, label):
    return next(w for w in items if w.label == label)


def sent_to_browser(at: AppTest, skip_label: str) -> str:
    """Every element's protobuf, except the widget labelled ``skip_label``."""
    out: list[str] = []

    def walk(node) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None and getattr(node, "label", None) != skip_label:
            out.append(str(proto))
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    return "\n".join(out)


@pytest.mark.parametrize(
    "url",
    [
        f"http://admin:{SECRET}@myorg.maps.arcgis.com",  # refused before any request: plain http
        f"https://admin:{SECRET}@127.0.0.1:1",  # tried, and nothing answers
        f"https://admin:{SECRET}@not a host",  # not an address at all
    ],
)
def test_a_url_with_a_password_in_it_is_not_sent_back_to_the_browser(url):
    at = AppTest.from_file(APP, default_timeout=90).run()
    widget(at.radio, "Connection").set_value(state.ONLINE).run()
    widget(at.text_input, "Organization URL").input(url)
    widget(at.text_input, "Username").input("someone")
    widget(at.text_input, "Password").input("not-the-secret")
    widget(at.button, "Connect").click().run()
    assert not at.exception
    assert at.error, "the sign-in should fail with a message"
    shown = re.sub(r"\\(.)", r"\1", at.error[0].value)
    assert SECRET not in shown and "admin:" not in shown
    assert SECRET not in sent_to_browser(at, "Organization URL")
