"""Hourly usage for short ranges (at most two UTC days), for charts of Today and Yesterday.

A one- or two-day chart by the day is one or two bars. The usage endpoint also answers ``period=1h``,
at most one day per request (see the reference note), so a short range is fetched one UTC day at a
time and parsed into the tidy frame's shape with an ``hour`` column (UTC, naive) beside ``day``.
Failures are reported per day, as :class:`~creditlens.fetching.UsageResult` windows, never dropped.
"""

from __future__ import annotations

import datetime as dt
import logging
import time

import numpy as np
import pandas as pd

from creditlens.errors import CreditLensError, PortalError, UsagePayloadError
from creditlens.fetching import RETRY_PAUSE_S, USER_GROUPBY, UsageResult, WindowFailure, usage_params
from creditlens.portal import PortalConnection, usage_path
from creditlens.reports import HOURLY_MAX_DAYS
from creditlens.usage_parsing import KEY_COLUMNS, usage_rows
from creditlens.windows import UsageWindow, split_windows

log = logging.getLogger(__name__)

HOUR_MS = 3_600_000
HOURLY_COLUMNS = ("hour", "day", *KEY_COLUMNS, "credits", "num")
_KEY_SOURCES = {"username": "username", "user_org_id": "userOrgId", "stype": "stype", "etype": "etype"}


def fetch_hourly(conn: PortalConnection, start: dt.date, end: dt.date) -> UsageResult:
    """Hourly usage per (username, userOrgId, stype, etype) for a range of at most two UTC days."""
    days = (end - start).days + 1
    if days < 1 or days > HOURLY_MAX_DAYS:
        raise ValueError(f"hourly usage covers 1 to {HOURLY_MAX_DAYS} days, not {days}")
    windows = split_windows(start, end, max_days=1)
    frames, failures = [], []
    for window in windows:
        try:
            frames.append(fetch_hourly_day(conn, window))
        except CreditLensError as exc:
            failures.append(WindowFailure(window, str(exc)))
    frame = pd.concat(frames, ignore_index=True) if frames else empty_hourly_frame()
    return UsageResult(start, end, _categorical_keys(frame), windows, failures)


def fetch_hourly_day(conn: PortalConnection, window: UsageWindow) -> pd.DataFrame:
    """One day: sign in again once on token expiry, retry once on a transient fault (as daily windows do)."""
    params = usage_params(window, USER_GROUPBY, period="1h")
    relogged = retried = False
    while True:
        try:
            return parse_hourly_reply(conn.post(usage_path(conn), params), window)
        except PortalError as exc:
            if exc.is_token_expired and not relogged:
                conn.relogin()
                relogged = True
                continue
            if exc.is_permission or exc.is_token_expired or retried:
                raise
        except UsagePayloadError:
            if retried:
                raise
        retried = True
        log.info("retrying hourly usage for %s", window.label())
        time.sleep(RETRY_PAUSE_S)


def empty_hourly_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "hour": pd.Series([], dtype="datetime64[ns]"),
            "day": pd.Series([], dtype="datetime64[ns]"),
            **{c: pd.Series([], dtype=object) for c in KEY_COLUMNS},
            "credits": pd.Series([], dtype="float64"),
            "num": pd.Series([], dtype="int64"),
        }
    )


def parse_hourly_reply(payload: object, window: UsageWindow) -> pd.DataFrame:
    """The tidy hourly frame of one ``period=1h`` reply, keeping the hours inside ``window``."""
    rows = usage_rows(payload)
    period = payload.get("period") if isinstance(payload, dict) else None
    if period not in (None, "1h"):
        raise UsagePayloadError(f"asked for hourly usage, the portal answered by '{period!s:.20}'")
    if not rows:
        return empty_hourly_frame()
    measures = {var: _points(rows, var) for var in ("credits", "num")}
    credits, num = measures["credits"], measures["num"]
    joined = credits.merge(num, on=["row", "ms"], how="outer", suffixes=("", "_n")).fillna(0)
    joined = joined.groupby(["row", "ms"], as_index=False)[["credits", "num"]].sum()
    first_ms, stop_ms = window.start_ms, window.start_ms + window.days * 24 * HOUR_MS
    ms = joined["ms"].to_numpy()
    keep = (ms >= first_ms) & (ms < stop_ms) & ((joined["credits"] != 0) | (joined["num"] != 0)).to_numpy()
    joined = joined[keep]
    if (joined["ms"] % HOUR_MS != 0).any():
        raise UsagePayloadError("hourly usage has a bucket that does not start on the hour")
    hours = pd.to_datetime(joined["ms"].to_numpy(dtype=np.int64), unit="ms")
    frame = pd.DataFrame({"hour": hours.astype("datetime64[ns]"), "day": hours.normalize().astype("datetime64[ns]")})
    row_index = joined["row"].to_numpy(dtype=np.int64)
    for column, source in _KEY_SOURCES.items():
        frame[column] = np.array([_key(rows[i], source) for i in row_index], dtype=object)
    frame["credits"] = joined["credits"].to_numpy(dtype=float)
    frame["num"] = joined["num"].to_numpy().astype(np.int64)
    return frame[list(HOURLY_COLUMNS)].sort_values(["hour", "username", "stype"], ignore_index=True)


def _points(rows: list, var: str) -> pd.DataFrame:
    """(row, ms, value) of one measure over every row; a reply we cannot read raises, naming why."""
    index, stamps, values = [], [], []
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise UsagePayloadError(f"usage row {i} is a {type(row).__name__}, not an object")
        pairs = row.get(var)
        if pairs is None:
            continue
        if not isinstance(pairs, list) or not all(isinstance(p, list | tuple) and len(p) == 2 for p in pairs):
            raise UsagePayloadError(f"usage row {i} '{var}' is not a list of [time, value] pairs")
        index.extend([i] * len(pairs))
        stamps.extend(p[0] for p in pairs)
        values.extend(p[1] for p in pairs)
    try:
        ms = pd.to_numeric(pd.Series(stamps, dtype=object), errors="raise").astype(np.int64)
        numbers = pd.to_numeric(pd.Series(values, dtype=object), errors="raise").astype(float)
    except (TypeError, ValueError, OverflowError):
        raise UsagePayloadError(f"hourly usage has a '{var}' time or value that is not a number") from None
    if not np.isfinite(numbers.to_numpy()).all() or (var == "num" and (numbers < 0).any()):
        raise UsagePayloadError(f"hourly usage has a '{var}' value out of range")
    return pd.DataFrame({"row": np.asarray(index, dtype=np.int64), "ms": ms.to_numpy(), var: numbers.to_numpy()})


def _key(row: dict, name: str) -> str:
    value = row.get(name)
    return "" if value is None else str(value)


def _categorical_keys(frame: pd.DataFrame) -> pd.DataFrame:
    """Key columns as categoricals, like the daily frame, so report functions treat both alike."""
    out = frame.copy()
    for column in KEY_COLUMNS:
        out[column] = pd.Categorical(out[column].astype(str))
    return out
