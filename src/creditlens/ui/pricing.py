"""The sidebar's credit price and currency: from config, adjustable, carried in the shareable link.

Config is ``[creditlens] credit_price``/``currency`` in ``st.secrets`` or ``CREDITLENS_CREDIT_PRICE``/
``CREDITLENS_CURRENCY`` (see :mod:`creditlens.money`). A link's ``price=`` and ``currency=`` are
untrusted and validated like every link parameter.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import streamlit as st

from creditlens import money
from creditlens.money import Pricing
from creditlens.ui import links
from creditlens.ui.common import plain
from creditlens.ui.links import ParamSpec

PRICE_KEY = "cl_credit_price"
CURRENCY_KEY = "cl_currency"
CONFIG_ERROR_KEY = "cl_pricing_config_error"
#: Currencies offered in the sidebar; a configured one that is not listed is added.
CURRENCIES = (
    "USD", "EUR", "GBP", "CAD", "AUD", "NZD", "CHF", "SEK", "NOK", "DKK", "PLN", "CZK", "JPY", "KRW", "CNY",
    "HKD", "SGD", "INR", "AED", "SAR", "KWD", "BHD", "ZAR", "BRL", "MXN", "CLP", "COP", "ISK",
)  # fmt: skip
PRICE = ParamSpec("price", PRICE_KEY, "number", None, low=0.0, high=money.MAX_PRICE, what="credit price")
CURRENCY = ParamSpec("currency", CURRENCY_KEY, "choice", money.DEFAULT_CURRENCY, CURRENCIES, what="currency")
#: App-wide link parameters (every page keeps them, like the range).
PARAMS = (PRICE, CURRENCY)


def configured() -> Pricing:
    """The price and currency from secrets or the environment; a bad value is reported and ignored."""
    try:
        section = st.secrets.get("creditlens")
    except FileNotFoundError:  # no secrets.toml
        section = None
    except Exception:  # a secrets.toml that does not parse: the gate reports it; price stays unset here
        section = None
    try:
        pricing = money.load_pricing(dict(section or {}), os.environ)
        st.session_state.pop(CONFIG_ERROR_KEY, None)
        return pricing
    except money.PricingError as exc:
        st.session_state[CONFIG_ERROR_KEY] = f"The credit price settings are ignored: {exc}"
        return Pricing()


def bound_params(config: Pricing) -> tuple[ParamSpec, ParamSpec]:
    """The link parameters with the configured values as defaults (a link names only what differs)."""
    options = CURRENCIES if config.currency in CURRENCIES else (*CURRENCIES, config.currency)
    return (
        dataclasses.replace(PRICE, default=config.price),
        dataclasses.replace(CURRENCY, default=config.currency, options=options),
    )


def render() -> Pricing:
    """The price and currency widgets (in the sidebar); returns what they are set to."""
    config = configured()
    specs = bound_params(config)
    links.prepare_widgets("pricing", specs)
    left, right = st.columns([3, 2])
    left.number_input(
        "Credit price",
        min_value=0.0,
        max_value=money.MAX_PRICE,
        step=0.01,
        format="%.4f",
        key=PRICE_KEY,
        placeholder="No price",
        help="Money per credit, for the cost columns. Leave empty to show credits only.",
    )
    right.selectbox("Currency", specs[1].options, key=CURRENCY_KEY)
    error = st.session_state.get(CONFIG_ERROR_KEY)
    if error:
        st.error(plain(error))
    pricing = current()
    st.caption(plain(f"Costs at {pricing.describe()}.") if pricing.priced else "No credit price: costs are not shown.")
    links.sync_page_params(specs)
    return pricing


def current() -> Pricing:
    """The price and currency this session shows costs in (the config's until the sidebar was drawn)."""
    state: Any = st.session_state
    if PRICE_KEY not in state and CURRENCY_KEY not in state:
        return configured()
    price = state.get(PRICE_KEY)
    try:
        price = None if price is None else money.check_price(float(price))
        currency = money.parse_currency(state.get(CURRENCY_KEY) or money.DEFAULT_CURRENCY)
    except (money.PricingError, TypeError, ValueError):
        return configured()
    return Pricing(price, currency)


def cost_column_config(pricing: Pricing | None = None) -> dict[str, Any]:
    """The column_config entry of the cost column (``cost_usd`` …), in the currency's decimals."""
    pricing = pricing or current()
    if not pricing.priced:
        return {}
    return {
        pricing.cost_column: st.column_config.NumberColumn(
            pricing.cost_label, format=f"%,.{pricing.decimals}f", help=f"Credits × {pricing.describe()}"
        )
    }
