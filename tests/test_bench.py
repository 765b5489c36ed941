"""Smoke run of the benchmark (``--quick``): it runs and reports. Its timings are never asserted."""

from __future__ import annotations

import importlib.util
import math
import re
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))  # the scripts import their helpers as run from that folder
import perf_page  # noqa: E402


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(f"benchmarks_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


bench = load_script("bench")


def table_row(text: str, label: str) -> list[str]:
    """The cells of the results-table row whose label starts with ``label`` (bold markers removed)."""
    for line in text.splitlines():
        cells = [c.strip().strip("*") for c in line.strip().strip("|").split("|")]
        if cells and cells[0].startswith(label):
            return cells[1:]
    raise AssertionError(f"no row {label!r} in the report")


def number(cell: str) -> float:
    match = re.search(r"\d[\d,]*(\.\d+)?", cell)
    assert match, f"no number in {cell!r}"
    value = float(match.group(0).replace(",", ""))
    return value * 1e6 if cell.startswith(match.group(0)) and cell[match.end() :].startswith("M") else value


def test_quick_benchmark_runs_and_reports(tmp_path, capsys):
    out = tmp_path / "performance.md"
    others = "# Performance\n\nKept as written.\n\n<!-- begin: load -->\nload numbers\n<!-- end: load -->\n"
    out.write_text(others + "\n## Findings\n\nKept too.\n")
    assert bench.main(["--quick", "--out", str(out)]) == 0
    page = out.read_text()
    assert page.startswith(others) and page.count("<!-- begin: bench -->") == 1
    assert "## Findings\n\nKept too.\n" in page
    text = page.split("<!-- begin: bench -->\n", 1)[1].split("\n<!-- end: bench -->", 1)[0]
    assert text.strip() in capsys.readouterr().out  # the table is printed too
    assert f"{bench.QUICK_MEMBERS} members" in text
    assert f"{bench.os.cpu_count()} cores" in text

    requests = table_row(text, "Usage requests per fetch")[0]
    assert number(requests) == math.ceil(bench.QUICK_DAYS / 60)
    assert "≠ target" not in requests
    for label in (
        "Points in the replies",
        "Tidy rows",
        "Fetch + parse + tidy, wall",
        "End-to-end points/s",
        "Client peak RSS",
        "Parse + tidy (points/s)",
        "Per-point loop (points/s)",
        "Parse + tidy vs per-point loop",
        "One request per member: requests",
        "One request per member: time",
        "Leaderboard (s)",
        "Reconciliation (s)",
        "Service trend (s)",
        "User trend (s)",
    ):
        assert number(table_row(text, label)[0]) > 0, label
    per_member = table_row(text, "One request per member: requests")[0]
    assert number(per_member) == bench.QUICK_MEMBERS * math.ceil(bench.QUICK_DAYS / 60)
    if bench.find_app() is not None:
        assert number(table_row(text, "App: warm leaderboard rerun")[0]) > 0
    assert "## Targets" in text and "## How it is measured" in text


def test_a_section_is_replaced_in_place_and_the_rest_is_kept():
    page = "# Performance\n\nintro\n\n<!-- begin: bench -->\nold\n<!-- end: bench -->\n\nfindings\n"
    once = perf_page.replace_section(page, "bench", "new")
    assert once == page.replace("old", "new")
    assert perf_page.replace_section(once, "bench", "new") == once
    added = perf_page.replace_section(once, "archive", "archive numbers")
    assert added.startswith(once.rstrip("\n")) and added.endswith("<!-- end: archive -->\n")
    assert perf_page.replace_section("", "bench", "x").startswith("# Performance\n")


def test_a_section_without_its_end_marker_is_refused():
    with pytest.raises(ValueError, match="no matching"):
        perf_page.replace_section("<!-- begin: bench -->\nhalf", "bench", "new")
