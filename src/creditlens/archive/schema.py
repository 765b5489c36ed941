"""The archive's tables, its schema version and the migrations between versions.

One database per organization, so no table carries an org id. Usage is stored against a
``series`` id (one per username, user org id, stype, etype): the key strings are kept once, the
usage table holds only integers, dates and numbers, and reading a year back builds categorical
columns from codes instead of millions of strings.
"""

from __future__ import annotations

import duckdb

#: The version this code writes. Older archives are migrated forward when opened for writing.
SCHEMA_VERSION = 2

_VERSION_1 = (
    "CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR)",
    """CREATE TABLE series (
        id INTEGER PRIMARY KEY, username VARCHAR NOT NULL, user_org_id VARCHAR NOT NULL,
        stype VARCHAR NOT NULL, etype VARCHAR NOT NULL)""",
    # Tidy daily usage: one row per (day, series) with any credits or operations.
    "CREATE TABLE usage (day DATE NOT NULL, series INTEGER NOT NULL, credits DOUBLE NOT NULL, num BIGINT NOT NULL)",
    # The org-wide query (grouped by stype only), for the add-up check.
    "CREATE TABLE org_totals (day DATE NOT NULL, stype VARCHAR NOT NULL, credits DOUBLE NOT NULL, num BIGINT NOT NULL)",
    # Which UTC days are archived, and when each was fetched (UTC, naive).
    "CREATE TABLE coverage (day DATE PRIMARY KEY, fetched_at TIMESTAMP NOT NULL)",
    """CREATE TABLE members (
        snapshot_day DATE NOT NULL, username VARCHAR NOT NULL, full_name VARCHAR, email VARCHAR, role VARCHAR,
        user_type VARCHAR, created TIMESTAMP, last_login TIMESTAMP, disabled BOOLEAN, assigned_credits DOUBLE,
        available_credits DOUBLE, storage_bytes DOUBLE, PRIMARY KEY (snapshot_day, username))""",
)

#: version -> statements that bring an archive of that version to the next one.
MIGRATIONS: dict[int, tuple[str, ...]] = {
    0: _VERSION_1,
    # 2: one row per sync, for "last synced" and the CLI summary after the fact.
    1: (
        """CREATE TABLE syncs (
            started_at TIMESTAMP NOT NULL, finished_at TIMESTAMP NOT NULL, days_added INTEGER NOT NULL,
            days_refreshed INTEGER NOT NULL, usage_requests INTEGER NOT NULL, failed_windows INTEGER NOT NULL)""",
    ),
}


def schema_version(con: duckdb.DuckDBPyConnection) -> int:
    """The archive's version; 0 for an empty database."""
    has_meta = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'meta' AND table_schema = 'main'"
    ).fetchone()[0]
    if not has_meta:
        return 0
    row = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else 1


def migrate(con: duckdb.DuckDBPyConnection, target: int = SCHEMA_VERSION) -> int:
    """Bring the archive to ``target``, one version per transaction; the version it started at."""
    start = version = schema_version(con)
    if version > SCHEMA_VERSION:
        from creditlens.archive.errors import ArchiveError

        raise ArchiveError(
            f"This archive was written by a newer Credit Lens (schema {version}, this one reads {SCHEMA_VERSION})."
        )
    while version < target:
        con.execute("BEGIN TRANSACTION")
        for statement in MIGRATIONS[version]:
            con.execute(statement)
        version += 1
        con.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", [str(version)])
        con.execute("COMMIT")
    return start
