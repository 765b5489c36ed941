"""The wire format of the emulator: replies, JSON bodies, form and multipart parameters, paths."""

from __future__ import annotations

import datetime as dt
import email.parser
import email.policy
import json
import re
from dataclasses import dataclass, field
from typing import Any

JSON_TYPE = "application/json; charset=utf-8"
HTML_TYPE = "text/html; charset=utf-8"
REASONS = {
    200: "OK",
    204: "No Content",
    302: "Found",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


@dataclass
class Reply:
    """One HTTP reply: status, body, content type and extra headers."""

    status: int
    body: bytes
    content_type: str = JSON_TYPE
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, payload: Any, status: int = 200, *, pretty: bool = False, **headers: str) -> Reply:
        return cls(status, json_bytes(payload, pretty=pretty), JSON_TYPE, dict(headers))

    @classmethod
    def html(cls, text: str, status: int = 200) -> Reply:
        return cls(status, text.encode("utf-8"), HTML_TYPE)

    @classmethod
    def redirect(cls, location: str) -> Reply:
        return cls(302, b"", HTML_TYPE, {"Location": location})


def json_bytes(payload: Any, *, pretty: bool = False) -> bytes:
    if pretty:
        text = json.dumps(payload, indent=2, ensure_ascii=False, default=_json_default)
    else:
        text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False, default=_json_default)
    return text.encode("utf-8")


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def parse_multipart(body: bytes, content_type: str) -> dict[str, str]:
    """The text fields of a ``multipart/form-data`` body (uploaded files are ignored)."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    fields: dict[str, str] = {}
    if not message.is_multipart():
        return fields
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name or part.get_filename():
            continue
        payload = part.get_payload(decode=True) or b""
        fields[str(name)] = payload.decode(part.get_content_charset() or "utf-8", "replace")
    return fields


def rel_path(path: str) -> str:
    """Path relative to the sharing API: ``/sharing/rest/portals/self`` -> ``portals/self``."""
    path = re.sub(r"/{2,}", "/", path).strip("/")
    for prefix in ("sharing/rest/", "sharing/"):
        if path.lower().startswith(prefix):
            return path[len(prefix) :]
    return "" if path.lower() in ("sharing/rest", "sharing") else path


def join_url(base: str, separator: str, tail: str) -> str:
    """``base`` + ``?query`` (or ``&query`` when it has one) or ``#fragment``."""
    if separator == "?" and "?" in base:
        separator = "&"
    return f"{base}{separator}{tail}"


def int_or_none(value: Any) -> int | None:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None
