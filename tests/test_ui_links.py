"""The sidebar's range resolution and the shareable-link parameters (ui.period, ui.links)."""

from __future__ import annotations

import datetime as dt

import pytest

from creditlens import dates
from creditlens.ui import charts as ui_charts
from creditlens.ui import (
    links,
    period,
    state,
)

TODAY = dt.date(2026, 3, 31)


def test_resolve_preset():
    choice = period.resolve_range("Last 7 days", None, TODAY)
    assert (choice.start, choice.end, choice.preset) == (dt.date(2026, 3, 25), TODAY, "Last 7 days")
    assert choice.ok and choice.error is None


def test_resolve_custom_half_picked_and_reversed():
    last = (dt.date(2026, 3, 1), dt.date(2026, 3, 10))
    half = period.resolve_range(period.CUSTOM_RANGE, (dt.date(2026, 3, 5),), TODAY, last)
    assert (half.start, half.end) == last and "end date" in half.notice
    nothing = period.resolve_range(period.CUSTOM_RANGE, (dt.date(2026, 3, 5),), TODAY, None)
    assert not nothing.ok and nothing.notice
    swapped = period.resolve_range(period.CUSTOM_RANGE, (dt.date(2026, 3, 9), dt.date(2026, 3, 2)), TODAY)
    assert (swapped.start, swapped.end, swapped.preset) == (dt.date(2026, 3, 2), dt.date(2026, 3, 9), None)


def test_resolve_custom_errors_are_messages():
    old = period.resolve_range(period.CUSTOM_RANGE, (dt.date(2020, 1, 1), dt.date(2020, 1, 5)), TODAY)
    assert not old.ok and "two years" in old.error
    future = period.resolve_range(period.CUSTOM_RANGE, (dt.date(2026, 5, 1), dt.date(2026, 5, 5)), TODAY)
    assert not future.ok and "future" in future.error


def test_custom_range_value():
    assert period.custom_range_value(None, None, TODAY) == dates.preset_range(dates.DEFAULT_PRESET, TODAY)
    assert period.custom_range_value((dt.date(2026, 3, 5),), None, TODAY) is None  # still picking
    clamped = period.custom_range_value((dt.date(2020, 1, 1), dt.date(2027, 1, 1)), None, TODAY)
    assert clamped == (dates.oldest_day(TODAY), TODAY)


def test_range_query_round_trip():
    preset = period.resolve_range("Last 90 days", None, TODAY)
    assert links.range_query(preset) == {"range": "last-90-days"}
    assert links.parse_range_query({"range": "last-90-days"}, TODAY) == ("Last 90 days", None, [])
    custom = period.resolve_range(period.CUSTOM_RANGE, (dt.date(2026, 2, 1), dt.date(2026, 2, 28)), TODAY)
    params = links.range_query(custom)
    assert params == {"start": "2026-02-01", "end": "2026-02-28"}
    assert links.parse_range_query(params, TODAY) == (
        period.CUSTOM_RANGE,
        (dt.date(2026, 2, 1), dt.date(2026, 2, 28)),
        [],
    )


@pytest.mark.parametrize(
    "params",
    [
        {"range": "last-99-days"},
        {"start": "2026-02-01"},
        {"start": "yesterday", "end": "2026-02-01"},
        {"start": "2019-01-01", "end": "2019-02-01"},
        {"start": "2026-05-01", "end": "2026-05-02"},
    ],
)
def test_bad_range_params_are_ignored_with_a_warning(params):
    preset, custom, warnings = links.parse_range_query(params, TODAY)
    assert (preset, custom) == (None, None)
    assert len(warnings) == 1


def test_param_specs_parse_and_encode():
    status = links.ParamSpec("status", "k", "list", [], ("member", "external"))
    assert status.parse("member,nobody") == (["member"], "unknown status ignored: nobody")
    assert status.encode(["member", "external"]) == "member,external"
    assert status.encode([]) is None
    minimum = links.ParamSpec("min", "m", "number", 0.0, low=0.0)
    assert minimum.parse("12.5") == (12.5, None)
    assert minimum.parse("-3")[0] is None and minimum.parse("abc")[0] is None
    assert minimum.encode(0.0) is None and minimum.encode(12.5) == "12.5"
    top = links.ParamSpec("top", "t", "int", 5, low=1, high=15)
    assert top.parse("7") == (7, None) and top.parse("99")[0] is None
    choice = links.ParamSpec("by", "g", "choice", "auto", ui_charts.GRANULARITIES)
    assert choice.parse("week") == ("week", None) and choice.parse("hour")[0] is None
    assert choice.encode("auto") is None


def test_parse_params_and_merge():
    specs = [ui_charts.GRANULARITY, links.ParamSpec("q", "s", "text", "")]
    values, warnings = links.parse_params({"by": "month", "q": " ada ", "password": "x"}, specs)
    assert values == {state.GRANULARITY: "month", "s": "ada"} and warnings == []
    merged = links.merged_params({"range": "today", "status": "member", "token": "t"}, {"by": "week"}, ["range"])
    assert merged == {"range": "today", "by": "week"}  # other pages' and unknown keys are dropped
