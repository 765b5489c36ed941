"""The ``q`` of ArcGIS's search endpoints (users, groups, items), as far as the emulator needs it.

Supported: bare terms (matched against a resource's default fields), ``field:term`` and
``field:"two words"``, ``-field:term`` (not), ``AND`` (also implied between terms), ``OR``,
``*`` (everything), a trailing ``*`` on a term (prefix), and parentheses, which are dropped (the
``arcgis`` package wraps queries in them). Matching is case-insensitive, against a value as a whole
or against one of its words. Anything richer (ranges, boosts, nested precedence) is not served.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

_TOKEN = re.compile(r'(-?)(?:([A-Za-z]+):)?("[^"]*"|[^\s()"]+)')
_WORDS = re.compile(r"[\s._@,;/-]+")


@dataclass(frozen=True)
class Term:
    field: str | None  # lower case; None: the resource's default fields
    text: str  # lower case, without quotes
    negated: bool = False


def parse_query(q: str | None) -> list[list[Term]]:
    """``q`` as OR-ed clauses of AND-ed terms; ``[[]]`` (match everything) for an empty query."""
    clauses: list[list[Term]] = [[]]
    for negated, field, text in _TOKEN.findall((q or "").replace("(", " ").replace(")", " ")):
        bare = text.strip('"')
        if not field and not negated and bare in ("AND", "&&"):
            continue
        if not field and not negated and bare in ("OR", "||"):
            clauses.append([])
            continue
        if not field and bare in ("*", ""):
            continue
        clauses[-1].append(Term(field.lower() or None, bare.lower(), bool(negated)))
    return clauses


def matches(clauses: list[list[Term]], fields: Mapping[str, Iterable[str]], default_fields: Iterable[str]) -> bool:
    """Whether a resource with these searchable ``fields`` (name -> values) matches the query."""
    defaults = tuple(default_fields)
    return any(all(_term_matches(t, fields, defaults) for t in clause) for clause in clauses)


def _term_matches(term: Term, fields: Mapping[str, Iterable[str]], defaults: tuple[str, ...]) -> bool:
    names = defaults if term.field is None else (term.field,)
    hit = any(_value_matches(term.text, value) for name in names for value in fields.get(name, ()))
    return hit != term.negated


def _value_matches(text: str, value: str) -> bool:
    value = str(value).lower()
    if text == "*":
        return bool(value)
    if text.endswith("*"):
        stem = text[:-1]
        return value.startswith(stem) or any(w.startswith(stem) for w in _WORDS.split(value))
    if " " in text:
        return text in value
    return value == text or text in _WORDS.split(value)
