"""What was already sent, per alert and channel, so the same alert for the same window goes out once.

The state is a small JSON file next to the rules file (``alerts.toml`` → ``alerts.sent.json``). An
alert is marked per channel only after that channel accepted it, so a failed delivery is retried on
the next run while the channels that worked are not repeated. Runs that overlap (a slow cron job)
take a lock on the file, so two runs never send the same alert.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path

from creditlens.errors import CreditLensError

VERSION = 1
KEEP_DAYS = 400  # long enough for every window (at most a month) and a year of spike days


class SentStateError(CreditLensError):
    pass


def state_path_for(rules_path: Path) -> Path:
    """``alerts.toml`` → ``alerts.sent.json`` beside it."""
    return rules_path.with_name(rules_path.stem + ".sent.json")


class SentLog:
    """``{alert key: {channel: when sent (ISO UTC)}}`` for one org (``scope`` is its portal and org id)."""

    def __init__(self, path: Path, scope: str, entries: dict[str, dict[str, str]] | None = None) -> None:
        self.path = path
        self.scope = scope
        self.entries: dict[str, dict[str, str]] = entries or {}

    @classmethod
    def load(cls, path: Path, scope: str) -> SentLog:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls(path, scope)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            raise SentStateError(
                f"The sent-alerts file {path} is not readable JSON. Move it away to start afresh "
                "(alerts still inside their window would then be sent again)."
            ) from None
        sent = raw.get("sent") if isinstance(raw, dict) else None
        if not isinstance(sent, dict):
            raise SentStateError(f"The sent-alerts file {path} has an unexpected shape. Move it away to start afresh.")
        entries = {str(k): {str(c): str(t) for c, t in v.items()} for k, v in sent.items() if isinstance(v, dict)}
        return cls(path, scope, entries)

    def _key(self, alert_key: str) -> str:
        return f"{self.scope}|{alert_key}"

    def was_sent(self, alert_key: str, channel: str) -> bool:
        return channel in self.entries.get(self._key(alert_key), {})

    def mark_sent(self, alert_key: str, channel: str, when: dt.datetime | None = None) -> None:
        stamp = (when or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds")
        self.entries.setdefault(self._key(alert_key), {})[channel] = stamp

    def save(self, now: dt.datetime | None = None) -> None:
        """Write the file whole (a temporary file renamed into place), dropping entries older than a year."""
        cutoff = (now or dt.datetime.now(dt.UTC)) - dt.timedelta(days=KEEP_DAYS)
        kept = {k: v for k, v in self.entries.items() if max(v.values(), default="") >= cutoff.isoformat()}
        payload = json.dumps({"version": VERSION, "sent": kept}, indent=1, sort_keys=True)
        tmp = self.path.with_name(self.path.name + ".part")
        try:
            tmp.write_text(payload + "\n", encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError as exc:
            raise SentStateError(f"Could not write the sent-alerts file {self.path} ({exc.strerror}).") from None


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock beside ``path`` for the duration of one run."""
    lock_path = path.with_name(path.name + ".lock")
    try:
        handle = lock_path.open("a")
    except OSError as exc:
        raise SentStateError(f"Could not open {lock_path} ({exc.strerror}).") from None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SentStateError(f"Another `creditlens alerts check` holds {lock_path}; try again later.") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
