"""The chart pages in process (AppTest, demo org): hourly Today, provisional figures, captions on charts."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from creditlens.ui import connection

APP = str(Path(__file__).resolve().parents[1] / "app.py")


@pytest.fixture(autouse=True)
def _isolated(monkeypatch):
    for name in (connection.ENV_URL, connection.ENV_USER, connection.ENV_PASSWORD, connection.ENV_CA):
        monkeypatch.delenv(name, raising=False)
    st.cache_data.clear()
    yield
    st.cache_data.clear()


def open_page(page: str, **query) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=90)
    at.query_params.update(query)
    at.run()
    return at.switch_page(f"app_pages/{page}.py").run()


def chart_specs(at: AppTest) -> list[dict]:
    """The Vega-Lite specs of the page's Altair charts, with their inline data."""
    specs = []
    for element in at.get("vega_lite_chart"):
        proto = element.proto
        spec = json.loads(proto.spec)
        spec["_rows"] = [row for ds in proto.datasets for row in _rows(ds)] if proto.datasets else []
        specs.append(spec)
    return specs


def _rows(dataset) -> list[dict]:
    return pa.ipc.open_stream(dataset.data.data).read_all().to_pandas().to_dict("records")  # Arrow IPC bytes


def test_today_is_charted_by_the_hour_and_marked_provisional():
    at = open_page("overview", range="today")
    assert not at.exception and not at.error
    labels = [m.label for m in at.metric]
    assert "Credits in range (provisional)" in labels
    deltas = [m.delta for m in at.metric if m.delta]
    assert deltas and all(d.endswith("so far vs previous") for d in deltas)
    assert any("Provisional" in c.value for c in at.caption)
    (spec,) = chart_specs(at)
    assert spec["encoding"]["x"]["title"] == "Hour (UTC)"
    hours = {row["shown_start"] for row in spec["_rows"]}
    assert len(hours) == 24
    assert "Northwind Regional GIS" in spec["title"]["subtitle"][0] and "(UTC, 1 day)" in spec["title"]["subtitle"][0]


def test_last_7_days_is_by_the_day_with_every_day_present():
    at = open_page("trends", range="last-7-days")
    assert not at.exception and not at.error
    specs = chart_specs(at)
    assert len(specs) == 3  # services, top users, one user
    for spec in specs:
        days = {row["shown_start"] for row in spec["_rows"]}
        assert len(days) == 7, spec["title"]["text"]
        assert spec["title"]["subtitle"][0].endswith("(UTC, 7 days)")
    users = specs[1]["_rows"]
    assert any(row["credits"] == 0 for row in users)  # idle days are zero, not bridged


def test_a_long_range_is_by_the_month_with_partial_months_flagged():
    at = open_page("overview", start="2025-10-15", end="2026-11-20")
    assert not at.exception and not at.error
    (spec,) = chart_specs(at)
    assert spec["encoding"]["x"]["title"] == "Month (UTC)"
    rows = spec["_rows"]
    first = [r for r in rows if r["shown_start"].startswith("2025-10-15")]
    assert first and all(r["flagged"] and "partial" in r["when"] for r in first)
    assert not any("provisional" in r["when"] for r in rows)
    assert not any(m.label.endswith("(provisional)") for m in at.metric)
