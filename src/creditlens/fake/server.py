"""The HTTPS server of the emulator: TLS per connection, keep-alive, and a thin request handler.

The handler reads the method, path, parameters and token, hands a :class:`~.routes.Request` to
:func:`~.routes.answer` and writes the reply. It holds no state of its own.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import re
import socket
import ssl
import sys
import threading
import traceback
from email.utils import formatdate
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

from creditlens.fake import routes
from creditlens.fake.wire import REASONS, Reply, int_or_none, parse_multipart

if TYPE_CHECKING:
    from creditlens.fake.emulator import PortalEmulator


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], emulator: PortalEmulator, context: ssl.SSLContext) -> None:
        self.emulator = emulator
        self.ssl_context = context
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        self.opened = 0  # TLS connections accepted so far
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, Handler)

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


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "CreditLensPortalEmulator/1.0"
    sys_version = ""
    timeout = 300  # idle keep-alive connections are closed after this
    server: Server

    def log_message(self, format: str, *args: Any) -> None:
        return  # request lines may carry tokens in the query string: never logged

    def do_GET(self) -> None:
        self._handle()

    do_POST = do_DELETE = do_PUT = do_HEAD = do_OPTIONS = do_GET

    def _handle(self) -> None:
        split = urlsplit(self.path)
        path = "/" + re.sub(r"/{2,}", "/", unquote(split.path)).strip("/")
        params, json_body = self._params(split.query, self._read_body())
        host = self.headers.get("Host") or f"127.0.0.1:{self.server.server_address[1]}"
        request = routes.Request(
            self.command,
            path,
            params,
            json_body,
            self._token(params),
            str(self.client_address[0]),
            f"https://{host}",
            dict(self.headers.items()),
        )
        self._send(routes.answer(self.server.emulator, request))

    def _read_body(self) -> bytes:
        length = int_or_none(self.headers.get("Content-Length")) or 0
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
                params.update(parse_multipart(body, content_type))
            elif kind == "application/json":
                try:
                    json_body = json.loads(body)
                except ValueError:
                    json_body = None
                if isinstance(json_body, dict):
                    params.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in json_body.items()})
            else:
                params.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        return params, json_body

    def _token(self, params: dict[str, str]) -> str | None:
        for header in ("X-Esri-Authorization", "Authorization"):
            value = self.headers.get(header, "")
            if value[:7].lower() == "bearer " and value[7:].strip():
                return value[7:].strip()
        return params.get("token") or None

    def _send(self, reply: Reply) -> None:
        if self.headers.get("Connection", "").lower() == "close":
            self.close_connection = True
        lines = [
            f"{self.protocol_version} {reply.status} {REASONS.get(reply.status, 'Status')}",
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
