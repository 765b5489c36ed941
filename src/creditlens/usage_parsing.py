"""Parse ``portals/self/usage`` replies into a tidy frame, fast and defensively.

The endpoint is undocumented and changeable (see the reference note), so every assumption is
checked and a reply we cannot read raises :class:`UsagePayloadError` naming what was wrong.
Parsing is vectorized: the decoded pairs are flattened once by C-level iteration and converted
to numpy arrays, with no Python object per point beyond what the JSON decoder made.

Two paths give the same frame. The *uniform* path covers what ArcGIS Online sends: every row
carries the same regular bucket sequence, so timestamps are converted once for the reply and the
values of a measure are joined, a few dozen rows at a time while they are still in the CPU cache,
into one newline-separated text that Arrow's CSV reader parses in C++. Reading the decoded values
is memory-bound (each value is a separate Python string), so the point is to touch each one as few
times as possible. Any reply the uniform path cannot read exactly goes to the general path, which
also produces the precise error messages.

The tidy frame has one row per (UTC day, username, user_org_id, stype, etype) with ``credits``
(float64) and ``num`` (int64). Absent keys become ``""``: no username is unattributed usage, no
user org id a public account. Rows where both measures are zero are dropped.
"""

from __future__ import annotations

import operator
import threading
from itertools import chain, repeat
from operator import itemgetter

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

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


def check_reply_span(payload: object, window: UsageWindow) -> None:
    """Refuse a reply whose own ``startTime``/``endTime`` cover less than the window asked for.

    ArcGIS Online snaps both to bucket edges, so a whole reply starts at or before the window's
    first midnight and ends at or after its last millisecond. A reply that ends early (or starts
    late) would silently lose days, so it is a failed window, not a complete one (issue 10, 4b).
    A reply without the fields cannot be checked and is taken as it is.
    """
    if not isinstance(payload, dict) or "error" in payload:
        return
    start, end = _epoch_ms_or_none(payload.get("startTime")), _epoch_ms_or_none(payload.get("endTime"))
    short_start = start is not None and start > window.start_ms
    short_end = end is not None and end < window.end_ms
    if short_start or short_end:
        covered = _span_label(
            start if start is not None else window.start_ms, end if end is not None else window.end_ms
        )
        raise UsagePayloadError(f"the reply covers only {covered}, not the whole window asked for")


def _epoch_ms_or_none(value: object) -> int | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return int(number) if np.isfinite(number) else None


def _span_label(start_ms: int, end_ms: int) -> str:
    """The UTC days an epoch-ms span [start, end) touches, as "first to last"."""
    first = pd.Timestamp(start_ms, unit="ms").date()
    last = pd.Timestamp(end_ms - 1, unit="ms").date()
    return f"{first.isoformat()} to {last.isoformat()}" if last > first else first.isoformat()


def parse_usage_reply(payload: object, window: UsageWindow) -> pd.DataFrame:
    """Tidy frame of one usage reply, keeping only the buckets inside ``window``."""
    rows = usage_rows(payload)
    if not rows:
        return empty_usage_frame()
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise UsagePayloadError(f"usage row {i} is a {type(row).__name__}, not an object")
    frame = _parse_uniform(rows, window)
    return frame if frame is not None else _parse_general(rows, window)


def _parse_general(rows: list[dict], window: UsageWindow) -> pd.DataFrame:
    """Any reply: per-measure point arrays, aligned and checked one by one."""
    credits = _series_points(rows, "credits", _to_float64)
    num = _series_points(rows, "num", _to_counts)
    row, day, c, n = _align_measures(credits, num)
    keep = (day >= window.first_day_number) & (day <= window.last_day_number) & ((c != 0) | (n != 0))
    return _tidy(rows, row[keep], day[keep], c[keep], n[keep])


