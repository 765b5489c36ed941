"""A faithful HTTPS emulator of the ArcGIS Online portal endpoints that the ``arcgis`` package calls.

This is the *HTTP* half of the moto split: :mod:`creditlens.fake.demo_org` is the model and
:mod:`creditlens.fake.portal_api` shapes the REST replies; this module adds TLS, sign-in, tokens, the
wire format and fault injection, so the real ``arcgis.gis.GIS`` can log in and page through a
:class:`~creditlens.fake.demo_org.DemoOrg` exactly as it would against ArcGIS Online::

    with PortalEmulator([build_demo_org(OrgSpec(members=30))]) as emu:
        gis = GIS(emu.url, "northwind_admin", "northwind_admin-demo-pw", ca_bundles=emu.ca_bundle)

or from a shell: ``python -m creditlens.fake.emulator --second-org`` (``creditlens emulator``).

How ``arcgis`` 2.4.4 logs in, as verified against this emulator (see
``shared/reference/arcgis-online-usage-api.md`` §5 for the basics):

- ``GIS(url, user, pw)`` turns ``url`` into ``<url>/sharing/rest/``. Before signing in it probes
  ``/sharing/info``, ``/sharing/rest/info``, ``/sharing/sharing/rest/info`` and
  ``/sharing/rest/services`` with a plain ``requests`` session that does *not* use ``ca_bundles``
  (the TLS handshake fails and the error is swallowed; only a ``WWW-Authenticate`` header would
  matter). It then GETs ``/sharing/rest/info`` anonymously and again with the new token. An info
  reply must not carry ``currentVersion`` or ``folders``: either makes ``arcgis`` treat the site
  as an ArcGIS Server and try a federated login.
- Default (OAuth implicit) flow: two GETs of ``oauth2/authorize`` (``response_type=token``), a POST
  to ``/sharing/oauth2/signin`` without following redirects, and the token from the ``302``
  fragment. The first line of the page containing ``{`` must be the ``oAuthInfo`` JSON.
- **Wrong password (OAuth)**: the sign-in page is re-rendered (HTTP 200) with
  ``"messages": ["Invalid username or password."]`` in ``oAuthInfo``, as ArcGIS Online does. The
  implicit flow then fails on the missing ``Location`` header, and ``arcgis`` falls back to the
  authorization-code flow (``response_type=code``, ``redirect_uri=urn:ietf:wg:oauth:2.0:oob``,
  POST ``signin`` with ``authorize=true``, then ``oauth2/token``), which reads the messages and
  raises ``ValueError("Invalid username or password.")``. ``GIS()`` surfaces it as
  ``Exception("A general error occurred: Invalid username or password.")``. The emulator serves
  the code flow (``<title>SUCCESS code=...</title>`` page and ``oauth2/token``) too.
- **Wrong password (``use_gen_token=True``)**: ``generateToken`` answers HTTP 200
  ``{"error": {"code": 400, "message": "Unable to generate token.", "details": ["Invalid username
  or password."]}}``; ``GIS()`` raises ``Exception("A general error occurred: {'error': ...}")``
  whose text contains both messages. As on ArcGIS Online, ``generateToken`` matches the username
  case-sensitively while the OAuth sign-in page does not.
- **Expired token (OAuth flow)**: ``arcgis`` does *not* surface the 498. Its auth handler sees
  "Invalid token" in the reply, remembers the URL path as "no token" and re-sends the request
  without the token, so the caller gets this emulator's answer to an anonymous call:
  ``Exception("Token Required.\\n(Error Code: 499)")``. The handler keeps its dead token until it
  believes it expired and never re-logs in by itself, and from then on every error reply on that
  path is re-sent anonymously: after a 498/499, build a new ``GIS``. With ``use_gen_token=True``
  the handler only looks for "Invalid Token" (capital T), so the 498 surfaces as
  ``Exception("Invalid token.\\n(Error Code: 498)")``.
- Anonymous calls: ``portals/self`` answers the public org properties without ``user`` (as ArcGIS
  Online does for visitors), so after a token expiry ``portals/self`` *succeeds* through the
  anonymous re-send; check for ``user``. Every other ``sharing/rest`` resource answers
  ``499 Token Required.`` without a token and ``498 Invalid token.`` with an unknown or expired one.
- Token lifetime: ``arcgis`` renews the OAuth token when less than 5 minutes remain, so a
  ``token_ttl_s`` below 300 makes it sign in again before every call.
- **ArcGIS Enterprise** (``portal["isPortal"] = True``, ``portalName="ArcGIS Enterprise"``,
  ``portalMode="singletenant"``): login completes; the login requests are the same as for
  ArcGIS Online. ``gis.properties.isPortal`` is ``True`` and ``gis._is_arcgisonline`` is
  ``False`` (so ``gis.admin`` would be a ``PortalAdminManager``), which is what ``connect()``
  has to check to refuse.
- 429, 413 and 5xx replies are retried five times by ``arcgis``'s session (honouring
  ``Retry-After`` for 429/503, no back-off otherwise); then ``gis._con`` raises
  ``requests.exceptions.RequestException("A general exception was raised: ... Max retries
  exceeded ...")``. A read timeout is retried the same way, even for POST.
- An HTML page or a truncated JSON body with HTTP 200 makes ``gis._con`` raise ``Exception(<the
  body text>)``.

Faults (``emu.faults.add(...)``) and a control endpoint under ``/__emulator__/`` let tests break
things on purpose; see :class:`FaultInjector` and :meth:`_Handler._control`.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import email.parser
import email.policy
import http.server
import ipaddress
import json
import re
import secrets
import shutil
import signal
import socket
import ssl
import sys
import tempfile
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from creditlens.fake import portal_api
from creditlens.fake.demo_org import DemoOrg, OrgSpec, build_demo_org

__all__ = ["FAULT_KINDS", "Fault", "FaultInjector", "PortalEmulator", "main"]

#: Parameters never recorded (and never logged): credentials, tokens, OAuth secrets.
SECRET_PARAMS = frozenset(
    {"password", "token", "access_token", "refresh_token", "oauth_state", "code", "client_secret",
     "newpassword", "newpassword2", "securityanswer"}
)
FAULT_KINDS = ("429", "500", "502", "503", "498", "malformed_json", "html_error", "slow", "timeout")
OOB_REDIRECT = "urn:ietf:wg:oauth:2.0:oob"
CONTROL_PREFIX = "/__emulator__"
CERT_NAME, KEY_NAME = "creditlens-emulator-cert.pem", "creditlens-emulator-key.pem"
OAUTH_STATE_TTL_S = 900
JSON_TYPE = "application/json; charset=utf-8"
HTML_TYPE = "text/html; charset=utf-8"
_REASONS = {200: "OK", 302: "Found", 400: "Bad Request", 403: "Forbidden", 404: "Not Found",
            405: "Method Not Allowed", 429: "Too Many Requests", 500: "Internal Server Error",
            502: "Bad Gateway", 503: "Service Unavailable"}


# -- faults ---------------------------------------------------------------------------------------
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

    def matches(self, rel_path: str, params: Mapping[str, str]) -> bool:
        pattern = _rel_path(self.path or "")
        if pattern not in ("", "*") and rel_path != pattern and not rel_path.endswith("/" + pattern):
            return False
        if self.when is None:
            return True
        try:
            return bool(self.when(params))
        except Exception:
            return False

    def describe(self) -> dict:
        return {"id": self.id, "kind": self.kind, "path": self.path, "times": self.times, "hits": self.hits,
                "retry_after": self.retry_after, "delay_s": self.delay_s, "status": self.status,
                "conditional": self.when is not None}


class FaultInjector:
    """Thread-safe list of armed faults; the first active match wins and uses up one of its ``times``.

    ``path`` matches the request path relative to ``/sharing/rest/`` (or ``/sharing/``), either
    whole or as its last segments: ``"usage"`` hits ``portals/self/usage`` and
    ``portals/<orgId>/usage``; ``"*"`` or ``""`` hits everything except the control endpoint.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, kind: str, *, path: str = "usage", times: int | None = 1,
            when: Callable[[Mapping[str, str]], bool] | None = None, retry_after: int = 1,
            delay_s: float = 0.0, status: int | None = None) -> Fault:
        """Arm a fault. ``status`` only applies to ``html_error`` (200 by default, e.g. 502)."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {', '.join(FAULT_KINDS)}")
        if times is not None and int(times) < 1:
            raise ValueError("times must be a positive number, or None for always")
        fault = Fault(kind, str(path), None if times is None else int(times), when, int(retry_after),
                      float(delay_s), None if status is None else int(status), _owner=self)
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

    def take(self, rel_path: str, params: Mapping[str, str]) -> Fault | None:
        """The fault to apply to this request, if any (consumes one use)."""
        with self._lock:
            for fault in self._faults:
                if fault.active and fault.matches(rel_path, params):
                    fault.hits += 1
                    if fault.times is not None:
                        fault.times -= 1
                    self._faults = [f for f in self._faults if f.active]
                    return fault
        return None


# -- helpers --------------------------------------------------------------------------------------
def _rel_path(path: str) -> str:
    """Path relative to the sharing API: ``/sharing/rest/portals/self`` -> ``portals/self``."""
    path = re.sub(r"/{2,}", "/", path).strip("/")
    for prefix in ("sharing/rest/", "sharing/"):
        if path.lower().startswith(prefix):
            return path[len(prefix):]
    return "" if path.lower() in ("sharing/rest", "sharing") else path


def error_json(code: int, message: str, details: list[str] | None = None, **extra: Any) -> dict:
    body = portal_api.error_payload(code, message, details)
    body["error"].update(extra)
    return body


def _json_bytes(payload: Any) -> bytes:
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


def _parse_multipart(body: bytes, content_type: str) -> dict[str, str]:
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    fields: dict[str, str] = {}
    if not message.is_multipart():
        return fields
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name or part.get_filename():
            continue  # uploaded files are ignored
        payload = part.get_payload(decode=True) or b""
        fields[str(name)] = payload.decode(part.get_content_charset() or "utf-8", "replace")
    return fields


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def make_certificate(cert_dir: Path, hosts: tuple[str, ...] = ("127.0.0.1", "localhost"),
                     ) -> tuple[Path, Path]:
    """A self-signed certificate for ``hosts`` (DNS and IP SANs), reused if still valid for 30 days.

    It is its own CA (basicConstraints CA:TRUE), so the PEM works as a CA bundle for ``requests``,
    ``arcgis`` (``ca_bundles=``) and ``REQUESTS_CA_BUNDLE``.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    cert_dir.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = cert_dir / CERT_NAME, cert_dir / KEY_NAME
    now = dt.datetime.now(dt.UTC)
    if cert_path.exists() and key_path.exists():
        try:
            existing = x509.load_pem_x509_certificate(cert_path.read_bytes())
            sans = existing.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            names = {str(v) for v in sans.get_values_for_type(x509.DNSName)}
            names |= {str(v) for v in sans.get_values_for_type(x509.IPAddress)}
            if set(hosts) <= names and existing.not_valid_after_utc > now + dt.timedelta(days=30):
                return cert_path, key_path
        except Exception:
            pass  # unreadable or foreign files: make new ones
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0]),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Credit Lens portal emulator")])
    alt_names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            alt_names.append(x509.IPAddress(ipaddress.ip_address(host)))
            alt_names.append(x509.DNSName(host))  # some clients match IPs against DNS names
        except ValueError:
            alt_names.append(x509.DNSName(host))
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=825))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=True, key_cert_sign=True,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_bytes = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption())
    key_path.touch(mode=0o600, exist_ok=True)
    key_path.chmod(0o600)
    key_path.write_bytes(key_bytes)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


