"""Alert rules from a TOML file, checked key by key with one message that names the rule and the key.

The minimal form, which keeps working as rules grow::

    [[rule]]
    name = "heavy week"          # unique
    scope = "member"             # org | member | service | cost_center
    window = "7d"                # 1d | 7d | 30d | mtd: whole UTC days ending yesterday
    credits_over = 500.0         # fire when the scope's credits in the window exceed this

Optional keys: ``only = ["username", ...]`` (usernames, service codes or cost centers, by scope);
``pct_of_allocation_over = 90`` (scope member); ``balance_under = 1000`` (scope org); ``spike = true``
(the spike detector instead of a fixed threshold); ``cost_centers = "role" | "user_type" | "file.csv"``
(scope cost_center: where cost centers come from; a CSV path is relative to the rules file).

An optional ``[spikes]`` table sets the detector: ``k = 5.0``, ``floor = 50.0`` (credits a day).
"""

from __future__ import annotations

import datetime as dt
import difflib
import importlib.util
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path

from creditlens.errors import CreditLensError
from creditlens.watch.spikes import SpikeSettings

ORG, MEMBER, SERVICE, COST_CENTER = "org", "member", "service", "cost_center"
SCOPES = (ORG, MEMBER, SERVICE, COST_CENTER)
WINDOWS = ("1d", "7d", "30d", "mtd")
CONDITIONS = ("credits_over", "pct_of_allocation_over", "balance_under", "spike")
COST_CENTER_FIELDS = ("role", "user_type")
MAX_RULES_BYTES = 1 * 2**20
_NUMBER_KEYS = ("credits_over", "pct_of_allocation_over", "balance_under")
_RULE_KEYS = ("name", "scope", "window", *CONDITIONS, "only", "cost_centers")
_SPIKE_KEYS = ("k", "floor")
_TOP_KEYS = ("rule", "spikes")


class RulesError(CreditLensError):
    """A rules file that cannot be used; the message names the file, the rule and the key."""


@dataclass(frozen=True)
class Rule:
    name: str
    scope: str
    window: str
    credits_over: float | None = None
    pct_of_allocation_over: float | None = None
    balance_under: float | None = None
    spike: bool = False
    only: tuple[str, ...] = ()
    cost_centers: str | None = None  # "role", "user_type" or a CSV path (resolved), for scope cost_center

    def window_days(self, today: dt.date) -> tuple[dt.date, dt.date]:
        """The rule's window: whole UTC days ending yesterday."""
        return window_range(self.window, today)


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...]
    spikes: SpikeSettings
    path: Path | None = None

    @property
    def longest_lookback(self) -> int:
        """Days before today the rules need, spike baselines included."""
        days = [max_window_days(r.window) + (self.spikes.baseline_days if r.spike else 0) for r in self.rules]
        return max(days, default=1)


def window_range(window: str, today: dt.date) -> tuple[dt.date, dt.date]:
    """``1d``/``7d``/``30d``: that many whole UTC days ending yesterday; ``mtd``: yesterday's month so far."""
    end = today - dt.timedelta(days=1)
    if window == "mtd":
        return end.replace(day=1), end
    return end - dt.timedelta(days=int(window[:-1]) - 1), end


def max_window_days(window: str) -> int:
    return 31 if window == "mtd" else int(window[:-1])


