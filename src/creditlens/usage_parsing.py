"""Parse ``portals/self/usage`` replies into a tidy frame, fast and defensively.

The endpoint is undocumented and changeable (see the reference note), so every assumption is
checked and a reply we cannot read raises :class:`UsagePayloadError` naming what was wrong.
Parsing is vectorized: the decoded pairs are flattened once by C-level iteration and converted
to numpy arrays, with no Python object per point beyond what the JSON decoder made.

The tidy frame has one row per (UTC day, username, user_org_id, stype, etype) with ``credits``
(float64) and ``num`` (int64). Absent keys become ``""``: no username is unattributed usage, no
user org id a public account. Rows where both measures are zero are dropped.
"""

from __future__ import annotations

from itertools import chain
from operator import itemgetter

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from creditlens.errors import UsagePayloadError
from creditlens.windows import DAY_MS, UsageWindow

KEY_COLUMNS = ("username", "user_org_id", "stype", "etype")
_KEY_SOURCES = {"username": "username", "user_org_id": "userOrgId", "stype": "stype", "etype": "etype"}
TIDY_COLUMNS = ("day", *KEY_COLUMNS, "credits", "num")
VARIABLES = ("credits", "num")


def empty_usage_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "day": pd.Series([], dtype="datetime64[ns]"),
            **{c: pd.Series(pd.Categorical([], categories=pd.Index([], dtype=object))) for c in KEY_COLUMNS},
            "credits": pd.Series([], dtype="float64"),
            "num": pd.Series([], dtype="int64"),
        }
    )


def usage_rows(payload: object) -> list:
    """The ``data`` list of a reply, or a clear error when the reply is not a usage reply."""
    if not isinstance(payload, dict):
        raise UsagePayloadError(f"usage reply is a {type(payload).__name__}, not a JSON object")
    if "error" in payload:
        raise UsagePayloadError(f"usage reply is an error: {payload['error']!r:.200}")
    data = payload.get("data")
    if data is None:
        if "startTime" in payload or "endTime" in payload:
            return []  # a well-formed reply for a range with no usage may omit "data"
        raise UsagePayloadError("usage reply has no 'data' list")
    if not isinstance(data, list):
        raise UsagePayloadError(f"usage reply 'data' is a {type(data).__name__}, not a list")
    return data


def parse_usage_reply(payload: object, window: UsageWindow) -> pd.DataFrame:
    """Tidy frame of one usage reply, keeping only the buckets inside ``window``."""
    rows = usage_rows(payload)
    if not rows:
        return empty_usage_frame()
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise UsagePayloadError(f"usage row {i} is a {type(row).__name__}, not an object")
    credits = _series_points(rows, "credits", _to_float64)
    num = _series_points(rows, "num", _to_counts)
    row, day, c, n = _align_measures(credits, num)
    keep = (day >= window.first_day_number) & (day <= window.last_day_number) & ((c != 0) | (n != 0))
    return _tidy(rows, row[keep], day[keep], c[keep], n[keep])


def _series_points(rows: list[dict], var: str, convert) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(row index, day number, value) arrays of one measure across all rows, or None if absent."""
    arrays = [row.get(var) for row in rows]
    if all(a is None for a in arrays):
        return None
    arrays = [a if a is not None else [] for a in arrays]
    for i, a in enumerate(arrays):
        if not isinstance(a, list):
            raise UsagePayloadError(f"usage row {i} '{var}' is a {type(a).__name__}, not a list of pairs")
    lengths = np.fromiter((len(a) for a in arrays), dtype=np.int64, count=len(arrays))
    pairs = list(chain.from_iterable(arrays))
    try:
        values = list(map(itemgetter(1), pairs))
    except (TypeError, IndexError, KeyError):
        raise UsagePayloadError(f"usage '{var}' holds entries that are not [time, value] pairs") from None
    row_index = np.repeat(np.arange(len(rows)), lengths)
    return row_index, _day_numbers(pairs, arrays, lengths, var), convert(values, var)


def _day_numbers(pairs: list, arrays: list[list], lengths: np.ndarray, var: str) -> np.ndarray:
    """UTC day number of every point.

    Rows of one reply normally share one regular bucket sequence; then the sequence is converted
    once and each row is checked by its length and its first and last stamps. Anything else is
    converted point by point.
    """
    if any(len(p) != 2 for p in pairs[:1]) or (pairs and len(pairs[-1]) != 2):
        raise UsagePayloadError(f"usage '{var}' holds entries that are not [time, value] pairs")
    first = next((a for a in arrays if a), [])
    reference = _to_int64([pair[0] for pair in first], f"{var} timestamps")
    uniform = len(reference) > 0 and bool(np.all(lengths == len(reference)))
    if uniform and len(reference) > 1:
        steps = np.diff(reference)
        uniform = bool(np.all(steps == steps[0]) and steps[0] > 0)
    if uniform:
        head, tail = first[0][0], first[-1][0]
        uniform = all(a[0][0] == head and a[-1][0] == tail for a in arrays)
    if uniform:
        return np.tile(np.floor_divide(reference, DAY_MS), len(arrays))
    try:
        stamps = list(map(itemgetter(0), pairs))
    except (TypeError, IndexError, KeyError):
        raise UsagePayloadError(f"usage '{var}' holds entries that are not [time, value] pairs") from None
    return np.floor_divide(_to_int64(stamps, f"{var} timestamps"), DAY_MS)


def _fast_numbers(items: list, arrow_type: pa.DataType) -> np.ndarray | None:
    """Convert number strings with Arrow's C++ parser; None when the input needs the slow path."""
    try:
        array = pa.array(items, type=pa.string()) if items and isinstance(items[0], str) else None
        if array is None or array.null_count:
            return None
        return pc.cast(array, arrow_type).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        return None


