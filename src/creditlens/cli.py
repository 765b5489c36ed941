"""``creditlens``: the headless face of the same fetch and report functions the app uses.

    creditlens export (--demo | --portal URL --username U [--ca-bundle PEM])
                      --start YYYY-MM-DD --end YYYY-MM-DD
                      --report leaderboard|usage|reconciliation|members
                      [--format csv|json] [--out FILE] [--allow-partial]
    creditlens emulator [--port N] [--members N] [--seed N] [--second-org] ...
    creditlens hash-access-code < code.txt

The password comes from ``CREDITLENS_PASSWORD`` (environment or ``.env``) or a prompt, never a flag.
Every error is one line on stderr with a non-zero exit.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from creditlens import reports
from creditlens.dates import parse_day, validate_range
from creditlens.demo_org import OrgSpec
from creditlens.deployment import hash_access_code
from creditlens.errors import CreditLensError, redact
from creditlens.exporting import to_csv_bytes, to_json_bytes
from creditlens.fetching import UsageResult, fetch_members, fetch_usage
from creditlens.portal import PortalConnection, connect, connect_demo, normalize_portal_url
from creditlens.services import service_name

EXIT_ERROR = 1
EXIT_INCOMPLETE = 3
REPORTS = ("leaderboard", "usage", "reconciliation", "members")


class CliError(CreditLensError):
    pass


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="creditlens", description="ArcGIS Online credit usage per member.")
    sub = parser.add_subparsers(dest="command", required=True)
    export = sub.add_parser("export", help="write a report for a date range as CSV or JSON")
    source = export.add_mutually_exclusive_group(required=True)
    source.add_argument("--demo", action="store_true", help="use the built-in synthetic demo organization")
    source.add_argument("--portal", metavar="URL", help="your organization's URL, e.g. https://myorg.maps.arcgis.com")
    export.add_argument("--username", help="ArcGIS Online username (with --portal)")
    export.add_argument("--ca-bundle", metavar="PEM", help="CA bundle to trust (e.g. the emulator's certificate)")
    export.add_argument("--start", required=True, help="first UTC day, YYYY-MM-DD (inclusive)")
    export.add_argument("--end", required=True, help="last UTC day, YYYY-MM-DD (inclusive)")
    export.add_argument("--report", required=True, choices=REPORTS)
    export.add_argument("--format", default="csv", choices=("csv", "json"))
    export.add_argument("--out", metavar="FILE", help="write here instead of standard output")
    export.add_argument("--allow-partial", action="store_true", help="write what loaded even if some windows failed")
    export.add_argument("--demo-members", type=int, default=OrgSpec.members, help=argparse.SUPPRESS)
    export.add_argument("--demo-seed", type=int, default=OrgSpec.seed, help=argparse.SUPPRESS)
    sub.add_parser(
        "hash-access-code",
        help="make the salted hash of a shared access code for .streamlit/secrets.toml (reads the code from a "
        "prompt or standard input)",
    )
    emulator = sub.add_parser("emulator", help="serve a synthetic org over HTTPS for trying the real login path")
    emulator.add_argument("emulator_args", nargs=argparse.REMAINDER)
    return parser


def main(argv: list[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["emulator"]:
        from creditlens.emulator import main as emulator_main

        return emulator_main(args_list[1:])
    args = build_parser().parse_args(args_list)
    password: str | None = None
    try:
        if args.command == "hash-access-code":
            print(hash_access_code(read_access_code()))
            return 0
        if args.command == "export":
            if not args.demo:
                normalize_portal_url(args.portal)  # a bad URL is reported before asking for a password
                if not args.username:
                    raise CliError("--portal needs --username.")
            password = None if args.demo else read_password()
            return run_export(args, password)
    except CreditLensError as exc:
        print(f"creditlens: {redact(str(exc), password)}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("creditlens: interrupted", file=sys.stderr)
        return 130
    return EXIT_ERROR


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


def read_access_code(prompt: Callable[[str], str] = getpass.getpass) -> str:
    """The code to hash: asked twice on a terminal, or the first line of standard input."""
    if sys.stdin and sys.stdin.isatty():
        code = prompt("Access code: ")
        if prompt("Again: ") != code:
            raise CliError("The two codes differ.")
    else:
        code = sys.stdin.readline().rstrip("\n")
    if len(code) < 8:
        raise CliError("Use an access code of at least 8 characters.")
    return code


def open_connection(args: argparse.Namespace, password: str | None) -> PortalConnection:
    if args.demo:
        return connect_demo(OrgSpec(members=args.demo_members, seed=args.demo_seed))
    return connect(args.portal, args.username, password or "", ca_bundle=args.ca_bundle)


def run_export(args: argparse.Namespace, password: str | None) -> int:
    start, end = validate_range(parse_day(args.start, "start date"), parse_day(args.end, "end date"))
    conn = open_connection(args, password)
    members = fetch_members(conn)
    result = fetch_usage(conn, start, end) if args.report != "members" else None
    if result is not None and not result.complete:
        if not args.allow_partial:
            raise CliError(f"{result.warning()} Nothing was written; use --allow-partial to write what loaded.")
        print(f"creditlens: warning: {result.warning()} The file holds only what loaded.", file=sys.stderr)
    frame = build_report(args.report, result, members, conn.identity.org_id)
    payload = to_json_bytes(frame) if args.format == "json" else to_csv_bytes(frame)
    write_output(payload, args.out)
    return 0


def build_report(report: str, result: UsageResult | None, members: pd.DataFrame, org_id: str) -> pd.DataFrame:
    if report == "members":
        return members
    assert result is not None
    usage = result.frame
    if report == "leaderboard":
        return reports.leaderboard(usage, members, org_id)
    if report == "reconciliation":
        return reports.reconcile_members(usage, members, org_id).table
    return usage_export(usage)


def usage_export(usage: pd.DataFrame) -> pd.DataFrame:
    """The tidy rows with the service's human name beside its code."""
    out = usage.copy()
    out.insert(out.columns.get_loc("stype") + 1, "service", [service_name(s) for s in usage["stype"].astype(str)])
    return out.sort_values(["day", "username", "stype", "etype"], ignore_index=True)


def write_output(payload: bytes, out: str | None) -> None:
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


if __name__ == "__main__":
    raise SystemExit(main())
