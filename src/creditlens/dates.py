"""Date ranges in UTC days: presets, parsing and validation with plain-language messages."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from creditlens.errors import InvalidDateRange

RETENTION_DAYS = 730  # ArcGIS Online keeps two years of usage history

#: Presets matching the usage report time frames: label -> days including today.
PRESETS: dict[str, int] = {
    "Today": 1,
    "Last 7 days": 7,
    "Last 14 days": 14,
    "Last 30 days": 30,
    "Last 60 days": 60,
    "Last 90 days": 90,
    "Last 6 months": 182,
    "Last year": 365,
}
DEFAULT_PRESET = "Last 30 days"


def utc_today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def preset_range(label: str, today: dt.date | None = None) -> tuple[dt.date, dt.date]:
    """The inclusive UTC day range of a preset, ending today."""
    if label not in PRESETS:
        raise InvalidDateRange(f"Unknown period '{label}'. Choose one of: {', '.join(PRESETS)}.")
    end = today or utc_today()
    return end - dt.timedelta(days=PRESETS[label] - 1), end


def oldest_day(today: dt.date | None = None) -> dt.date:
    """The first UTC day still inside the two-year retention."""
    return (today or utc_today()) - dt.timedelta(days=RETENTION_DAYS - 1)


def parse_day(text: str, what: str = "date") -> dt.date:
    try:
        return dt.date.fromisoformat(str(text).strip())
    except ValueError:
        raise InvalidDateRange(f"The {what} '{text}' is not a date. Use YYYY-MM-DD, for example 2026-01-31.") from None


def validate_range(
    start: dt.date, end: dt.date, today: dt.date | None = None, *, clamp_future_end: bool = True
) -> tuple[dt.date, dt.date]:
    """Check an inclusive UTC range against what the usage endpoint can answer.

    An end after today is cut to today for the app (its pickers say so); with
    ``clamp_future_end=False`` (the CLI) it is refused, so a file never silently covers fewer days
    than its command line asked for.
    """
    today = today or utc_today()
    if end < start:
        raise InvalidDateRange(f"The range ends ({end}) before it starts ({start}). Swap the dates.")
    if start > today:
        raise InvalidDateRange(f"The range starts in the future ({start}); today is {today} (UTC).")
    if end > today and not clamp_future_end:
        raise InvalidDateRange(
            f"The range ends in the future ({end}); today is {today} (UTC), the last day with usage. "
            f"End it on {today} or earlier."
        )
    if (end - start).days + 1 > RETENTION_DAYS:
        raise InvalidDateRange("The range is longer than two years, the most ArcGIS Online keeps. Shorten it.")
    if start < oldest_day(today):
        raise InvalidDateRange(
            f"ArcGIS Online keeps two years of usage: the earliest day you can ask for is {oldest_day(today)}."
        )
    return start, min(end, today)


def range_from_widget(value: object, today: dt.date | None = None) -> tuple[dt.date, dt.date] | None:
    """The range of a ``st.date_input`` value: None while only one day is picked; reversed days are swapped."""
    if isinstance(value, dt.date):
        return None
    if not isinstance(value, Sequence) or len(value) != 2 or not all(isinstance(v, dt.date) for v in value):
        return None
    start, end = sorted(value)
    return start, end


def range_label(start: dt.date, end: dt.date) -> str:
    days = (end - start).days + 1
    return f"{start.isoformat()} – {end.isoformat()} (UTC, {days} day{'s' if days != 1 else ''})"
