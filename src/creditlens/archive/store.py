"""One organization's usage archive: a DuckDB file per org, or an in-memory database per identity.

Writers and readers never share a database file:

- a sync writes ``<dir>/<org id>.duckdb`` under the org's writer lock, one transaction per window;
- when it ends it *publishes* a copy under ``<dir>/.published/`` (checkpointed file, renamed into
  place), and every reader opens the newest published copy read-only.

DuckDB lets one process write a file or several read it, never both at once, so this is what lets
app replicas keep reading while a scheduled ``creditlens sync`` writes. An in-memory archive
lives in one process, where readers use their own cursors and see only committed windows.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from creditlens.archive.errors import ArchiveError
from creditlens.archive.lock import MemoryWriterLock, file_lock_held, file_writer_lock
from creditlens.archive.schema import migrate
from creditlens.usage_parsing import KEY_COLUMNS
from creditlens.windows import UsageWindow

PUBLISHED_DIR = ".published"
#: The state name of a file archive with nothing published yet.
EMPTY_STATE = "empty"
#: Published copies kept besides the newest, for readers that opened one just before a publish.
KEEP_PUBLISHED = 1
#: DuckDB's own memory while a sync writes: its buffers, not our frames (those are bounded by windows).
WRITER_MEMORY_LIMIT = "64MB"
_ORG_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def check_org_id(org_id: str) -> str:
    """The org id as a safe file name; an org id is letters and digits, never a path."""
    if not _ORG_ID.fullmatch(org_id or ""):
        raise ArchiveError(f"'{org_id!s:.70}' is not an organization id (letters, digits, '-' and '_' only).")
    return org_id


def archive_file(directory: Path, org_id: str) -> Path:
    return Path(directory) / f"{check_org_id(org_id)}.duckdb"


def archived_orgs(directory: Path) -> list[str]:
    """The org ids that have an archive file in ``directory``, sorted."""
    folder = Path(directory)
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.duckdb") if _ORG_ID.fullmatch(p.stem))


class Archive:
    """The archive of one org. ``directory=None`` keeps it in memory, for this process only."""

    def __init__(self, org_id: str, directory: Path | str | None = None) -> None:
        self.org_id = check_org_id(org_id)
        self.directory = Path(directory) if directory is not None else None
        self._memory: duckdb.DuckDBPyConnection | None = None
        self._memory_lock = MemoryWriterLock(org_id)
        self._empty: duckdb.DuckDBPyConnection | None = None
        self._guard = threading.Lock()
        self._memory_writes = 0
        if self.directory is None:
            self._memory = duckdb.connect(":memory:", config={"threads": 2})
            migrate(self._memory)

    # -- where it lives -------------------------------------------------------------------------------
    @property
    def in_memory(self) -> bool:
        return self.directory is None

    @property
    def path(self) -> Path | None:
        return None if self.directory is None else archive_file(self.directory, self.org_id)

    @property
    def lock_path(self) -> Path | None:
        return None if self.directory is None else self.directory / f"{self.org_id}.lock"

    def version(self) -> str:
        """Changes whenever readers may see different data: part of every derived cache's key."""
        if self.directory is None:
            return f"memory-{id(self)}-{self._memory_writes}"
        published = self._published()
        return published[-1].name if published else EMPTY_STATE

    def sync_running(self) -> bool:
        """Whether a sync of this org holds the writer lock right now (any process, for a file)."""
        if self.lock_path is None:
            return self._memory_lock.held
        return file_lock_held(self.lock_path)

    # -- writing -----------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def writing(self, timeout_s: float) -> Iterator[duckdb.DuckDBPyConnection]:
        """The write connection, held under the org's writer lock; published for readers afterwards."""
        if self._memory is not None:
            with self._memory_lock.hold(timeout_s):
                cursor = self._memory.cursor()
                try:
                    yield cursor
                finally:
                    cursor.close()
                    self._memory_writes += 1
            return
        assert self.directory is not None and self.lock_path is not None and self.path is not None
        self.directory.mkdir(parents=True, exist_ok=True)
        with file_writer_lock(self.lock_path, self.org_id, timeout_s):
            con = _connect_file(self.path)
            try:
                con.execute(f"SET memory_limit = '{WRITER_MEMORY_LIMIT}'")
                migrate(con)
                yield con
                con.execute("CHECKPOINT")
            finally:
                con.close()
                self._publish()

    def _publish(self) -> None:
        """Copy the closed archive file to a new published name; readers switch to it atomically."""
        assert self.path is not None and self.directory is not None
        folder = self.directory / PUBLISHED_DIR
        folder.mkdir(exist_ok=True)
        target = folder / f"{self.org_id}-{time.time_ns()}.duckdb"
        part = target.with_suffix(".part")
        shutil.copyfile(self.path, part)
        os.replace(part, target)
        for old in self._published()[: -(KEEP_PUBLISHED + 1)]:
            with contextlib.suppress(OSError):
                old.unlink()  # a reader that has it open keeps reading its inode

    def _published(self) -> list[Path]:
        assert self.directory is not None
        folder = self.directory / PUBLISHED_DIR
        found = [p for p in folder.glob(f"{self.org_id}-*.duckdb")] if folder.is_dir() else []
        return sorted(found, key=lambda p: int(p.stem.rsplit("-", 1)[1]))

    # -- reading -----------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def reading(self, state: str | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only view of everything committed (in memory) or published (a file); never waits.

        ``state`` (a name from :meth:`reading_state`) reads that same published copy again, so a
        range read in parts sees one archive state even when a sync publishes in between.
        """
        with self.reading_state(state) as (_, cursor):
            yield cursor

    @contextlib.contextmanager
    def reading_state(self, state: str | None = None) -> Iterator[tuple[str, duckdb.DuckDBPyConnection]]:
        """A read cursor and the name of the state it reads (the newest unless ``state`` names one).

        An in-memory archive has one live state: its readers see each window once it commits.
        """
        if self._memory is not None:
            cursor = self._memory.cursor()
            try:
                yield self.version(), cursor
            finally:
                cursor.close()
            return
        name, con = self._open_state(state) if state is not None else self._open_published()
        cursor = con.cursor()
        try:
            yield name, cursor
        finally:
            cursor.close()

    def _open_state(self, state: str) -> tuple[str, duckdb.DuckDBPyConnection]:
        """The published copy named ``state`` (still open in this process, or still on disk)."""
        if state == EMPTY_STATE:
            return state, self._empty_database()
        assert self.directory is not None
        try:
            return state, _READERS.get(self.directory / PUBLISHED_DIR / state)
        except duckdb.Error:
            raise ArchiveError(
                f"The archive of org {self.org_id} was synced again while this range was read, and the copy "
                "it was read from is gone. Load the range again."
            ) from None

    def _open_published(self) -> tuple[str, duckdb.DuckDBPyConnection]:
        """The newest published copy and its name, opened once per process and copy (opening costs ~0.1 s)."""
        for _ in range(3):  # a publish may remove the copy we picked between listing and opening
            published = self._published()
            if not published and self.path is not None and self.path.exists() and not self.sync_running():
                with contextlib.suppress(ArchiveError), self.writing(timeout_s=0):
                    pass  # a sync was killed before it published: publish what it committed
                published = self._published()
            if not published:
                return EMPTY_STATE, self._empty_database()
            try:
                return published[-1].name, _READERS.get(published[-1])
            except duckdb.IOException:
                continue
        raise ArchiveError(f"The archive of org {self.org_id} could not be opened for reading.")

    def _empty_database(self) -> duckdb.DuckDBPyConnection:
        with self._guard:
            if self._empty is None:
                self._empty = duckdb.connect(":memory:")
                migrate(self._empty)
            return self._empty


class _ReadConnections:
    """Read-only connections to published copies, shared by the process.

    A copy never changes once published, so its connection can be kept. Closing a connection closes
    its cursors, so the old ones are closed only several publishes later, when no read (each lasts
    a moment) can still be using them.
    """

    KEEP_PER_ORG = 4

    def __init__(self) -> None:
        self._open: dict[Path, duckdb.DuckDBPyConnection] = {}
        self._lock = threading.Lock()

    def get(self, path: Path) -> duckdb.DuckDBPyConnection:
        with self._lock:
            con = self._open.get(path)
            if con is None:
                con = self._open[path] = duckdb.connect(str(path), read_only=True)
                self._close_older(path)
            return con

    def _close_older(self, newest: Path) -> None:
        org = newest.stem.rsplit("-", 1)[0]
        same = sorted(
            (p for p in self._open if p.parent == newest.parent and p.stem.rsplit("-", 1)[0] == org),
            key=lambda p: int(p.stem.rsplit("-", 1)[1]),
        )
        for old in same[: -self.KEEP_PER_ORG]:
            if old == newest:  # an old copy reopened for a range read from it: keep it for that read
                continue
            with contextlib.suppress(duckdb.Error):
                self._open.pop(old).close()


_READERS = _ReadConnections()


def _connect_file(path: Path) -> duckdb.DuckDBPyConnection:
    try:
        return duckdb.connect(str(path), config={"threads": 2})
    except duckdb.Error as exc:
        raise ArchiveError(
            f"The archive file {path.name} could not be opened: {str(exc).splitlines()[0]:.200}"
        ) from None


# -- writes ---------------------------------------------------------------------------------------------
class SeriesIndex:
    """Maps (username, user_org_id, stype, etype) to the archive's dense series ids."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        rows = con.execute("SELECT id, username, user_org_id, stype, etype FROM series ORDER BY id").fetchall()
        self.ids = {tuple(r[1:]): r[0] for r in rows}

    def assign(self, frame: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
        """Series id of each row of a tidy frame, and the new series rows to insert."""
        if not len(frame):
            return np.zeros(0, dtype=np.int32), pd.DataFrame(columns=["id", *KEY_COLUMNS])
        groups = frame.groupby(list(KEY_COLUMNS), observed=True, sort=False).ngroup().to_numpy()
        _, first = np.unique(groups, return_index=True)
        keys = frame.iloc[first][list(KEY_COLUMNS)].astype(str).itertuples(index=False, name=None)
        group_ids = np.empty(len(first), dtype=np.int32)
        new = []
        for i, key in enumerate(keys):
            found = self.ids.get(key)
            if found is None:
                found = self.ids[key] = len(self.ids)
                new.append((found, *key))
            group_ids[i] = found
        return group_ids[groups], pd.DataFrame(new, columns=["id", *KEY_COLUMNS])


def window_days(window: UsageWindow) -> list[dt.date]:
    return [window.start + dt.timedelta(days=i) for i in range(window.days)]


def replace_window(
    con: duckdb.DuckDBPyConnection,
    series: SeriesIndex,
    window: UsageWindow,
    usage: pd.DataFrame,
    totals: pd.DataFrame,
    fetched_at: dt.datetime,
) -> None:
    """Replace the window's days in one transaction: usage rows, org totals and coverage together."""
    snapshot = dict(series.ids)
    ids, new_series = series.assign(usage)
    rows = pd.DataFrame(
        {
            "day": usage["day"].to_numpy(),
            "series": ids,
            "credits": usage["credits"].to_numpy(np.float64),
            "num": usage["num"].to_numpy(np.int64),
        }
    )
    per_stype = (
        totals.assign(stype=totals["stype"].astype(str))
        .groupby(["day", "stype"], as_index=False)[["credits", "num"]]
        .sum()
    )
    bounds = [window.start, window.end]
    try:
        con.execute("BEGIN TRANSACTION")
        con.execute("DELETE FROM usage WHERE day BETWEEN ? AND ?", bounds)
        con.execute("DELETE FROM org_totals WHERE day BETWEEN ? AND ?", bounds)
        con.execute("DELETE FROM coverage WHERE day BETWEEN ? AND ?", bounds)
        if len(new_series):
            con.register("new_series", new_series)
            con.execute("INSERT INTO series SELECT id, username, user_org_id, stype, etype FROM new_series")
            con.unregister("new_series")
        if len(rows):
            con.register("window_rows", rows)
            con.execute("INSERT INTO usage SELECT day::DATE, series, credits, num FROM window_rows")
            con.unregister("window_rows")
        if len(per_stype):
            con.register("window_totals", per_stype)
            con.execute("INSERT INTO org_totals SELECT day::DATE, stype, credits, num FROM window_totals")
            con.unregister("window_totals")
        con.executemany("INSERT INTO coverage VALUES (?, ?)", [(d, fetched_at) for d in window_days(window)])
        con.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            con.execute("ROLLBACK")
        series.ids = snapshot  # the new ids were not committed
        raise


_SQL_TYPES = {"b": "BOOLEAN", "M": "TIMESTAMP", "f": "DOUBLE", "i": "DOUBLE", "u": "DOUBLE"}


def write_snapshot(
    con: duckdb.DuckDBPyConnection, day: dt.date, members: pd.DataFrame, fetched_at: dt.datetime
) -> None:
    """Replace the member snapshot of ``day`` with ``members`` (one transaction)."""
    existing = {
        r[0]
        for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'members'"
        ).fetchall()
    }
    frame = members.copy()
    frame.insert(0, "snapshot_day", pd.Timestamp(day))
    columns = list(frame.columns)
    try:
        con.execute("BEGIN TRANSACTION")
        for name in columns:
            if name not in existing:  # a member field added to the app later is archived too
                kind = _SQL_TYPES.get(frame[name].dtype.kind, "VARCHAR")
                con.execute(f'ALTER TABLE members ADD COLUMN "{name}" {kind}')
        con.execute("DELETE FROM members WHERE snapshot_day = ?", [day])
        con.register("snapshot", frame)
        names = ", ".join(f'"{c}"' for c in columns)
        select = ", ".join("snapshot_day::DATE" if c == "snapshot_day" else f'"{c}"' for c in columns)
        con.execute(f"INSERT INTO members ({names}) SELECT {select} FROM snapshot")
        con.unregister("snapshot")
        set_meta(con, "members_fetched_at", fetched_at.isoformat())
        con.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            con.execute("ROLLBACK")
        raise


def set_meta(con: duckdb.DuckDBPyConnection, key: str, value: str) -> None:
    con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", [key, value])


def get_meta(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    return dict(con.execute("SELECT key, value FROM meta").fetchall())


def coverage_map(con: duckdb.DuckDBPyConnection) -> dict[dt.date, dt.datetime]:
    return dict(con.execute("SELECT day, fetched_at FROM coverage").fetchall())
