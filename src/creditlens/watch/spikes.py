"""Spikes: days far above a member's own recent history, per service.

A day is flagged when its credits pass both

- the member's own baseline for that service: the median plus ``k`` × MAD (median absolute
  deviation) of the trailing ``baseline_days`` days, idle days counted as 0 (for a member idle on
  more than half of them the MAD is 0, so the mean absolute deviation, scaled, stands in); and
- an absolute ``floor``, so that a member going from 0.1 to 2 credits does not flag.

A service the member did not use at all in the baseline days has a baseline of 0, so its first use
is flagged as soon as it passes the floor ("first use"). Only services that cost credits can flag,
since free ones never pass a positive floor.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from creditlens.reports import UNATTRIBUTED_LABEL
from creditlens.services import service_name
from creditlens.watch.daily import daily_matrix, day_index

DEFAULT_K = 5.0
DEFAULT_FLOOR = 50.0  # credits in one day: 1,250 geocodes, or under two hours of an advanced notebook
BASELINE_DAYS = 30
SPIKE, FIRST_USE = "spike", "first use"
MEAN_AD_TO_MAD = 0.6745 / 0.7979  # MAD / mean absolute deviation of a normal distribution
SPIKE_COLUMNS = (
    "day",
    "username",
    "stype",
    "service",
    "credits",
    "num",
    "baseline",
    "threshold",
    "kind",
)


@dataclass(frozen=True)
class SpikeSettings:
    k: float = DEFAULT_K
    floor: float = DEFAULT_FLOOR
    baseline_days: int = BASELINE_DAYS

    def __post_init__(self) -> None:
        if not (self.k >= 0):
            raise ValueError("the spike k must be zero or more")
        if not (self.floor >= 0):
            raise ValueError("the spike floor must be zero or more")
        if self.baseline_days < 3:
            raise ValueError("the spike baseline needs at least 3 days")

    def describe(self) -> str:
        return (
            f"a day above both {self.floor:g} credits and the member's own median + {self.k:g} × MAD "
            f"of the previous {self.baseline_days} days, per service"
        )


def find_spikes(
    usage: pd.DataFrame,
    first_day: dt.date,
    last_day: dt.date,
    settings: SpikeSettings | None = None,
    keys: tuple[str, ...] = ("username", "stype"),
) -> pd.DataFrame:
    """Flagged days from ``first_day`` to ``last_day``, per ``keys`` series (default member × service).

    ``usage`` must also hold the ``baseline_days`` before ``first_day``; days missing there count as 0.
    """
    settings = settings or SpikeSettings()
    history_start = first_day - dt.timedelta(days=settings.baseline_days)
    key_rows, credits, num = daily_matrix(usage, list(keys), history_start, last_day)
    n_eval = (last_day - first_day).days + 1
    if not len(key_rows) or n_eval <= 0:
        return _empty(keys)
    evaluated = credits[:, settings.baseline_days :]
    # Only series with a day over the floor can flag: everything else is skipped before the medians.
    candidates = np.flatnonzero((evaluated > settings.floor).any(axis=1))
    found = []
    for chunk in np.array_split(candidates, max(1, len(candidates) // 5000 + 1)):
        if len(chunk):
            found.append(_flag_chunk(credits[chunk], num[chunk], chunk, settings))
    if not found:
        return _empty(keys)
    series, offset, base, threshold, kind = (np.concatenate(parts) for parts in zip(*found, strict=True))
    days = day_index(first_day, last_day)
    out = key_rows.iloc[series].reset_index(drop=True)
    out.insert(0, "day", days[offset])
    out["credits"] = evaluated[series, offset]
    out["num"] = num[series, settings.baseline_days + offset]
    out["baseline"] = base
    out["threshold"] = threshold
    out["kind"] = kind
    return _finish(out, keys)


def _flag_chunk(credits: np.ndarray, num: np.ndarray, rows: np.ndarray, settings: SpikeSettings):
    n = settings.baseline_days
    windows = np.lib.stride_tricks.sliding_window_view(credits, n, axis=1)[:, :-1]  # days before each evaluated day
    median = np.median(windows, axis=2)
    deviation = np.abs(windows - median[..., None])
    mad = np.median(deviation, axis=2)
    # Idle more than half the days makes the MAD 0, and every active day would flag; the mean absolute
    # deviation, scaled to the MAD a normal spread with it would have, stands in (IBM's modified z-score).
    mad = np.where(mad > 0, mad, MEAN_AD_TO_MAD * deviation.mean(axis=2))
    threshold = np.maximum(median + settings.k * mad, settings.floor)
    today = credits[:, n:]
    hit_row, hit_day = np.nonzero(today > threshold)
    never_used = ~(windows[hit_row, hit_day] > 0).any(axis=1)
    kind = np.where(never_used, FIRST_USE, SPIKE)
    return rows[hit_row], hit_day, median[hit_row, hit_day], threshold[hit_row, hit_day], kind


def _empty(keys: tuple[str, ...]) -> pd.DataFrame:
    columns = [
        c
        for c in SPIKE_COLUMNS
        if c not in ("username", "stype", "service") or c in keys or (c == "service" and "stype" in keys)
    ]
    return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})


def _finish(out: pd.DataFrame, keys: tuple[str, ...]) -> pd.DataFrame:
    if "username" in out:
        out["username"] = out["username"].where(out["username"] != "", UNATTRIBUTED_LABEL)
    if "stype" in out:
        out["service"] = [service_name(s) for s in out["stype"]]
    ordered = [c for c in SPIKE_COLUMNS if c in out.columns]
    extra = [c for c in out.columns if c not in ordered]
    out = out[[*ordered, *extra]]
    return out.sort_values(["day", "credits"], ascending=[False, False], ignore_index=True)


def spike_operations(usage: pd.DataFrame, spikes: pd.DataFrame) -> pd.Series:
    """What drove each flagged member × service day: its operation types (``etype``) with counts."""
    if spikes.empty:
        return pd.Series([], dtype=object)
    day = pd.to_datetime(usage["day"]).dt.normalize()
    name = usage["username"].astype(str).where(usage["username"].astype(str) != "", UNATTRIBUTED_LABEL)
    frame = pd.DataFrame(
        {"day": day, "username": name, "stype": usage["stype"].astype(str), "etype": usage["etype"].astype(str)}
    )
    frame["num"] = usage["num"].to_numpy()
    keyed = frame.merge(spikes[["day", "username", "stype"]].drop_duplicates(), on=["day", "username", "stype"])
    grouped = keyed.groupby(["day", "username", "stype", "etype"], as_index=False)["num"].sum()
    text = grouped.assign(part=grouped["etype"] + " × " + grouped["num"].map("{:,}".format))
    joined = text.groupby(["day", "username", "stype"])["part"].agg(", ".join)
    index = pd.MultiIndex.from_frame(spikes[["day", "username", "stype"]])
    return pd.Series(joined.reindex(index).fillna("").to_numpy(), index=spikes.index)
