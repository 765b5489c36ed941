"""Reading an archive back into the frames the reports take, through a read connection.

Every frame has exactly the columns and dtypes the fetcher's have, so ``reports`` runs unchanged:
the tidy daily frame (``usage_frame``), or the same rows already summed over the range's days in
SQL (``usage_by_series``), which is all a leaderboard, a reconciliation or a totals check needs.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pandas as pd

from creditlens.fetching import MEMBER_COLUMNS
from creditlens.usage_parsing import KEY_COLUMNS, empty_usage_frame


def usage_frame(con: duckdb.DuckDBPyConnection, start: dt.date, end: dt.date) -> pd.DataFrame:
    """Tidy daily rows of ``start``..``end``: day, the four keys (categorical), credits, num.

    Rows come in the order they were archived (DuckDB keeps insertion order), window by window, so
    two reads of one archive give the same frame; no sort of millions of rows is needed for that.
    """
    arrays = con.execute(
        "SELECT day, series, credits, num FROM usage WHERE day BETWEEN ? AND ?", [start, end]
    ).fetchnumpy()
    return _tidy(con, arrays["day"], arrays["series"], arrays["credits"], arrays["num"])


def usage_by_series(con: duckdb.DuckDBPyConnection, start: dt.date, end: dt.date) -> pd.DataFrame:
    """The range's usage summed per series in SQL, as tidy rows dated ``start``.

    Reports that do not look at days (leaderboard, reconciliation, totals, budgets, KPIs) give the
    same numbers from this frame as from the daily one, from a few thousand rows instead of millions.
    """
    arrays = con.execute(
        "SELECT s.username, s.user_org_id, s.stype, s.etype, t.credits, t.num FROM ("
        "  SELECT series, sum(credits) AS credits, sum(num)::BIGINT AS num FROM usage"
        "  WHERE day BETWEEN ? AND ? GROUP BY series) t JOIN series s ON s.id = t.series ORDER BY t.series",
        [start, end],
    ).fetchnumpy()
    n = len(arrays["credits"])
    if not n:
        return empty_usage_frame()
    columns = {"day": np.full(n, np.datetime64(start, "us"))}
    for col in KEY_COLUMNS:
        codes, uniques = pd.factorize(np.asarray(arrays[col], dtype=object))
        columns[col] = pd.Categorical.from_codes(codes, categories=pd.Index(uniques, dtype=object), validate=False)
    columns["credits"] = np.asarray(arrays["credits"], dtype=np.float64)
    columns["num"] = np.asarray(arrays["num"], dtype=np.int64)
    return pd.DataFrame(columns)


def daily_by_stype(con: duckdb.DuckDBPyConnection, start: dt.date, end: dt.date) -> pd.DataFrame:
    """Tidy rows summed per (day, stype) with empty user keys: enough for the org's service trend."""
    arrays = con.execute(
        "SELECT u.day, s.stype, sum(u.credits) AS credits, sum(u.num)::BIGINT AS num FROM usage u "
        "JOIN series s ON s.id = u.series WHERE u.day BETWEEN ? AND ? GROUP BY u.day, s.stype ORDER BY u.day, s.stype",
        [start, end],
    ).fetchnumpy()
    n = len(arrays["credits"])
    if not n:
        return empty_usage_frame()
    blank = pd.Categorical.from_codes(np.zeros(n, dtype=np.int8), categories=pd.Index([""], dtype=object))
    codes, uniques = pd.factorize(np.asarray(arrays["stype"], dtype=object))
    return pd.DataFrame(
        {
            "day": _ns(arrays["day"]),
            "username": blank,
            "user_org_id": blank,
            "stype": pd.Categorical.from_codes(codes, categories=pd.Index(uniques, dtype=object)),
            "etype": blank,
            "credits": arrays["credits"].astype(np.float64),
            "num": arrays["num"].astype(np.int64),
        }
    )


def _tidy(con, days, series, credits, num) -> pd.DataFrame:
    """Tidy rows from series ids: each key column is a categorical built from the series table's codes."""
    if not len(series):
        return empty_usage_frame()
    series = np.asarray(series, dtype=np.int64)
    keys = con.execute("SELECT id, username, user_org_id, stype, etype FROM series ORDER BY id").fetchnumpy()
    position = np.full(int(max(series.max(), keys["id"].max())) + 1, -1, dtype=np.int64)
    position[np.asarray(keys["id"], dtype=np.int64)] = np.arange(len(keys["id"]))
    rows = position[series]
    columns = {"day": _ns(days)}
    for col in KEY_COLUMNS:
        codes, uniques = pd.factorize(np.asarray(keys[col], dtype=object))
        row_codes = codes[rows]
        used = np.flatnonzero(np.bincount(row_codes, minlength=len(uniques)))  # the categories this range has
        remap = np.full(len(uniques), -1, dtype=np.int64)
        remap[used] = np.arange(len(used))
        columns[col] = pd.Categorical.from_codes(
            remap[row_codes], categories=pd.Index(np.asarray(uniques, dtype=object)[used], dtype=object), validate=False
        )
    columns["credits"] = np.asarray(credits, dtype=np.float64)
    columns["num"] = np.asarray(num, dtype=np.int64)
    return pd.DataFrame(columns)


