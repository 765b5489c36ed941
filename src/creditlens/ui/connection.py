"""Which org this session looks at: the demo org, or a signed-in ArcGIS Online account.

Connections live in ``st.session_state`` only; the password lives only in :func:`sign_in`'s locals.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass

import streamlit as st

from creditlens import dates
from creditlens.errors import CreditLensError
from creditlens.fake.demo_org import DemoOrg, OrgSpec, build_demo_org
from creditlens.portal import PortalConnection, connect, connect_demo
from creditlens.ui import state
from creditlens.ui.common import plain

log = logging.getLogger(__name__)

ENV_URL, ENV_USER, ENV_PASSWORD, ENV_CA = (
    "CREDITLENS_PORTAL_URL",
    "CREDITLENS_USERNAME",
    "CREDITLENS_PASSWORD",
    "CREDITLENS_CA_BUNDLE",
)


@functools.cache
def load_env() -> None:
    """Read ``.env`` from the working directory (or a parent) once; real environment variables win."""
    from dotenv import find_dotenv, load_dotenv

    path = find_dotenv(usecwd=True)
    if path:
        load_dotenv(path, override=False)


@dataclass(frozen=True)
class EnvDefaults:
    portal_url: str
    username: str
    has_password: bool  # the password itself is read only at sign-in, never kept or shown
    ca_bundle: str | None


def env_defaults(environ: Mapping[str, str] | None = None) -> EnvDefaults:
    env = os.environ if environ is None else environ
    return EnvDefaults(
        portal_url=env.get(ENV_URL, "").strip(),
        username=env.get(ENV_USER, "").strip(),
        has_password=bool(env.get(ENV_PASSWORD)),
        ca_bundle=env.get(ENV_CA, "").strip() or None,
    )


@st.cache_resource(max_entries=2, show_spinner="Building the demo organization…")
def demo_org(day_iso: str) -> DemoOrg:
    """The synthetic demo org ending on ``day_iso``: built once per process and day, it holds no secrets."""
    return build_demo_org(OrgSpec(end_day=dt.date.fromisoformat(day_iso)))


def demo_connection() -> PortalConnection:
    """This session's connection to today's demo org (cheap: the org itself is shared by the process)."""
    day = dates.utc_today().isoformat()
    kept = st.session_state.get(state.DEMO_CONN)
    if kept is None or kept[0] != day:
        kept = (day, connect_demo(org=demo_org(day)))
        st.session_state[state.DEMO_CONN] = kept
    return kept[1]


def sign_in(use_env: bool = True) -> None:
    """Connect-button callback: sign in, keep the connection, and empty the password field.

    The password (typed, or ``CREDITLENS_PASSWORD`` when the field is empty and ``use_env``) lives
    only in this function's locals: it is never stored in session state, logged or put in a URL.
    A team deployment passes ``use_env=False``: a visitor signing in with their own account must
    never fall back to an account configured on the server.
    """
    session = st.session_state
    password = session.get(state.PASSWORD) or (os.environ.get(ENV_PASSWORD, "") if use_env else "")
    session[state.PASSWORD] = ""
    session.pop(state.LOGIN_ERROR, None)
    try:
        conn = connect(
            str(session.get(state.URL) or ""),
            str(session.get(state.USER) or ""),
            password,
            ca_bundle=env_defaults().ca_bundle,
        )
    except CreditLensError as exc:
        session[state.LOGIN_ERROR] = str(exc)
        return
    except Exception as exc:  # never show a traceback, never log the message (it could echo input)
        log.warning("sign-in failed with %s", type(exc).__name__)
        session[state.LOGIN_ERROR] = (
            f"Sign-in failed unexpectedly ({type(exc).__name__}). Check the address and try again."
        )
        return
    forget_org_widgets()
    session[state.CONN] = conn


def sign_out() -> None:
    st.session_state.pop(state.CONN, None)
    st.session_state.pop(state.LOGIN_ERROR, None)
    forget_org_widgets()


def forget_org_widgets() -> None:
    """Drop filters and choices made on one org's data, so none carries over to the next org."""
    for key in state.ORG_WIDGETS:
        st.session_state.pop(key, None)


def connection_status(conn: PortalConnection, demo: bool = False) -> str:
    """The sidebar's status lines (Markdown, every portal-supplied name made plain)."""
    org = f"**{plain(conn.org_name)}**"
    if demo:
        return f"{org}  \nA synthetic organization: nothing leaves this computer."
    who = plain(conn.user.get("fullName") or conn.identity.username)
    return f"{org}  \nSigned in as {who} ({plain(conn.identity.username)})  \nOrg id {plain(conn.identity.org_id)}"
