"""When the credits run out: the balance projected from the trailing days' burn, with an honest interval.

The model is deliberately simple, so its one-sentence assumption is true:

- each future day burns the **mean of the same weekday** over the trailing history (weekday
  seasonality: weekends are quiet);
- the interval comes from how much the **weekly totals** varied (a week absorbs the day-to-day
  bursts that are not independent), widened for the error of the mean itself, which grows with the
  horizon instead of averaging out;
- nothing is bought or refunded on the way, and the subscription's end (``subscriptionInfo.expDate``)
  ends the projection: a balance that outlives it "does not run out before the subscription ends".
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from creditlens.services import STORAGE_STYPES
from creditlens.watch.daily import daily_matrix, daily_total, day_index

HISTORY_DAYS = 90
MAX_HORIZON_DAYS = 730  # beyond two years a straight-line projection says nothing useful
INTERVAL_LEVEL = 0.90
_Z = {0.80: 1.2816, 0.90: 1.6449, 0.95: 1.9600}

RUNS_OUT, AFTER_EXPIRY, BEYOND_HORIZON, NO_BURN, USED_UP = (
    "runs_out",
    "after_expiry",
    "beyond_horizon",
    "no_burn",
    "used_up",
)


@dataclass(frozen=True)
class Projection:
    """One balance projected forward: the expected path and its interval, day by day."""

    as_of: dt.date  # last whole UTC day of the history; the projection starts the day after
    balance: float  # at the end of ``as_of``
    days: pd.DatetimeIndex
    expected: np.ndarray  # balance at the end of each day
    low: np.ndarray  # lower edge of the interval (burns faster)
    high: np.ndarray  # upper edge (burns slower)
    runout: dt.date | None  # the day the expected balance reaches zero
    runout_earliest: dt.date | None
    runout_latest: dt.date | None  # None: not within the horizon
    expires: dt.date | None
    mean_daily_burn: float
    level: float = INTERVAL_LEVEL
    balance_now: float | None = None  # the portal's figure now, today's provisional use taken off

    @property
    def outcome(self) -> str:
        if self.balance <= 0 or (self.balance_now is not None and self.balance_now <= 0):
            return USED_UP
        if self.mean_daily_burn <= 0:
            return NO_BURN
        if self.runout is None:
            return AFTER_EXPIRY if self.expires is not None and self.horizon_end >= self.expires else BEYOND_HORIZON
        return RUNS_OUT

    @property
    def horizon_end(self) -> dt.date:
        return self.days[-1].date() if len(self.days) else self.as_of

    def describe(self) -> str:
        """One plain sentence: when, or why not."""
        pct = f"{self.level:.0%}"
        if self.outcome == USED_UP:
            return "Already used up."
        if self.outcome == NO_BURN:
            return "No credits were used in the trailing days, so nothing runs out."
        if self.outcome == AFTER_EXPIRY:
            return f"Not before the subscription ends ({self.expires.isoformat()})."
        if self.outcome == BEYOND_HORIZON:
            return f"Not within {MAX_HORIZON_DAYS // 365} years at the current pace."
        earliest = self.runout_earliest.isoformat() if self.runout_earliest else "?"
        latest = self.runout_latest.isoformat() if self.runout_latest else f"after {self.horizon_end.isoformat()}"
        text = f"Runs out around {self.runout.isoformat()} ({pct} interval: {earliest} to {latest})"
        if self.expires is not None and self.runout_latest is None and self.horizon_end >= self.expires:
            latest = f"not before the subscription ends ({self.expires.isoformat()})"
            text = f"Runs out around {self.runout.isoformat()} ({pct} interval: {earliest} to {latest})"
        return text + "."


@dataclass(frozen=True)
class Forecast:
    """The org's balance: reconstructed history, the projection, and whether the data was complete."""

    history: pd.DataFrame  # day, burn, balance (end of day)
    projection: Projection
    history_days: int
    complete: bool

    def chart_frame(self) -> pd.DataFrame:
        """Tidy rows for the balance chart: day, balance, low, high, kind ('past' | 'projected')."""
        past = pd.DataFrame(
            {
                "day": self.history["day"],
                "balance": self.history["balance"],
                "low": np.nan,
                "high": np.nan,
                "kind": "past",
            }
        )
        p = self.projection
        anchor = pd.DataFrame(
            {"day": [pd.Timestamp(p.as_of)], "balance": [p.balance], "low": [p.balance], "high": [p.balance]}
        )
        ahead = pd.DataFrame({"day": p.days, "balance": p.expected, "low": p.low, "high": p.high})
        projected = pd.concat([anchor, ahead], ignore_index=True).assign(kind="projected")
        return pd.concat([past, projected], ignore_index=True)


