"""Shareable links: the query-string parameters, declared once per page, and their sync with widgets.

A page module declares its parameters as :class:`ParamSpec` values (name, widget key, kind, default);
options that depend on the data are bound at run time with :meth:`ParamSpec.with_options`. The router
keeps only the current page's parameters beside the range. Link values are untrusted: they are
validated here and every warning that quotes one is made plain before it is shown.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import streamlit as st

from creditlens import dates
from creditlens.errors import CreditLensError
from creditlens.ui import state
from creditlens.ui.common import plain
from creditlens.ui.period import CUSTOM_RANGE, RangeChoice

RANGE_PARAMS = ("range", "start", "end")
MAX_TEXT = 200


@dataclass(frozen=True)
class ParamSpec:
    """One link parameter bound to a widget's session-state key."""

    name: str
    key: str
    kind: str  # "list", "choice", "number", "int", "text"
    default: Any = None
    options: tuple[Any, ...] = ()
    low: float | None = None
    high: float | None = None
    what: str = ""  # how a warning names it

    def with_options(self, options: Iterable[Any], default: Any = None) -> ParamSpec:
        """This spec with the options the current data allows (and, for a choice, its default)."""
        changes: dict[str, Any] = {"options": tuple(options)}
        if default is not None:
            changes["default"] = default
        return dataclasses.replace(self, **changes)

    def parse(self, raw: Any) -> tuple[Any, str | None]:
        """(value, None) or (None, warning) for a raw query-param value."""
        text = _one(raw)
        what = self.what or self.name
        if self.kind == "list":
            items = [s.strip() for s in text.split(",") if s.strip()]
            known = [s for s in items if s in self.options]
            unknown = [s for s in items if s not in self.options]
            warning = f"unknown {what} ignored: {', '.join(unknown)}" if unknown else None
            return (known or None), warning
        if self.kind == "choice":
            if text in self.options:
                return text, None
            return None, f"the {what} '{text}' is not available here"
        if self.kind in ("number", "int"):
            try:
                number = float(text)
            except ValueError:
                return None, f"the {what} '{text}' is not a number"
            in_range = math.isfinite(number) and not (self.low is not None and number < self.low)
            if not in_range or (self.high is not None and number > self.high):
                return None, f"the {what} '{text}' is out of range"
            return (int(number) if self.kind == "int" else number), None
        return (text[:MAX_TEXT] or None), None

    def encode(self, value: Any) -> str | None:
        """The query-param text for a widget value, or None when it is the default (kept out of links)."""
        if value is None or value == self.default or value == [] or value == "":
            return None
        if self.kind == "list":
            return ",".join(str(v) for v in value)
        if self.kind == "number":
            return f"{float(value):g}"
        return str(value)


def _one(value: Any) -> str:
    if isinstance(value, list | tuple):
        value = value[-1] if value else ""
    return str(value or "").strip()


def parse_params(params: Mapping[str, Any], specs: Sequence[ParamSpec]) -> tuple[dict[str, Any], list[str]]:
    """Widget values (by session key) and warnings for the specs present in ``params``."""
    values: dict[str, Any] = {}
    warnings: list[str] = []
    for spec in specs:
        if spec.name not in params:
            continue
        value, warning = spec.parse(params[spec.name])
        if warning:
            warnings.append(warning)
        if value is not None:
            values[spec.key] = value
    return values, warnings


def encode_params(values: Mapping[str, Any], specs: Sequence[ParamSpec]) -> dict[str, str]:
    out = {}
    for spec in specs:
        text = spec.encode(values.get(spec.key))
        if text is not None:
            out[spec.name] = text
    return out


def merged_params(current: Mapping[str, str], wanted: Mapping[str, str], keep: Iterable[str]) -> dict[str, str]:
    """The query params to show: ``keep`` keys from ``current`` plus ``wanted``; all else is dropped."""
    kept = set(keep)
    out = {k: v for k, v in current.items() if k in kept}
    out.update({k: v for k, v in wanted.items() if v})
    return out


# -- the range ----------------------------------------------------------------------------------------
def preset_slug(label: str) -> str:
    return label.lower().replace(" ", "-")


_SLUGS = {preset_slug(label): label for label in dates.PRESETS}


def range_query(choice: RangeChoice) -> dict[str, str]:
    """Query params that reopen this range: a preset by name, or start and end days."""
    if choice.preset:
        return {"range": preset_slug(choice.preset)}
    if choice.ok:
        return {"start": choice.start.isoformat(), "end": choice.end.isoformat()}
    return {}


def parse_range_query(
    params: Mapping[str, Any], today: dt.date | None = None
) -> tuple[str | None, tuple[dt.date, dt.date] | None, list[str]]:
    """(preset label, custom range, warnings) from a link's query params; invalid parts are ignored."""
    today = today or dates.utc_today()
    warnings: list[str] = []
    slug, start, end = (_one(params.get(k)) for k in RANGE_PARAMS)
    if start or end:
        if not (start and end):
            warnings.append("the link gives only one end of the date range")
        else:
            try:
                first = dates.parse_day(start, "start date")
                last = dates.parse_day(end, "end date")
                # One rule with the CLI: a reversed range is refused with the reason, never swapped.
                return CUSTOM_RANGE, dates.validate_range(first, last, today), warnings
            except CreditLensError as exc:
                warnings.append(f"the date range: {exc}")
    if slug:
        if slug in _SLUGS:
            return _SLUGS[slug], None, warnings
        warnings.append(f"the period '{slug}' is not one Credit Lens knows")
    return None, None, warnings


def pinned_range_query(choice: RangeChoice) -> dict[str, str]:
    """Query params that reopen exactly these days, even tomorrow (a preset's days written out)."""
    if not choice.ok:
        return {}
    return {"start": choice.start.isoformat(), "end": choice.end.isoformat()}


