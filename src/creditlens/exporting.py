"""Downloads: a report table as CSV, JSON or XLSX bytes, with a descriptive file name.

One frame, two faces. Scripts get the CLI's stable contract: snake_case headers and status codes
(``former_member``). People get the app's form (also ``creditlens export --headers human``): human
headers ("Share %") and labels ("Former member"). Both come from the same frame, so for one report the
app and the CLI have the same columns in the same order.

Every format rounds credits to 4 decimals and costs to 2, so no file shows float noise
(2513.7599999999998). CSV and XLSX neutralise spreadsheet formulas as the OWASP CSV-injection guidance
says: a text cell starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return gets a leading ``'``.
Numbers stay numbers.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from creditlens.reports import CATEGORY_LABELS

HeaderStyle = Literal["codes", "human"]
HEADER_STYLES: tuple[HeaderStyle, ...] = ("codes", "human")

#: Human headers of the report columns; a column not listed keeps its name (service columns are
#: already human names), or is spelled out when it is snake_case.
HUMAN_HEADERS: dict[str, str] = {
    "rank": "Rank",
    "username": "Username",
    "full_name": "Full name",
    "email": "Email",
    "status": "Status",
    "role": "Role",
    "user_type": "User type",
    "credits": "Credits",
    "share_pct": "Share %",
    "num": "Operations",
    "top_service": "Top service",
    "budget_used_pct": "Budget used %",
    "user_org_id": "User's org id",
    "user_org_name": "User's org",
    "day": "Day (UTC)",
    "hour": "Hour (UTC)",
    "stype": "Service code",
    "service": "Service",
    "etype": "Usage type",
    "created": "Created (UTC)",
    "last_login": "Last sign-in (UTC)",
    "disabled": "Disabled",
    "assigned_credits": "Assigned credits",
    "available_credits": "Available credits",
    "storage_bytes": "Storage (bytes)",
    "assigned": "Assigned credits",
    "used": "Used credits",
    "available": "Available credits",
    "used_pct": "Used %",
    "range_credits": "Credits in range",
    "state": "Budget state",
    "over_by": "Over by (credits)",
    "cost": "Cost",
}
#: Budget states (``reports.budget_status``) as people read them.
BUDGET_STATE_LABELS = {"over": "Over allocation", "near": "Near (90%+)", "ok": "Within allocation"}
#: Columns whose codes have a human label in the human form.
VALUE_LABELS: dict[str, Mapping[str, str]] = {"status": CATEGORY_LABELS, "state": BUDGET_STATE_LABELS}

CREDIT_DECIMALS = 4
COST_DECIMALS = 2
PCT_DECIMALS = 2
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

ColumnKind = Literal["credits", "cost", "pct", "int", "date", "datetime", "bool", "text"]
#: XLSX number formats per column kind.
XLSX_FORMATS: dict[str, str] = {
    "credits": "#,##0.00##",
    "cost": "#,##0.00",
    "pct": "0.0",
    "int": "#,##0",
    "date": "yyyy-mm-dd",
    "datetime": "yyyy-mm-dd hh:mm",
}
_INT_KINDS_NOT_COUNTS = {"rank"}


def export_filename(org_name: str, start: dt.date, end: dt.date, report: str, ext: str) -> str:
    """``creditlens_<org>_<start>_<end>_<report>.<ext>`` with the org name made file-safe."""
    slug = re.sub(r"[^a-z0-9]+", "-", org_name.lower()).strip("-") or "org"
    return f"creditlens_{slug}_{start.isoformat()}_{end.isoformat()}_{report}.{ext}"


# -- the table --------------------------------------------------------------------------------------
def column_kind(name: str, dtype: object) -> ColumnKind:
    """What a column holds, by its name and dtype: decides its rounding and XLSX format."""
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    if pd.api.types.is_integer_dtype(dtype):
        return "int"
    if pd.api.types.is_float_dtype(dtype):
        if name == "cost" or name.endswith("_cost") or name.startswith("cost_"):
            return "cost"
        if name.endswith("_pct"):
            return "pct"
        return "credits"  # every other number in a report is credits (service columns included)
    return "text"


def rounded(frame: pd.DataFrame) -> pd.DataFrame:
    """Credits to 4 decimals, costs and percentages to 2; other columns as they are."""
    out = frame.copy()
    for name in out.columns:
        kind = column_kind(str(name), out[name].dtype)
        if kind == "credits":
            out[name] = out[name].round(CREDIT_DECIMALS)
        elif kind in ("cost", "pct"):
            out[name] = out[name].round(COST_DECIMALS if kind == "cost" else PCT_DECIMALS)
    return out


def human_header(name: str) -> str:
    if name in HUMAN_HEADERS:
        return HUMAN_HEADERS[name]
    currency = re.fullmatch(r"cost_([a-z]{3})", name)
    if currency:  # money.Pricing.cost_column: the currency travels with the column
        return f"Cost ({currency.group(1).upper()})"
    return name.replace("_", " ").capitalize() if "_" in name and name.islower() else name


def table_for(frame: pd.DataFrame, headers: HeaderStyle = "codes") -> pd.DataFrame:
    """The report frame as a file holds it: rounded, and in the human form with headers and labels."""
    if headers not in HEADER_STYLES:
        raise ValueError(f"headers must be one of {HEADER_STYLES}")
    out = rounded(frame)
    if headers == "human":
        for name, labels in VALUE_LABELS.items():
            if name in out.columns:
                codes = out[name].astype(object)
                out[name] = codes.map(lambda c, labels=labels: labels.get(c, c) if isinstance(c, str) else c)
        out.columns = [human_header(str(c)) for c in out.columns]
    return out


def neutralise(value: object) -> object:
    """A text cell that a spreadsheet would run as a formula, made inert with a leading ``'``."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def neutralised(frame: pd.DataFrame) -> pd.DataFrame:
    """Every text cell and header neutralised; numeric columns untouched."""
    out = frame.copy()
    for name in out.columns:
        if column_kind(str(name), out[name].dtype) == "text":  # text, categorical and object columns
            out[name] = out[name].astype(object).map(neutralise)
    out.columns = [neutralise(str(c)) for c in out.columns]
    return out