@dataclass
class _Token:
    org_index: int
    username: str
    expires_at: float  # epoch seconds


@dataclass
class _OAuthRequest:
    client_id: str
    response_type: str
    redirect_uri: str
    state: str | None
    expiration_min: int | None
    created: float


@dataclass
class _Reply:
    status: int
    body: bytes
    content_type: str = JSON_TYPE
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, payload: Any, status: int = 200, **headers: str) -> _Reply:
        return cls(status, _json_bytes(payload), JSON_TYPE, dict(headers))

    @classmethod
    def html(cls, text: str, status: int = 200) -> _Reply:
        return cls(status, text.encode("utf-8"), HTML_TYPE)


# -- the emulator ---------------------------------------------------------------------------------
class PortalEmulator:
    """HTTPS emulator of ArcGIS Online's sharing API serving one or more :class:`DemoOrg` models.

    Sign-in accounts are each org's ``passwords`` (``<urlKey>_admin``, ``_analyst``, ``_viewer``);
    a token belongs to one org's user and every call made with it is answered from that org.
    """

    def __init__(self, orgs: list[DemoOrg], host: str = "127.0.0.1", port: int = 0,
                 cert_dir: str | Path | None = None, token_ttl_s: int = 7200, *,
                 verbose: bool = False, max_records: int = 10_000) -> None:
        if not orgs:
            raise ValueError("the emulator needs at least one org")
        keys = [o.spec.url_key.lower() for o in orgs]
        if len(set(keys)) != len(keys):
            raise ValueError("orgs must have distinct url keys")
        self.orgs = list(orgs)
        self.host = host
        self.port = port
        self.token_ttl_s = int(token_ttl_s)
        self.verbose = verbose
        self.faults = FaultInjector()
        self._cert_dir = Path(cert_dir) if cert_dir is not None else None
        self._own_cert_dir: Path | None = None
        self._cert_path: Path | None = None
        self._lock = threading.Lock()
        self._tokens: dict[str, _Token] = {}
        self._oauth: dict[str, _OAuthRequest] = {}
        self._codes: dict[str, tuple[_Token, str]] = {}  # auth code -> (token to issue, client id)
        self._refresh: dict[str, tuple[int, str]] = {}  # refresh token -> (org index, username)
        self._records: deque[dict] = deque(maxlen=max_records)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    # -- lifecycle --------------------------------------------------------------------------------
    def start(self) -> PortalEmulator:
        if self._server is not None:
            raise RuntimeError("the emulator is already running")
        cert_dir = self._cert_dir
        if cert_dir is None:
            self._own_cert_dir = cert_dir = Path(tempfile.mkdtemp(prefix="creditlens-emulator-"))
        hosts = ("127.0.0.1", "localhost")
        if self.host not in hosts and self.host not in ("", "0.0.0.0", "::"):
            hosts = (*hosts, self.host)
        try:
            cert_path, key_path = make_certificate(cert_dir, hosts)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            context.load_cert_chain(cert_path, key_path)
            context.set_alpn_protocols(["http/1.1"])
            self._stopping.clear()
            self._server = _Server((self.host, self.port), _Handler, self, context)
        except BaseException:
            self._remove_own_cert_dir()
            raise
        self._cert_path = cert_path
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="creditlens-emulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self._remove_own_cert_dir()

    def _remove_own_cert_dir(self) -> None:
        if self._own_cert_dir is not None:
            shutil.rmtree(self._own_cert_dir, ignore_errors=True)
            self._own_cert_dir = None
            self._cert_path = None

    def __enter__(self) -> PortalEmulator:
        if self._server is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- public properties ------------------------------------------------------------------------
    @property
    def port_number(self) -> int:
        if self._server is None:
            raise RuntimeError("the emulator is not running")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The portal URL a user types, e.g. ``https://127.0.0.1:8443``."""
        host = "127.0.0.1" if self.host in ("", "0.0.0.0", "::") else self.host
        if ":" in host:
            host = f"[{host}]"
        return f"https://{host}:{self.port_number}"

    @property
    def ca_bundle(self) -> str:
        """Path of the self-signed certificate (PEM) to trust."""
        if self._cert_path is None:
            raise RuntimeError("the emulator is not running")
        return str(self._cert_path)

    @property
    def connections_opened(self) -> int:
        """TLS connections accepted since start (keep-alive reuses one per client thread)."""
        return self._server.opened if self._server is not None else 0

    @property
    def requests(self) -> list[dict]:
        """Recorded requests (oldest first), as dicts: ``method``, ``path``, ``params`` (secrets
        removed), ``username`` (from the token, or the sign-in form), ``auth`` (``"valid"``,
        ``"invalid"`` or ``"none"``: the token sent), ``org`` (url key), ``status``, ``fault`` (kind
        applied, if any) and ``timestamp`` (epoch s). Control-endpoint calls are not recorded."""
        with self._lock:
            return [dict(r, params=dict(r["params"])) for r in self._records]

    def clear_requests(self) -> None:
        with self._lock:
            self._records.clear()

    def expire_tokens(self) -> None:
        """Invalidate every issued token: the next call with one gets ``498 Invalid token.``."""
        with self._lock:
            self._tokens.clear()
            self._codes.clear()
            self._refresh.clear()

    def issued_tokens(self) -> list[str]:
        """Every token issued and not yet expired or revoked (for secret scans in tests)."""
        with self._lock:
            return list(self._tokens)

    def issue_token(self, username: str) -> str:
        """A valid token for ``username`` without signing in (for tests that skip the login)."""
        found = self._find_account(username, case_sensitive=False)
        if found is None:
            raise KeyError(username)
        return self._new_token(found[0], found[1], None)

    # -- accounts and tokens ----------------------------------------------------------------------
    def _find_account(self, username: str, *, case_sensitive: bool) -> tuple[int, str] | None:
        for index, org in enumerate(self.orgs):
            for name in org.passwords:
                if name == username or (not case_sensitive and name.lower() == username.lower()):
                    return index, name
        return None

    def _check_password(self, username: str, password: str, *,
                        case_sensitive: bool) -> tuple[int, str] | None:
        found = self._find_account(username or "", case_sensitive=case_sensitive)
        if found is None:
            return None
        org = self.orgs[found[0]]
        member = org.member(found[1])
        if member is None or member.get("disabled"):
            return None
        if not secrets.compare_digest(org.passwords[found[1]].encode(), (password or "").encode()):
            return None
        return found

    def _lifetime(self, expiration_min: int | None) -> int:
        if expiration_min and expiration_min > 0:
            return max(1, min(self.token_ttl_s, expiration_min * 60))
        return max(1, self.token_ttl_s)

    def _new_token(self, org_index: int, username: str, expiration_min: int | None) -> str:
        token = secrets.token_urlsafe(48)
        with self._lock:
            self._tokens[token] = _Token(org_index, username, time.time() + self._lifetime(expiration_min))
        return token

    def _token_info(self, token: str) -> _Token | None:
        with self._lock:
            info = self._tokens.get(token)
            if info is not None and info.expires_at <= time.time():
                del self._tokens[token]
                return None
            return info

    def _record(self, entry: dict) -> None:
        with self._lock:
            self._records.append(entry)


