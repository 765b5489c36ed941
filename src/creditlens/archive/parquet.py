"""Export an archive as Parquet, Hive-partitioned by month, for DuckDB, Spark, Trino or a warehouse.

Layout (one folder per dataset, then one per org, then one per month)::

    <out>/usage/org_id=<id>/month=2026-01/data_0.parquet       day, username, user_org_id, stype, etype, credits, num
    <out>/org_totals/org_id=<id>/month=2026-01/data_0.parquet  day, stype, credits, num
    <out>/members/org_id=<id>/month=2026-01/data_0.parquet     snapshot_day and the member fields
    <out>/coverage/org_id=<id>/data_0.parquet                  day, fetched_at

An org's folders are replaced whole on each export, so an export never mixes two archive states.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from creditlens.archive.store import Archive

_DATASETS = {
    "usage": (
        "SELECT u.day, s.username, s.user_org_id, s.stype, s.etype, u.credits, u.num, "
        "strftime(u.day, '%Y-%m') AS month FROM usage u JOIN series s ON s.id = u.series "
        "ORDER BY u.day, s.username, s.user_org_id, s.stype, s.etype",
        True,
    ),
    "org_totals": ("SELECT *, strftime(day, '%Y-%m') AS month FROM org_totals ORDER BY day, stype", True),
    "members": (
        "SELECT *, strftime(snapshot_day, '%Y-%m') AS month FROM members ORDER BY snapshot_day, username",
        True,
    ),
    "coverage": ("SELECT * FROM coverage ORDER BY day", False),
}


def export_parquet(archive: Archive, out: Path) -> dict[str, int]:
    """Write the archive's published state under ``out``; rows written per dataset."""
    counts = {}
    with archive.reading() as con:
        for name, (query, by_month) in _DATASETS.items():
            target = Path(out) / name / f"org_id={archive.org_id}"
            staging = target.with_name(target.name + ".part")
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir(parents=True)
            counts[name] = con.execute(f"SELECT count(*) FROM ({query})").fetchone()[0]
            if by_month:
                con.execute(f"COPY ({query}) TO '{_quoted(staging)}' (FORMAT parquet, PARTITION_BY (month))")
            else:
                con.execute(f"COPY ({query}) TO '{_quoted(staging / 'data_0.parquet')}' (FORMAT parquet)")
            shutil.rmtree(target, ignore_errors=True)
            staging.rename(target)
    return counts


def _quoted(path: Path) -> str:
    return str(path).replace("'", "''")
