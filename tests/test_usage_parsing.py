import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from creditlens.errors import UsagePayloadError
from creditlens.usage_parsing import TIDY_COLUMNS, concat_usage, parse_usage_reply
from creditlens.windows import DAY_MS, UsageWindow, day_to_ms

WINDOW = UsageWindow(dt.date(2023, 1, 1), dt.date(2023, 1, 3))
T0 = day_to_ms(dt.date(2023, 1, 1))
STAMPS = [str(T0 + i * DAY_MS) for i in range(3)]


def row(values, nums=None, **keys):
    out = dict(keys)
    out["credits"] = [[s, v] for s, v in zip(STAMPS, values, strict=True)]
    if nums is not None:
        out["num"] = [[s, n] for s, n in zip(STAMPS, nums, strict=True)]
    return out


def reply(*rows):
    return {"startTime": T0, "endTime": T0 + 3 * DAY_MS, "period": "1d", "data": list(rows)}


def test_java_double_strings_parse_exactly():
    frame = parse_usage_reply(
        reply(
            row(
                ["0.0", "2.0E-4", "1.4562242E7"],
                ["0", "5", "12"],
                username="a",
                userOrgId="O",
                stype="geocode",
                etype="geocodecnt",
            )
        ),
        WINDOW,
    )
    assert list(frame.columns) == list(TIDY_COLUMNS)
    assert frame["credits"].tolist() == [2.0e-4, 1.4562242e7]  # the all-zero first day is dropped
    assert frame["num"].tolist() == [5, 12]
    assert frame["day"].tolist() == [pd.Timestamp("2023-01-02"), pd.Timestamp("2023-01-03")]


def test_missing_keys_mean_public_or_unattributed():
    frame = parse_usage_reply(
        reply(
            row(["1.0", "0.0", "0.0"], username="visitor", stype="geocode", etype="geocodecnt"),
            row(["2.0", "0.0", "0.0"], userOrgId="O", stype="geoenrich"),
            row(["3.0", "0.0", "0.0"]),
        ),
        WINDOW,
    )
    assert frame["username"].astype(str).tolist() == ["visitor", "", ""]
    assert frame["user_org_id"].astype(str).tolist() == ["", "O", ""]
    assert frame["stype"].astype(str).tolist() == ["geocode", "geoenrich", ""]
    assert frame["etype"].astype(str).tolist() == ["geocodecnt", "", ""]
    assert frame["num"].tolist() == [0, 0, 0]  # no num requested: zero, not NaN


def test_unknown_stype_is_kept_raw_and_extra_keys_are_ignored():
    frame = parse_usage_reply(
        reply(row(["0.5", "0.0", "0.0"], username="a", stype="quantumroute", etype="svcusg", appId="x1", task="t")),
        WINDOW,
    )
    assert frame["stype"].astype(str).tolist() == ["quantumroute"]
    assert frame["credits"].sum() == 0.5


def test_empty_data_gives_an_empty_frame_with_the_tidy_columns():
    for payload in (reply(), {"startTime": T0, "endTime": T0}):
        frame = parse_usage_reply(payload, WINDOW)
        assert frame.empty and list(frame.columns) == list(TIDY_COLUMNS)


def test_lower_case_userorgid_key_is_accepted():
    frame = parse_usage_reply(reply(row(["1.0", "0.0", "0.0"], username="a", userorgid="O2")), WINDOW)
    assert frame["user_org_id"].astype(str).tolist() == ["O2"]


def test_buckets_outside_the_window_are_dropped():
    wider = {
        "data": [
            {"username": "a", "credits": [[str(T0 - DAY_MS), "9.0"], [STAMPS[0], "1.0"], [str(T0 + 3 * DAY_MS), "7.0"]]}
        ]
    }
    frame = parse_usage_reply(wider, WINDOW)
    assert frame["credits"].tolist() == [1.0]


def test_rows_with_different_bucket_sequences_are_aligned_per_day():
    payload = {
        "data": [
            {"username": "a", "credits": [[STAMPS[0], "1.0"], [STAMPS[2], "3.0"]], "num": [[STAMPS[2], "4"]]},
            {"username": "b", "credits": [[STAMPS[1], "2.0"]]},
        ]
    }
    frame = parse_usage_reply(payload, WINDOW).sort_values(["username", "day"])
    assert frame[["credits", "num"]].to_numpy().tolist() == [[1.0, 0], [3.0, 4], [2.0, 0]]


