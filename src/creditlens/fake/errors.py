"""ArcGIS's error replies: the body the portal sends (with HTTP 200) when a request fails."""

from __future__ import annotations


def error_payload(code: int, message: str, details: list[str] | None = None, message_code: str | None = None) -> dict:
    """``{"error": {"code", "messageCode"?, "message", "details"}}``; ``messageCode`` where the service sends one."""
    error: dict = {"code": code}
    if message_code:
        error["messageCode"] = message_code
    error.update(message=message, details=details or [])
    return {"error": error}
