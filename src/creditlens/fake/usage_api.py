"""The portal's ``usage`` replies for a :class:`DemoOrg` (the undocumented ``portals/self/usage``).

What is confirmed and what is chosen is listed in :mod:`creditlens.fake.portal_api`'s header.
"""

from __future__ import annotations

import calendar
import datetime as dt
import itertools
import math
from collections.abc import Mapping

import numpy as np

from creditlens import gcpause
from creditlens.dates import RETENTION_DAYS
from creditlens.fake.demo_org import DemoOrg
from creditlens.fake.errors import error_payload
from creditlens.windows import DAY_MS, EPOCH

#: The longest window (end - start) each period answers; longer ones get an error. 1w and 1m: any.
MAX_SPAN_DAYS = {"1h": 7, "1d": 183}
#: ``groupby`` values and filter parameters (lower case: names are case-insensitive) -> model keys.
USAGE_KEYS = {
    "username": "username",
    "userorgid": "userOrgId",
    "stype": "stype",
    "etype": "etype",
    "appid": "appId",
    "task": "task",
}
USAGE_VARS = ("credits", "num")


# -- usage reply ----------------------------------------------------------------------------------
def java_double(value: float) -> str:
    """Format a float the way Java's ``Double.toString`` does: ``0.0``, ``2.0E-4``, ``1.4562242E7``."""
    if value == 0:
        return "0.0"
    magnitude = abs(value)
    if 1e-3 <= magnitude < 1e7:
        text = repr(float(value))
        return text if "." in text or "e" in text else f"{text}.0"
    digits, exp = _shortest_digits(repr(float(value)))
    sign = "-" if value < 0 else ""
    body = digits[0] + "." + (digits[1:] or "0")
    return f"{sign}{body}E{exp}"


def _shortest_digits(text: str) -> tuple[str, int]:
    """Significant digits and decimal exponent of Python's shortest float repr."""
    text = text.lstrip("-")
    if "e" in text:
        coeff, exp_text = text.split("e")
        exp = int(exp_text)
    else:
        coeff, exp = text, 0
    whole, _, frac = coeff.partition(".")
    digits = (whole + frac).lstrip("0")
    lead_zeros = len(whole + frac) - len((whole + frac).lstrip("0"))
    exponent = exp + len(whole) - 1 - lead_zeros
    return digits.rstrip("0") or "0", exponent


def _bucket_edges(period: str, start_ms: int, end_ms: int) -> list[int]:
    """Bucket start times (ms, UTC) from ``start_ms`` snapped down, for buckets starting before ``end_ms``."""
    if period == "1h":
        step = 3_600_000
        first = start_ms - start_ms % step
        return list(range(first, end_ms, step)) if end_ms > first else []
    if period in ("1d", "1w"):
        step = DAY_MS * (7 if period == "1w" else 1)
        first = start_ms - start_ms % DAY_MS
        return list(range(first, end_ms, step)) if end_ms > first else []
    day = EPOCH + dt.timedelta(milliseconds=start_ms)
    month = dt.date(day.year, day.month, 1)
    edges = []
    while (ms := (month - EPOCH).days * DAY_MS) < end_ms:
        edges.append(ms)
        days_in = calendar.monthrange(month.year, month.month)[1]
        month += dt.timedelta(days=days_in)
    return edges


