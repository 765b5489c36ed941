import datetime as dt
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from creditlens.windows import DAY_MS, MAX_WINDOW_DAYS, UsageWindow, day_to_ms, split_windows

D = dt.date


def test_one_year_needs_seven_windows_of_at_most_sixty_days():
    windows = split_windows(D(2025, 1, 1), D(2025, 12, 31))
    assert len(windows) == 7  # ceil(365 / 60)
    assert [w.days for w in windows] == [60, 60, 60, 60, 60, 60, 5]
    assert windows[0].start == D(2025, 1, 1) and windows[-1].end == D(2025, 12, 31)


def test_single_day_window_spans_that_utc_day_only():
    (window,) = split_windows(D(2026, 3, 29), D(2026, 3, 29))  # a DST change day in Europe: irrelevant in UTC
    assert window.start_ms == day_to_ms(D(2026, 3, 29))
    assert window.end_ms == window.start_ms + DAY_MS - 1


def test_reversed_range_is_refused():
    with pytest.raises(ValueError, match="before"):
        split_windows(D(2026, 2, 2), D(2026, 2, 1))
    with pytest.raises(ValueError):
        UsageWindow(D(2026, 2, 2), D(2026, 2, 1))


@given(
    start=st.dates(min_value=D(2020, 1, 1), max_value=D(2030, 1, 1)),
    length=st.integers(min_value=1, max_value=800),
    max_days=st.integers(min_value=1, max_value=90),
)
def test_windows_cover_the_range_exactly_without_overlap(start, length, max_days):
    end = start + dt.timedelta(days=length - 1)
    windows = split_windows(start, end, max_days)
    assert windows[0].start == start
    assert windows[-1].end == end
    assert all(1 <= w.days <= max_days for w in windows)
    for before, after in itertools.pairwise(windows):
        assert after.start == before.end + dt.timedelta(days=1)  # no gap, no overlap
        assert after.start_ms == before.end_ms + 1
    assert sum(w.days for w in windows) == length
    assert len(windows) == -(-length // max_days)


def test_default_window_is_sixty_days():
    assert MAX_WINDOW_DAYS == 60
