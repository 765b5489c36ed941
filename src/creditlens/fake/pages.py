"""The emulator's HTML pages: OAuth sign-in, the out-of-band code page, and plain error pages.

Every value placed in a page is escaped: usernames, messages and OAuth parameters come from the
request, and a sign-in page must never run what a link put in it.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any


def error_page(title: str, message: str) -> str:
    title, message = escape(title), escape(message)
    return (
        f"<!DOCTYPE html>\n<html><head><title>{title}</title></head>\n"
        f"<body><h1>{title}</h1><p>{message}</p></body></html>\n"
    )


def script_json(payload: dict) -> str:
    """One-line JSON safe inside a <script> element (``arcgis`` parses it with regular expressions)."""
    text = json.dumps(payload, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("};", "}\\u003b")


def signin_page(
    oauth_state: str | None,
    client_id: str | None = None,
    response_type: str | None = None,
    messages: list[str] | None = None,
    *,
    ask_code: bool = False,
) -> str:
    """The sign-in page. The ``oAuthInfo`` line must be the first line containing a ``{``.

    ``ask_code`` shows the multifactor step: a field for the authentication code.
    """
    info: dict[str, Any] = {"locale": "en-US", "style": "dark", "portalName": "ArcGIS Online"}
    if oauth_state:
        info["oauth_state"] = oauth_state
    if client_id is not None:
        info["client_id"] = client_id
        info["appTitle"] = "ArcGIS API for Python" if client_id == "pythonapi" else client_id
        info["response_type"] = response_type
    if messages:
        info["messages"] = messages
    form = ""
    if oauth_state:
        credentials = (
            '<label>Authentication code <input name="mfa_code" inputmode="numeric" autocomplete="one-time-code">'
            "</label>\n"
            if ask_code
            else '<label>Username <input name="username" autocomplete="username"></label>\n'
            '<label>Password <input name="password" type="password" autocomplete="current-password"></label>\n'
        )
        form = (
            '<form method="post" action="/sharing/oauth2/signin">\n'
            f'<input type="hidden" name="oauth_state" value="{escape(oauth_state)}">\n'
            f"{credentials}"
            f'<button type="submit">{"Verify" if ask_code else "Sign In"}</button>\n</form>\n'
        )
    errors = "".join(f'<p class="error">{escape(m)}</p>\n' for m in messages or [])
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Sign In</title></head>\n'
        "<body>\n<h1>Sign in to ArcGIS Online (Credit Lens emulator)</h1>\n"
        f"<script>\nvar oAuthInfo = {script_json(info)};\n</script>\n"
        f"{errors}{form}</body></html>\n"
    )


def approval_page(code: str) -> str:
    """What the out-of-band code flow lands on; ``arcgis`` reads the code from the title."""
    return (
        f"<!DOCTYPE html>\n<html><head><title>SUCCESS code={escape(code)}</title></head>\n"
        f"<body>\n<script>\nvar oAuthInfo = {script_json({'code': code})};\n</script>\n"
        "<p>Sign in complete. You may close this window.</p></body></html>\n"
    )


def resource_page(payload: dict) -> str:
    """A REST resource as HTML (what the portal sends without ``f=json``): the JSON, escaped, in a <pre>."""
    text = json.dumps(payload, indent=2, ensure_ascii=False, default=str)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>ArcGIS Portal Directory</title>'
        f"</head>\n<body>\n<h1>ArcGIS Portal Directory</h1>\n<pre>{escape(text)}</pre>\n</body></html>\n"
    )
