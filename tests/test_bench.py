"""Smoke run of the benchmark (``--quick``): it runs and reports. Its timings are never asserted."""

from __future__ import annotations

import math
import re

from creditlens import bench


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
    assert bench.main(["--quick", "--out", str(out)]) == 0
    text = out.read_text()
    assert text in capsys.readouterr().out  # the table is printed too
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
