"""Sending alerts: email over SMTP with STARTTLS, and a webhook JSON POST that Slack and Teams accept.

Settings come from the ``[creditlens]`` section of ``.streamlit/secrets.toml`` or the environment
(the secrets file wins where both set a value):

| secrets key | environment variable | what |
|---|---|---|
| ``smtp_host`` | ``CREDITLENS_SMTP_HOST`` | the mail server; email is off without it |
| ``smtp_port`` | ``CREDITLENS_SMTP_PORT`` | default 587 (submission with STARTTLS) |
| ``smtp_username`` | ``CREDITLENS_SMTP_USERNAME`` | optional: sign in to the server |
| ``smtp_password`` | ``CREDITLENS_SMTP_PASSWORD`` | with ``smtp_username`` |
| ``smtp_ca_bundle`` | ``CREDITLENS_SMTP_CA_BUNDLE`` | optional PEM of CAs to trust (a private relay) |
| ``alert_email_from`` | ``CREDITLENS_ALERT_EMAIL_FROM`` | the sender address |
| ``alert_email_to`` | ``CREDITLENS_ALERT_EMAIL_TO`` | recipients (comma separated in the environment) |
| ``alert_webhook_url`` | ``CREDITLENS_ALERT_WEBHOOK_URL`` | a Slack or Teams incoming webhook URL |
| ``alert_webhook_format`` | ``CREDITLENS_ALERT_WEBHOOK_FORMAT`` | ``auto`` (default), ``text`` or ``teams-workflow`` |

The ``text`` body, ``{"text": ...}``, is what Slack incoming webhooks and Teams' Incoming Webhook
connectors take. Teams' newer Workflows webhooks ("When a Teams webhook request is received") want
an Adaptive Card message instead; ``auto`` sends that to Power Automate hosts (``*.logic.azure.com``,
``*.powerplatform.com``) and ``text`` everywhere else.

Mail is never sent unencrypted: a server that does not offer STARTTLS is a failed delivery. The
webhook URL holds its own secret, so messages name only its host.
"""

from __future__ import annotations

import json
import os
import re
import smtplib
import ssl
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from urllib.parse import urlsplit

from creditlens.errors import CreditLensError, redact
from creditlens.watch.evaluate import Alert

EMAIL, WEBHOOK = "email", "webhook"
DEFAULT_SMTP_PORT = 587
TIMEOUT_S = 30
MAX_CHAT_ALERTS = 50  # a chat message beyond this is cut, saying how many more there are

_ENV = {
    "smtp_host": "CREDITLENS_SMTP_HOST",
    "smtp_port": "CREDITLENS_SMTP_PORT",
    "smtp_username": "CREDITLENS_SMTP_USERNAME",
    "smtp_password": "CREDITLENS_SMTP_PASSWORD",
    "smtp_ca_bundle": "CREDITLENS_SMTP_CA_BUNDLE",
    "alert_email_from": "CREDITLENS_ALERT_EMAIL_FROM",
    "alert_email_to": "CREDITLENS_ALERT_EMAIL_TO",
    "alert_webhook_url": "CREDITLENS_ALERT_WEBHOOK_URL",
    "alert_webhook_format": "CREDITLENS_ALERT_WEBHOOK_FORMAT",
}
TEXT, TEAMS_WORKFLOW, AUTO = "text", "teams-workflow", "auto"
WEBHOOK_FORMATS = (AUTO, TEXT, TEAMS_WORKFLOW)
_WORKFLOW_HOSTS = (".logic.azure.com", ".powerplatform.com")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class DeliverySettingsError(CreditLensError):
    pass


class DeliveryError(CreditLensError):
    """A channel that did not take the alerts; the message names the channel, never a secret."""

    def __init__(self, channel: str, message: str) -> None:
        super().__init__(message)
        self.channel = channel


@dataclass(frozen=True)
class EmailSettings:
    host: str
    port: int
    sender: str
    recipients: tuple[str, ...]
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_bundle: str | None = None

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class WebhookSettings:
    url: str = field(repr=False)  # its path is the secret
    format: str = AUTO

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or "?"

    @property
    def body_format(self) -> str:
        """``text`` or ``teams-workflow``: the one ``auto`` stands for at this URL's host."""
        if self.format != AUTO:
            return self.format
        return TEAMS_WORKFLOW if self.host.lower().endswith(_WORKFLOW_HOSTS) else TEXT


@dataclass(frozen=True)
class DeliverySettings:
    email: EmailSettings | None = None
    webhook: WebhookSettings | None = None

    @property
    def channels(self) -> list[str]:
        return [name for name, on in ((EMAIL, self.email), (WEBHOOK, self.webhook)) if on is not None]