# -- the uniform path: one shared bucket sequence -------------------------------------------------------
_FIRST, _SECOND, _LAST = itemgetter(0), itemgetter(1), itemgetter(-1)
#: Rows whose values are joined at a time: small enough that the value strings are still in cache
#: when ``str.join`` copies them, large enough that the per-chunk overhead is negligible.
_JOIN_ROWS = 64


def _parse_uniform(rows: list[dict], window: UsageWindow) -> pd.DataFrame | None:
    """The tidy frame when every row carries the same regular bucket sequence, else None.

    None means "use the general path", never "bad reply": any doubt, including a value this path
    cannot convert, falls back, so both paths return the same frame for the same reply.

    The reply's strings are scattered over hundreds of MB, so the cost is cache misses, not
    instructions: rows are visited a chunk at a time (both measures of a chunk sit together in
    memory, as the JSON decoder allocated them), checks use C-level iteration (``map``, ``set``),
    and Arrow parses the joined values in C++ on another core while the key columns are built.
    """
    arrays = {}
    for var in VARIABLES:
        found = list(map(dict.get, rows, repeat(var)))
        if found.count(None) == len(found):
            continue
        if set(map(type, found)) != {list}:
            return None
        arrays[var] = found
    if not arrays:
        return None
    reference = next(iter(arrays.values()))[0]
    n_buckets = len(reference)
    if n_buckets == 0 or set(map(type, reference)) != {list} or set(map(len, reference)) != {2}:
        return None
    try:
        stamps = np.array(list(map(_FIRST, reference)), dtype=np.int64)
    except (TypeError, ValueError, OverflowError):
        return None
    days = np.floor_divide(stamps, DAY_MS)
    if n_buckets > 1:
        steps = np.diff(stamps)
        if not (steps[0] > 0 and np.all(steps == steps[0]) and np.all(np.diff(days) > 0)):
            return None  # irregular, or sub-day buckets that the general path sums per day
    texts = _joined_values(arrays, n_buckets, reference[0][0], reference[-1][0])
    if texts is None:
        return None
    shape = (len(rows), n_buckets)
    parsed = _parse_numbers_async(texts, shape)
    keys = {col: _row_keys(rows, src) for col, src in _KEY_SOURCES.items()}
    values = parsed()
    if values is None:
        return None
    credits, num = values.get("credits"), values.get("num")
    if credits is not None and not np.isfinite(credits).all():
        return None
    if num is not None and np.any(num < 0):
        return None
    in_window = (days >= window.first_day_number) & (days <= window.last_day_number)
    used = (credits != 0) if credits is not None else np.zeros(shape, dtype=bool)
    if num is not None:
        used |= num != 0
    row, col = np.nonzero(used & in_window[None, :])
    c = credits[row, col] if credits is not None else np.zeros(len(row))
    n = num[row, col] if num is not None else np.zeros(len(row), dtype=np.int64)
    day_column = pd.to_datetime(days * DAY_MS, unit="ms")[col]
    return _frame(rows, row, day_column, c, n, keys)


def _joined_values(arrays: dict[str, list], n_buckets: int, head, tail) -> dict[str, str] | None:
    """Per measure, the second item of every pair joined by newlines; None unless every row is uniform.

    A row is uniform when its array has ``n_buckets`` entries and starts and ends with the reference
    row's stamps; the buckets in between are assumed to match, as the general path assumes too.
    """
    parts: dict[str, list[str]] = {var: [] for var in arrays}
    try:
        for i in range(0, len(next(iter(arrays.values()))), _JOIN_ROWS):
            for var, found in arrays.items():
                chunk = found[i : i + _JOIN_ROWS]
                if set(map(len, chunk)) != {n_buckets}:
                    return None
                parts[var].append("\n".join(map(_SECOND, chain.from_iterable(chunk))))
                if set(map(_FIRST, map(_FIRST, chunk))) != {head} or set(map(_FIRST, map(_LAST, chunk))) != {tail}:
                    return None
    except (TypeError, IndexError, KeyError):
        return None  # not all [time, "value"] pairs of strings
    return {var: "\n".join(chunks) for var, chunks in parts.items()}