def test_hourly_buckets_are_summed_into_their_utc_day():
    hours = [[str(T0 + h * 3_600_000), "0.25"] for h in range(24)]
    frame = parse_usage_reply({"data": [{"username": "a", "credits": hours}]}, WINDOW)
    assert frame["credits"].tolist() == [6.0] and len(frame) == 1


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ([], "not a JSON object"),
        ({"foo": 1}, "no 'data'"),
        ({"data": {}}, "not a list"),
        ({"data": ["x"]}, "row 0"),
        ({"data": [{"username": "a", "credits": "12"}]}, "not a list of pairs"),
        ({"data": [{"username": "a", "credits": [[STAMPS[0]]]}]}, "pairs"),
        ({"data": [{"username": "a", "credits": [[STAMPS[0], "abc"]]}]}, "not a number"),
        ({"data": [{"username": "a", "credits": [[STAMPS[0], "NaN"]]}]}, "finite"),
        ({"data": [{"username": "a", "credits": [["yesterday", "1.0"]]}]}, "epoch milliseconds"),
        ({"data": [{"username": "a", "num": [[STAMPS[0], "-3"]]}]}, "negative"),
        ({"data": [{"username": "a"}]}, "neither"),
        ({"error": {"code": 500, "message": "boom"}}, "error"),
    ],
)
def test_malformed_replies_raise_the_typed_error(payload, message):
    with pytest.raises(UsagePayloadError, match=message):
        parse_usage_reply(payload, WINDOW)


def test_huge_values_are_kept_not_overflowed():
    frame = parse_usage_reply(
        reply(row(["1.0E15", "0.0", "0.0"], ["9007199254740991", "0", "0"], username="a")), WINDOW
    )
    assert frame["credits"].iloc[0] == 1e15
    assert frame["num"].iloc[0] == 9007199254740991


def test_numbers_instead_of_strings_are_accepted():
    frame = parse_usage_reply({"data": [{"username": "a", "credits": [[T0, 1.5]], "num": [[T0, 2]]}]}, WINDOW)
    assert frame["credits"].tolist() == [1.5] and frame["num"].tolist() == [2]


def test_concat_keeps_categories_across_windows():
    a = parse_usage_reply(reply(row(["1.0", "0.0", "0.0"], username="a", stype="geocode")), WINDOW)
    b = parse_usage_reply(reply(row(["2.0", "0.0", "0.0"], username="b", stype="features")), WINDOW)
    both = concat_usage([a, b])
    assert isinstance(both["username"].dtype, pd.CategoricalDtype)
    assert both["username"].astype(str).tolist() == ["a", "b"]
    assert both["credits"].sum() == 3.0


# -- fuzz: any payload parses or raises our own typed error ------------------------------------------
json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=8),
    st.sampled_from(["0.0", "2.0E-4", "1.4562242E7", STAMPS[0], "-1", "1e400"]),
)
json_value = st.recursive(
    json_leaf, lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=6), c, max_size=4), max_leaves=20
)
pair = st.lists(st.one_of(st.sampled_from(STAMPS), json_leaf), min_size=0, max_size=3)
usage_row = st.fixed_dictionaries(
    {},
    optional={
        "username": json_leaf,
        "userOrgId": json_leaf,
        "stype": json_leaf,
        "etype": json_leaf,
        "credits": st.one_of(st.lists(pair, max_size=4), json_value),
        "num": st.one_of(st.lists(pair, max_size=4), json_value),
    },
)
payloads = st.one_of(
    json_value, st.fixed_dictionaries({"data": st.one_of(st.lists(usage_row, max_size=4), json_value)})
)


@settings(max_examples=400, deadline=None)
@given(payloads)
def test_any_payload_parses_or_raises_usage_payload_error(payload):
    try:
        frame = parse_usage_reply(json.loads(json.dumps(payload)), WINDOW)
    except UsagePayloadError:
        return
    assert list(frame.columns) == list(TIDY_COLUMNS)
    assert np.isfinite(frame["credits"].to_numpy()).all()
    assert (frame["num"].to_numpy() >= 0).all()
