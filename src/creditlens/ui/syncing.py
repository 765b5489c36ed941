"""A fetch the page waits for: ``ensure`` in a worker thread, its progress bar and Cancel button,
and what each ensure found, remembered per (identity, generation, range) for the cache's lifetime.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

import streamlit as st

from creditlens import fetching
from creditlens.archive import ArchiveBusy, SyncReport, WindowEvent, ensure
from creditlens.ui.common import plain

#: How long a page waits for another session's sync of the same org before showing what is archived.
LOCK_WAIT_S = 120.0
#: Empty slots drawn under the progress bar while fetching, over the previous run's page.
COVER_SLOTS = 60
POLL_S = 0.2
REMEMBER_S = 900  # as long as the pages' caches
REMEMBERED = 256
SYNC_JOB = "cl_sync_job"  # the fetch this session is waiting for (so Cancel can reach it)


# -- a fetch the page waits for --------------------------------------------------------------------------------
_SYNC_LOCK = threading.Lock()
SYNCS: OrderedDict[tuple, tuple[float, SyncReport]] = OrderedDict()


def remember(key: tuple, report: SyncReport) -> None:
    with _SYNC_LOCK:
        SYNCS[key] = (time.monotonic(), report)
        SYNCS.move_to_end(key)
        while len(SYNCS) > REMEMBERED:
            SYNCS.popitem(last=False)


def recalled(key: tuple) -> SyncReport | None:
    with _SYNC_LOCK:
        found = SYNCS.get(key)
    if found is None or time.monotonic() - found[0] > REMEMBER_S:
        return None
    return found[1]


@dataclass
class SyncJob:
    """One ensure running in a worker thread while the page shows its progress."""

    key: tuple
    cancel: threading.Event = field(default_factory=threading.Event)
    done: int = 0
    total: int = 0
    report: SyncReport | None = None
    error: BaseException | None = None
    thread: threading.Thread | None = None

    def tick(self, event: WindowEvent) -> None:
        self.done, self.total = event.done, event.total

    def fraction(self) -> float:
        """Share of windows done, for the progress bar (which refuses anything outside 0..1)."""
        return min(1.0, self.done / self.total) if self.total > 0 else 0.0

    def label(self, text: str) -> str:
        if not self.total:
            return f"{text}: checking the archive"
        return f"{text}: {min(self.done, self.total)} of {self.total} windows"

    def finished(self, timeout_s: float = 0.0) -> bool:
        if self.thread is not None:
            self.thread.join(timeout_s)
        return self.thread is None or not self.thread.is_alive()


def cancel_loading() -> None:
    """The Cancel button's callback: stop this session's fetch; what loaded stays archived."""
    job = st.session_state.get(SYNC_JOB)
    if job is not None:
        job.cancel.set()


def sync_with_progress(archive, conn, key, start, end, text, refresh_today, members_age) -> SyncReport:
    """``ensure`` in a worker thread while the page shows its progress and a Cancel button."""
    job = SyncJob(key)

    def work() -> None:
        try:
            job.report = ensure(
                archive,
                conn,
                start,
                end,
                on_window=job.tick,
                control=fetching.FetchControl(cancel=job.cancel),
                lock_timeout_s=LOCK_WAIT_S,
                refresh_today_after=refresh_today,
                members_max_age=members_age,
            )
        except BaseException as exc:  # handed to the page, which shows it as one line
            job.error = exc

    job.thread = threading.Thread(target=work, name="creditlens-sync", daemon=True)
    st.session_state[SYNC_JOB] = job
    job.thread.start()
    bar = st.empty()
    cancel = st.empty()
    cancel.button("Cancel", key=f"cl_cancel_{start}_{end}", icon=":material/close:", on_click=cancel_loading)
    cover_previous_run()
    while not job.finished(timeout_s=POLL_S):
        bar.progress(job.fraction(), text=job.label(text))
    bar.empty()
    cancel.empty()
    if isinstance(job.error, ArchiveBusy):
        st.info(plain(f"{job.error} Showing what the archive holds."), icon=":material/hourglass_top:")
        return SyncReport(start, end)
    if job.error is not None:
        raise job.error
    assert job.report is not None
    return job.report


def cover_previous_run() -> None:
    """Empty slots over what the previous run drew below this point.

    Streamlit keeps showing a run's elements, faded, until the next run draws over them; while a
    new range loads, that would be the old range's numbers under the new range's caption.
    """
    for _ in range(COVER_SLOTS):
        st.empty()


def forget() -> None:
    """Forget what every ensure found (with the in-memory archives, for tests and a fresh start)."""
    with _SYNC_LOCK:
        SYNCS.clear()
