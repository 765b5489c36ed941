"""ArcGIS's error replies: the body the portal sends (with HTTP 200) when a request fails."""

from __future__ import annotations

from typing import Any


def error_payload(
    code: int, message: str, details: list[str] | None = None, message_code: str | None = None, **extra: Any
) -> dict:
    """``{"error": {"code", "messageCode"?, "message", "details"}}``; ``messageCode`` where the service sends one.

    ``extra`` adds fields inside ``error``, e.g. OAuth's ``error`` and ``error_description``.
    """
    error: dict = {"code": code}
    if message_code:
        error["messageCode"] = message_code
    error.update(message=message, details=details or [], **extra)
    return {"error": error}
