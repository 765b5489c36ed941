"""What every command shares: the connection flags, the password, output files and one-line errors."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from creditlens.errors import CreditLensError, LoginFailed
from creditlens.fake.demo_org import OrgSpec
from creditlens.oauth import REMEMBER_EXPIRATION_MIN, out_of_band_sign_in, remember_sign_in, remembered_sign_in
from creditlens.portal import PortalConnection, connect, connect_demo, connect_with_token, normalize_portal_url

EXIT_ERROR = 1
PASSWORD_HINT = "Accounts on an enterprise login (SAML) or with multifactor authentication: use --client-id."
EXIT_INCOMPLETE = 3


class CliError(CreditLensError):
    pass


def fail(message: str) -> int:
    """Print one line on stderr and return the error exit code."""
    print(f"creditlens: {message}", file=sys.stderr)
    return EXIT_ERROR


def add_source_args(parser: argparse.ArgumentParser, required: bool = True) -> None:
    """``--demo`` or ``--portal URL (--username U | --client-id ID | --token-env NAME) [--ca-bundle PEM]``."""
    source = parser.add_mutually_exclusive_group(required=required)
    source.add_argument("--demo", action="store_true", help="use the built-in synthetic demo organization")
    source.add_argument("--portal", metavar="URL", help="your organization's URL, e.g. https://myorg.maps.arcgis.com")
    parser.add_argument("--username", help="ArcGIS Online username (with --portal)")
    parser.add_argument(
        "--client-id",
        metavar="ID",
        help="sign in with ArcGIS instead of a password (enterprise logins, MFA): open the printed URL, paste the code",
    )
    parser.add_argument(
        "--remember",
        action="store_true",
        help="with --client-id: keep the sign-in in the OS keyring (never a file), so later runs skip the browser",
    )
    parser.add_argument(
        "--token-env", metavar="NAME", help="sign in with an access token another tool put in environment variable NAME"
    )
    parser.add_argument("--ca-bundle", metavar="PEM", help="CA bundle to trust (e.g. the emulator's certificate)")
    parser.add_argument("--demo-members", type=int, default=OrgSpec.members, help=argparse.SUPPRESS)
    parser.add_argument("--demo-seed", type=int, default=OrgSpec.seed, help=argparse.SUPPRESS)


def check_source_args(args: argparse.Namespace) -> None:
    """Refuse a bad URL or a missing username before asking for a password."""
    if args.demo:
        return
    normalize_portal_url(args.portal)
    ways = [name for name in ("username", "client_id", "token_env") if getattr(args, name, None)]
    if len(ways) != 1:
        raise CliError("--portal needs one of --username, --client-id or --token-env.")
    if getattr(args, "remember", False) and not getattr(args, "client_id", None):
        raise CliError("--remember keeps a Sign in with ArcGIS: use it with --client-id.")
    if getattr(args, "token_env", None) and not os.environ.get(args.token_env, "").strip():
        raise CliError(f"--token-env {args.token_env}: that environment variable is empty or not set.")


def needs_password(args: argparse.Namespace) -> bool:
    """Whether this sign-in takes a password (not the demo, not Sign in with ArcGIS, not a token)."""
    return not (args.demo or getattr(args, "client_id", None) or getattr(args, "token_env", None))


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
    if getattr(args, "token_env", None):  # the token stays in the environment: never printed or written
        return connect_with_token(args.portal, os.environ.get(args.token_env, ""), ca_bundle=args.ca_bundle)
    if getattr(args, "client_id", None):
        return sign_in_with_arcgis(args)
    try:
        return connect(args.portal, args.username, password or "", ca_bundle=args.ca_bundle)
    except LoginFailed as exc:  # ArcGIS Online cannot tell these accounts from a wrong password
        if "username or password is wrong" in str(exc):
            raise LoginFailed(f"{exc} {PASSWORD_HINT}") from None
        raise


def sign_in_with_arcgis(args: argparse.Namespace) -> PortalConnection:
    """``--client-id``: the remembered sign-in (``--remember``), else the out-of-band flow in a browser."""
    portal_url, remember = normalize_portal_url(args.portal), getattr(args, "remember", False)
    tokens = remembered_sign_in(portal_url, args.client_id, args.ca_bundle) if remember else None
    if tokens is None:
        lifetime = {"expiration_min": REMEMBER_EXPIRATION_MIN} if remember else {}
        tokens = out_of_band_sign_in(portal_url, args.client_id, read_code, show_on_stderr, args.ca_bundle, **lifetime)
        if remember and not remember_sign_in(tokens):
            show_on_stderr("creditlens: no OS keyring is available, so this sign-in is not remembered.")
    return connect_with_token(portal_url, tokens.access_token(), ca_bundle=args.ca_bundle, tokens=tokens)


def read_code(prompt: str) -> str:
    """The sign-in code: hidden on a terminal, else one line of standard input (for scripts)."""
    if sys.stdin and sys.stdin.isatty():
        return getpass.getpass(prompt)
    print(prompt, end="", file=sys.stderr, flush=True)
    return sys.stdin.readline() if sys.stdin else ""


def show_on_stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


#: The first column of a report written with ``--allow-partial`` from an incomplete fetch.
INCOMPLETE_COLUMN = "incomplete"


def mark_incomplete(frame: pd.DataFrame, warning: str) -> pd.DataFrame:
    """``frame`` with a first column naming what is missing on every row, so the file says so itself."""
    marked = frame.copy()
    marked.insert(0, INCOMPLETE_COLUMN, warning)
    return marked


def write_output(payload: bytes, out: str | None) -> None:
    """Standard output, or ``out`` written whole (a temporary file renamed into place).

    Every way this can fail is a :class:`CliError`: a folder, an unwritable place, a closed pipe.
    """
    if not out:
        write_stdout(payload)
        return
    path = Path(out)
    if path.is_dir():
        raise CliError(f"--out {out} is a folder: name a file in it, e.g. {path / 'report.csv'}.")
    if not path.parent.is_dir():
        raise CliError(f"The folder {path.parent} does not exist.")
    tmp = path.with_name(path.name + ".part")
    try:
        tmp.write_bytes(payload)
        tmp.replace(path)  # never leave a half-written report behind
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise CliError(f"Could not write {out}: {exc.strerror or type(exc).__name__}.") from None


def write_stdout(payload: bytes) -> None:
    """``payload`` on standard output; a reader that went away (``| head -c 0``) is one clear error."""
    try:
        sys.stdout.buffer.write(payload)
        sys.stdout.flush()
    except BrokenPipeError:
        silence_stdout()
        raise CliError("Standard output was closed before the report was written.") from None


def silence_stdout() -> None:
    """Point standard output at the null device, so the exit-time flush cannot raise a second time."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    finally:
        os.close(devnull)
