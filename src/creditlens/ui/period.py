"""The UTC range the sidebar resolves to, from the preset selectbox and the custom date input. Pure."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from creditlens import dates
from creditlens.errors import CreditLensError

CUSTOM_RANGE = "Custom range"
PRESET_OPTIONS = (*dates.PRESETS, CUSTOM_RANGE)


@dataclass(frozen=True)
class RangeChoice:
    """The range the sidebar resolved to; ``start``/``end`` are None when there is nothing to show."""

    start: dt.date | None
    end: dt.date | None
    preset: str | None  # a PRESETS label, or None for a custom range
    error: str | None = None
    notice: str | None = None

    @property
    def ok(self) -> bool:
        return self.start is not None and self.end is not None


def resolve_range(
    preset: str,
    custom: object,
    today: dt.date | None = None,
    last_valid: tuple[dt.date, dt.date] | None = None,
) -> RangeChoice:
    """Turn the preset selectbox and the custom date input into a validated UTC range."""
    today = today or dates.utc_today()
    if preset in dates.PRESETS:
        start, end = dates.preset_range(preset, today)
        return RangeChoice(*dates.validate_range(start, end, today), preset)
    picked = dates.range_from_widget(custom, today)
    if picked is None:
        notice = "Pick an end date to finish the custom range."
        if last_valid is not None:
            return RangeChoice(last_valid[0], last_valid[1], None, notice=f"{notice} Showing the last range meanwhile.")
        return RangeChoice(None, None, None, notice=notice)
    try:
        start, end = dates.validate_range(picked[0], picked[1], today)
    except CreditLensError as exc:
        return RangeChoice(None, None, None, error=str(exc))
    return RangeChoice(start, end, None)


def custom_range_bounds(value: object, today: dt.date | None = None) -> tuple[dt.date, dt.date]:
    """A (start, end) the custom date input can show: inside retention and not after today."""
    today = today or dates.utc_today()
    low = dates.oldest_day(today)
    picked = dates.range_from_widget(value, today)
    if picked is None:
        return dates.preset_range(dates.DEFAULT_PRESET, today)
    start, end = (min(max(d, low), today) for d in picked)
    return start, end


def custom_range_value(
    value: object, last_valid: tuple[dt.date, dt.date] | None, today: dt.date | None = None
) -> tuple[dt.date, dt.date] | None:
    """What to put in the custom date input before drawing it, or None to leave a half-picked value alone."""
    today = today or dates.utc_today()
    if value is None or value == ():
        return custom_range_bounds(last_valid, today) if last_valid else dates.preset_range(dates.DEFAULT_PRESET, today)
    if dates.range_from_widget(value, today) is None:
        return None  # one day picked so far: the person is still choosing
    return custom_range_bounds(value, today)
