"""The layering rules, checked by walking every module's imports.

- only ``creditlens.ui`` (plus ``app.py`` and ``app_pages/``) imports streamlit;
- pages import only ``creditlens.ui.*`` and ``creditlens.reports`` (and the pure chart specs and service
  names they lay out);
- nothing in the library imports ``creditlens.ui``;
- no library module is a grab-bag of more than about 400 lines.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "creditlens"
MAX_LINES = 500  # "about 400": a module past this is doing more than one job
#: What a page may import from the library besides creditlens.ui: pure specs and labels it lays out.
PAGE_LIBRARY = {"creditlens.reports", "creditlens.charts", "creditlens.services"}


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, absolute (``from creditlens import reports`` gives ``creditlens.reports``)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


LIBRARY = sorted(PACKAGE.rglob("*.py"))
PAGES = sorted((ROOT / "app_pages").glob("*.py"))


def test_the_layout_is_found():
    assert len(LIBRARY) > 20 and len(PAGES) >= 5
    assert not (ROOT / "pages").exists(), "a pages/ folder turns on Streamlit's legacy multipage mechanism"


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: module_name(p))
def test_only_the_ui_package_imports_streamlit(path):
    name = module_name(path)
    if name.startswith("creditlens.ui"):
        return
    streamlit = {m for m in imported_modules(path) if m == "streamlit" or m.startswith("streamlit.")}
    assert not streamlit, f"{name} imports {sorted(streamlit)}"


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: module_name(p))
def test_the_library_never_imports_the_ui(path):
    name = module_name(path)
    if name.startswith("creditlens.ui"):
        return
    ui = {m for m in imported_modules(path) if m == "creditlens.ui" or m.startswith("creditlens.ui.")}
    assert not ui, f"{name} imports {sorted(ui)}"


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.name)
def test_pages_import_only_the_ui_and_reports(path):
    for module in imported_modules(path):
        if not module.startswith("creditlens"):
            assert module in ("streamlit",) or module.startswith("streamlit."), f"{path.name} imports {module}"
            continue
        parent = module.rsplit(".", 1)[0]
        allowed = module.startswith("creditlens.ui") or PAGE_LIBRARY & {module, parent} or module == "creditlens"
        assert allowed, f"{path.name} imports {module}"


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: module_name(p))
def test_no_library_module_is_a_grab_bag(path):
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{module_name(path)} has {lines} lines"
    assert path.stem not in {"utils", "helpers", "misc", "common_utils"}


def test_the_router_is_short():
    router = (ROOT / "app.py").read_text().splitlines()
    assert len(router) <= 60
    assert not [m for m in imported_modules(ROOT / "app.py") if m.startswith("creditlens") and "ui" not in m]
