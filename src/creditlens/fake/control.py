"""The emulator's test control endpoint under ``/__emulator__/`` (loopback clients only).

For processes that run the emulator as a subprocess:

- ``POST /__emulator__/faults`` JSON ``{"kind", "path", "times", "start_time", "retry_after",
  "delay_s", "status"}``; ``start_time`` (epoch ms) limits the fault to usage calls whose
  ``startTime`` equals it. Answers the fault with its ``id``.
- ``GET /__emulator__/faults`` lists armed faults; ``DELETE`` clears them (``?id=`` removes one).
- ``GET /__emulator__/requests`` returns the recorded requests; ``DELETE`` clears them.
- ``POST /__emulator__/expire-tokens`` invalidates every issued token.
- ``GET /__emulator__/orgs`` lists the orgs and their sign-in usernames.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from creditlens.fake.errors import error_payload
from creditlens.fake.wire import Reply, int_or_none

if TYPE_CHECKING:
    from creditlens.fake.emulator import PortalEmulator

CONTROL_PREFIX = "/__emulator__"


def is_control(path: str) -> bool:
    return path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/")


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def handle(
    emu: PortalEmulator, method: str, path: str, params: Mapping[str, str], json_body: Any, client_host: str
) -> Reply:
    if not is_loopback(client_host):
        return Reply.json(error_payload(403, "The control endpoint only answers loopback clients."), status=403)
    action = path[len(CONTROL_PREFIX) :].strip("/")
    if action == "faults" and method == "POST":
        return _add_fault(emu, json_body if isinstance(json_body, dict) else dict(params))
    if action == "faults" and method == "DELETE":
        if params.get("id"):
            emu.faults.remove(params["id"])
        else:
            emu.faults.clear()
        return Reply.json({"success": True})
    if action == "faults" and method == "GET":
        return Reply.json({"faults": [f.describe() for f in emu.faults.active]})
    if action == "requests" and method == "GET":
        return Reply.json({"requests": emu.requests})
    if action == "requests" and method == "DELETE":
        emu.clear_requests()
        return Reply.json({"success": True})
    if action == "expire-tokens" and method == "POST":
        emu.expire_tokens()
        return Reply.json({"success": True})
    if action == "orgs" and method == "GET":
        orgs = [
            {"id": o.org_id, "name": o.name, "urlKey": o.spec.url_key, "usernames": list(o.passwords)} for o in emu.orgs
        ]
        return Reply.json({"orgs": orgs})
    return Reply.json(error_payload(404, f"Unknown control action {method} {path}"), status=404)


def _add_fault(emu: PortalEmulator, spec: dict) -> Reply:
    start_time = spec.get("start_time", spec.get("startTime"))
    when = None
    if start_time not in (None, ""):
        wanted = str(int_or_none(start_time))
        when = lambda p, wanted=wanted: str(int_or_none(p.get("startTime"))) == wanted  # noqa: E731
    times = spec.get("times", 1)
    try:
        fault = emu.faults.add(
            str(spec.get("kind", "")),
            path=str(spec.get("path", "usage")),
            times=None if times in (None, "", "null", "None") else int(times),
            when=when,
            retry_after=int(spec.get("retry_after", 1)),
            delay_s=float(spec.get("delay_s", 0.0)),
            status=int_or_none(spec.get("status")),
        )
    except (TypeError, ValueError) as exc:
        return Reply.json(error_payload(400, str(exc)), status=400)
    return Reply.json(fault.describe())
