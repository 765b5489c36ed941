"""The project's typed errors. Every message is written for the person at the screen.

Messages never carry a password or token: :func:`redact` scrubs text that came from elsewhere.
"""

from __future__ import annotations

import re
from urllib.parse import quote, quote_plus


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
#: ``user:password@`` in a URL: the password part, whatever it is.
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]*):[^/\s@]*@")


#: What ends a token in a message: blanks, quotes, brackets and URL separators (not ``.`` or ``:``,
#: which are inside host names and addresses).
_DELIMITERS = r"\s'\"`=&?/,;()\[\]{}<>"


def redact(text: str, *secrets: str | None) -> str:
    """Remove token-like parameters, URL passwords and any of ``secrets`` (as whole tokens) from ``text``.

    Classify a message *before* redacting it: masking can change words. A secret is masked only
    where it stands alone (not inside a longer word, number or host name), so the password ``1``
    leaves ``org1.example.com:8443`` readable; its percent-encoded forms are masked the same way.
    """
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + ("=" if m.group(1)[-1:].isalpha() else "") + "***", text)
    text = _URL_USERINFO.sub(lambda m: m.group(1) + ":***@", text)
    for secret in secrets:
        if secret:
            text = mask_whole_token(text, secret)
    return text


def mask_whole_token(text: str, secret: str) -> str:
    """``text`` with every stand-alone ``secret`` (raw or percent-encoded) replaced by ``***``.

    Stand-alone: between delimiters (or the ends of the text), allowing sentence punctuation after it.
    """
    forms = sorted({secret, quote(secret, safe=""), quote_plus(secret, safe="")}, key=len, reverse=True)
    alternatives = "|".join(re.escape(form) for form in forms)
    before = rf"(?<![^{_DELIMITERS}])"
    after = rf"(?=[.:!]*(?:[{_DELIMITERS}]|$))"
    return re.sub(rf"{before}(?:{alternatives}){after}", "***", text)


def display_url(text: str) -> str:
    """``text`` as it may be shown: without any ``user:password@`` part."""
    text = str(text).strip()
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "", text
    authority, slash, tail = rest.partition("/")
    authority = authority.rpartition("@")[2]
    return f"{scheme}{sep}{authority}{slash}{tail}"


def looks_like_html(text: str) -> bool:
    """Whether ``text`` is a web page (a server that is not a portal, or a proxy's error page)."""
    head = text.lstrip()[:2000].lower()
    return head.startswith("<") and ("<html" in head or "<!doctype" in head or "<body" in head or "<head" in head)
