"""The emulator's record of the requests it answered, with every secret left out."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Mapping

#: Parameters never recorded (and never logged): credentials, tokens, OAuth secrets.
SECRET_PARAMS = frozenset(
    {
        "password",
        "token",
        "access_token",
        "refresh_token",
        "oauth_state",
        "code",
        "client_secret",
        "code_verifier",
        "auth_token",
        "mfa_code",
        "newpassword",
        "newpassword2",
        "securityanswer",
    }
)


def without_secrets(params: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in params.items() if k.lower() not in SECRET_PARAMS}


class RequestLog:
    """The last ``max_records`` requests, oldest first (thread-safe)."""

    def __init__(self, max_records: int = 10_000) -> None:
        self._lock = threading.Lock()
        self._records: deque[dict] = deque(maxlen=max_records)

    def record(self, entry: dict) -> None:
        entry = dict(entry, params=without_secrets(entry.get("params", {})))
        with self._lock:
            self._records.append(entry)

    def entries(self) -> list[dict]:
        with self._lock:
            return [dict(r, params=dict(r["params"])) for r in self._records]

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
