"""What every command shares: the connection flags, the password, output files and one-line errors."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Callable
from pathlib import Path

from creditlens.errors import CreditLensError
from creditlens.fake.demo_org import OrgSpec
from creditlens.portal import PortalConnection, connect, connect_demo, normalize_portal_url

EXIT_ERROR = 1
EXIT_INCOMPLETE = 3


class CliError(CreditLensError):
    pass


def fail(message: str) -> int:
    """Print one line on stderr and return the error exit code."""
    print(f"creditlens: {message}", file=sys.stderr)
    return EXIT_ERROR


def add_source_args(parser: argparse.ArgumentParser, required: bool = True) -> None:
    """``--demo`` or ``--portal URL --username U [--ca-bundle PEM]``."""
    source = parser.add_mutually_exclusive_group(required=required)
    source.add_argument("--demo", action="store_true", help="use the built-in synthetic demo organization")
    source.add_argument("--portal", metavar="URL", help="your organization's URL, e.g. https://myorg.maps.arcgis.com")
    parser.add_argument("--username", help="ArcGIS Online username (with --portal)")
    parser.add_argument("--ca-bundle", metavar="PEM", help="CA bundle to trust (e.g. the emulator's certificate)")
    parser.add_argument("--demo-members", type=int, default=OrgSpec.members, help=argparse.SUPPRESS)
    parser.add_argument("--demo-seed", type=int, default=OrgSpec.seed, help=argparse.SUPPRESS)


def check_source_args(args: argparse.Namespace) -> None:
    """Refuse a bad URL or a missing username before asking for a password."""
    if args.demo:
        return
    normalize_portal_url(args.portal)
    if not args.username:
        raise CliError("--portal needs --username.")


def read_password(prompt: Callable[[str], str] = getpass.getpass) -> str:
    """``CREDITLENS_PASSWORD`` from the environment or ``.env``, else a prompt on a terminal."""
    from dotenv import load_dotenv

    load_dotenv(override=False)
    password = os.environ.get("CREDITLENS_PASSWORD")
    if password:
        return password
    if not sys.stdin or not sys.stdin.isatty():
        raise CliError("No password: set CREDITLENS_PASSWORD (environment or .env), or run in a terminal to be asked.")
    return prompt("ArcGIS Online password: ")


def open_connection(args: argparse.Namespace, password: str | None) -> PortalConnection:
    if args.demo:
        return connect_demo(OrgSpec(members=args.demo_members, seed=args.demo_seed))
    return connect(args.portal, args.username, password or "", ca_bundle=args.ca_bundle)


def write_output(payload: bytes, out: str | None) -> None:
    """Standard output, or ``out`` written whole (a temporary file renamed into place)."""
    if not out:
        sys.stdout.buffer.write(payload)
        sys.stdout.flush()
        return
    path = Path(out)
    if path.parent and not path.parent.exists():
        raise CliError(f"The folder {path.parent} does not exist.")
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(payload)
    tmp.replace(path)  # never leave a half-written report behind
