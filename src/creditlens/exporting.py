"""Downloads: exactly the table on screen, as CSV or XLSX bytes, with a descriptive file name."""

from __future__ import annotations

import datetime as dt
import io
import json
import re

import pandas as pd


def export_filename(org_name: str, start: dt.date, end: dt.date, report: str, ext: str) -> str:
    """``creditlens_<org>_<start>_<end>_<report>.<ext>`` with the org name made file-safe."""
    slug = re.sub(r"[^a-z0-9]+", "-", org_name.lower()).strip("-") or "org"
    return f"creditlens_{slug}_{start.isoformat()}_{end.isoformat()}_{report}.{ext}"


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    return _plain(frame).to_csv(index=False).encode("utf-8")


def to_json_bytes(frame: pd.DataFrame) -> bytes:
    records = json.loads(_plain(frame).to_json(orient="records", date_format="iso"))
    return json.dumps(records, indent=1).encode("utf-8")


def to_xlsx_bytes(frame: pd.DataFrame, sheet: str = "Credit Lens", note: str | None = None) -> bytes:
    """An XLSX workbook of ``frame``; ``note`` (e.g. an incompleteness warning) goes in a second sheet."""
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        _plain(frame).to_excel(writer, sheet_name=sheet[:31], index=False)
        if note:
            pd.DataFrame({"note": [note]}).to_excel(writer, sheet_name="Notes", index=False)
    return buffer.getvalue()


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Categoricals as text and timestamps as ISO days/times, so every format reads the same."""
    out = frame.copy()
    for col in out.columns:
        if isinstance(out[col].dtype, pd.CategoricalDtype):
            out[col] = out[col].astype(str)
        elif pd.api.types.is_datetime64_any_dtype(out[col]):
            values = out[col]
            is_day = bool((values.dropna() == values.dropna().dt.normalize()).all())
            out[col] = values.dt.strftime("%Y-%m-%d" if is_day else "%Y-%m-%dT%H:%M:%SZ")
    return out