@dataclass(frozen=True)
class ShareLinks:
    rolling: str  # moves with the days: "the last 30 days" whenever it is opened
    pinned: str  # always the same days

    @property
    def same(self) -> bool:
        return self.rolling == self.pinned


def share_links(page_url: str, params: Mapping[str, str], choice: RangeChoice) -> ShareLinks:
    """The page's rolling link (the range as chosen) and its pinned one (the range's days written out),
    both with the page's other parameters. Never a credential: only range and filter values."""
    base = page_url.split("?", 1)[0].split("#", 1)[0]
    others = {k: v for k, v in params.items() if k not in RANGE_PARAMS}

    def url(range_params: Mapping[str, str]) -> str:
        query = urlencode({**range_params, **others})
        return f"{base}?{query}" if query else base

    return ShareLinks(url(range_query(choice)), url(pinned_range_query(choice)))


def share_section(choice: RangeChoice) -> None:
    """The sidebar's two links: one that moves with the days, and "Copy link with these dates"."""
    if not choice.ok:
        return
    page_url = str(getattr(st.context, "url", "") or "")
    if not page_url:
        return
    found = share_links(page_url, st.query_params.to_dict(), choice)
    with st.popover("Share a link", icon=":material/link:", width="stretch"):
        if found.same:
            st.caption("Link with these dates")
            st.code(found.pinned, language=None, wrap_lines=True)
            return
        st.caption(f"Link to “{choice.preset}”: opens the latest days whenever it is opened")
        st.code(found.rolling, language=None, wrap_lines=True)
        st.caption(f"Copy link with these dates: always {choice.start} – {choice.end} (UTC)")
        st.code(found.pinned, language=None, wrap_lines=True)


# -- syncing with the URL -------------------------------------------------------------------------------
def _write_query_params(new: dict[str, str]) -> None:
    if st.query_params.to_dict() != new:
        st.query_params.from_dict(new)


def sync_app_params(choice: RangeChoice, page_specs: Sequence[ParamSpec]) -> None:
    """The range in the URL, keeping only the current page's own parameters besides it."""
    if not choice.ok:
        return
    keep = [spec.name for spec in page_specs]
    _write_query_params(merged_params(st.query_params.to_dict(), range_query(choice), keep))


def sync_page_params(specs: Sequence[ParamSpec]) -> None:
    """The page's widget values in the URL (defaults are left out), next to the range."""
    names = {s.name for s in specs}
    current = st.query_params.to_dict()
    keep = [k for k in current if k not in names]
    wanted = encode_params({s.key: st.session_state.get(s.key) for s in specs}, specs)
    _write_query_params(merged_params(current, wanted, keep))


def seed_from_link(scope: str, specs: Sequence[ParamSpec]) -> None:
    """Once per session and page: start the page's widgets from the link's query params."""
    done: set[str] = st.session_state.setdefault(state.QP_DONE, set())
    if scope in done:
        return
    done.add(scope)
    values, warnings = parse_params(st.query_params.to_dict(), specs)
    for key, value in values.items():
        st.session_state[key] = value
    add_link_warnings(warnings)


def seed_range_from_link(today: dt.date | None = None) -> None:
    """The sidebar's period from the link (``range=`` or ``start=``/``end=``), until the period is drawn.

    The link is applied on every run until :func:`range_seeded` marks it done after the period widget
    was drawn: a first run cut short (a click during a cold start) must not lose the link's range.
    """
    if "app" in st.session_state.setdefault(state.QP_DONE, set()):
        return
    preset, custom, warnings = parse_range_query(st.query_params.to_dict(), today)
    if preset:
        st.session_state[state.PRESET] = preset
    if custom:
        st.session_state[state.CUSTOM] = custom
        st.session_state[state.LAST_RANGE] = custom
    st.session_state[state.QP_WARNINGS] = list(dict.fromkeys(warnings))


def range_seeded() -> None:
    """Called once the period widget was drawn with the link's range."""
    st.session_state.setdefault(state.QP_DONE, set()).add("app")


def add_link_warnings(warnings: Iterable[str]) -> None:
    kept = st.session_state.setdefault(state.QP_WARNINGS, [])
    kept.extend(w for w in warnings if w not in kept)


def reserve_link_warnings() -> None:
    """Keep a place under the page header for the link's warnings, which are known only once the page ran."""
    st.session_state[state.QP_SLOT] = st.empty()


def show_link_warnings() -> None:
    """One box for everything a link got wrong (range and page parameters), as plain text, in the reserved place."""
    slot = st.session_state.pop(state.QP_SLOT, None)
    warnings = st.session_state.pop(state.QP_WARNINGS, None)
    if not warnings:
        return
    items = "; ".join(plain(w) for w in warnings)
    (slot or st).warning(f"Parts of this link could not be used and were ignored: {items}.", icon=":material/link_off:")


# -- widgets --------------------------------------------------------------------------------------------
def keep_valid(key: str, options: Sequence[Any], default: Any) -> None:
    """Before a widget is drawn: drop a remembered value that is no longer among its options."""
    value = st.session_state.get(key, default)
    allowed = set(options)
    if isinstance(value, list):
        st.session_state[key] = [v for v in value if v in allowed]
    elif value is not None and value not in allowed:
        st.session_state[key] = default
    else:
        st.session_state[key] = value


def prepare_widgets(scope: str, specs: Sequence[ParamSpec]) -> None:
    """Before drawing a page's widgets: the link's values once, defaults for new keys, stale options dropped."""
    seed_from_link(scope, specs)
    for spec in specs:
        if spec.options or spec.kind in ("list", "choice"):
            keep_valid(spec.key, spec.options, spec.default)
        else:
            st.session_state.setdefault(spec.key, spec.default)
