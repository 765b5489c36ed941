"""Money: prices, currencies and their decimals, config precedence, rounding that adds up."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from creditlens import money
from creditlens.money import Pricing, PricingError


@pytest.mark.parametrize(("code", "decimals"), [("USD", 2), ("eur", 2), ("JPY", 0), ("KRW", 0), ("KWD", 3)])
def test_currency_decimals_follow_iso_4217(code, decimals):
    assert money.currency_decimals(code) == decimals


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [
        (1234.5, "USD", "USD 1,234.50"),
        (1234.5, "JPY", "JPY 1,235"),
        (0.0005, "KWD", "KWD 0.001"),
        (0.125, "EUR", "EUR 0.13"),  # half away from zero, as invoices round, not banker's rounding
        (None, "USD", "—"),
    ],
)
def test_format_money_uses_the_currency_decimals(amount, currency, text):
    assert money.format_money(amount, currency) == text


@pytest.mark.parametrize(("text", "price"), [("0.10", 0.1), ("0,12", 0.12), (" 1 ", 1.0), ("", None), (None, None)])
def test_parse_price_accepts_plain_numbers(text, price):
    assert money.parse_price(text) == price


@pytest.mark.parametrize("text", ["abc", "-0.1", "nan", "inf", "5000"])
def test_parse_price_refuses_nonsense_with_one_message(text):
    with pytest.raises(PricingError) as err:
        money.parse_price(text)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("text", ["US", "usd1", "€", "", "DOLLARS"])
def test_parse_currency_wants_three_letters(text):
    with pytest.raises(PricingError, match="three letters"):
        money.parse_currency(text)


def test_secrets_section_wins_over_environment():
    env = {"CREDITLENS_CREDIT_PRICE": "0.2", "CREDITLENS_CURRENCY": "eur"}
    assert money.load_pricing({}, env) == Pricing(0.2, "EUR")
    assert money.load_pricing({"credit_price": 0.1, "currency": "CAD"}, env) == Pricing(0.1, "CAD")
    assert money.load_pricing({"credit_price": ""}, env) == Pricing(0.2, "EUR")
    assert money.load_pricing({}, {}) == Pricing(None, "USD")


def test_secrets_file_section_is_read(tmp_path):
    path = tmp_path / "secrets.toml"
    path.write_text('[creditlens]\ncredit_price = 0.11\ncurrency = "GBP"\n')
    assert money.load_pricing(money.read_secrets_section(path), {}) == Pricing(0.11, "GBP")
    assert money.read_secrets_section(tmp_path / "missing.toml") == {}
    path.write_text("[creditlens\n")
    with pytest.raises(PricingError, match="TOML"):
        money.read_secrets_section(path)


def test_cost_column_is_named_for_the_currency_and_rounded():
    frame = pd.DataFrame({"username": ["a", "b"], "credits": [10.004, 3.333], "num": [1, 2]})
    out = money.add_cost_column(frame, Pricing(0.1, "USD"))
    assert list(out.columns) == ["username", "credits", "cost_usd", "num"]
    assert out["cost_usd"].tolist() == [1.0, 0.33]
    yen = money.add_cost_column(frame, Pricing(15.0, "JPY"))
    assert yen["cost_jpy"].tolist() == [150.0, 50.0]
    assert money.add_cost_column(frame, Pricing(None, "USD")) is frame  # no price: no made-up column


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), min_size=1, max_size=30),
    st.sampled_from([0.1, 0.12, 0.0137, 1.0, 7.5]),
    st.sampled_from(["USD", "JPY", "KWD"]),
)
def test_allocated_costs_add_up_to_the_rounded_total(credits, price, currency):
    pricing = Pricing(price, currency)
    lines = money.allocated_costs(np.array(credits), pricing)
    scale = 10**pricing.decimals
    total = money.costs(np.array([sum(credits)]), pricing)[0]
    assert round(lines.sum() * scale) == round(total * scale)
    exact = np.array(credits) * price
    assert np.all(np.abs(lines - exact) < 1 / scale + 1e-9)  # each line is off by less than one minor unit
    assert all(math.isclose(v * scale, round(v * scale), abs_tol=1e-6) for v in lines)


def test_allocated_costs_without_price_are_unknown():
    assert np.isnan(money.allocated_costs(np.array([1.0, 2.0]), Pricing())).all()
