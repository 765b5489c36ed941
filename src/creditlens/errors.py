"""The project's typed errors. Every message is written for the person at the screen.

Messages never carry a password or token: :func:`redact` scrubs text that came from elsewhere.
"""

from __future__ import annotations

import re


class CreditLensError(Exception):
    """Base class: anything the app or CLI can show as a one-line message."""


class InvalidPortalURL(CreditLensError):
    pass


class PortalUnreachable(CreditLensError):
    pass


class LoginFailed(CreditLensError):
    pass


class NotArcGISOnline(CreditLensError):
    pass


class NotAuthorized(CreditLensError):
    pass


class InvalidDateRange(CreditLensError):
    pass


class PortalError(CreditLensError):
    """An error reply from the portal (``{"error": {"code": ..}}``) or a failed transport call."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code

    @property
    def is_token_expired(self) -> bool:
        return self.code in (498, 499)

    @property
    def is_permission(self) -> bool:
        return self.code == 403


class UsagePayloadError(CreditLensError):
    """The usage reply did not have the shape we can parse."""


_SECRET_PATTERNS = (
    re.compile(r"(?i)(token|access_token|password|oauth_state)=([^&\s'\"]+)"),
    re.compile(r"(?i)(bearer\s+)([A-Za-z0-9._\-~+/=]+)"),
    re.compile(r"(?i)('(?:token|password)':\s*')([^']+)"),
)


def redact(text: str, *secrets: str | None) -> str:
    """Remove token-like parameters and any of ``secrets`` from ``text``."""
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + ("=" if m.group(1)[-1:].isalpha() else "") + "***", text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text