def load_delivery_settings(
    secrets_section: Mapping | None = None, environ: Mapping[str, str] | None = None
) -> DeliverySettings:
    """Email and webhook settings; a half-configured channel raises :class:`DeliverySettingsError`."""
    environ = os.environ if environ is None else environ
    section = dict(secrets_section or {})

    def get(key: str) -> object:
        if section.get(key) not in (None, ""):
            return section[key]
        return environ.get(_ENV[key]) or None

    return DeliverySettings(_email_settings(get), _webhook_settings(get))


def _email_settings(get) -> EmailSettings | None:
    host = get("smtp_host")
    if host is None:
        return None
    host = str(host).strip()
    port_text = get("smtp_port") or DEFAULT_SMTP_PORT
    try:
        port = int(str(port_text).strip())
        if not 0 < port < 65536:
            raise ValueError
    except ValueError:
        raise DeliverySettingsError(
            f"smtp_port ({_ENV['smtp_port']}) must be a port number, not '{port_text}'."
        ) from None
    sender = str(get("alert_email_from") or "").strip()
    recipients = _addresses(get("alert_email_to"))
    if not sender:
        raise DeliverySettingsError(f"Email needs a sender: set alert_email_from ({_ENV['alert_email_from']}).")
    if not recipients:
        raise DeliverySettingsError(f"Email needs recipients: set alert_email_to ({_ENV['alert_email_to']}).")
    for address in (sender, *recipients):
        if "@" not in address or _CONTROL.search(address) or " " in address:
            raise DeliverySettingsError(f"'{_CONTROL.sub('', address)[:80]}' is not an email address.")
    username = str(get("smtp_username") or "").strip() or None
    password = get("smtp_password")
    if username and not password:
        raise DeliverySettingsError(f"smtp_username is set without smtp_password ({_ENV['smtp_password']}).")
    ca_bundle = str(get("smtp_ca_bundle") or "").strip() or None
    return EmailSettings(host, port, sender, recipients, username, str(password) if password else None, ca_bundle)


def _addresses(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else list(value)  # type: ignore[arg-type]
    return tuple(str(v).strip() for v in items if str(v).strip())


def _webhook_settings(get) -> WebhookSettings | None:
    url = get("alert_webhook_url")
    if url is None:
        return None
    url = str(url).strip()
    parts = urlsplit(url)
    loopback = parts.hostname in ("127.0.0.1", "localhost", "::1")
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        raise DeliverySettingsError(
            "alert_webhook_url must be an https:// URL (plain http only to this machine, for testing)."
        )
    if not parts.hostname:
        raise DeliverySettingsError("alert_webhook_url is not a URL.")
    body = str(get("alert_webhook_format") or AUTO).strip().lower()
    if body not in WEBHOOK_FORMATS:
        raise DeliverySettingsError(f"alert_webhook_format is '{body[:40]}'; use auto, text or teams-workflow.")
    return WebhookSettings(url, body)


# -- messages ----------------------------------------------------------------------------------------
def plain(text: str) -> str:
    """Text from the portal or a file with control characters (newlines included) removed."""
    return _CONTROL.sub(" ", str(text)).strip()


def email_message(alerts: Sequence[Alert], org_name: str, settings: EmailSettings) -> EmailMessage:
    """A plain-text email (no HTML, so nothing from the portal is ever rendered)."""
    message = EmailMessage()
    count = f"{len(alerts)} alert{'s' if len(alerts) != 1 else ''}"
    message["Subject"] = f"Credit Lens: {count} for {plain(org_name)[:120]}"
    message["From"] = settings.sender
    message["To"] = ", ".join(settings.recipients)
    lines = [f"Credit Lens found {count} for {plain(org_name)}. All days are UTC.", ""]
    lines += [f"- {plain(a.describe())}" for a in alerts]
    lines += ["", "Sent by `creditlens alerts check`; each alert is sent once for its window."]
    message.set_content("\n".join(lines))
    return message


def chat_text(alerts: Sequence[Alert], org_name: str) -> str:
    """The webhook message: every value from the portal in a code span, so chat renders none of it."""
    shown = list(alerts)[:MAX_CHAT_ALERTS]
    count = f"{len(alerts)} alert{'s' if len(alerts) != 1 else ''}"
    lines = [f"Credit Lens: {count} for {_code(org_name)} (UTC days)"]
    for a in shown:
        days = a.window_start.isoformat() if a.window_start == a.window_end else f"{a.window_start} – {a.window_end}"
        who = "the org" if a.scope == "org" else f"{a.scope} {_code(a.subject)}"
        lines.append(f"• {_code(a.rule)}: {who} {a.credits:,.2f} credits (threshold {a.threshold:,.2f}), {days}")
    if len(alerts) > len(shown):
        lines.append(f"… and {len(alerts) - len(shown)} more.")
    return "\n".join(lines)


def _code(text: str) -> str:
    """Inline code for Slack mrkdwn and Teams markdown; what both would still parse is replaced."""
    cleaned = plain(text)[:120].replace("`", "'").replace("<", "‹").replace(">", "›").replace("&", "+")
    return f"`{cleaned}`"


def webhook_payload(alerts: Sequence[Alert], org_name: str, body_format: str = TEXT) -> dict:
    """``{"text": ...}`` (Slack, Teams connectors), or an Adaptive Card message for Teams Workflows."""
    if body_format == TEAMS_WORKFLOW:
        return teams_workflow_message(alerts, org_name)
    return {"text": chat_text(alerts, org_name)}


def teams_workflow_message(alerts: Sequence[Alert], org_name: str) -> dict:
    """An Adaptive Card whose lines are TextRuns, which Teams renders literally (no Markdown in a TextRun)."""
    lines = [plain(line) for line in chat_text(alerts, org_name).replace("`", "").splitlines()]

    def run(text: str, bold: bool = False) -> dict:
        inline = {"type": "TextRun", "text": text}
        return {"type": "RichTextBlock", "inlines": [{**inline, "weight": "Bolder"} if bold else inline]}

    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [run(lines[0], bold=True), *(run(line) for line in lines[1:])],
    }
    attachment = {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}
    return {"type": "message", "attachments": [attachment]}