def _to_float64(items: list, what: str) -> np.ndarray:
    values = _fast_numbers(items, pa.float64())
    if values is None:
        try:
            values = np.array(items, dtype=np.float64)
        except (TypeError, ValueError):
            bad = next((x for x in items if not _is_number(x)), None)
            raise UsagePayloadError(f"usage {what} value {bad!r:.40} is not a number") from None
    if values.ndim != 1 or not np.isfinite(values).all():
        raise UsagePayloadError(f"usage {what} holds a value that is not a finite number")
    return values


def _to_counts(items: list, what: str) -> np.ndarray:
    """Operation counts: integer strings, tolerating "5.0"-style values."""
    values = _fast_numbers(items, pa.int64())
    if values is None:
        try:
            values = np.array(items, dtype=np.int64)
        except (TypeError, ValueError, OverflowError):
            floats = np.round(_to_float64(items, what))
            if np.any(np.abs(floats) > 2**62):
                raise UsagePayloadError(f"usage {what} holds a count too large to be real") from None
            values = floats.astype(np.int64)
    if values.ndim != 1:
        raise UsagePayloadError(f"usage {what} holds a value that is not a number")
    if np.any(values < 0):
        raise UsagePayloadError(f"usage {what} holds a negative count")
    return values


def _to_int64(items: list, what: str) -> np.ndarray:
    try:
        return np.array(items, dtype=np.int64)
    except (TypeError, ValueError, OverflowError):
        try:  # "1.6720992E12" style stamps: accept integral floats
            as_float = _to_float64(items, what)
        except UsagePayloadError:
            raise UsagePayloadError(f"usage {what} are not epoch milliseconds") from None
        if not np.all(as_float == np.round(as_float)) or np.any(np.abs(as_float) > 2**62):
            raise UsagePayloadError(f"usage {what} are not whole epoch milliseconds") from None
        return as_float.astype(np.int64)


def _is_number(x: object) -> bool:
    try:
        float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return True


def _align_measures(credits, num) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(row, day number, credits, num) arrays; a measure missing from the reply is zero."""
    if credits is None and num is None:
        raise UsagePayloadError("usage reply rows carry neither 'credits' nor 'num'")
    if credits is not None and num is not None and _same_buckets(credits, num):
        row, day, c = credits
        n = num[2]
    elif num is None:
        row, day, c = credits
        n = np.zeros(len(c), dtype=np.int64)
    elif credits is None:
        row, day, n = num
        c = np.zeros(len(n))
    else:  # buckets differ between measures: join them
        left = pd.DataFrame({"row": credits[0], "day": credits[1], "credits": credits[2]})
        right = pd.DataFrame({"row": num[0], "day": num[1], "num": num[2]})
        joined = left.merge(right, on=["row", "day"], how="outer").fillna(0)
        row, day = joined["row"].to_numpy(np.int64), joined["day"].to_numpy(np.int64)
        c, n = joined["credits"].to_numpy(np.float64), joined["num"].to_numpy(np.int64)
    return _sum_duplicate_days(row, day, c, n)


def _sum_duplicate_days(row, day, c, n):
    """Sub-day buckets (or a repeated bucket) give several points per row and day: sum them."""
    flat = row.astype(np.int64) * 1_000_000 + (day - day.min() if len(day) else day)
    if len(flat) < 2 or np.all(np.diff(flat) > 0):
        return row, day, c, n
    uniq, first, inverse = np.unique(flat, return_index=True, return_inverse=True)
    c = np.bincount(inverse, weights=c, minlength=len(uniq))
    n = np.bincount(inverse, weights=n, minlength=len(uniq)).astype(np.int64)
    return row[first], day[first], c, n


def _same_buckets(a: tuple, b: tuple) -> bool:
    return len(a[0]) == len(b[0]) and np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def _tidy(rows: list[dict], row: np.ndarray, day: np.ndarray, credits: np.ndarray, num: np.ndarray) -> pd.DataFrame:
    """Build the frame; key columns are categoricals made from per-row codes, not per-point strings."""
    columns = {"day": pd.to_datetime(day * DAY_MS, unit="ms")}
    for col, src in _KEY_SOURCES.items():
        codes, uniques = pd.factorize(pd.Series([_key(r, src) for r in rows], dtype=object))
        columns[col] = pd.Categorical.from_codes(codes[row], categories=pd.Index(uniques, dtype=object))
    columns["credits"] = credits.astype(np.float64, copy=False)
    columns["num"] = num.astype(np.int64, copy=False)
    return pd.DataFrame(columns)


def concat_usage(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate tidy frames, keeping key columns categorical across windows."""
    frames = [f for f in frames if len(f)]
    if not frames:
        return empty_usage_frame()
    out = {"day": pd.concat([f["day"] for f in frames], ignore_index=True)}
    for col in KEY_COLUMNS:
        out[col] = pd.api.types.union_categoricals([pd.Categorical(f[col]) for f in frames], ignore_order=True)
    out["credits"] = np.concatenate([f["credits"].to_numpy() for f in frames])
    out["num"] = np.concatenate([f["num"].to_numpy() for f in frames])
    return pd.DataFrame(out)


def _key(row: dict, name: str) -> str:
    value = row.get(name)
    if value is None:
        # Some replies spell keys in lower case (userorgid); accept them.
        value = next((v for k, v in row.items() if isinstance(k, str) and k.lower() == name.lower()), None)
    return "" if value is None else str(value).strip()
