"""The Chargeback page and the sidebar's price in process (AppTest), on the demo organization."""

from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st
from rendered import shown
from streamlit.testing.v1 import AppTest

from creditlens import chargeback as C
from creditlens.ui import connection

APP = str(Path(__file__).resolve().parents[1] / "app.py")


@pytest.fixture(autouse=True)
def _isolated(monkeypatch):
    for name in (connection.ENV_URL, connection.ENV_USER, connection.ENV_PASSWORD, connection.ENV_CA):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("CREDITLENS_CREDIT_PRICE", raising=False)
    monkeypatch.delenv("CREDITLENS_CURRENCY", raising=False)
    st.cache_data.clear()
    yield
    st.cache_data.clear()


def open_at(page: str, **query) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=90)
    at.query_params.update(query)
    return at.switch_page(f"app_pages/{page}.py").run()  # straight to the page: its link params are its own


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [shown(e.value) for e in at.error]


def test_a_linked_price_and_currency_give_the_leaderboard_and_budgets_a_cost_column():
    at = open_at("leaderboard", price="0.1", currency="EUR")
    assert_clean(at)
    assert at.number_input(key="cl_credit_price").value == pytest.approx(0.1)
    board = at.dataframe[0].value
    assert "cost_eur" in board.columns
    assert list(board.columns).index("cost_eur") == list(board.columns).index("credits") + 1
    assert board["cost_eur"].to_numpy() == pytest.approx((board["credits"] * 0.1).round(2).to_numpy(), abs=0.0051)
    at.switch_page("app_pages/budgets.py").run()
    assert_clean(at)
    allocations = at.dataframe[-1].value
    assert allocations["cost_eur"].to_numpy() == pytest.approx(
        (allocations["range_credits"] * 0.1).to_numpy(), abs=0.0051
    )


def test_without_a_price_no_cost_column_is_made_up():
    at = open_at("leaderboard")
    assert_clean(at)
    assert not [c for c in at.dataframe[0].value.columns if str(c).startswith("cost_")]
    assert any("No credit price" in c.value for c in at.sidebar.caption)


def test_the_price_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("CREDITLENS_CREDIT_PRICE", "0.25")
    monkeypatch.setenv("CREDITLENS_CURRENCY", "jpy")
    at = open_at("chargeback")
    assert_clean(at)
    assert at.number_input(key="cl_credit_price").value == pytest.approx(0.25)
    assert at.selectbox(key="cl_currency").value == "JPY"
    table = at.dataframe[0].value
    assert all(float(v).is_integer() for v in table["cost_jpy"])  # yen have no decimals
    cost = next(m.value for m in at.metric if m.label.startswith("Cost in range"))
    assert cost == f"JPY {table['cost_jpy'].sum():,.0f}"


def test_the_chargeback_page_adds_up_and_shows_the_check():
    at = open_at("chargeback", price="0.1")
    assert_clean(at)
    table = at.dataframe[0].value
    assert list(table["cost_center"])[-3:] == [C.LINE_LABELS[k] for k in (C.NO_COST_CENTER, C.OVERHEAD, C.UNATTRIBUTED)]
    credits = next(m.value for m in at.metric if m.label.startswith("Credits in range"))
    assert credits == f"{table['credits'].sum():,.2f}"
    check = shown(at.success[0].value)
    assert check == f"Lines add up to {table['credits'].sum():,.2f} credits = org total {table['credits'].sum():,.2f} ✓"
    assert round(table["cost_usd"].sum(), 2) == pytest.approx(round(table["credits"].sum() * 0.1, 2))


def test_group_source_splits_and_the_drill_down_lists_a_line():
    at = open_at("chargeback", centers="groups")
    assert_clean(at)
    table = at.dataframe[0].value
    assert {"Planning", "Public Works", "Utilities"} <= set(table["cost_center"])
    assert any("split evenly between them" in shown(c.value) for c in at.caption)
    drill = next(s for s in at.selectbox if s.label == "Line")
    drill.set_value("Planning").run()
    assert_clean(at)
    members = at.dataframe[-1].value
    planning = table.set_index("cost_center").loc["Planning"]
    assert len(members) == planning["member_count"]
    assert members["charged_credits"].sum() == pytest.approx(planning["credits"], rel=1e-9, abs=1e-9)
    assert set(members["share_charged"]) <= {1.0, 0.5}


@pytest.mark.parametrize(
    ("query", "ignored"),
    [({"price": "-4"}, "credit price"), ({"currency": "XYZ"}, "currency"), ({"centers": "astrology"}, "source")],
)
def test_bad_link_values_are_ignored_with_one_warning(query, ignored):
    at = open_at("chargeback", **query)
    assert_clean(at)
    warning = " ".join(shown(w.value) for w in at.warning)
    assert "could not be used" in warning and ignored in warning