def _int_or_none(value: Any) -> int | None:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


# -- HTTP server ----------------------------------------------------------------------------------
class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], handler: type, emulator: PortalEmulator,
                 context: ssl.SSLContext) -> None:
        self.emulator = emulator
        self.ssl_context = context
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        self.opened = 0  # TLS connections accepted so far
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, handler)

    def finish_request(self, request: socket.socket, client_address: Any) -> None:
        # The TLS handshake runs here, in the connection's own thread, so one stalled client
        # cannot block the accept loop.
        request.settimeout(30)
        try:
            tls = self.ssl_context.wrap_socket(request, server_side=True)
        except (OSError, ValueError):
            request.close()  # e.g. arcgis's probe that does not trust our certificate
            return
        with self._conns_lock:
            self._conns.add(tls)
            self.opened += 1
        try:
            self.RequestHandlerClass(tls, client_address, self)
        except (OSError, ValueError):
            pass  # client went away
        finally:
            with self._conns_lock:
                self._conns.discard(tls)
            with contextlib.suppress(OSError):
                tls.close()

    def close_connections(self) -> None:
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                socket.socket.shutdown(conn, socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if self.emulator.verbose:
            traceback.print_exc(file=sys.stderr)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "CreditLensPortalEmulator/1.0"
    sys_version = ""
    timeout = 300  # idle keep-alive connections are closed after this
    server: _Server

    # -- plumbing -------------------------------------------------------------------------------
    def log_message(self, format: str, *args: Any) -> None:
        return  # request lines may carry tokens in the query string: never logged

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    @property
    def emu(self) -> PortalEmulator:
        return self.server.emulator

    def _read_body(self) -> bytes:
        length = _int_or_none(self.headers.get("Content-Length")) or 0
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        return self.rfile.read(length) if length > 0 else b""

    def _params(self, query: str, body: bytes) -> tuple[dict[str, str], Any]:
        params = dict(parse_qsl(query, keep_blank_values=True))
        json_body = None
        content_type = self.headers.get("Content-Type", "")
        kind = content_type.split(";")[0].strip().lower()
        if body:
            if kind == "multipart/form-data":
                params.update(_parse_multipart(body, content_type))
            elif kind == "application/json":
                try:
                    json_body = json.loads(body)
                except ValueError:
                    json_body = None
                if isinstance(json_body, dict):
                    params.update({k: v if isinstance(v, str) else json.dumps(v)
                                   for k, v in json_body.items()})
            else:
                params.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        return params, json_body

    def _send(self, reply: _Reply) -> None:
        if self.headers.get("Connection", "").lower() == "close":
            self.close_connection = True
        lines = [
            f"{self.protocol_version} {reply.status} {_REASONS.get(reply.status, 'Status')}",
            f"Server: {self.server_version}",
            f"Date: {formatdate(usegmt=True)}",
            f"Content-Type: {reply.content_type}",
            f"Content-Length: {len(reply.body)}",
            "Cache-Control: no-cache, no-store",
            f"Connection: {'close' if self.close_connection else 'keep-alive'}",
            *(f"{k}: {v}" for k, v in reply.headers.items()),
        ]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        try:
            self.connection.sendall(head + reply.body if self.command != "HEAD" else head)
        except (OSError, ValueError):
            self.close_connection = True

    def _sleep(self, seconds: float) -> None:
        self.emu._stopping.wait(max(0.0, seconds))

    # -- dispatch -------------------------------------------------------------------------------
    def _dispatch(self) -> None:
        started = time.time()
        split = urlsplit(self.path)
        path = "/" + re.sub(r"/{2,}", "/", unquote(split.path)).strip("/")
        body = self._read_body()
        params, json_body = self._params(split.query, body)
        if path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/"):
            self._send(self._control(path, json_body, params))
            return
        token = self._token_from(params)
        info = self.emu._token_info(token) if token else None
        rel = _rel_path(path)
        fault = self.emu.faults.take(rel, params)
        reply: _Reply | None = None
        if fault is not None:
            if fault.kind in ("slow", "timeout"):
                self._sleep(fault.delay_s)
            else:
                reply = self._fault_reply(fault)
        if reply is None:
            try:
                reply = self._route(path, params, token, info)
            except Exception:
                traceback.print_exc(file=sys.stderr)
                reply = _Reply.json(error_json(500, "An internal error occurred in the emulator."),
                                    status=500)
            if fault is not None and fault.kind == "malformed_json":
                reply = _Reply(200, reply.body[: max(1, len(reply.body) // 2)], JSON_TYPE)
        org = self.emu.orgs[info.org_index] if info else None
        self.emu._record({
            "method": self.command,
            "path": path,
            "params": {k: v for k, v in params.items() if k.lower() not in SECRET_PARAMS},
            "username": info.username if info else (params.get("username") or None),
            "auth": "valid" if info else ("invalid" if token else "none"),
            "org": org.spec.url_key if org else None,
            "status": reply.status,
            "fault": fault.kind if fault else None,
            "timestamp": started,
        })
        if self.emu.verbose:
            print(f"{self.command} {path} -> {reply.status} ({len(reply.body)} bytes, "
                  f"{time.time() - started:.3f}s)", file=sys.stderr, flush=True)
        self._send(reply)

    def _token_from(self, params: Mapping[str, str]) -> str | None:
        for header in ("X-Esri-Authorization", "Authorization"):
            value = self.headers.get(header, "")
            if value[:7].lower() == "bearer " and value[7:].strip():
                return value[7:].strip()
        return params.get("token") or None

    def _fault_reply(self, fault: Fault) -> _Reply | None:
        kind = fault.kind
        if kind == "429":
            return _Reply.json(error_json(429, "Too many requests. Please try again later."), status=429,
                               **{"Retry-After": str(fault.retry_after)})
        if kind == "500":
            return _Reply.json(error_json(500, "An internal server error occurred."), status=500)
        if kind == "502":
            return _Reply.html(_error_page("502 Bad Gateway", "The proxy server received an invalid response "
                                                              "from an upstream server."), status=502)
        if kind == "503":
            page = _error_page("503 Service Unavailable", "The service is temporarily unavailable.")
            reply = _Reply.html(page, status=503)
            reply.headers["Retry-After"] = str(fault.retry_after)
            return reply
        if kind == "498":
            return _Reply.json(error_json(498, "Invalid token."))
        if kind == "html_error":
            return _Reply.html(_error_page("Error", "Something went wrong. Please try again later."),
                               status=fault.status or 200)
        return None  # malformed_json, slow and timeout answer normally (after a twist)

    def _route(self, path: str, params: dict[str, str], token: str | None, info: _Token | None) -> _Reply:
        low = path.lower()
        if low in ("/info", "/rest/info", "/sharing/rest/info"):
            return _Reply.json(self._info())
        if low in ("/sharing/rest", "/sharing"):
            return _Reply.json({"currentVersion": "2025.2"})
        if low == "/sharing/rest/oauth2/authorize":
            return self._authorize(params)
        if low in ("/sharing/oauth2/signin", "/sharing/rest/oauth2/signin"):
            return self._signin(params)
        if low in ("/sharing/rest/oauth2/token", "/sharing/oauth2/token"):
            return self._oauth_token(params)
        if low in ("/sharing/rest/generatetoken", "/sharing/generatetoken"):
            return self._generate_token(params)
        if low.startswith("/sharing/rest/"):
            if token is None and low == "/sharing/rest/portals/self":
                return _Reply.json(self._anonymous_portal())
            if token is None:
                return _Reply.json(error_json(499, "Token Required."))
            if info is None:
                return _Reply.json(error_json(498, "Invalid token."))
            org = self.emu.orgs[info.org_index]
            return _Reply.json(portal_api.handle_request(org, info.username, _rel_path(path), params))
        # Not a portal resource. Never a WWW-Authenticate header: arcgis would switch to IWA/Basic.
        return _Reply.json(error_json(404, "Not Found", [f"'{path}' does not exist."]), status=404)

    def _anonymous_portal(self) -> dict:
        """``portals/self`` without a token: public properties only and no ``user``, as ArcGIS Online
        answers anonymous visitors (one org: that org's public face; several: the generic portal)."""
        orgs = self.emu.orgs
        public = ("id", "name", "urlKey", "customBaseUrl", "portalName", "portalMode", "isPortal", "access",
                  "culture", "region", "units", "supportsOAuth")
        if len(orgs) == 1:
            return {k: orgs[0].portal[k] for k in public if k in orgs[0].portal}
        return {"name": "ArcGIS Online", "portalName": "ArcGIS Online", "portalMode": "multitenant",
                "isPortal": False, "access": "public", "culture": "en", "supportsOAuth": True}

    def _base_url(self) -> str:
        host = self.headers.get("Host") or f"127.0.0.1:{self.server.server_address[1]}"
        return f"https://{host}"

    def _info(self) -> dict:
        base = self._base_url()
        return {
            "owningSystemUrl": base,
            "authInfo": {"isTokenBasedSecurity": True,
                         "tokenServicesUrl": f"{base}/sharing/rest/generateToken"},
        }

    # -- OAuth -----------------------------------------------------------------------------------
    def _authorize(self, params: Mapping[str, str]) -> _Reply:
        client_id = params.get("client_id", "").strip()
        if not client_id:
            return _Reply.html(_error_page("Error", "Error: Invalid client_id"), status=400)
        response_type = params.get("response_type", "token")
        if response_type not in ("token", "code"):
            return _Reply.html(_error_page("Error", "Invalid response_type"), status=400)
        redirect_uri = params.get("redirect_uri", "").strip()
        if not redirect_uri:
            return _Reply.html(_error_page("Error", "Invalid redirect_uri"), status=400)
        now = time.time()
        oauth_state = secrets.token_urlsafe(32)
        request = _OAuthRequest(client_id, response_type, redirect_uri, params.get("state"),
                                _int_or_none(params.get("expiration")), now)
        with self.emu._lock:
            for key in [k for k, v in self.emu._oauth.items() if now - v.created > OAUTH_STATE_TTL_S]:
                del self.emu._oauth[key]
            self.emu._oauth[oauth_state] = request
        return _Reply.html(_signin_page(oauth_state, request))

    def _signin(self, params: Mapping[str, str]) -> _Reply:
        oauth_state = params.get("oauth_state", "")
        with self.emu._lock:
            request = self.emu._oauth.get(oauth_state)
        if request is None or time.time() - request.created > OAUTH_STATE_TTL_S:
            expired = ["Your sign in session has expired. Please sign in again."]
            return _Reply.html(_signin_page(None, None, expired))
        found = self.emu._check_password(params.get("username", ""), params.get("password", ""),
                                         case_sensitive=False)
        if found is None:
            return _Reply.html(_signin_page(oauth_state, request, ["Invalid username or password."]))
        with self.emu._lock:
            self.emu._oauth.pop(oauth_state, None)
        org_index, username = found
        expiration = _int_or_none(params.get("expiration")) or request.expiration_min
        if request.response_type == "code":
            code = secrets.token_urlsafe(32)
            pending = _Token(org_index, username, time.time() + self.emu._lifetime(expiration))
            with self.emu._lock:
                self.emu._codes[code] = (pending, request.client_id)
            if request.redirect_uri == OOB_REDIRECT:
                return _Reply.html(_approval_page(code))
            query = {"code": code, **({"state": request.state} if request.state else {})}
            return _redirect(_join_url(request.redirect_uri, "?", urlencode(query)))
        token = self.emu._new_token(org_index, username, expiration)
        fragment = {
            "access_token": token,
            "expires_in": str(self.emu._lifetime(expiration)),
            "username": username,
            "ssl": "true",
            **({"state": request.state} if request.state else {}),
        }
        return _redirect(_join_url(request.redirect_uri, "#", urlencode(fragment)))

    def _oauth_token(self, params: Mapping[str, str]) -> _Reply:
        grant = params.get("grant_type", "")
        if grant == "authorization_code":
            with self.emu._lock:
                pending = self.emu._codes.pop(params.get("code", ""), None)
            if pending is None:
                return _Reply.json(error_json(400, "Invalid authorization code", [], error="invalid_request"))
            ticket, _client = pending
            lifetime = max(1, int(ticket.expires_at - time.time()))
            token = self.emu._new_token(ticket.org_index, ticket.username, None)
            with self.emu._lock:
                self.emu._tokens[token].expires_at = time.time() + lifetime
                refresh = secrets.token_urlsafe(48)
                self.emu._refresh[refresh] = (ticket.org_index, ticket.username)
            return _Reply.json({"access_token": token, "expires_in": lifetime, "username": ticket.username,
                                "ssl": True, "refresh_token": refresh, "refresh_token_expires_in": 1209599})
        if grant == "refresh_token":
            with self.emu._lock:
                owner = self.emu._refresh.get(params.get("refresh_token", ""))
            if owner is None:
                return _Reply.json(error_json(498, "Invalid refresh_token", [], error="invalid_request"))
            expiration = _int_or_none(params.get("expiration"))
            token = self.emu._new_token(owner[0], owner[1], expiration)
            return _Reply.json({"access_token": token, "expires_in": self.emu._lifetime(expiration),
                                "username": owner[1], "ssl": True})
        return _Reply.json(error_json(400, "Unsupported grant_type", [f"'{grant}' is not supported."],
                                      error="unsupported_grant_type"))

    def _generate_token(self, params: Mapping[str, str]) -> _Reply:
        username, password = params.get("username", ""), params.get("password", "")
        missing = [f"'{name}' must be specified." for name in ("username", "password")
                   if not params.get(name)]
        if missing:
            return _Reply.json(error_json(400, "Unable to generate token.", missing))
        found = self.emu._check_password(username, password, case_sensitive=True)
        if found is None:
            invalid = ["Invalid username or password."]
            return _Reply.json(error_json(400, "Unable to generate token.", invalid))
        expiration = _int_or_none(params.get("expiration")) or 60
        token = self.emu._new_token(found[0], found[1], expiration)
        expires_ms = int((time.time() + self.emu._lifetime(expiration)) * 1000)
        return _Reply.json({"token": token, "expires": expires_ms, "ssl": True})

    # -- control endpoint ------------------------------------------------------------------------
    def _control(self, path: str, json_body: Any, params: Mapping[str, str]) -> _Reply:
        """Test control, for processes that run the emulator as a subprocess (loopback clients only).

        - ``POST /__emulator__/faults`` JSON ``{"kind", "path", "times", "start_time", "retry_after",
          "delay_s", "status"}``; ``start_time`` (epoch ms) limits the fault to usage calls whose
          ``startTime`` equals it. Answers the fault with its ``id``.
        - ``GET /__emulator__/faults`` lists armed faults; ``DELETE`` clears them (``?id=`` removes one).
        - ``GET /__emulator__/requests`` returns the recorded requests; ``DELETE`` clears them.
        - ``POST /__emulator__/expire-tokens`` invalidates every issued token.
        - ``GET /__emulator__/orgs`` lists the orgs and their sign-in usernames.
        """
        if not _is_loopback(str(self.client_address[0])):
            refusal = error_json(403, "The control endpoint only answers loopback clients.")
            return _Reply.json(refusal, status=403)
        action = path[len(CONTROL_PREFIX):].strip("/")
        method = self.command
        emu = self.emu
        if action == "faults" and method == "POST":
            spec = json_body if isinstance(json_body, dict) else dict(params)
            start_time = spec.get("start_time", spec.get("startTime"))
            when = None
            if start_time not in (None, ""):
                wanted = str(_int_or_none(start_time))
                when = lambda p, wanted=wanted: str(_int_or_none(p.get("startTime"))) == wanted  # noqa: E731
            times = spec.get("times", 1)
            try:
                fault = emu.faults.add(
                    str(spec.get("kind", "")), path=str(spec.get("path", "usage")),
                    times=None if times in (None, "", "null", "None") else int(times), when=when,
                    retry_after=int(spec.get("retry_after", 1)), delay_s=float(spec.get("delay_s", 0.0)),
                    status=_int_or_none(spec.get("status")),
                )
            except (TypeError, ValueError) as exc:
                return _Reply.json(error_json(400, str(exc)), status=400)
            return _Reply.json(fault.describe())
        if action == "faults" and method == "DELETE":
            if params.get("id"):
                emu.faults.remove(params["id"])
            else:
                emu.faults.clear()
            return _Reply.json({"success": True})
        if action == "faults" and method == "GET":
            return _Reply.json({"faults": [f.describe() for f in emu.faults.active]})
        if action == "requests" and method == "GET":
            return _Reply.json({"requests": emu.requests})
        if action == "requests" and method == "DELETE":
            emu.clear_requests()
            return _Reply.json({"success": True})
        if action == "expire-tokens" and method == "POST":
            emu.expire_tokens()
            return _Reply.json({"success": True})
        if action == "orgs" and method == "GET":
            return _Reply.json({"orgs": [{"id": o.org_id, "name": o.name, "urlKey": o.spec.url_key,
                                          "usernames": list(o.passwords)} for o in emu.orgs]})
        return _Reply.json(error_json(404, f"Unknown control action {method} {path}"), status=404)


def _redirect(location: str) -> _Reply:
    return _Reply(302, b"", HTML_TYPE, {"Location": location})


def _join_url(base: str, separator: str, tail: str) -> str:
    if separator == "?" and "?" in base:
        separator = "&"
    return f"{base}{separator}{tail}"


def _error_page(title: str, message: str) -> str:
    return (f"<!DOCTYPE html>\n<html><head><title>{title}</title></head>\n"
            f"<body><h1>{title}</h1><p>{message}</p></body></html>\n")


def _script_json(payload: dict) -> str:
    """One-line JSON safe inside a <script> element (``arcgis`` parses it with regular expressions)."""
    return json.dumps(payload, separators=(",", ":")).replace("</", "<\\/").replace("};", "}\\u003b")


def _signin_page(oauth_state: str | None, request: _OAuthRequest | None,
                 messages: list[str] | None = None) -> str:
    """The sign-in page. The ``oAuthInfo`` line must be the first line containing a ``{``."""
    info: dict[str, Any] = {"locale": "en-US", "style": "dark", "portalName": "ArcGIS Online"}
    if oauth_state:
        info["oauth_state"] = oauth_state
    if request is not None:
        info["client_id"] = request.client_id
        info["appTitle"] = "ArcGIS API for Python" if request.client_id == "pythonapi" else request.client_id
        info["response_type"] = request.response_type
    if messages:
        info["messages"] = messages
    form = ""
    if oauth_state:
        form = (
            '<form method="post" action="/sharing/oauth2/signin">\n'
            f'<input type="hidden" name="oauth_state" value="{oauth_state}">\n'
            '<label>Username <input name="username" autocomplete="username"></label>\n'
            '<label>Password <input name="password" type="password" '
            'autocomplete="current-password"></label>\n'
            '<button type="submit">Sign In</button>\n</form>\n'
        )
    errors = "".join(f'<p class="error">{m}</p>\n' for m in messages or [])
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sign In</title></head>\n"
        "<body>\n<h1>Sign in to ArcGIS Online (Credit Lens emulator)</h1>\n"
        f"<script>\nvar oAuthInfo = {_script_json(info)};\n</script>\n"
        f"{errors}{form}</body></html>\n"
    )


def _approval_page(code: str) -> str:
    """What the out-of-band code flow lands on; ``arcgis`` reads the code from the title."""
    return (
        f"<!DOCTYPE html>\n<html><head><title>SUCCESS code={code}</title></head>\n"
        f"<body>\n<script>\nvar oAuthInfo = {_script_json({'code': code})};\n</script>\n"
        "<p>Sign in complete. You may close this window.</p></body></html>\n"
    )


# -- command line ---------------------------------------------------------------------------------
def _role_note(org: DemoOrg, username: str) -> str:
    member = org.member(username) or {}
    if member.get("role") == "org_admin":
        return "administrator"
    if org.can_view_usage(username):
        return "Credit Analyst custom role: may view credit usage"
    return "user: may not view credit usage"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="creditlens emulator",
        description="Serve synthetic ArcGIS Online orgs over HTTPS for the real arcgis client.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port (default 0: any free port)")
    parser.add_argument("--members", type=int, default=300, help="members per org (default 300)")
    parser.add_argument("--days", type=int, default=730, help="days of usage history (default 730)")
    parser.add_argument("--seed", type=int, default=7, help="random seed of the first org (default 7)")
    parser.add_argument("--end-day", type=dt.date.fromisoformat, default=None,
                        help="last day with usage, YYYY-MM-DD (default today, UTC)")
    parser.add_argument("--second-org", action="store_true",
                        help='also serve "Lakeside County GIS" (url key lakeside, seed 11)')
    parser.add_argument("--cert-dir", default=None,
                        help="directory for the self-signed certificate (reused while valid; "
                             "default: a temporary directory)")
    parser.add_argument("--token-ttl", type=int, default=7200,
                        help="token lifetime in seconds (default 7200)")
    parser.add_argument("--verbose", action="store_true", help="log each request (path and status) to stderr")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    size = {"members": args.members, "days": args.days, "end_day": args.end_day}
    orgs = [build_demo_org(OrgSpec(seed=args.seed, **size))]
    if args.second_org:
        orgs.append(build_demo_org(OrgSpec(seed=11, name="Lakeside County GIS", url_key="lakeside", **size)))
    emulator = PortalEmulator(orgs, host=args.host, port=args.port, cert_dir=args.cert_dir,
                              token_ttl_s=args.token_ttl, verbose=args.verbose)
    emulator.start()
    lines = [f"Credit Lens portal emulator listening on {emulator.url}"]
    for org in orgs:
        lines.append(f"  {org.name} (org id {org.org_id}, url key {org.spec.url_key}, "
                     f"{len(org.members)} members, usage {org.first_day} to {org.last_day})")
        for username, password in org.passwords.items():
            lines.append(f"    {username:<22} password {password:<32} {_role_note(org, username)}")
    lines += [
        "  These are synthetic demo accounts.",
        f"  CA bundle: {emulator.ca_bundle}",
        f"  CREDITLENS_CA_BUNDLE={emulator.ca_bundle}",
        "  Stop with Ctrl+C.",
    ]
    print("\n".join(lines), flush=True)
    stop = threading.Event()
    previous: dict[int, Any] = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(ValueError):  # signals can only be set from the main thread
            previous[signum] = signal.signal(signum, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        emulator.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
