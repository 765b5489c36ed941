"""Credits over time: period buckets (partial and provisional ones flagged), zero-filled series."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from creditlens.reports._common import EVERYONE_ELSE, UNATTRIBUTED_LABEL
from creditlens.services import service_name

# -- trends -----------------------------------------------------------------------------------------
# One rule for every chart's buckets (``period_buckets``): every bucket of the range is present (a
# bucket with no usage is zero, never skipped, so lines cannot bridge idle days), buckets are bounded
# by the range (a week that starts before the range is drawn from the range's first day), a bucket the
# range covers only in part is flagged ``partial``, and one that reaches into today (UTC) is flagged
# ``provisional``, because ArcGIS Online is still counting it.
GRANULARITIES = ("hour", "day", "week", "month")
#: Ranges up to this many days are charted by the hour (``period=1h``, see :mod:`creditlens.hourly`).
HOURLY_MAX_DAYS = 2
_STEPS = {
    "hour": pd.Timedelta(hours=1),
    "day": pd.Timedelta(days=1),
    "week": pd.Timedelta(days=7),
    "month": pd.DateOffset(months=1),
}
TREND_BUCKET_COLUMNS = ("period", "period_end", "shown_start", "shown_end", "partial", "provisional", "note")


def choose_granularity(start: dt.date, end: dt.date) -> str:
    """Days up to two months, weeks up to about a year, months beyond."""
    days = (end - start).days + 1
    if days <= 62:
        return "day"
    if days <= 366:
        return "week"
    return "month"


def resolve_granularity(choice: str | None, start: dt.date, end: dt.date) -> str:
    """The chart granularity: a day/week/month override, or automatic from the range length.

    Automatic is by the hour for ranges of two days or less (charted from hourly usage, see
    :mod:`creditlens.hourly`); hours are never used for longer ranges, unreadable and costly there.
    """
    if choice in ("day", "week", "month"):
        return choice
    if (end - start).days + 1 <= HOURLY_MAX_DAYS:
        return "hour"
    return choose_granularity(start, end)


def period_buckets(
    start: dt.date, end: dt.date, granularity: str, today: dt.date | dt.datetime | None = None
) -> pd.DataFrame:
    """Every bucket of ``start``..``end`` (UTC, inclusive), oldest first.

    ``period``/``period_end`` are the whole bucket (weeks start on Mondays, months on the 1st);
    ``shown_start``/``shown_end`` are its part inside the range, which is what a chart draws;
    ``partial`` says the range covers only part of it; ``provisional`` that it is not over by
    ``today``: a day means "anything reaching into that UTC day", a datetime (UTC) "anything ending
    after that moment", so an hourly chart of today marks only the hours not yet over.
    """
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity must be one of {GRANULARITIES}, not {granularity!r}")
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    first, stop = pd.Timestamp(start), pd.Timestamp(end + dt.timedelta(days=1))
    anchor = first
    if granularity == "week":
        anchor = first - pd.Timedelta(days=first.weekday())
    elif granularity == "month":
        anchor = first.replace(day=1)
    freq = {"hour": "h", "day": "D", "week": "7D", "month": "MS"}[granularity]
    starts = pd.date_range(anchor, stop, freq=freq, inclusive="left")
    ends = starts + _STEPS[granularity]
    shown_start = np.maximum(starts, first)
    shown_end = np.minimum(ends, stop)
    frame = pd.DataFrame(
        {
            "period": starts,
            "period_end": ends,
            "shown_start": shown_start,
            "shown_end": shown_end,
            "partial": (shown_end - shown_start) < (ends - starts),
            "provisional": np.zeros(len(starts), dtype=bool)
            if today is None
            else np.asarray(shown_end > _utc_naive(today)),
        }
    )
    frame["note"] = [_bucket_note(row, granularity) for row in frame.itertuples(index=False)]
    return frame


def _utc_naive(moment: dt.date | dt.datetime) -> pd.Timestamp:
    """A day's UTC midnight, or a moment in UTC without its zone (the frames' times are naive UTC)."""
    stamp = pd.Timestamp(moment)
    return stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo is not None else stamp


def _bucket_note(bucket, granularity: str) -> str:
    """What a tooltip says about a partial or provisional bucket; empty for a whole, settled one."""
    notes = []
    if bucket.partial:
        covered = (bucket.shown_end - bucket.shown_start).days
        whole = (bucket.period_end - bucket.period).days
        notes.append(f"partial: {covered} of {whole} days in the range")
    if bucket.provisional:
        notes.append("provisional: still being counted")
    return "; ".join(notes)


def _usage_times(usage: pd.DataFrame, granularity: str) -> pd.Series:
    """The time of each usage row: its hour in an hourly frame, else its UTC day."""
    if "hour" in usage.columns:
        return usage["hour"]
    if granularity == "hour":
        raise ValueError("Hourly buckets need hourly usage (creditlens.hourly), not daily rows.")
    return usage["day"]


def _data_range(usage: pd.DataFrame, granularity: str) -> tuple[dt.date, dt.date] | None:
    times = _usage_times(usage, granularity)
    if times.empty:
        return None
    return times.min().date(), times.max().date()


def _bucket_index(times: pd.Series, buckets: pd.DataFrame) -> np.ndarray:
    """The bucket each time falls in, or -1 outside the range (buckets are contiguous and sorted)."""
    values = times.to_numpy(dtype="datetime64[ns]")
    if buckets.empty:
        return np.full(len(values), -1)
    index = np.searchsorted(buckets["period"].to_numpy(dtype="datetime64[ns]"), values, side="right") - 1
    first = buckets["shown_start"].iloc[0].to_datetime64()
    stop = buckets["shown_end"].iloc[-1].to_datetime64()
    return np.where((values >= first) & (values < stop), index, -1)


def _zero_filled(
    usage: pd.DataFrame,
    labels: pd.Series,
    column: str,
    granularity: str,
    start: dt.date | None,
    end: dt.date | None,
    today: dt.date | dt.datetime | None,
    order: list[str] | None = None,
) -> pd.DataFrame:
    """Credits per bucket × series label, with a row (zero when idle) for every pair."""
    if start is None or end is None:
        span = _data_range(usage, granularity)
        if span is None:
            return pd.DataFrame(columns=[*TREND_BUCKET_COLUMNS, column, "credits"])
        start, end = start or span[0], end or span[1]
    buckets = period_buckets(start, end, granularity, today)
    index = _bucket_index(_usage_times(usage, granularity), buckets)
    keep = index >= 0
    sums = (
        pd.DataFrame(
            {"bucket": index[keep], column: labels.to_numpy()[keep], "credits": usage["credits"].to_numpy()[keep]}
        )
        .groupby(["bucket", column], sort=False)["credits"]
        .sum()
    )
    names = order if order is not None else [str(n) for n in pd.unique(labels.to_numpy()[keep])]
    grid = pd.MultiIndex.from_product([range(len(buckets)), names], names=["bucket", column])
    filled = sums.reindex(grid, fill_value=0.0).reset_index()
    out = buckets.iloc[filled["bucket"].to_numpy()].reset_index(drop=True)
    out[column] = filled[column].to_numpy()
    out["credits"] = filled["credits"].to_numpy(dtype=float)
    return out


def service_trend(
    usage: pd.DataFrame,
    granularity: str,
    start: dt.date | None = None,
    end: dt.date | None = None,
    today: dt.date | dt.datetime | None = None,
) -> pd.DataFrame:
    """Credits per bucket and service: the stacked chart's data, zero-filled over the range.

    Without ``start``/``end`` the range is the usage's own first to last day. Columns: the bucket
    columns of :func:`period_buckets`, then ``service`` (human name), ``stype`` and ``credits``.
    """
    codes = usage["stype"].astype(str)
    totals = usage.groupby(codes, observed=True)["credits"].sum().sort_values(ascending=False, kind="stable")
    out = _zero_filled(usage, codes, "stype", granularity, start, end, today, [str(c) for c in totals.index])
    out.insert(len(TREND_BUCKET_COLUMNS), "service", [service_name(s) for s in out["stype"]])
    return out[[*TREND_BUCKET_COLUMNS, "service", "stype", "credits"]]


def user_trend(
    usage: pd.DataFrame,
    granularity: str,
    top_n: int = 5,
    start: dt.date | None = None,
    end: dt.date | None = None,
    today: dt.date | dt.datetime | None = None,
) -> pd.DataFrame:
    """Credits per bucket for the ``top_n`` usernames by credits, the rest summed as "Everyone else";
    zero-filled, so a user idle on a day is at zero that day."""
    names = usage["username"].astype(str)
    totals = usage.groupby(names, observed=True)["credits"].sum().sort_values(ascending=False, kind="stable")
    top = [str(n) for n in totals.index[:top_n]]
    label = names.where(names.isin(top), EVERYONE_ELSE).where(names != "", UNATTRIBUTED_LABEL)
    label = label.where(~((names == "") & ~names.isin(top)), EVERYONE_ELSE)
    order = [UNATTRIBUTED_LABEL if n == "" else n for n in top]
    if (~names.isin(top)).any():
        order.append(EVERYONE_ELSE)
    out = _zero_filled(usage, label, "user", granularity, start, end, today, order)
    return out[[*TREND_BUCKET_COLUMNS, "user", "credits"]]


def member_trend(
    usage: pd.DataFrame,
    username: str,
    granularity: str,
    start: dt.date | None = None,
    end: dt.date | None = None,
    today: dt.date | dt.datetime | None = None,
) -> pd.DataFrame:
    """One username's credits per bucket and service (the drill-down chart's data)."""
    key = "" if username == UNATTRIBUTED_LABEL else username
    return service_trend(usage[usage["username"].astype(str) == key], granularity, start, end, today)


def member_usage(usage: pd.DataFrame, username: str) -> pd.DataFrame:
    """One username's tidy rows with service names, newest first (the drill-down table)."""
    key = "" if username == UNATTRIBUTED_LABEL else username
    rows = usage[usage["username"].astype(str) == key]
    out = pd.DataFrame(
        {
            "day": rows["day"].to_numpy(),
            "service": [service_name(s) for s in rows["stype"].astype(str)],
            "stype": rows["stype"].astype(str).to_numpy(),
            "etype": rows["etype"].astype(str).to_numpy(),
            "credits": rows["credits"].to_numpy(),
            "num": rows["num"].to_numpy(),
        }
    )
    return out.sort_values(["day", "credits"], ascending=[False, False], ignore_index=True)
