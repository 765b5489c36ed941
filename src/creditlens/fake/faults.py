"""Fault injection: armed faults that break matching requests on purpose, and the replies they give."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from creditlens.fake.errors import error_payload
from creditlens.fake.pages import error_page
from creditlens.fake.wire import Reply, rel_path

FAULT_KINDS = ("429", "500", "502", "503", "498", "malformed_json", "html_error", "slow", "timeout")
#: Faults that delay the request and then answer it normally.
DELAYING = ("slow", "timeout")


@dataclass(eq=False)
class Fault:
    """One armed fault. ``times`` is how many more requests it hits (``None``: every matching one)."""

    kind: str
    path: str
    times: int | None
    when: Callable[[Mapping[str, str]], bool] | None
    retry_after: int
    delay_s: float
    status: int | None
    id: str = field(default_factory=lambda: secrets.token_hex(4))
    hits: int = 0
    _owner: FaultInjector | None = field(default=None, repr=False)

    @property
    def active(self) -> bool:
        return self.times is None or self.times > 0

    def remove(self) -> None:
        if self._owner is not None:
            self._owner.remove(self)

    def matches(self, path: str, params: Mapping[str, str]) -> bool:
        pattern = rel_path(self.path or "")
        if pattern not in ("", "*") and path != pattern and not path.endswith("/" + pattern):
            return False
        if self.when is None:
            return True
        try:
            return bool(self.when(params))
        except Exception:
            return False

    def describe(self) -> dict:
        return {
            "id": self.id,
            "kind": self.kind,
            "path": self.path,
            "times": self.times,
            "hits": self.hits,
            "retry_after": self.retry_after,
            "delay_s": self.delay_s,
            "status": self.status,
            "conditional": self.when is not None,
        }

    def reply(self) -> Reply | None:
        """The reply this fault sends instead of the real one (``None``: answer normally, then twist)."""
        if self.kind == "429":
            return Reply.json(
                error_payload(429, "Too many requests. Please try again later."),
                status=429,
                **{"Retry-After": str(self.retry_after)},
            )
        if self.kind == "500":
            return Reply.json(error_payload(500, "An internal server error occurred."), status=500)
        if self.kind == "502":
            page = error_page(
                "502 Bad Gateway", "The proxy server received an invalid response from an upstream server."
            )
            return Reply.html(page, status=502)
        if self.kind == "503":
            reply = Reply.html(error_page("503 Service Unavailable", "The service is temporarily unavailable."), 503)
            reply.headers["Retry-After"] = str(self.retry_after)
            return reply
        if self.kind == "498":
            return Reply.json(error_payload(498, "Invalid token."))
        if self.kind == "html_error":
            page = error_page("Error", "Something went wrong. Please try again later.")
            return Reply.html(page, status=self.status or 200)
        return None

    @staticmethod
    def truncate(reply: Reply) -> Reply:
        """What ``malformed_json`` sends: the first half of the real body."""
        return Reply(200, reply.body[: max(1, len(reply.body) // 2)], reply.content_type)


class FaultInjector:
    """Thread-safe list of armed faults; the first active match wins and uses up one of its ``times``.

    ``path`` matches the request path relative to ``/sharing/rest/`` (or ``/sharing/``), either
    whole or as its last segments: ``"usage"`` hits ``portals/self/usage`` and
    ``portals/<orgId>/usage``; ``"*"`` or ``""`` hits everything except the control endpoint.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(
        self,
        kind: str,
        *,
        path: str = "usage",
        times: int | None = 1,
        when: Callable[[Mapping[str, str]], bool] | None = None,
        retry_after: int = 1,
        delay_s: float = 0.0,
        status: int | None = None,
    ) -> Fault:
        """Arm a fault. ``status`` only applies to ``html_error`` (200 by default, e.g. 502)."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {', '.join(FAULT_KINDS)}")
        if times is not None and int(times) < 1:
            raise ValueError("times must be a positive number, or None for always")
        fault = Fault(
            kind,
            str(path),
            None if times is None else int(times),
            when,
            int(retry_after),
            float(delay_s),
            None if status is None else int(status),
            _owner=self,
        )
        with self._lock:
            self._faults.append(fault)
        return fault

    def remove(self, fault: Fault | str) -> None:
        with self._lock:
            self._faults = [f for f in self._faults if f is not fault and f.id != fault]

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    @property
    def active(self) -> list[Fault]:
        with self._lock:
            return [f for f in self._faults if f.active]

    def take(self, path: str, params: Mapping[str, str]) -> Fault | None:
        """The fault to apply to this request, if any (consumes one use)."""
        with self._lock:
            for fault in self._faults:
                if fault.active and fault.matches(path, params):
                    fault.hits += 1
                    if fault.times is not None:
                        fault.times -= 1
                    self._faults = [f for f in self._faults if f.active]
                    return fault
        return None
