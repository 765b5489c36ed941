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
from enum import StrEnum

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


def load_deployment_config(
    secrets_section: Mapping | None = None, environ: Mapping[str, str] | None = None, oidc_configured: bool = False
) -> DeploymentConfig:
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
                "The server-side connection needs portal_url, username and password together; one of them is missing."
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


# -- access decisions (the gate's widgets are in creditlens.ui.gate) ------------------------------
#: The connection radio's value for the shared org (the label shows the org's name once connected).
SHARED = "Shared organization"
OWN_ACCOUNT_LABEL = "Sign in with my own account"
DOCS = "docs/deployment.md"
RETRY_AFTER_S = 30  # a failed shared sign-in is retried at most this often (protects the account from lockout)


class Access(StrEnum):
    """Where one visitor stands with the shared org."""

    NO_SERVER = "no_server"  # no server-side connection configured: the app as it always was
    GRANTED = "granted"  # passed the gate
    OPEN = "open"  # no gate, explicitly allowed (allow_open)
    SIGN_IN = "sign_in"  # OIDC: not signed in yet
    REFUSED = "refused"  # OIDC: signed in, not on the allow-list
    CODE = "code"  # access code: not entered yet
    LOCKED = "locked"  # access code: too many wrong codes in this session
    UNCONFIGURED = "unconfigured"  # a server connection but no gate: not served

    @property
    def allowed(self) -> bool:
        return self in (Access.GRANTED, Access.OPEN)


# -- pure decisions ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Setup:
    """The deployment configuration, or why it could not be read (the message names no secret)."""

    config: DeploymentConfig
    error: str | None = None

    @property
    def deployed(self) -> bool:
        """A team deployment: a shared connection, or settings for one that are broken."""
        return self.config.server is not None or self.error is not None


def load_setup(secrets_section: Mapping | None, environ: Mapping[str, str], oidc_configured: bool) -> Setup:
    """The config, failing closed: broken settings serve no shared org and no own-account sign-in."""
    try:
        return Setup(load_deployment_config(secrets_section, environ, oidc_configured=oidc_configured))
    except DeploymentConfigError as exc:
        return Setup(DeploymentConfig(server=None, allow_user_login=False), str(exc))


def decide(config: DeploymentConfig, user: Mapping | None, attempts: AccessAttempts | None) -> Access:
    """May this visitor see the shared org? ``user`` is ``st.user``; ``attempts`` this session's code tries.

    When both gates are configured, both must be passed (sign-in first, then the code).
    """
    if config.server is None:
        return Access.NO_SERVER
    if not config.gated:
        return Access.OPEN if config.allow_open else Access.UNCONFIGURED
    if config.uses_oidc:
        user = user or {}
        if not user.get("is_logged_in"):
            return Access.SIGN_IN
        if not email_allowed(_text(user.get("email")), config.allowed_emails, config.allowed_domains):
            return Access.REFUSED
    if config.uses_access_code and (attempts is None or not attempts.granted):
        return Access.LOCKED if attempts is not None and attempts.locked else Access.CODE
    return Access.GRANTED


def connection_modes(setup: Setup, demo: str, own_account: str) -> tuple[str, ...]:
    """The connection radio's options: unchanged (demo, own account) when there is no deployment."""
    config = setup.config
    modes: list[str] = []
    if config.server is not None:
        modes.append(SHARED)
    modes.append(demo)
    if config.allow_user_login:
        modes.append(own_account)
    return tuple(modes)


def mode_label(mode: str, setup: Setup, own_account: str, org_name: str | None = None) -> str:
    """How the radio shows a mode: the shared org by name once known; "my own account" in a deployment."""
    if mode == SHARED:
        return f"{org_name} (shared)" if org_name else SHARED
    if mode == own_account and setup.deployed:
        return OWN_ACCOUNT_LABEL
    return mode


def code_notice(attempts: AccessAttempts, blank: bool = False) -> str | None:
    """What to say after a try at the access code (never why beyond "not right")."""
    if attempts.granted:
        return None
    if attempts.locked:
        return locked_message(attempts)
    if blank:
        return "Enter the access code."
    if attempts.failures:
        left = attempts.remaining
        return f"That access code is not right. {left} {'try' if left == 1 else 'tries'} left."
    return None


def locked_message(attempts: AccessAttempts) -> str:
    return (
        f"Locked: {attempts.failures} wrong access codes in this session, so no more tries are accepted. "
        "Ask the person who shared this link for the code."
    )


def setup_hint(config: DeploymentConfig) -> str:
    """For an ungated server connection: how to configure a gate (markdown; names settings, never values)."""
    lines = [
        "This app has a shared organization connection but **no access gate**, so its data is not served. "
        "The person who runs it can add one of these to `.streamlit/secrets.toml` (section `[creditlens]`) "
        "or to the environment:",
        "",
        "- **a shared access code**: run `creditlens hash-access-code` and set `access_code_hash` "
        "(`CREDITLENS_ACCESS_CODE_HASH`);",
        "- **single sign-on**: an `[auth]` section for `st.login` and `allowed_emails` or `allowed_domains` "
        "(`CREDITLENS_ALLOWED_EMAILS`, `CREDITLENS_ALLOWED_DOMAINS`);",
        "- or `allow_open = true` (`CREDITLENS_ALLOW_OPEN`) to serve it to anyone who can reach this app, "
        "only on a network you trust.",
    ]
    if config.oidc_configured and not (config.allowed_emails or config.allowed_domains):
        lines += ["", "An `[auth]` section is present, but no `allowed_emails` or `allowed_domains` list."]
    elif (config.allowed_emails or config.allowed_domains) and not config.oidc_configured:
        lines += ["", "An allow-list is set, but there is no `[auth]` section to sign in with."]
    lines += ["", f"Details: `{DOCS}` in the Credit Lens repository."]
    return "\n".join(lines)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


# -- the shared connection after the portal dropped its token --------------------------------------
class Rebuild(StrEnum):
    """What a visitor's call does when the shared connection's token stayed invalid after signing in again."""

    REUSE = "reuse"  # another visitor rebuilt it after this call began: ask again through the new one
    REBUILD = "rebuild"  # this call rebuilds it (a new sign-in, a new arcgis client) for everyone
    WAIT = "wait"  # a rebuild was tried moments ago: say so rather than hammer the account


def rebuild_decision(
    failed_generation: int,
    generation: int,
    last_attempt: float | None,
    now: float,
    min_interval_s: float = RETRY_AFTER_S,
) -> Rebuild:
    """Rebuild once per broken connection, and at most every ``min_interval_s`` seconds.

    ``failed_generation`` is the connection's generation the failing call used, ``generation`` the
    current one; the caller holds the lock that makes the answer and the rebuild one step.
    """
    if failed_generation != generation:
        return Rebuild.REUSE
    if last_attempt is not None and now - last_attempt < min_interval_s:
        return Rebuild.WAIT
    return Rebuild.REBUILD