# -- CSV and JSON -----------------------------------------------------------------------------------
def to_csv_bytes(frame: pd.DataFrame, headers: HeaderStyle = "codes") -> bytes:
    return neutralised(_plain(table_for(frame, headers))).to_csv(index=False).encode("utf-8")


def to_json_bytes(frame: pd.DataFrame, headers: HeaderStyle = "codes") -> bytes:
    """JSON records; not a spreadsheet format, so values are kept exactly as text (no ``'``)."""
    records = json.loads(_plain(table_for(frame, headers)).to_json(orient="records", date_format="iso"))
    return json.dumps(records, indent=1).encode("utf-8")


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Categoricals as text and timestamps as ISO days/times, so every format reads the same."""
    out = frame.copy()
    for col in out.columns:
        if isinstance(out[col].dtype, pd.CategoricalDtype):
            out[col] = out[col].astype(object).where(out[col].notna(), None)
        elif pd.api.types.is_datetime64_any_dtype(out[col]):
            values = out[col]
            is_day = bool((values.dropna() == values.dropna().dt.normalize()).all())
            out[col] = values.dt.strftime("%Y-%m-%d" if is_day else "%Y-%m-%dT%H:%M:%SZ")
    return out


# -- XLSX -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class About:
    """What a workbook's first sheet says about the table it holds."""

    org: str
    start: dt.date
    end: dt.date
    report: str
    filters: Sequence[tuple[str, str]] = ()  # (filter, value) as shown in the app; empty = none
    check: str | None = None  # the add-up check sentence, when it was made
    warning: str | None = None  # why the data is incomplete; None when complete
    made_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    def rows(self, table_rows: int) -> list[tuple[str, str]]:
        days = (self.end - self.start).days + 1
        filters = "; ".join(f"{name}: {value}" for name, value in self.filters) or "None (every row)"
        return [
            ("Organization", self.org),
            ("Report", self.report),
            (
                "Range (UTC)",
                f"{self.start.isoformat()} to {self.end.isoformat()} ({days} day{_s(days)}, inclusive)",
            ),
            ("Filters", filters),
            ("Rows", f"{table_rows:,d}"),
            ("Complete", "Yes" if self.warning is None else f"No. {self.warning}"),
            ("Add-up check", self.check or "Not checked for this report."),
            ("Made (UTC)", self.made_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")),
            ("Made with", "Credit Lens. All dates are UTC days; today's figures are provisional."),
        ]


def _s(count: int) -> str:
    return "" if count == 1 else "s"


def to_xlsx_bytes(
    frame: pd.DataFrame,
    about: About | None = None,
    sheet: str = "Credit Lens",
    headers: HeaderStyle = "human",
    note: str | None = None,
) -> bytes:
    """A workbook: an "About" sheet first (when ``about`` is given), then the table with number
    formats, sensible widths, a frozen header row and a filter. ``note`` without ``about`` goes in a
    "Notes" sheet, as before."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    table = neutralised(table_for(frame, headers))
    kinds = [_xlsx_kind(frame[c], column_kind(str(c), frame[c].dtype)) for c in frame.columns]
    book = Workbook()
    first = book.active
    if about is not None:
        first.title = "About"
        for row in about.rows(len(table)):
            first.append([neutralise(row[0]), neutralise(row[1])])
        for cell in first["A"]:
            cell.font = Font(bold=True)
        first.column_dimensions["A"].width = 16
        first.column_dimensions["B"].width = 100
        for cell in first["B"]:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
        data = book.create_sheet(_sheet_title(sheet))
    else:
        first.title = _sheet_title(sheet)
        data = first
    _write_table(data, table, kinds)
    if note and about is None:
        notes = book.create_sheet("Notes")
        notes.append(["note"])
        notes.append([neutralise(note)])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _sheet_title(name: str) -> str:
    return re.sub(r"[\[\]:*?/\\]", " ", name)[:31] or "Table"


def _write_table(ws, table: pd.DataFrame, kinds: list[ColumnKind]) -> None:
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    ws.append([str(c) for c in table.columns])
    columns = [_xlsx_values(table.iloc[:, i], kinds[i]) for i in range(table.shape[1])]
    for values in zip(*columns, strict=True) if columns else ():
        ws.append(list(values))
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for i, kind in enumerate(kinds, start=1):
        letter = get_column_letter(i)
        number_format = XLSX_FORMATS.get(kind)
        if kind == "int" and str(table.columns[i - 1]).lower() in _INT_KINDS_NOT_COUNTS:
            number_format = "0"
        if number_format:
            for (cell,) in ws.iter_rows(min_row=2, min_col=i, max_col=i):
                cell.number_format = number_format
        ws.column_dimensions[letter].width = _width(str(table.columns[i - 1]), columns[i - 1], kind)
    ws.freeze_panes = "A2"
    if table.shape[1]:
        ws.auto_filter.ref = f"A1:{get_column_letter(table.shape[1])}{max(1, len(table) + 1)}"


def _xlsx_kind(column: pd.Series, kind: ColumnKind) -> ColumnKind:
    """A timestamp column of UTC midnights is a column of days."""
    if kind != "datetime":
        return kind
    values = column.dropna()
    return "date" if bool((values == values.dt.normalize()).all()) else "datetime"


def _xlsx_values(column: pd.Series, kind: ColumnKind) -> list:
    """Cell values: numbers as numbers, timestamps as naive UTC datetimes, missing as empty."""
    if kind in ("date", "datetime"):
        values = pd.to_datetime(column)
        if getattr(values.dt, "tz", None) is not None:
            values = values.dt.tz_convert("UTC").dt.tz_localize(None)
        return [None if pd.isna(v) else v.to_pydatetime() for v in values]
    if kind in ("credits", "cost", "pct"):
        return [None if np.isnan(v) else float(v) for v in column.to_numpy(dtype=float)]
    if kind == "int":
        return [int(v) for v in column.to_numpy()]
    if kind == "bool":
        return [bool(v) for v in column.to_numpy()]
    return [None if _missing(v) else str(v) for v in column.astype(object)]


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA


def _width(header: str, values: list, kind: ColumnKind) -> float:
    """A width that fits the header and the longest value seen (sampled), within sensible bounds."""
    sample = values[:2000]
    if kind in ("credits", "cost"):
        longest = max((len(f"{v:,.2f}") for v in sample if v is not None), default=4) + 2
    elif kind in ("date", "datetime"):
        longest = 16
    else:
        longest = max((len(str(v)) for v in sample if v is not None), default=4)
    return float(min(48, max(8, len(header) + 2, longest + 2)))
