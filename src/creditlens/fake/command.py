"""``creditlens emulator``: serve synthetic orgs over HTTPS, print the sign-in accounts, write the ready file."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import signal
import threading
from typing import Any

from creditlens.fake.demo_org import OrgSpec, build_demo_org
from creditlens.fake.emulator import PortalEmulator
from creditlens.fake.oauth_flow import add_oauth_admins, demo_accounts


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
    parser.add_argument(
        "--end-day",
        type=dt.date.fromisoformat,
        default=None,
        help="last day with usage, YYYY-MM-DD (default today, UTC)",
    )
    parser.add_argument(
        "--second-org", action="store_true", help='also serve "Lakeside County GIS" (url key lakeside, seed 11)'
    )
    parser.add_argument(
        "--cert-dir",
        default=None,
        help="directory for the self-signed certificate (reused while valid; default: a temporary directory)",
    )
    parser.add_argument(
        "--oauth-admins",
        action="store_true",
        help="add an enterprise-login admin and an MFA admin to each org, for Sign in with ArcGIS (docs/oauth.md)",
    )
    parser.add_argument("--token-ttl", type=int, default=7200, help="token lifetime in seconds (default 7200)")
    parser.add_argument("--verbose", action="store_true", help="log each request (path and status) to stderr")
    parser.add_argument(
        "--ready-file",
        default=None,
        metavar="PATH",
        help="once listening, write a JSON file with the URL, the CA bundle and the orgs' "
        "sign-in accounts (removed on exit)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    size = {"members": args.members, "days": args.days, "end_day": args.end_day}
    orgs = [build_demo_org(OrgSpec(seed=args.seed, **size))]
    if args.second_org:
        orgs.append(build_demo_org(OrgSpec(seed=11, name="Lakeside County GIS", url_key="lakeside", **size)))
    if args.oauth_admins:
        orgs = [add_oauth_admins(org) for org in orgs]
    emulator = PortalEmulator(
        orgs,
        host=args.host,
        port=args.port,
        cert_dir=args.cert_dir,
        token_ttl_s=args.token_ttl,
        verbose=args.verbose,
        ready_file=args.ready_file,
    )
    emulator.start()
    lines = [f"Credit Lens portal emulator listening on {emulator.url}"]
    for org in orgs:
        lines.append(
            f"  {org.name} (org id {org.org_id}, url key {org.spec.url_key}, "
            f"{len(org.members)} members, usage {org.first_day} to {org.last_day})"
        )
        for username, password in org.passwords.items():
            lines.append(f"    {username:<22} password {password:<32} {org.account_note(username)}")
        for account in demo_accounts(org):  # Sign in with ArcGIS only
            secret = f"password {account['password']} code {account['mfa_code']}" if "password" in account else ""
            lines.append(f"    {account['username']:<22} {secret:<41} {account['note']}")
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
