"""What every page shares: number formatting, plain-text safety, metrics, notices and downloads."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from creditlens import exporting
from creditlens.ui.downloads import Download, download_buttons  # noqa: F401 - the buttons live there now
from creditlens.ui.state import View

#: The favicon, served by Streamlit from the package: nothing is fetched from a font or icon host.
FAVICON = str(Path(__file__).with_name("static") / "favicon.png")
EM_DASH = "—"
INCOMPLETE_SUFFIX = "_INCOMPLETE"
#: Characters Markdown (or the HTML it allows) gives a meaning to.
_MARKDOWN_SPECIALS = frozenset("\\`*_{}[]()<>#+-.!|~$:&")


# -- untrusted text ---------------------------------------------------------------------------------
def plain(text: object) -> str:
    """Text from outside (portal names, link values, server replies) made inert inside Markdown.

    Every Markdown or HTML special character is backslash-escaped, so a name like
    ``![x](https://evil/)`` or ``[Sign in](https://evil)`` shows as typed instead of fetching an
    image or drawing a link. Newlines become spaces: a message stays one line.
    """
    flat = " ".join(str(text).split())
    return "".join("\\" + c if c in _MARKDOWN_SPECIALS else c for c in flat)


# -- formatting -------------------------------------------------------------------------------------
def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float | np.floating) and math.isnan(value))


def fmt_credits(value: float | None) -> str:
    """Credits with thousands separators and two decimals; an em dash when unknown."""
    return EM_DASH if _missing(value) else f"{float(value):,.2f}"


def fmt_int(value: float | None) -> str:
    return EM_DASH if _missing(value) else f"{round(float(value)):,d}"


def fmt_pct(value: float | None, signed: bool = False) -> str:
    if _missing(value):
        return EM_DASH
    return f"{float(value):+,.1f}%" if signed else f"{float(value):,.1f}%"


def plural(count: int, noun: str) -> str:
    return f"{fmt_int(count)} {noun}{'' if count == 1 else 's'}"


def credits_column(label: str, help: str | None = None) -> Any:
    return st.column_config.NumberColumn(label, format="%,.2f", help=help)


def count_caption(shown: pd.DataFrame, total: pd.DataFrame, noun: str = "usernames") -> str:
    return f"Showing {len(shown):,d} of {len(total):,d} {noun}."


# -- metrics ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Metric:
    label: str
    value: str
    delta: str | None = None
    help: str | None = None


def show_metrics(metrics: Sequence[Metric], arrows: bool = True) -> None:
    """A row of bordered metric cards."""
    for column, metric in zip(st.columns(len(metrics)), metrics, strict=True):
        column.metric(
            metric.label,
            metric.value,
            metric.delta,
            help=metric.help,
            border=True,
            delta_color="off",
            delta_arrow="auto" if arrows else "off",
        )


# -- page furniture ---------------------------------------------------------------------------------
def page_header(title: str, view: View) -> None:
    st.title(title)
    st.caption(f"{plain(view.conn.org_name)} · {view.label} · All dates are UTC")


def table_heading(text: str) -> None:
    """A heading over a table, with room under it for the table's toolbar, which appears above the
    table's top edge on hover or tap and would otherwise cover a heading that wraps on a phone."""
    st.subheader(text)
    st.space("small")


def empty_notice(view: View) -> None:
    st.info(f"No credits were used in {view.label}. Pick a longer range in the sidebar.", icon=":material/info:")


# -- downloads --------------------------------------------------------------------------------------
def downloads(
    frame: pd.DataFrame,
    org_name: str,
    start: dt.date,
    end: dt.date,
    report: str,
    incomplete: str | None = None,
    filters: Sequence[tuple[str, str]] = (),
    check: Callable[[], str | None] | None = None,
) -> list[Download]:
    """CSV and XLSX of exactly ``frame`` (a report frame, codes and all) in the human form: headers such as
    "Share %", labels such as "Former member", the same columns in the same order as
    ``creditlens export --headers human``. The XLSX opens on an "About" sheet naming the org, the range
    (UTC), ``filters``, when it was made and the add-up ``check`` (computed when the file is made).
    Names end in ``_INCOMPLETE`` when ``incomplete`` is a warning."""
    name = f"{report}{INCOMPLETE_SUFFIX}" if incomplete else report
    table = frame.copy()
    title = report.replace("_", " ").title()

    def about() -> exporting.About:
        return exporting.About(org_name, start, end, title, tuple(filters), check() if check else None, incomplete)

    return [
        Download(
            "Download CSV",
            exporting.export_filename(org_name, start, end, name, "csv"),
            "text/csv",
            lambda: exporting.to_csv_bytes(table, "human"),
        ),
        Download(
            "Download Excel",
            exporting.export_filename(org_name, start, end, name, "xlsx"),
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            lambda: exporting.to_xlsx_bytes(table, about(), sheet=title),
        ),
    ]
