"""What the archive tests share: an archive's tables to compare, and a ``creditlens`` child process's command."""

from __future__ import annotations

import datetime as dt
import os
import sys
from pathlib import Path

import pandas as pd

from creditlens.archive import Archive

#: ``creditlens`` run in a child process (the console script may not be on PATH in a test run).
CLI = [sys.executable, "-c", "import sys; from creditlens.cli import main; sys.exit(main(sys.argv[1:]))"]


def tables(archive: Archive) -> dict[str, pd.DataFrame]:
    """Every table's rows with series resolved to their keys, sorted: what "identical tables" compares."""
    with archive.reading() as con:
        usage = con.execute(
            "SELECT u.day, s.username, s.user_org_id, s.stype, s.etype, u.credits, u.num FROM usage u "
            "JOIN series s ON s.id = u.series ORDER BY ALL"
        ).df()
        totals = con.execute("SELECT * FROM org_totals ORDER BY ALL").df()
        coverage = con.execute("SELECT day FROM coverage ORDER BY day").df()
        members = con.execute("SELECT * EXCLUDE (snapshot_day) FROM members ORDER BY username").df()
    return {"usage": usage, "org_totals": totals, "coverage": coverage, "members": members}


def assert_same_tables(left: dict, right: dict) -> None:
    for name in ("usage", "org_totals", "coverage", "members"):
        pd.testing.assert_frame_equal(left[name], right[name], obj=name)


def source_args(emulator, org) -> list[str]:
    return ["--portal", emulator.url, "--username", org.admin_username, "--ca-bundle", emulator.ca_bundle]


def sync_command(emulator, org, directory: Path, start: dt.date, *extra: str) -> list[str]:
    return [
        *CLI,
        "sync",
        *source_args(emulator, org),
        "--archive",
        str(directory),
        "--start",
        start.isoformat(),
        *extra,
    ]


def child_env(org) -> dict[str, str]:
    return {**os.environ, "CREDITLENS_PASSWORD": org.passwords[org.admin_username], "PYTHONUNBUFFERED": "1"}
