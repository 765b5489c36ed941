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
  ``Exception("Token Required\\n(Error Code: 499)")``. The handler keeps its dead token until it
  believes it expired and never re-logs in by itself, and from then on every error reply on that
  path is re-sent anonymously: after a 498/499, build a new ``GIS``. With ``use_gen_token=True``
  the handler only looks for "Invalid Token" (capital T), so the 498 surfaces as
  ``Exception("Invalid token.\\n(Error Code: 498)")``.
- Anonymous calls: ``portals/self`` answers the public org properties without ``user`` (as ArcGIS
  Online does for visitors), so after a token expiry ``portals/self`` *succeeds* through the
  anonymous re-send; check for ``user``. Every other ``sharing/rest`` resource answers
  ``499 Token Required`` (``GWM_0003``) without a token (``community/self``: ``400 Not logged in.``,
  ``COM_0019``) and ``498 Invalid token.`` with an unknown or expired one. Resources answer HTML
  unless ``f=json`` (or ``pjson``) is sent, as the portal does; ``arcgis`` always sends it.
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
things on purpose; see :mod:`.faults` and :mod:`.control`.

The pieces: :mod:`.auth` (accounts, tokens, OAuth sign-ins: the model), :mod:`.faults`,
:mod:`.request_log`, :mod:`.routes` (one request in, one reply out), :mod:`.signin` (the sign-in
replies), :mod:`.pages` (HTML), :mod:`.certificate` (TLS) and :mod:`.server` (HTTP). This module
holds :class:`PortalEmulator`, which ties them together, and the ``creditlens emulator`` command.
"""

from __future__ import annotations

import json
import os
import shutil
import ssl
import tempfile
import threading
from pathlib import Path

from creditlens.fake import oauth_flow
from creditlens.fake.auth import CODE_TTL_S, AuthModel
from creditlens.fake.certificate import CERT_NAME, make_certificate
from creditlens.fake.demo_org import DemoOrg
from creditlens.fake.faults import FAULT_KINDS, Fault, FaultInjector
from creditlens.fake.request_log import RequestLog
from creditlens.fake.server import Server

__all__ = ["CERT_NAME", "FAULT_KINDS", "Fault", "FaultInjector", "PortalEmulator", "main"]


class PortalEmulator:
    """HTTPS emulator of ArcGIS Online's sharing API serving one or more :class:`DemoOrg` models.

    Sign-in accounts are each org's ``passwords`` (``<urlKey>_admin``, ``_analyst``, ``_viewer``);
    a token belongs to one org's user and every call made with it is answered from that org.
    ``ready_file``: once listening, write a JSON file with the URL, the CA bundle and the orgs with
    their sign-in accounts (see :meth:`ready_info`), for processes that start the emulator.
    """

    def __init__(
        self,
        orgs: list[DemoOrg],
        host: str = "127.0.0.1",
        port: int = 0,
        cert_dir: str | Path | None = None,
        token_ttl_s: int = 7200,
        *,
        verbose: bool = False,
        max_records: int = 10_000,
        ready_file: str | Path | None = None,
        code_ttl_s: float = CODE_TTL_S,
    ) -> None:
        if not orgs:
            raise ValueError("the emulator needs at least one org")
        keys = [o.spec.url_key.lower() for o in orgs]
        if len(set(keys)) != len(keys):
            raise ValueError("orgs must have distinct url keys")
        self.orgs = list(orgs)
        self.host = host
        self.port = port
        self.verbose = verbose
        self.auth = AuthModel(self.orgs, token_ttl_s, code_ttl_s)
        self.faults = FaultInjector()
        self.log = RequestLog(max_records)
        self.ready_file = Path(ready_file) if ready_file is not None else None
        self._cert_dir = Path(cert_dir) if cert_dir is not None else None
        self._own_cert_dir: Path | None = None
        self._cert_path: Path | None = None
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    @property
    def token_ttl_s(self) -> int:
        return self.auth.token_ttl_s

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
            self._server = Server((self.host, self.port), self, context)
        except BaseException:
            self._remove_own_cert_dir()
            raise
        self._cert_path = cert_path
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.2}, name="creditlens-emulator", daemon=True
        )
        self._thread.start()
        if self.ready_file is not None:
            self._write_ready_file(self.ready_file)
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
        if self.ready_file is not None:
            self.ready_file.unlink(missing_ok=True)
        self._remove_own_cert_dir()

    def pause(self, seconds: float) -> None:
        """Sleep up to ``seconds`` (a slow fault), cut short when the emulator stops."""
        self._stopping.wait(max(0.0, seconds))

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

    # -- ready file -------------------------------------------------------------------------------
    def ready_info(self) -> dict:
        """What the ready file holds: ``url``, ``ca_bundle`` and ``orgs``, each with its password sign-in
        ``accounts`` and its ``oauth_accounts``: the Sign-in-with-ArcGIS-only admins (``kind``
        enterprise or mfa; the MFA admin with its password and code), empty unless the org has them."""
        orgs = []
        for org in self.orgs:
            accounts = [
                {"username": name, "password": password, "note": org.account_note(name)}
                for name, password in org.passwords.items()
            ]
            orgs.append(
                {
                    "id": org.org_id,
                    "name": org.name,
                    "urlKey": org.spec.url_key,
                    "members": len(org.members),
                    "firstDay": org.first_day.isoformat(),
                    "lastDay": org.last_day.isoformat(),
                    "accounts": accounts,
                    "oauth_accounts": oauth_flow.demo_accounts(org),
                }
            )
        return {"url": self.url, "ca_bundle": self.ca_bundle, "orgs": orgs}

    def _write_ready_file(self, path: Path) -> None:
        # Written whole, then renamed: a reader never sees half a file. Owner-only: it names the
        # (synthetic) demo passwords.
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(self.ready_info(), handle, indent=2)
        partial.replace(path)

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
        return self.log.entries()

    def clear_requests(self) -> None:
        self.log.clear()

    def expire_tokens(self) -> None:
        """Invalidate every issued token: the next call with one gets ``498 Invalid token.``."""
        self.auth.expire_all()

    def issue_token(self, username: str) -> str:
        """A valid token for ``username`` without signing in (for tests that skip the login)."""
        return self.auth.issue_token(username)

    def issued_tokens(self) -> list[str]:
        """Every token issued and not yet expired or revoked (for secret scans in tests)."""
        return self.auth.issued_tokens()

    def issued_secrets(self) -> list[str]:
        """Every live token, refresh token and authorization code (for secret scans in tests)."""
        return self.auth.issued_secrets()


def main(argv: list[str] | None = None) -> int:
    """``creditlens emulator`` (see :mod:`creditlens.fake.command`)."""
    from creditlens.fake.command import main as run

    return run(argv)


if __name__ == "__main__":
    raise SystemExit(main())
