"""How the tests read what a Markdown element shows: the app escapes untrusted text with backslashes."""

from __future__ import annotations

import re


def shown(markdown: str) -> str:
    """A message as the reader sees it: untrusted parts are backslash-escaped Markdown."""
    return re.sub(r"\\(.)", r"\1", markdown)