_CSV_READ = pacsv.ReadOptions(column_names=["v"], block_size=1 << 22)
_CSV_PARSE = pacsv.ParseOptions(
    delimiter="\x1f", quote_char=False, escape_char=False, double_quote=False, ignore_empty_lines=False
)
_ARROW_TYPES = {"credits": pa.float64(), "num": pa.int64()}
#: Below this many points a helper thread costs more than it saves.
_THREAD_POINTS = 200_000


def _parse_numbers_async(texts: dict[str, str], shape: tuple[int, int]):
    """Start parsing the joined values; returns a function giving ``{var: array}`` or None."""
    if shape[0] * shape[1] < _THREAD_POINTS:
        values = _parse_numbers(texts, shape)
        return lambda: values
    box: list = []
    worker = threading.Thread(target=lambda: box.append(_parse_numbers(texts, shape)), daemon=True)
    worker.start()

    def result():
        worker.join()
        return box[0] if box else None

    return result


def _parse_numbers(texts: dict[str, str], shape: tuple[int, int]) -> dict[str, np.ndarray] | None:
    """Arrow's CSV reader parses each joined text in C++ without the GIL. Anything it rejects, and
    a value holding a newline (the count would not match), sends the reply to the general path."""
    out = {}
    for var, text in texts.items():
        convert = pacsv.ConvertOptions(
            column_types={"v": _ARROW_TYPES[var]},
            null_values=[],
            strings_can_be_null=False,
            true_values=[],
            false_values=[],
        )
        try:
            column = pacsv.read_csv(
                pa.py_buffer(text.encode()), read_options=_CSV_READ, parse_options=_CSV_PARSE, convert_options=convert
            ).column(0)
        except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeEncodeError):
            return None
        if len(column) != shape[0] * shape[1] or column.null_count:
            return None
        out[var] = column.to_numpy().reshape(shape)
    return out


# -- the general path ---------------------------------------------------------------------------------
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
    return _frame(rows, row, pd.to_datetime(day * DAY_MS, unit="ms"), credits, num)


def _frame(
    rows: list[dict], row: np.ndarray, day, credits: np.ndarray, num: np.ndarray, keys: dict | None = None
) -> pd.DataFrame:
    """Build the frame; key columns are categoricals made from per-row codes, not per-point strings."""
    columns = {"day": day}
    for col, src in _KEY_SOURCES.items():
        codes, uniques = keys[col] if keys else _row_keys(rows, src)
        categories = pd.Index(uniques, dtype=object)
        columns[col] = pd.Categorical.from_codes(codes[row], categories=categories, validate=False)
    columns["credits"] = credits.astype(np.float64, copy=False)
    columns["num"] = num.astype(np.int64, copy=False)
    return pd.DataFrame(columns)


def _row_keys(rows: list[dict], name: str) -> tuple[np.ndarray, list[str]]:
    """Codes and uniques (in order of first appearance) of one key over the rows, as ``_key`` reads it.

    Only distinct values are stripped, so this costs one dict lookup per row, not a function call.
    """
    raw = list(map(dict.get, rows, repeat(name)))
    kinds = set(map(type, raw))
    if kinds == {str, type(None)}:  # absent keys (public accounts, unattributed usage) are few
        for i in [i for i, v in enumerate(raw) if v is None]:
            raw[i] = _key(rows[i], name)
    elif kinds != {str}:
        raw = [_key(row, name) for row in rows]
    codes, uniques = pd.factorize(_objects(raw))
    stripped = [u.strip() for u in uniques]
    if not all(map(operator.is_, stripped, uniques)):
        merged, merged_uniques = pd.factorize(_objects(stripped))
        codes, stripped = merged[codes], list(merged_uniques)
    return codes, stripped


def _objects(items: list) -> np.ndarray:
    """A 1-d object array of ``items`` (``np.array`` would look into each string for nesting)."""
    return np.fromiter(items, dtype=object, count=len(items))


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
