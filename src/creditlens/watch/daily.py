"""Daily credit series from the tidy usage frame, with every UTC day present (zero when idle)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd


def day_index(start: dt.date, end: dt.date) -> pd.DatetimeIndex:
    """Every UTC day from ``start`` to ``end`` inclusive."""
    return pd.date_range(pd.Timestamp(start), pd.Timestamp(end), freq="D")


def daily_total(usage: pd.DataFrame, start: dt.date, end: dt.date, mask: np.ndarray | None = None) -> pd.Series:
    """Credits per day for ``start``..``end``; days without usage are 0, days outside are dropped."""
    rows = usage if mask is None else usage[mask]
    days = pd.to_datetime(rows["day"]).dt.normalize()
    per_day = rows["credits"].groupby(days.to_numpy()).sum()
    return per_day.reindex(day_index(start, end), fill_value=0.0).astype(float)


def daily_matrix(
    usage: pd.DataFrame, keys: list[str], start: dt.date, end: dt.date
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """(key rows, credits[series, day], operations[series, day]) for every day of ``start``..``end``."""
    days = day_index(start, end)
    day_of = (pd.to_datetime(usage["day"]).dt.normalize() - days[0]).dt.days.to_numpy()
    inside = (day_of >= 0) & (day_of < len(days))
    rows = usage[inside]
    frame = pd.DataFrame({k: rows[k].astype(str).to_numpy() for k in keys})
    codes, uniques = pd.MultiIndex.from_frame(frame).factorize() if len(frame) else (np.zeros(0, int), None)
    key_rows = pd.DataFrame(list(uniques), columns=keys) if uniques is not None else pd.DataFrame(columns=keys)
    credits = np.zeros((len(key_rows), len(days)))
    num = np.zeros((len(key_rows), len(days)), dtype=np.int64)
    np.add.at(credits, (codes, day_of[inside]), rows["credits"].to_numpy(dtype=float))
    np.add.at(num, (codes, day_of[inside]), rows["num"].to_numpy(dtype=np.int64))
    return key_rows, credits, num