def _ns(days) -> np.ndarray:
    """Days as the parser makes them (pandas' datetime64[us] midnights)."""
    return np.asarray(days).astype("datetime64[us]")


def org_totals(con: duckdb.DuckDBPyConnection, start: dt.date, end: dt.date) -> pd.DataFrame:
    """The org-wide totals by stype over the range, as ``fetching.fetch_org_totals`` gives them."""
    frame = con.execute(
        "SELECT stype, sum(credits) AS credits, sum(num)::BIGINT AS num FROM org_totals "
        "WHERE day BETWEEN ? AND ? GROUP BY stype ORDER BY credits DESC, stype",
        [start, end],
    ).df()
    frame["stype"] = frame["stype"].astype(str)
    frame["num"] = frame["num"].astype(np.int64)
    return frame.reset_index(drop=True)


def snapshot_days(con: duckdb.DuckDBPyConnection) -> list[dt.date]:
    return [r[0] for r in con.execute("SELECT DISTINCT snapshot_day FROM members ORDER BY 1").fetchall()]


def members(con: duckdb.DuckDBPyConnection, day: dt.date | None = None) -> pd.DataFrame:
    """The member snapshot of ``day`` (default: the latest), with the fetcher's columns and dtypes."""
    if day is None:
        day = con.execute("SELECT max(snapshot_day) FROM members").fetchall()[0][0]
    query = con.sql(f"SELECT * EXCLUDE (snapshot_day) FROM members WHERE snapshot_day = {_date_literal(day)}")
    return _member_dtypes(query.order("username").to_arrow_table().to_pandas())


def _date_literal(day: dt.date | None) -> str:
    return "NULL" if day is None else f"DATE '{day.isoformat()}'"


def _member_dtypes(frame: pd.DataFrame) -> pd.DataFrame:
    extra = [c for c in frame.columns if c not in MEMBER_COLUMNS]
    out = frame[[*[c for c in MEMBER_COLUMNS if c in frame.columns], *extra]].copy()
    for col in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[col]):
            out[col] = out[col].astype("datetime64[us]")
        elif out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            column = out[col].fillna("") if out[col].hasnans else out[col]
            out[col] = column if column.dtype == "str" else column.astype(str)
    if "disabled" in out:
        out["disabled"] = out["disabled"].fillna(False).astype(bool)
    return out.reset_index(drop=True)


def former_members(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Usernames in an earlier snapshot but not in the latest: the name and details last seen, and when."""
    return con.execute(
        """
        WITH latest AS (SELECT lower(username) AS key FROM members
                        WHERE snapshot_day = (SELECT max(snapshot_day) FROM members))
        SELECT username, arg_max(full_name, snapshot_day) AS full_name, arg_max(email, snapshot_day) AS email,
               arg_max(role, snapshot_day) AS role, arg_max(user_type, snapshot_day) AS user_type,
               max(snapshot_day) AS last_seen
        FROM members WHERE lower(username) NOT IN (SELECT key FROM latest)
        GROUP BY username ORDER BY username
        """
    ).df()


def covered_days(con: duckdb.DuckDBPyConnection, start: dt.date, end: dt.date) -> set[dt.date]:
    rows = con.execute("SELECT day FROM coverage WHERE day BETWEEN ? AND ?", [start, end]).fetchall()
    return {r[0] for r in rows}


def history(con: duckdb.DuckDBPyConnection) -> tuple[dt.date | None, dt.datetime | None]:
    """The first archived day, and when the archive was last synced (UTC)."""
    first = con.execute("SELECT min(day) FROM coverage").fetchone()[0]
    last = con.execute("SELECT max(finished_at) FROM syncs").fetchone()[0]
    return first, last


def history_meta(con: duckdb.DuckDBPyConnection, key: str) -> dt.datetime | None:
    """A timestamp kept in the meta table, or None."""
    row = con.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
    try:
        return dt.datetime.fromisoformat(row[0]) if row else None
    except ValueError:
        return None
