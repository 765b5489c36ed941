"""Splitting a range of UTC days into windows the usage endpoint will answer in one request."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

DAY_MS = 86_400_000
EPOCH = dt.date(1970, 1, 1)

#: Longest ``period=1d`` request the usage endpoint is known to answer (see the reference note).
MAX_WINDOW_DAYS = 60


@dataclass(frozen=True, order=True)
class UsageWindow:
    """An inclusive range of UTC days fetched with one request."""

    start: dt.date
    end: dt.date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"window end {self.end} is before its start {self.start}")

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def start_ms(self) -> int:
        """Epoch ms of the first day's UTC midnight."""
        return day_to_ms(self.start)

    @property
    def end_ms(self) -> int:
        """The last millisecond of the last day, so either end convention of the server covers it."""
        return day_to_ms(self.end) + DAY_MS - 1

    @property
    def first_day_number(self) -> int:
        return (self.start - EPOCH).days

    @property
    def last_day_number(self) -> int:
        return (self.end - EPOCH).days

    def label(self) -> str:
        return f"{self.start.isoformat()} to {self.end.isoformat()}"


def day_to_ms(day: dt.date) -> int:
    return (day - EPOCH).days * DAY_MS


def split_windows(start: dt.date, end: dt.date, max_days: int = MAX_WINDOW_DAYS) -> list[UsageWindow]:
    """Consecutive, non-overlapping windows of at most ``max_days`` covering ``start``..``end``."""
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    if max_days < 1:
        raise ValueError("max_days must be at least 1")
    windows = []
    cursor = start
    step = dt.timedelta(days=max_days - 1)
    while cursor <= end:
        window_end = min(cursor + step, end)
        windows.append(UsageWindow(cursor, window_end))
        cursor = window_end + dt.timedelta(days=1)
    return windows
