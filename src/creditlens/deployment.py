"""Team deployment: one server-side org connection behind an access gate.

Configuration comes from the ``[creditlens]`` section of ``.streamlit/secrets.toml`` or from
environment variables (``.env`` is read too); the secrets file wins where both set a value.

    [creditlens]
    portal_url = "https://myorg.maps.arcgis.com"
    username = "credit_reader"
    password = "…"                   # server-side only: never sent to a browser
    ca_bundle = ""                   # optional PEM path
    allow_user_login = false         # may visitors sign in with their own account instead?
    access_code_hash = "pbkdf2_sha256$…"   # `creditlens hash-access-code` makes this
    max_access_attempts = 5
    allowed_emails = ["ana@example.org"]   # for OIDC sign-in through st.login ([auth] section)
    allowed_domains = ["example.org"]
    allow_open = false               # serve org data with no gate at all (not recommended)

Environment equivalents: ``CREDITLENS_SERVER_PORTAL_URL``, ``CREDITLENS_SERVER_USERNAME``,
``CREDITLENS_SERVER_PASSWORD``, ``CREDITLENS_SERVER_CA_BUNDLE``, ``CREDITLENS_ALLOW_USER_LOGIN``,
``CREDITLENS_ACCESS_CODE_HASH``, ``CREDITLENS_MAX_ACCESS_ATTEMPTS``, ``CREDITLENS_ALLOWED_EMAILS`` and
``CREDITLENS_ALLOWED_DOMAINS`` (comma separated), ``CREDITLENS_ALLOW_OPEN``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

from creditlens.errors import CreditLensError

HASH_SCHEME = "pbkdf2_sha256"
HASH_ITERATIONS = 600_000
DEFAULT_MAX_ATTEMPTS = 5

_ENV = {
    "portal_url": "CREDITLENS_SERVER_PORTAL_URL",
    "username": "CREDITLENS_SERVER_USERNAME",
    "password": "CREDITLENS_SERVER_PASSWORD",
    "ca_bundle": "CREDITLENS_SERVER_CA_BUNDLE",
    "allow_user_login": "CREDITLENS_ALLOW_USER_LOGIN",
    "access_code_hash": "CREDITLENS_ACCESS_CODE_HASH",
    "max_access_attempts": "CREDITLENS_MAX_ACCESS_ATTEMPTS",
    "allowed_emails": "CREDITLENS_ALLOWED_EMAILS",
    "allowed_domains": "CREDITLENS_ALLOWED_DOMAINS",
    "allow_open": "CREDITLENS_ALLOW_OPEN",
}


class DeploymentConfigError(CreditLensError):
    pass


@dataclass(frozen=True)
class ServerConnection:
    portal_url: str
    username: str
    password: str = field(repr=False)  # never printed, never sent to a browser
    ca_bundle: str | None = None


@dataclass(frozen=True)
class DeploymentConfig:
    server: ServerConnection | None = None
    allow_user_login: bool = True
    access_code_hash: str | None = field(default=None, repr=False)
    max_access_attempts: int = DEFAULT_MAX_ATTEMPTS
    allowed_emails: frozenset[str] = frozenset()
    allowed_domains: frozenset[str] = frozenset()
    oidc_configured: bool = False
    allow_open: bool = False

    @property
    def uses_oidc(self) -> bool:
        return self.oidc_configured and bool(self.allowed_emails or self.allowed_domains)

    @property
    def uses_access_code(self) -> bool:
        return bool(self.access_code_hash)

    @property
    def gated(self) -> bool:
        return self.uses_oidc or self.uses_access_code

    @property
    def serves_org_data(self) -> bool:
        """A server-side connection may be used only behind a gate, or when explicitly left open."""
        return self.server is not None and (self.gated or self.allow_open)


def _truthy(value: object) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in {"1", "true", "yes", "on"}


def _names(value: object) -> frozenset[str]:
    if value is None:
        return frozenset()
    items = value.split(",") if isinstance(value, str) else list(value)  # type: ignore[arg-type]
    return frozenset(str(v).strip().lower() for v in items if str(v).strip())


def load_deployment_config(secrets_section: Mapping | None = None, environ: Mapping[str, str] | None = None,
                           oidc_configured: bool = False) -> DeploymentConfig:
    """Merge the ``[creditlens]`` secrets section over the environment."""
    environ = os.environ if environ is None else environ
    section = dict(secrets_section or {})

    def get(key: str, default: object = None) -> object:
        if key in section and section[key] not in (None, ""):
            return section[key]
        return environ.get(_ENV[key], default) or default

    server = None
    url, user, password = get("portal_url"), get("username"), get("password")
    if url or user or password:
        if not (url and user and password):
            raise DeploymentConfigError(
                "The server-side connection needs portal_url, username and password together; "
                "one of them is missing."
            )
        server = ServerConnection(str(url), str(user), str(password), str(get("ca_bundle") or "") or None)
    try:
        attempts = int(get("max_access_attempts", DEFAULT_MAX_ATTEMPTS))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise DeploymentConfigError("max_access_attempts must be a whole number.") from None
    code_hash = get("access_code_hash")
    if code_hash and not is_access_code_hash(str(code_hash)):
        raise DeploymentConfigError("access_code_hash is not a hash made by `creditlens hash-access-code`.")
    return DeploymentConfig(
        server=server,
        allow_user_login=_truthy(get("allow_user_login", server is None)),
        access_code_hash=str(code_hash) if code_hash else None,
        max_access_attempts=max(1, attempts),
        allowed_emails=_names(get("allowed_emails")),
        allowed_domains=_names(get("allowed_domains")),
        oidc_configured=oidc_configured,
        allow_open=_truthy(get("allow_open", False)),
    )


# -- access code -----------------------------------------------------------------------------------
def hash_access_code(code: str, salt: bytes | None = None, iterations: int = HASH_ITERATIONS) -> str:
    """A salted PBKDF2-SHA256 hash of ``code``, safe to keep in secrets."""
    if not code:
        raise ValueError("the access code must not be empty")
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", code.encode(), salt, iterations)
    return "$".join([HASH_SCHEME, str(iterations), _b64(salt), _b64(digest)])


def is_access_code_hash(stored: str) -> bool:
    parts = stored.split("$")
    return len(parts) == 4 and parts[0] == HASH_SCHEME and parts[1].isdigit()


def verify_access_code(code: str, stored: str) -> bool:
    """Compare in constant time; a malformed hash never matches."""
    if not is_access_code_hash(stored):
        return False
    _, iterations, salt, expected = stored.split("$")
    try:
        digest = hashlib.pbkdf2_hmac("sha256", (code or "").encode(), _unb64(salt), int(iterations))
        return hmac.compare_digest(digest, _unb64(expected))
    except (ValueError, TypeError):
        return False


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class AccessAttempts:
    """Tries at the access code in one session; locked once ``limit`` wrong codes were entered."""

    limit: int = DEFAULT_MAX_ATTEMPTS
    failures: int = 0
    granted: bool = False

    @property
    def locked(self) -> bool:
        return not self.granted and self.failures >= self.limit

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.failures)

    def try_code(self, code: str, stored: str) -> bool:
        if self.granted:
            return True
        if self.locked:
            return False
        if verify_access_code(code, stored):
            self.granted = True
        else:
            self.failures += 1
        return self.granted


# -- OIDC allow-list -------------------------------------------------------------------------------
def email_allowed(email: str | None, allowed_emails: frozenset[str], allowed_domains: frozenset[str]) -> bool:
    """Exact address or domain match, case-insensitive. Never say which rule refused."""
    if not email or "@" not in email:
        return False
    address = email.strip().lower()
    domain = address.rsplit("@", 1)[1]
    return address in allowed_emails or domain in allowed_domains