def load_rules(path: str | Path) -> RuleSet:
    """Read and check a rules file; any problem raises one :class:`RulesError`."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise RulesError(f"The rules file {path} does not exist.") from None
    except OSError as exc:
        raise RulesError(f"The rules file {path} could not be read ({exc.strerror}).") from None
    if len(data) > MAX_RULES_BYTES:
        raise RulesError(f"{path}: larger than {MAX_RULES_BYTES // 2**20} MB; is this the rules file?")
    return parse_rules(data, path)


def parse_rules(data: bytes | str, path: Path | None = None) -> RuleSet:
    """Check rules text; ``path`` names the file in messages and anchors relative CSV paths."""
    where = str(path) if path else "the rules"
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        doc = tomllib.loads(text)
    except UnicodeDecodeError:
        raise RulesError(f"{where}: not UTF-8 text.") from None
    except tomllib.TOMLDecodeError as exc:
        raise RulesError(f"{where}: not valid TOML ({exc}).") from None
    for key in doc:
        if key not in _TOP_KEYS:
            raise RulesError(f"{where}: unknown top-level key '{key}'{_suggest(key, _TOP_KEYS)}; rules go in [[rule]].")
    raw_rules = doc.get("rule", [])
    if not isinstance(raw_rules, list) or not all(isinstance(r, dict) for r in raw_rules):
        raise RulesError(f"{where}: 'rule' must be a list of tables, written [[rule]].")
    if not raw_rules:
        raise RulesError(f"{where}: no rules; add at least one [[rule]] table.")
    rules: list[Rule] = []
    first_seen: dict[str, int] = {}
    for number, raw in enumerate(raw_rules, start=1):
        rule = _rule(raw, number, where, path)
        if rule.name in first_seen:
            raise RulesError(
                f"{where}: rule \"{rule.name}\" (rule #{number}): key 'name' duplicates rule "
                f"#{first_seen[rule.name]}; names must be unique."
            )
        first_seen[rule.name] = number
        rules.append(rule)
    return RuleSet(tuple(rules), _spike_settings(doc.get("spikes"), where), path)


def _rule(raw: dict, number: int, where: str, path: Path | None) -> Rule:
    name = raw.get("name")
    if name is None:
        raise RulesError(f"{where}: rule #{number} has no 'name'; every rule needs a unique name.")
    if not isinstance(name, str) or not name.strip():
        raise RulesError(f"{where}: rule #{number}: key 'name' must be a non-empty string.")
    label = f'{where}: rule "{name.strip()}"'
    for key in raw:
        if key not in _RULE_KEYS:
            raise RulesError(f"{label}: unknown key '{key}'{_suggest(key, _RULE_KEYS)}.")
    for key in ("scope", "window"):
        if key not in raw:
            raise RulesError(f"{label}: key '{key}' is missing.")
        if not isinstance(raw[key], str):
            raise RulesError(f"{label}: key '{key}' must be a string, not {_kind(raw[key])}.")
    scope, window = raw["scope"].strip().lower(), raw["window"].strip().lower()
    if scope not in SCOPES:
        raise RulesError(f"{label}: key 'scope' is '{raw['scope']}', an unknown scope; use {_choices(SCOPES)}.")
    if window not in WINDOWS:
        raise RulesError(f"{label}: key 'window' is '{raw['window']}', an unknown window; use {_choices(WINDOWS)}.")
    numbers = {key: _number(raw, key, label) for key in _NUMBER_KEYS if key in raw}
    spike = raw.get("spike", False)
    if not isinstance(spike, bool):
        raise RulesError(f"{label}: key 'spike' must be true or false, not {_kind(spike)}.")
    if not numbers and not spike:
        raise RulesError(f"{label}: no condition; give one of {_choices(CONDITIONS)}.")
    _check_scope_keys(label, scope, numbers, spike)
    only = _only(raw, label)
    cost_centers = _cost_centers(raw, label, scope, path)
    return Rule(
        name=name.strip(),
        scope=scope,
        window=window,
        credits_over=numbers.get("credits_over"),
        pct_of_allocation_over=numbers.get("pct_of_allocation_over"),
        balance_under=numbers.get("balance_under"),
        spike=spike,
        only=only,
        cost_centers=cost_centers,
    )


def _number(raw: dict, key: str, label: str) -> float:
    value = raw[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RulesError(f"{label}: key '{key}' must be a number, not {_kind(value)}.")
    if not math.isfinite(value) or value < 0:
        raise RulesError(f"{label}: key '{key}' must be a number of 0 or more, not {value}.")
    return float(value)


def _check_scope_keys(label: str, scope: str, numbers: dict, spike: bool) -> None:
    if "pct_of_allocation_over" in numbers and scope != MEMBER:
        raise RulesError(f'{label}: key \'pct_of_allocation_over\' needs scope "member", not "{scope}".')
    if "balance_under" in numbers and scope != ORG:
        raise RulesError(f'{label}: key \'balance_under\' needs scope "org", not "{scope}".')
    if spike and scope == COST_CENTER:
        raise RulesError(f"{label}: key 'spike' works with scopes org, member and service, not cost_center.")
    if len(numbers) + bool(spike) > 1:
        given = [k for k in CONDITIONS if k in numbers or (k == "spike" and spike)]
        raise RulesError(f"{label}: keys {' and '.join(given)} are each a condition; give one per rule.")


def _only(raw: dict, label: str) -> tuple[str, ...]:
    if "only" not in raw:
        return ()
    value = raw["only"]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise RulesError(f"{label}: key 'only' must be a list of non-empty strings, like [\"jdoe\"].")
    if not value:
        raise RulesError(f"{label}: key 'only' is an empty list; leave it out to watch everyone.")
    return tuple(v.strip() for v in value)


def _cost_centers(raw: dict, label: str, scope: str, path: Path | None) -> str | None:
    if scope != COST_CENTER:
        if "cost_centers" in raw:
            raise RulesError(f'{label}: key \'cost_centers\' needs scope "cost_center", not "{scope}".')
        return None
    if not chargeback_available():
        raise RulesError(f"{label}: key 'scope' is \"cost_center\", which is not available yet (no chargeback).")
    value = raw.get("cost_centers")
    if value is None:
        raise RulesError(
            f'{label}: key \'cost_centers\' is missing; use "role", "user_type" or a username,cost_center CSV file.'
        )
    if not isinstance(value, str) or not value.strip():
        raise RulesError(f"{label}: key 'cost_centers' must be a string, not {_kind(value)}.")
    value = value.strip()
    if value in COST_CENTER_FIELDS:
        return value
    csv_path = Path(value) if Path(value).is_absolute() or path is None else path.parent / value
    if not csv_path.is_file():
        raise RulesError(f"{label}: key 'cost_centers': the file {csv_path} does not exist.")
    return str(csv_path)


def chargeback_available() -> bool:
    """Whether this install has the chargeback module (cost centers)."""
    return importlib.util.find_spec("creditlens.chargeback") is not None


def _spike_settings(raw: object, where: str) -> SpikeSettings:
    if raw is None:
        return SpikeSettings()
    if not isinstance(raw, dict):
        raise RulesError(f"{where}: 'spikes' must be a table, written [spikes].")
    label = f"{where}: [spikes]"
    for key in raw:
        if key not in _SPIKE_KEYS:
            raise RulesError(f"{label}: unknown key '{key}'{_suggest(key, _SPIKE_KEYS)}.")
    values = {key: _number(raw, key, label) for key in _SPIKE_KEYS if key in raw}
    return SpikeSettings(**values)


def _suggest(key: str, known: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    return f" (did you mean '{close[0]}'?)" if close else f"; known keys: {', '.join(known)}"


def _choices(items) -> str:
    items = list(items)
    return ", ".join(items[:-1]) + f" or {items[-1]}" if len(items) > 1 else items[0]


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return f"{str(value).lower()} (true/false)"
    if isinstance(value, str):
        return f'a string ("{value[:40]}")'
    if isinstance(value, int | float):
        return f"a number ({value})"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__
