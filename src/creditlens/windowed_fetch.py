"""Running usage windows a few at a time, within an overall deadline and until a cancel.

The first window is fetched alone: its size decides how many of the others may be in flight at
once (``DECODED_BUDGET_BYTES``), from ``max_workers`` for a small org down to one at a time for a
large one. A window still in flight at the deadline or a cancel is named as failed and its thread
left to end on its own; its result is dropped and, with a sink, never written.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

import pandas as pd

from creditlens.errors import CreditLensError, redact
from creditlens.windows import UsageWindow

log = logging.getLogger("creditlens.fetching")  # failures are the fetcher's to report

#: Decoded JSON per (row, bucket) of a ``vars=credits,num`` reply (lists and strings), measured.
DECODED_BYTES_PER_POINT = 400
#: Decoded replies allowed in memory at once; more windows wait rather than multiply the peak.
DECODED_BUDGET_BYTES = 300 * 2**20

ProgressCallback = Callable[[int, int], None]  # (windows done, windows total)


@dataclass(frozen=True)
class WindowFailure:
    window: UsageWindow
    message: str

    def describe(self) -> str:
        return f"{self.window.label()}: {self.message}"


#: The overall deadline of one fetch unless ``CREDITLENS_FETCH_DEADLINE_S`` says otherwise.
DEFAULT_DEADLINE_S = 300.0


def default_deadline_s(environ: dict[str, str] | None = None) -> float:
    """``CREDITLENS_FETCH_DEADLINE_S`` when it is a positive number, else :data:`DEFAULT_DEADLINE_S`."""
    text = (environ if environ is not None else os.environ).get("CREDITLENS_FETCH_DEADLINE_S", "")
    try:
        value = float(text)
    except ValueError:
        return DEFAULT_DEADLINE_S
    return value if value > 0 else DEFAULT_DEADLINE_S


@dataclass
class FetchControl:
    """How long a fetch may take overall, and an event that stops it early (the app's Cancel)."""

    deadline_s: float | None = None  # None: :func:`default_deadline_s`
    cancel: threading.Event | None = None

    def __post_init__(self) -> None:
        seconds = self.deadline_s if self.deadline_s is not None else default_deadline_s()
        self.deadline_s = seconds
        self._ends = time.monotonic() + seconds

    def remaining_s(self) -> float:
        return self._ends - time.monotonic()

    @property
    def cancelled(self) -> bool:
        return self.cancel is not None and self.cancel.is_set()

    def stop_reason(self) -> str | None:
        """Why windows not yet loaded are missing, or None while the fetch may go on."""
        if self.cancelled:
            return "Cancelled before this window had loaded."
        if self.remaining_s() <= 0:
            return f"Not loaded within the fetch deadline of {self.deadline_s:g} s."
        return None


class Stopped(Exception):
    """A window finished after the fetch was stopped: it is reported missing and not written."""


class SinkGate:
    """Closed once the fetch stops; a window holding it finishes writing before the gate closes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.closed = False
        self.written: set[UsageWindow] = set()

    def __enter__(self) -> SinkGate:
        self._lock.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self._lock.release()

    def close(self) -> None:
        with self._lock:
            self.closed = True


def run_windows(
    windows: list[UsageWindow],
    fetch: Callable[[UsageWindow], tuple[pd.DataFrame, int]],
    frames: dict[UsageWindow, pd.DataFrame],
    progress: ProgressCallback | None,
    max_workers: int,
    control: FetchControl,
    gate: SinkGate | None = None,
) -> list[WindowFailure]:
    """Fetch every window into ``frames``; the failures, sorted, each logged without secrets.

    The first window is fetched alone: its size decides how many of the others may be in flight
    at once. Each batch gets a pool of exactly that many threads, so a large org's windows are all
    decoded on one thread, whose freed memory the next window reuses.
    """
    failures: list[WindowFailure] = []
    if progress:
        progress(0, len(windows))
    points = _fetch_batch(windows[:1], fetch, 1, frames, failures, progress, len(windows), control, gate)
    limit = _windows_in_flight(points, max_workers)
    _fetch_batch(windows[1:], fetch, limit, frames, failures, progress, len(windows), control, gate)
    for failure in failures:
        # Server-side trace of what the page or the CLI told the person (issue 10, item 11).
        log.warning("usage window %s not loaded: %s", failure.window.label(), redact(failure.message))
    return sorted(failures, key=lambda f: f.window)


def _fetch_batch(
    windows: list[UsageWindow],
    fetch: Callable[[UsageWindow], tuple[pd.DataFrame, int]],
    workers: int,
    frames: dict[UsageWindow, pd.DataFrame],
    failures: list[WindowFailure],
    progress: ProgressCallback | None,
    total: int,
    control: FetchControl,
    gate: SinkGate | None,
) -> int | None:
    """Fetch ``windows`` with ``workers`` threads into ``frames``/``failures``; the first one's size.

    Waits no longer than the deadline and stops at a cancel: windows still in flight then are named
    as failed, and their threads are left to end on their own (their results are dropped).
    """
    if not windows:
        return None
    first_points = None
    pool = ThreadPoolExecutor(max_workers=max(1, min(workers, len(windows))))
    futures: dict[Future, UsageWindow] = {}
    for window in windows:
        futures[pool.submit(_unless_stopped, control, fetch, window)] = window
    pending = set(futures)
    try:
        while pending:
            reason = control.stop_reason()
            if reason is not None:
                if gate is not None:
                    gate.close()  # waits for a window being written; that one counts as loaded
                finished = {f for f in pending if f.done()}
                for future in pending - finished:
                    future.cancel()
                    window = futures[future]
                    if gate is not None and window in gate.written:
                        frames[window] = pd.DataFrame()
                    else:
                        failures.append(WindowFailure(window, reason))
                    _tick(progress, frames, failures, total)
                pending = set()
            else:
                timeout = min(0.25, max(0.01, control.remaining_s()))
                finished, pending = wait(pending, timeout=timeout, return_when=FIRST_COMPLETED)
            for future in finished:
                window = futures[future]
                try:
                    frames[window], points = future.result()
                    if window is windows[0]:
                        first_points = points
                except Stopped:
                    failures.append(WindowFailure(window, control.stop_reason() or "Stopped."))
                except CreditLensError as exc:
                    failures.append(WindowFailure(window, str(exc)))
                _tick(progress, frames, failures, total)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return first_points


def _unless_stopped(control: FetchControl, fetch, window: UsageWindow):
    """A queued window does not start once the fetch has stopped."""
    if control.stop_reason() is not None:
        raise Stopped()
    return fetch(window)


def _tick(progress: ProgressCallback | None, frames: dict, failures: list, total: int) -> None:
    if progress:
        progress(len(frames) + len(failures), total)


def _windows_in_flight(points: int | None, max_workers: int) -> int:
    """How many windows may be fetched at once, given the first reply's (row, bucket) count."""
    if points is None:  # the first window failed: no size to go by
        return max(1, max_workers)
    fit = DECODED_BUDGET_BYTES // max(1, points * DECODED_BYTES_PER_POINT)
    return max(1, min(max_workers, fit))
