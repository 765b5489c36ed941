"""The page registry the router reads: one entry per page, with the link parameters it owns."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from creditlens.ui import budgets, chargeback, leaderboard, overview, reconciliation, trends
from creditlens.ui.links import ParamSpec


@dataclass(frozen=True)
class PageEntry:
    file: str  # relative to the app's folder
    title: str
    icon: str
    url_path: str  # "" for the default page
    params: tuple[ParamSpec, ...] = ()


PAGES: tuple[PageEntry, ...] = (
    PageEntry("app_pages/overview.py", "Overview", ":material/dashboard:", "", overview.PARAMS),
    PageEntry("app_pages/leaderboard.py", "Leaderboard", ":material/leaderboard:", "leaderboard", leaderboard.PARAMS),
    PageEntry("app_pages/trends.py", "Trends", ":material/show_chart:", "trends", trends.PARAMS),
    PageEntry(
        "app_pages/reconciliation.py", "Reconciliation", ":material/rule:", "reconciliation", reconciliation.PARAMS
    ),
    PageEntry("app_pages/budgets.py", "Budgets", ":material/savings:", "budgets", budgets.PARAMS),
    PageEntry("app_pages/chargeback.py", "Chargeback", ":material/account_balance:", "chargeback", chargeback.PARAMS),
    PageEntry("app_pages/watch.py", "Watch", ":material/notifications_active:", "watch"),
)


def params_of(url_path: str, pages: Sequence[PageEntry] = PAGES) -> tuple[ParamSpec, ...]:
    """The link parameters the page at ``url_path`` owns (besides the range)."""
    return next((p.params for p in pages if p.url_path == url_path), ())


def unknown_page(url: str | None, base_path: str = "", pages: Sequence[PageEntry] = PAGES) -> str | None:
    """The page name a URL asked for when no page has it (Streamlit then opens the default page), else None.

    ``base_path`` is Streamlit's ``server.baseUrlPath`` (an app served under ``/creditlens/``).
    """
    if not url:
        return None
    path = urlsplit(url).path.strip("/")
    base = base_path.strip("/")
    if base and (path == base or path.startswith(base + "/")):
        path = path[len(base) :].strip("/")
    known = {p.url_path for p in pages}
    return None if path in known else path