def assumption(history_days: int = HISTORY_DAYS, level: float = INTERVAL_LEVEL) -> str:
    """What the forecast assumes, in one sentence for the page."""
    return (
        f"Each coming day burns what the same weekday burned on average over the last {history_days} whole UTC days, "
        f"nothing is bought or refunded, and the shaded band is a {level:.0%} interval from how much weekly "
        "spending varied."
    )


def project(
    balance: float,
    burn: pd.Series,
    expires: dt.date | None = None,
    level: float = INTERVAL_LEVEL,
    max_horizon_days: int = MAX_HORIZON_DAYS,
    balance_now: float | None = None,
) -> Projection:
    """Project ``balance`` forward from ``burn`` (credits per day, one entry per UTC day, ending at as-of)."""
    if burn.empty:
        raise ValueError("a projection needs at least one day of history")
    if balance_now is not None and balance_now <= 0:
        balance = min(balance, 0.0)  # already used up now: no run-out date ahead
    as_of = pd.Timestamp(burn.index[-1]).date()
    values = burn.to_numpy(dtype=float)
    weekdays = pd.DatetimeIndex(burn.index).weekday.to_numpy()
    mean = float(values.mean())
    by_weekday = np.array([values[weekdays == w].mean() if (weekdays == w).any() else mean for w in range(7)])
    last = as_of + dt.timedelta(days=max_horizon_days)
    if expires is not None:
        last = min(last, max(expires, as_of + dt.timedelta(days=1)))
    days = day_index(as_of + dt.timedelta(days=1), last)
    expected_burn = np.cumsum(by_weekday[days.weekday.to_numpy()])
    spread = _Z.get(level, 1.6449) * _cumulative_sd(values, np.arange(1, len(days) + 1))
    fast = expected_burn + spread
    slow = np.maximum.accumulate(np.maximum(expected_burn - spread, 0.0))
    return Projection(
        as_of=as_of,
        balance=float(balance),
        days=days,
        expected=balance - expected_burn,
        low=balance - fast,
        high=balance - slow,
        runout=_first_day_at_or_below_zero(days, balance - expected_burn) if balance > 0 and mean > 0 else None,
        runout_earliest=_first_day_at_or_below_zero(days, balance - fast) if balance > 0 and mean > 0 else None,
        runout_latest=_first_day_at_or_below_zero(days, balance - slow) if balance > 0 and mean > 0 else None,
        expires=expires,
        mean_daily_burn=mean,
        level=level,
        balance_now=balance_now,
    )


def _cumulative_sd(values: np.ndarray, horizons: np.ndarray) -> np.ndarray:
    """Standard deviation of the burn summed over each horizon (days).

    Weekly totals (whole 7-day blocks counted back from the last day) give the variance per day,
    bursts included; the mean's own error adds a term that grows linearly with the horizon.
    """
    blocks = len(values) // 7
    if blocks >= 2:
        weekly = values[len(values) - blocks * 7 :].reshape(blocks, 7).sum(axis=1)
        weekly_sd = float(weekly.std(ddof=1))
        per_day_var = weekly_sd**2 / 7
        mean_se = weekly_sd / 7 / math.sqrt(blocks)
    else:  # under two weeks: daily spread, no better estimate available
        daily_sd = float(values.std(ddof=1)) if len(values) > 1 else float(values.mean())
        per_day_var = daily_sd**2
        mean_se = daily_sd / math.sqrt(max(1, len(values)))
    return np.sqrt(horizons * per_day_var + (horizons * mean_se) ** 2)


def _first_day_at_or_below_zero(days: pd.DatetimeIndex, balance: np.ndarray) -> dt.date | None:
    hits = np.flatnonzero(balance <= 0)
    return days[hits[0]].date() if len(hits) else None