# -- sending -----------------------------------------------------------------------------------------
def send_email(settings: EmailSettings, message: EmailMessage) -> None:
    """Send over SMTP, upgraded with STARTTLS (certificate checked) before any sign-in or content."""
    context = ssl.create_default_context(cafile=settings.ca_bundle) if settings.ca_bundle else None
    context = context or ssl.create_default_context()
    try:
        with smtplib.SMTP(settings.host, settings.port, timeout=TIMEOUT_S) as smtp:
            smtp.ehlo()
            if not smtp.has_extn("starttls"):
                raise DeliveryError(
                    EMAIL,
                    f"email via {settings.where}: the server does not offer STARTTLS, and mail is never sent "
                    "unencrypted.",
                )
            smtp.starttls(context=context)
            smtp.ehlo()
            if settings.username:
                smtp.login(settings.username, settings.password or "")
            refused = smtp.send_message(message)
    except DeliveryError:
        raise
    except smtplib.SMTPAuthenticationError:
        message = f"email via {settings.where}: the server refused the SMTP username or password."
        raise DeliveryError(EMAIL, message) from None
    except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
        reason = redact(_smtp_reason(exc), settings.password)
        raise DeliveryError(EMAIL, f"email via {settings.where}: {reason}") from None
    if refused:
        raise DeliveryError(EMAIL, f"email via {settings.where}: refused for {', '.join(sorted(refused))}.")


def _smtp_reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return "its TLS certificate is not trusted (set smtp_ca_bundle for a private relay)."
    if isinstance(exc, smtplib.SMTPResponseException):
        text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        return f"the server answered {exc.smtp_code} {plain(text)[:200]}"
    if isinstance(exc, TimeoutError):
        return "the server did not answer in time."
    if isinstance(exc, ConnectionRefusedError):
        return "the connection was refused."
    return plain(str(exc))[:200] or type(exc).__name__


def post_webhook(settings: WebhookSettings, payload: dict) -> None:
    """POST the JSON; any 2xx is delivered (Slack answers "ok", Teams "1")."""
    body = json.dumps(payload).encode("utf-8")
    request = urllib.request.Request(
        settings.url, data=body, method="POST", headers={"Content-Type": "application/json; charset=utf-8"}
    )
    where = f"webhook to {settings.host}"
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as reply:  # the scheme was checked when loaded
            status = reply.status
    except urllib.error.HTTPError as exc:
        raise DeliveryError(WEBHOOK, f"{where}: the receiver answered HTTP {exc.code}.") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DeliveryError(WEBHOOK, f"{where}: {redact(plain(str(reason)), settings.url)[:200]}") from None
    if not 200 <= status < 300:
        raise DeliveryError(WEBHOOK, f"{where}: the receiver answered HTTP {status}.")


def deliver(channel: str, settings: DeliverySettings, alerts: Sequence[Alert], org_name: str) -> None:
    """Send ``alerts`` as one message on ``channel``; raises :class:`DeliveryError` when it did not go."""
    if channel == EMAIL and settings.email is not None:
        send_email(settings.email, email_message(alerts, org_name, settings.email))
    elif channel == WEBHOOK and settings.webhook is not None:
        post_webhook(settings.webhook, webhook_payload(alerts, org_name, settings.webhook.body_format))
    else:
        raise DeliveryError(channel, f"{channel}: not configured.")
