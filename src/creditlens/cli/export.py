"""``creditlens export``: one report for a UTC date range, as CSV or JSON."""

from __future__ import annotations

import argparse
import sys

import pandas as pd

from creditlens import reports
from creditlens.cli.common import (
    CliError,
    add_source_args,
    check_source_args,
    fail,
    mark_incomplete,
    open_connection,
    read_password,
    write_output,
)
from creditlens.dates import parse_day, validate_range
from creditlens.errors import CreditLensError, redact
from creditlens.exporting import HEADER_STYLES, to_csv_bytes, to_json_bytes
from creditlens.fetching import UsageResult, fetch_members, fetch_usage

REPORTS = ("leaderboard", "usage", "reconciliation", "members")


def add_parser(sub: argparse._SubParsersAction) -> None:
    export = sub.add_parser("export", help="write a report for a date range as CSV or JSON")
    add_source_args(export)
    export.add_argument("--start", required=True, help="first UTC day, YYYY-MM-DD (inclusive)")
    export.add_argument("--end", required=True, help="last UTC day, YYYY-MM-DD (inclusive)")
    export.add_argument("--report", required=True, choices=REPORTS)
    export.add_argument("--format", default="csv", choices=("csv", "json"))
    export.add_argument("--out", metavar="FILE", help="write here instead of standard output")
    export.add_argument("--allow-partial", action="store_true", help="write what loaded even if some windows failed")
    export.add_argument(
        "--headers",
        default="codes",
        choices=HEADER_STYLES,
        help="codes: snake_case headers and status codes (stable for scripts); human: the app's download form",
    )
    export.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    password: str | None = None
    try:
        check_source_args(args)
        password = None if args.demo else read_password()
        return run_export(args, password)
    except CreditLensError as exc:
        return fail(redact(str(exc), password))


def run_export(args: argparse.Namespace, password: str | None) -> int:
    start, end = validate_range(
        parse_day(args.start, "start date"), parse_day(args.end, "end date"), clamp_future_end=False
    )
    conn = open_connection(args, password)
    members = fetch_members(conn)
    result = fetch_usage(conn, start, end) if args.report != "members" else None
    if result is not None and not result.complete:
        if not args.allow_partial:
            raise CliError(f"{result.warning()} Nothing was written; use --allow-partial to write what loaded.")
        print(f"creditlens: warning: {result.warning()} The file holds only what loaded.", file=sys.stderr)
    frame = build_report(args.report, result, members, conn.identity.org_id)
    if result is not None and not result.complete:
        frame = mark_incomplete(frame, result.warning() or "incomplete")
    headers = getattr(args, "headers", "codes")
    payload = to_json_bytes(frame, headers) if args.format == "json" else to_csv_bytes(frame, headers)
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
    return reports.usage_rows(usage)
