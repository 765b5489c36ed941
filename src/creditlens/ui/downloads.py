"""Download buttons whose files never get a URL that works outside the browser session.

``st.download_button`` stores the file in Streamlit's media store and the browser fetches it from
``/media/<hash>.<ext>``. That route serves any client that knows the URL: no cookie, no session, no
gate (issue 10, item 1). A URL leaks through proxy logs, browser history or a forwarded link, and
for a real org the file holds member names and spending.

So, for every real org, the file travels the way the page itself does: inside this session's
websocket, which only a visitor who passed the gate has. A click on the button (a small
``st.components.v2`` component with inline JavaScript) asks the server for the file; the fragment
rerun that follows builds it (files are still made only when asked for: an XLSX of 10k rows takes
seconds), sends its bytes once in the component's data, and the browser saves them from a local
``blob:`` URL. Nothing is put in the media store, so there is no HTTP URL to replay. Each request
carries a one-time ticket, so a stale or replayed trigger builds nothing.

The demo org's files are synthetic and keep ``st.download_button``.

The seam is public Streamlit API only (``st.components.v2.component``, ``st.fragment``); if a
Streamlit release changes it, ``tests/e2e/test_gate_e2e.py`` (which downloads, then replays every
URL the page fetched from a fresh client) and ``tests/test_hardening_downloads.py`` fail.
"""

from __future__ import annotations

import base64
import logging
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial

import streamlit as st

from creditlens.ui import state

log = logging.getLogger(__name__)

COMPONENT_NAME = "creditlens.session_download"
TICKETS = "cl_download_tickets"  # button key -> the one-time ticket its next click must carry
PENDING = "cl_download_pending"  # button keys whose click carried a valid ticket: build and send once

# The component draws one button (label as text, never HTML) or, when handed a file, saves it.
_JS = r"""
const delivered = (window.__creditlensDelivered = window.__creditlensDelivered || new Set());

function save(file) {
    if (delivered.has(file.id)) return;
    delivered.add(file.id);
    const raw = atob(file.b64);
    const bytes = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    const url = URL.createObjectURL(new Blob([bytes], { type: file.mime }));
    const link = document.createElement("a");
    link.href = url;
    link.download = file.name;
    link.style.display = "none";
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
}

export default function (component) {
    const { data, parentElement, setTriggerValue } = component;
    if (data && data.file) {
        save(data.file);
        return;
    }
    let button = parentElement.querySelector("button");
    if (!button) {
        button = document.createElement("button");
        button.type = "button";
        parentElement.appendChild(button);
    }
    button.textContent = data ? data.label : "";
    button.disabled = false;
    button.onclick = () => {
        button.disabled = true;
        setTriggerValue("requested", data.ticket);
    };
}
"""

_CSS = """
button {
    font: inherit;
    font-size: 0.875rem;
    padding: 0.25rem 0.75rem;
    min-height: 2.5rem;
    border-radius: 0.5rem;
    border: 1px solid rgba(49, 51, 63, 0.2);
    background: var(--st-secondary-background-color, #fff);
    color: var(--st-text-color, inherit);
    cursor: pointer;
}
button:hover { border-color: var(--st-primary-color, #ff4b4b); color: var(--st-primary-color, inherit); }
button:disabled { opacity: 0.6; cursor: progress; }
"""

_component: Callable | None = None


def session_download_component() -> Callable:
    """The component's mount command, registered once per process."""
    global _component
    if _component is None:
        _component = st.components.v2.component(COMPONENT_NAME, js=_JS, css=_CSS)
    return _component


@dataclass(frozen=True)
class Download:
    label: str
    file_name: str
    mime: str
    make: Callable[[], bytes] = field(repr=False)


def is_protected() -> bool:
    """Whether this session shows a real org's data (fails closed: no view yet counts as real)."""
    view = st.session_state.get(state.VIEW)
    conn = getattr(view, "conn", None)
    return conn is None or not conn.identity.portal_url.startswith("demo://")


def download_buttons(items: Sequence[Download], key: str) -> None:
    """One button per file; a real org's files only ever travel inside this session's websocket."""
    if is_protected():
        _session_bound_buttons(list(items), key)
    else:
        _media_buttons(items, key)


def _media_buttons(items: Sequence[Download], key: str) -> None:
    row = st.container(horizontal=True)
    for n, item in enumerate(items):
        row.download_button(
            item.label,
            data=item.make,
            file_name=item.file_name,
            mime=item.mime,
            key=f"{key}_{n}",
            on_click="ignore",
            icon=":material/download:",
        )


@st.fragment
def _session_bound_buttons(items: list[Download], key: str) -> None:
    """A click reruns only this fragment, which builds the one file asked for and hands it over."""
    row = st.container(horizontal=True)
    for n, item in enumerate(items):
        with row:
            _session_bound_button(item, f"{key}_{n}")


def _session_bound_button(item: Download, key: str) -> None:
    mount = session_download_component()
    mount(
        key=key,
        data={"label": item.label, "ticket": current_ticket(key)},
        width="content",
        on_requested_change=partial(_on_request, key),
    )
    if not st.session_state.setdefault(PENDING, {}).pop(key, False):  # only a run after a valid click builds
        return
    try:
        payload = item.make()
    except Exception as exc:  # one line for the visitor; the type (never the text) for the server log
        log.error("building %s failed with %s", item.file_name, type(exc).__name__)
        st.error("The file could not be made. Try again; if it keeps failing, the server's log names the error.")
        return
    mount(key=f"{key}_file", data={"file": file_payload(item, payload)}, width="content")


def _on_request(key: str) -> None:
    """The click's callback, before the fragment reruns: a valid ticket marks the file as asked for."""
    if redeem_ticket(key, _field(st.session_state.get(key), "requested")):
        st.session_state.setdefault(PENDING, {})[key] = True


def _field(value: object, name: str) -> object:
    if isinstance(value, Mapping):
        return value.get(name)
    return getattr(value, name, None)


def current_ticket(key: str) -> str:
    """The one-time ticket the next click of button ``key`` must carry (made on first use)."""
    tickets = st.session_state.setdefault(TICKETS, {})
    if key not in tickets:
        tickets[key] = secrets.token_urlsafe(16)
    return tickets[key]


def redeem_ticket(key: str, presented: object) -> bool:
    """True once for the ticket of button ``key``; the button then gets a new one."""
    tickets = st.session_state.setdefault(TICKETS, {})
    expected = tickets.get(key)
    if not isinstance(presented, str) or expected is None or not secrets.compare_digest(presented, expected):
        return False
    tickets[key] = secrets.token_urlsafe(16)
    return True


def file_payload(item: Download, payload: bytes) -> dict[str, str]:
    """What the browser needs to save one file; ``id`` makes each hand-over happen once."""
    return {
        "id": secrets.token_urlsafe(12),
        "name": item.file_name,
        "mime": item.mime,
        "b64": base64.b64encode(payload).decode("ascii"),
    }
