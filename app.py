"""Credit Lens: ArcGIS Online credit usage per member, for any period.

The router: page config, the shared sidebar, navigation and a guarded page run. Pages live in
``app_pages/`` (not ``pages/``: Streamlit treats that folder as its legacy page mechanism).
"""

from __future__ import annotations

import streamlit as st

from creditlens.ui import connection, data, gate, links, pages, pricing, sidebar, state
from creditlens.ui.common import FAVICON, plain

st.set_page_config(page_title="Credit Lens", layout="wide", page_icon=FAVICON)
connection.load_env()

page = st.navigation(
    [
        st.Page(p.file, title=p.title, icon=p.icon, url_path=p.url_path or None, default=not p.url_path)
        for p in pages.PAGES
    ]
)
setup = gate.current_setup()
conn, shared, period = sidebar.render(setup)
st.session_state[state.VIEW] = state.View(conn, period.start, period.end, period.preset) if conn and period.ok else None
links.sync_app_params(period, (*pages.params_of(page.url_path), *pricing.PARAMS))  # price and currency on every page

missing = pages.unknown_page(st.context.url, str(st.get_option("server.baseUrlPath") or ""))
if missing:
    st.warning(f"There is no page called '{plain(missing)}', so Credit Lens opened {page.title}.")
if shared is not None and shared.conn is None:
    # The shared org is not shown (yet): the access gate, a refusal, the lockout or a setup hint instead.
    gate.render_gate(setup.config, shared, state.DEMO, state.MODE)
else:
    try:
        page.run()
    except Exception as exc:  # the last line of defence: a page never shows a traceback
        data.log_unexpected(f"page '{page.url_path}' failed", exc)
        st.error(f"Something went wrong on this page ({type(exc).__name__}). Try **Refresh data** in the sidebar.")
    finally:  # also after st.stop(): the link's warnings go under the page header
        links.show_link_warnings()