def usage_reply(org: DemoOrg, params: Mapping[str, str]) -> dict:
    """The ``portals/self/usage`` reply for ``params`` (all values are strings, as on the wire)."""
    params = {str(k).lower(): v for k, v in params.items()}
    try:
        start_ms, end_ms = int(float(params["starttime"])), int(float(params["endtime"]))
    except (KeyError, TypeError, ValueError):
        return error_payload(400, "Invalid or missing startTime or endTime.", ["startTime and endTime are epoch ms."])
    period = str(params.get("period") or "1d")
    if period not in ("1h", "1d", "1w", "1m"):
        return error_payload(400, f"Invalid period '{period}'.", ["period must be one of 1h, 1d, 1w, 1m."])
    if end_ms <= start_ms:
        return error_payload(400, "endTime must be after startTime.")
    span_days = (end_ms - start_ms) / DAY_MS
    if span_days > MAX_SPAN_DAYS.get(period, math.inf):
        limit = MAX_SPAN_DAYS[period]
        detail = f"A {period} query covers at most {limit} days; this one covers {span_days:.1f}."
        return error_payload(400, "Invalid time range.", [detail])
    variables = [v.strip() for v in str(params.get("vars") or "credits").split(",") if v.strip()]
    if unknown := [v for v in variables if v not in USAGE_VARS]:
        return error_payload(400, "Invalid vars.", [f"Unsupported var '{v}'; use credits or num." for v in unknown])
    names = [g.strip() for g in str(params.get("groupby") or "").lower().split(",") if g.strip()]
    if unknown := [g for g in names if g not in USAGE_KEYS]:
        supported = ", ".join(USAGE_KEYS)
        return error_payload(400, "Invalid groupby.", [f"Unsupported groupby '{g}'; use {supported}." for g in unknown])
    groupby = list(dict.fromkeys(USAGE_KEYS[g] for g in names))
    edges = _bucket_edges(period, start_ms, end_ms)
    step_end = _edge_after(period, edges[-1]) if edges else start_ms
    reply = {"startTime": edges[0] if edges else start_ms, "endTime": step_end, "period": period, "data": []}
    if not edges:
        return reply
    first_day = EPOCH + dt.timedelta(days=edges[0] // DAY_MS)
    last_day = EPOCH + dt.timedelta(days=(step_end - 1) // DAY_MS)
    filters = {key: params[name] for name, key in USAGE_KEYS.items() if params.get(name)}
    keys, credits, num = org.usage_matrix(first_day, last_day, groupby, filters)
    credits, num = _apply_retention(org, first_day, credits, num)
    bucket_credits, bucket_num = _to_buckets(period, edges, first_day, credits, num)
    reply["data"] = _usage_rows(keys, edges, variables, bucket_credits, bucket_num)
    return reply


def _edge_after(period: str, edge: int) -> int:
    if period == "1h":
        return edge + 3_600_000
    if period == "1d":
        return edge + DAY_MS
    if period == "1w":
        return edge + 7 * DAY_MS
    day = EPOCH + dt.timedelta(milliseconds=edge)
    return edge + calendar.monthrange(day.year, day.month)[1] * DAY_MS


def _apply_retention(org: DemoOrg, first_day: dt.date, credits: np.ndarray, num: np.ndarray):
    oldest = org.last_day - dt.timedelta(days=RETENTION_DAYS - 1)
    cut = (oldest - first_day).days
    if cut > 0:
        credits[:, :cut] = 0
        num[:, :cut] = 0
    return credits, num


def hours_with_usage(day: dt.date, now: dt.datetime | None = None) -> int:
    """Over how many of a day's hours ``1h`` spreads its usage: all 24 of a past day, and of today
    only the hours begun so far, so a Today chart has nothing in hours still to come."""
    now = now or dt.datetime.now(dt.UTC)
    return now.hour + 1 if day == now.date() else 24


def _to_buckets(period: str, edges: list[int], first_day: dt.date, credits: np.ndarray, num: np.ndarray):
    """Fold daily columns into the period's buckets (``1h`` spreads a day evenly over its hours with usage)."""
    if period == "1d":
        return credits, num
    if period == "1h":
        day_ms = (first_day - EPOCH).days * DAY_MS
        hours = np.array([(e - day_ms) // 3_600_000 for e in edges])
        cols = hours // 24
        now = dt.datetime.now(dt.UTC)
        spread = np.array([hours_with_usage(first_day + dt.timedelta(days=int(c)), now) for c in cols])
        hour, used = hours % 24, hours % 24 < spread
        spread_num = np.where(used, num[:, cols] // spread + (hour < (num[:, cols] % spread)), 0)
        return np.where(used, credits[:, cols] / spread, 0.0), spread_num
    first_ms = (first_day - EPOCH).days * DAY_MS
    bounds = [(e - first_ms) // DAY_MS for e in edges] + [credits.shape[1]]
    c = np.stack([credits[:, a:b].sum(axis=1) for a, b in itertools.pairwise(bounds)], axis=1)
    n = np.stack([num[:, a:b].sum(axis=1) for a, b in itertools.pairwise(bounds)], axis=1)
    return c, n


def _usage_rows(keys, edges: list[int], variables: list[str], credits: np.ndarray, num: np.ndarray) -> list[dict]:
    """The reply's ``data`` rows, built column-wise: each distinct value is formatted once and every
    occurrence shares its string, and the pairs are made by C-level ``zip``/``map``. The collector
    is paused while the millions of small lists of a large org's reply are made."""
    stamps = [str(e) for e in edges]
    names = [str(c) for c in keys.columns]
    key_records = (
        [
            dict(zip(names, values, strict=True))
            for values in zip(*(keys[c].tolist() for c in keys.columns), strict=True)
        ]
        if names
        else [{} for _ in range(len(keys))]
    )
    texts = {}
    if "credits" in variables:
        texts["credits"] = _formatted(credits, java_double)
    if "num" in variables:
        texts["num"] = _formatted(num, str)
    rows = []
    with gcpause.paused():
        for i, record in enumerate(key_records):
            # Absent keys stay absent: a public account has no userOrgId, unattributed usage no username.
            row = {k: v for k, v in record.items() if v != ""}
            for var, matrix in texts.items():
                row[var] = list(map(list, zip(stamps, matrix[i].tolist(), strict=True)))
            rows.append(row)
    return rows


def _formatted(values: np.ndarray, fmt) -> np.ndarray:
    """An object array of ``fmt(v)`` for every value, calling ``fmt`` once per distinct value."""
    if values.size == 0:
        return np.empty(values.shape, dtype=object)
    distinct, where = np.unique(values, return_inverse=True)
    texts = np.fromiter(map(fmt, distinct.tolist()), dtype=object, count=len(distinct))
    return texts[where.reshape(values.shape)]
