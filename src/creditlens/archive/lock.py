"""One writer per org: a file lock beside the archive file, or a process lock for an in-memory one.

Readers never take it: they read the published copy (file archives) or a snapshot through their
own cursor (in-memory ones), so a sync never blocks a page.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from creditlens.archive.errors import ArchiveBusy

POLL_S = 0.1


def _busy(org_id: str, holder: str, waited_s: float) -> ArchiveBusy:
    since = f" ({holder})" if holder else ""
    return ArchiveBusy(
        f"Another sync of org {org_id} is running{since}; waited {waited_s:g} s. Try again when it has finished."
    )


@contextlib.contextmanager
def file_writer_lock(lock_path: Path, org_id: str, timeout_s: float) -> Iterator[None]:
    """Hold ``lock_path`` exclusively, waiting at most ``timeout_s``; :class:`ArchiveBusy` after that.

    ``flock`` is released by the kernel when the holder dies, so a killed sync never leaves a
    stale lock behind.
    """
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + max(0.0, timeout_s)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise _busy(org_id, _read_holder(fd), timeout_s) from None
                time.sleep(POLL_S)
        started = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}, since {started}".encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _read_holder(fd: int) -> str:
    try:
        return os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
    except OSError:
        return ""


def file_lock_held(lock_path: Path) -> bool:
    """Whether some process holds ``lock_path`` now (for refusing Sync now without waiting)."""
    if not lock_path.exists():
        return False
    fd = os.open(lock_path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


class MemoryWriterLock:
    """The same contract for an in-memory archive, which only its own process can reach."""

    def __init__(self, org_id: str) -> None:
        self._org_id = org_id
        self._lock = threading.Lock()
        self._since = ""

    @property
    def held(self) -> bool:
        return self._lock.locked()

    @contextlib.contextmanager
    def hold(self, timeout_s: float) -> Iterator[None]:
        if not self._lock.acquire(timeout=max(0.0, timeout_s)):
            raise _busy(self._org_id, self._since, timeout_s)
        self._since = "since " + dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        try:
            yield
        finally:
            self._since = ""
            self._lock.release()
