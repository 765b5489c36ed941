"""``docs/performance.md`` is written by several benchmark scripts: each rewrites only its own section.

A section is the text between ``<!-- begin: NAME -->`` and ``<!-- end: NAME -->``. Everything
outside the markers (other scripts' sections, findings written by people) is kept byte for byte.
"""

from __future__ import annotations

import os
from pathlib import Path

PAGE_TITLE = "# Performance\n"


def markers(name: str) -> tuple[str, str]:
    return f"<!-- begin: {name} -->", f"<!-- end: {name} -->"


def replace_section(page: str, name: str, body: str) -> str:
    """``page`` with section ``name`` set to ``body``; appended at the end when the page lacks it."""
    begin, end = markers(name)
    block = f"{begin}\n{body.strip()}\n{end}"
    start = page.find(begin)
    if start >= 0:
        stop = page.find(end, start)
        if stop < 0:
            raise ValueError(f"{begin} has no matching {end}: fix the page by hand")
        return page[:start] + block + page[stop + len(end) :]
    if not page.strip():
        return f"{PAGE_TITLE}\n{block}\n"
    return page.rstrip("\n") + f"\n\n{block}\n"


def write_section(path: Path, name: str, body: str) -> None:
    """Rewrite section ``name`` of the page at ``path`` (created if missing), atomically."""
    page = path.read_text(encoding="utf-8") if path.exists() else ""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    partial.write_text(replace_section(page, name, body), encoding="utf-8")
    partial.replace(path)