def subscription_end(org: dict) -> dt.date | None:
    """``subscriptionInfo.expDate`` (epoch ms) as a UTC day, or None when absent or unreadable."""
    info = org.get("subscriptionInfo") if isinstance(org, dict) else None
    value = info.get("expDate") if isinstance(info, dict) else None
    try:
        ms = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(ms) or ms <= 0:
        return None
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).date()


def available_credits(org: dict) -> float | None:
    """The org's ``availableCredits`` now, or None when the portal does not say."""
    try:
        value = float(org.get("availableCredits"))
    except (TypeError, ValueError, AttributeError):
        return None
    return value if math.isfinite(value) else None


def org_forecast(
    usage: pd.DataFrame,
    balance_now: float,
    as_of: dt.date,
    expires: dt.date | None,
    complete: bool,
    history_days: int = HISTORY_DAYS,
) -> Forecast:
    """The org's balance, past and projected, from ``usage`` covering ``history_days`` days to today.

    ``balance_now`` is the portal's available credits now, which already has today's provisional
    usage taken off; the balance at the end of ``as_of`` (yesterday) is that plus what was used since.
    """
    start = as_of - dt.timedelta(days=history_days - 1)
    burn = daily_total(usage, start, as_of)
    since = daily_total(usage, as_of + dt.timedelta(days=1), as_of + dt.timedelta(days=1)).sum()
    balance = float(balance_now) + float(since)
    after = burn.iloc[::-1].cumsum().iloc[::-1].shift(-1, fill_value=0.0)  # burned after each day, to as_of
    history = pd.DataFrame({"day": burn.index, "burn": burn.to_numpy(), "balance": balance + after.to_numpy()})
    return Forecast(history, project(balance, burn, expires, balance_now=balance_now), history_days, complete)


def member_forecasts(
    members: pd.DataFrame,
    usage: pd.DataFrame,
    as_of: dt.date,
    expires: dt.date | None,
    history_days: int = HISTORY_DAYS,
) -> pd.DataFrame:
    """When each member with an allocation reaches it, from their own transaction burn (storage is not budgeted)."""
    start = as_of - dt.timedelta(days=history_days - 1)
    allocated = members[members["assigned_credits"].notna()]
    transactions = usage[~usage["stype"].astype(str).isin(STORAGE_STYPES).to_numpy()]
    keyed = transactions.assign(key=transactions["username"].astype(str).str.lower())
    # One matrix for everyone (the last column is today, provisional), instead of a filter per member.
    keys, credits, _ = daily_matrix(keyed, ["key"], start, as_of + dt.timedelta(days=1))
    row_of = {k: i for i, k in enumerate(keys["key"])}
    days = day_index(start, as_of)
    idle = np.zeros(len(days) + 1)
    rows = []
    for member in allocated.itertuples(index=False):
        series = credits[row_of[key]] if (key := str(member.username).lower()) in row_of else idle
        available = float(member.available_credits) if pd.notna(member.available_credits) else 0.0
        burn = pd.Series(series[:-1], index=days)
        p = project(available + float(series[-1]), burn, expires, balance_now=available)
        rows.append(
            {
                "username": member.username,
                "full_name": member.full_name,
                "assigned": float(member.assigned_credits),
                "available": available,
                "daily_burn": p.mean_daily_burn,
                "runout": p.runout,
                "runout_earliest": p.runout_earliest,
                "runout_latest": p.runout_latest,
                "outcome": p.outcome,
                "when": p.describe(),
            }
        )
    frame = pd.DataFrame(
        rows,
        columns=[
            "username",
            "full_name",
            "assigned",
            "available",
            "daily_burn",
            "runout",
            "runout_earliest",
            "runout_latest",
            "outcome",
            "when",
        ],
    )
    order = {USED_UP: 0, RUNS_OUT: 1, AFTER_EXPIRY: 2, BEYOND_HORIZON: 3, NO_BURN: 4}
    frame["_order"] = frame["outcome"].map(order)
    frame["_runout"] = pd.to_datetime(frame["runout"])
    frame = frame.sort_values(["_order", "_runout", "username"], ignore_index=True)
    return frame.drop(columns=["_order", "_runout"])
