"""Credits in money: a credit price, a currency, and amounts rounded to that currency's usual decimals.

Configuration comes from the ``[creditlens]`` section of ``.streamlit/secrets.toml`` or from the
environment; the secrets file wins where both set a value::

    [creditlens]
    credit_price = 0.10      # money per credit
    currency = "USD"         # ISO 4217 code

    CREDITLENS_CREDIT_PRICE=0.10  CREDITLENS_CURRENCY=USD

With no price, costs are unknown: tables carry no cost column rather than a made-up one.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from creditlens.errors import CreditLensError

DEFAULT_CURRENCY = "USD"
PRICE_ENV = "CREDITLENS_CREDIT_PRICE"
CURRENCY_ENV = "CREDITLENS_CURRENCY"
#: Above this a "price per credit" is surely a typo (credits sell for cents).
MAX_PRICE = 1000.0
#: ISO 4217 minor units where they are not 2 (the usual case).
_MINOR_UNITS = {
    **dict.fromkeys(("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "VND"), 0),
    **dict.fromkeys(("VUV", "XAF", "XOF", "XPF"), 0),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
}
_CODE = re.compile(r"[A-Z]{3}")


class PricingError(CreditLensError):
    pass


@dataclass(frozen=True)
class Pricing:
    """Money per credit in ``currency``; ``price`` None means no price is set (costs unknown)."""

    price: float | None = None
    currency: str = DEFAULT_CURRENCY

    @property
    def priced(self) -> bool:
        return self.price is not None

    @property
    def decimals(self) -> int:
        return currency_decimals(self.currency)

    @property
    def cost_column(self) -> str:
        """The cost column's name in tables and downloads, e.g. ``cost_usd``: the currency travels with it."""
        return f"cost_{self.currency.lower()}"

    @property
    def cost_label(self) -> str:
        return f"Cost ({self.currency})"

    def describe(self) -> str:
        if self.price is None:
            return "no credit price set"
        return f"{format_price(self.price)} {self.currency} per credit"


def currency_decimals(currency: str) -> int:
    """The currency's usual decimals (ISO 4217 minor units): 0 for JPY, 3 for KWD, 2 otherwise."""
    return _MINOR_UNITS.get(currency.upper(), 2)


def parse_currency(text: object) -> str:
    code = str(text if text is not None else "").strip().upper()
    if not _CODE.fullmatch(code):
        raise PricingError(f"'{str(text)[:20]}' is not a currency code: use three letters such as USD, EUR or JPY.")
    return code


def parse_price(text: object) -> float | None:
    """A price per credit from config or a flag; empty means no price."""
    if text is None or (isinstance(text, str) and not text.strip()):
        return None
    try:
        value = float(str(text).strip().replace(",", "."))
    except ValueError:
        raise PricingError(f"'{str(text)[:20]}' is not a price: give money per credit, e.g. 0.10.") from None
    return check_price(value)


def check_price(value: float) -> float:
    if not math.isfinite(value) or value < 0:
        raise PricingError("The credit price must be a number of 0 or more.")
    if value > MAX_PRICE:
        raise PricingError(f"A credit price above {MAX_PRICE:,.0f} per credit looks like a typo.")
    return float(value)


def load_pricing(secrets_section: Mapping | None = None, environ: Mapping[str, str] | None = None) -> Pricing:
    """``[creditlens] credit_price``/``currency`` over ``CREDITLENS_CREDIT_PRICE``/``CREDITLENS_CURRENCY``."""
    environ = os.environ if environ is None else environ
    section = dict(secrets_section or {})

    def get(key: str, env: str) -> object:
        if section.get(key) not in (None, ""):
            return section[key]
        return environ.get(env) or None

    currency = get("currency", CURRENCY_ENV)
    return Pricing(parse_price(get("credit_price", PRICE_ENV)), parse_currency(currency or DEFAULT_CURRENCY))


def read_secrets_section(path: Path = Path(".streamlit/secrets.toml")) -> dict:
    """The ``[creditlens]`` table of a Streamlit secrets file, or {} when there is none (for the CLI)."""
    try:
        with path.open("rb") as handle:
            section = tomllib.load(handle).get("creditlens") or {}
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError):
        raise PricingError(f"{path} could not be read as TOML.") from None
    return dict(section) if isinstance(section, dict) else {}


def format_price(price: float) -> str:
    """A price per credit as typed: 0.1 → "0.10", 0.0125 → "0.0125"."""
    text = f"{price:.6f}".rstrip("0")
    whole, _, frac = text.partition(".")
    return f"{whole}.{frac.ljust(2, '0')}"


def format_money(amount: float | None, currency: str) -> str:
    """``USD 1,234.50``, ``JPY 1,235``: the code first, so no symbol is ambiguous (CAD/AUD/USD)."""
    if amount is None or (isinstance(amount, float) and math.isnan(amount)):
        return "—"
    decimals = currency_decimals(currency)
    return f"{currency} {round_money(amount, decimals):,.{decimals}f}"


def round_money(amount: float, decimals: int) -> float:
    """Half away from zero in the currency's decimals (what invoices do), not Python's half to even."""
    scaled = abs(amount) * 10**decimals
    return math.copysign(math.floor(scaled + 0.5 + 1e-9) / 10**decimals, amount)


def _minor_units(exact: np.ndarray) -> np.ndarray:
    """Amounts already scaled to minor units, rounded half away from zero (the epsilon absorbs 0.1*3 style noise)."""
    return np.sign(exact) * np.floor(np.abs(exact) + 0.5 + 1e-9)


def costs(credits: pd.Series | np.ndarray, pricing: Pricing) -> np.ndarray:
    """Each amount of credits in money, rounded to the currency's decimals; NaN without a price."""
    values = np.asarray(credits, dtype=float)
    if pricing.price is None:
        return np.full(values.shape, np.nan)
    scale = 10**pricing.decimals
    return _minor_units(values * pricing.price * scale) / scale


def allocated_costs(credits: pd.Series | np.ndarray, pricing: Pricing) -> np.ndarray:
    """Costs per line that add up exactly to the rounded cost of the total (largest remainder).

    Rounding each line on its own can miss the total by a cent per line; a chargeback table must
    sum to what the org pays, so the rounding difference goes to the lines with the largest remainders.
    """
    values = np.asarray(credits, dtype=float)
    if pricing.price is None:
        return np.full(values.shape, np.nan)
    scale = 10**pricing.decimals
    exact = values * pricing.price * scale
    target = int(_minor_units(np.array([exact.sum()]))[0])
    floors = np.floor(exact + 1e-9)
    short = target - int(floors.sum())  # 0 <= short < number of lines
    bump = np.zeros(values.shape)
    order = np.argsort(-(exact - floors), kind="stable")
    if short > 0:
        bump[order[:short]] = 1
    elif short < 0:
        bump[order[::-1][:-short]] = -1
    return (floors + bump) / scale


def add_cost_column(frame: pd.DataFrame, pricing: Pricing, credits: str = "credits") -> pd.DataFrame:
    """``frame`` with a cost column (e.g. ``cost_usd``) right after ``credits``; unchanged without a price."""
    if not pricing.priced or credits not in frame.columns:
        return frame
    out = frame.copy()
    out.insert(out.columns.get_loc(credits) + 1, pricing.cost_column, costs(out[credits], pricing))
    return out
