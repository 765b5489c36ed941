"""``creditlens export``: one report for a UTC date range, as CSV or JSON.

Every range is read from an archive after the archive has been brought up to date for it: a
folder given with ``--archive`` (which also serves ranges past ArcGIS Online's two-year
retention, where it covers them), or an in-memory one for this run. ``--offline`` reads a folder
without signing in.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

import pandas as pd

from creditlens import reports
from creditlens.archive import Archive, ArchivedRange, archived_orgs, ensure, read_range
from creditlens.archive.sync import utc_now
from creditlens.cli import summary as chargeback_cli
from creditlens.cli.common import (
    CliError,
    add_source_args,
    check_source_args,
    fail,
    mark_incomplete,
    needs_password,
    open_connection,
    read_password,
    write_output,
)
from creditlens.cli.sync import window_printer
from creditlens.dates import InvalidDateRange, parse_day, validate_range
from creditlens.errors import CreditLensError, redact
from creditlens.exporting import HEADER_STYLES, to_csv_bytes, to_json_bytes
from creditlens.money import add_cost_column

REPORTS = ("leaderboard", "usage", "reconciliation", "members", "chargeback")
#: Reports with money: the leaderboard gets a cost column after credits, as the app's download does.
PRICED_REPORTS = ("leaderboard", "chargeback")


def add_parser(sub: argparse._SubParsersAction) -> None:
    export = sub.add_parser("export", help="write a report for a date range as CSV or JSON")
    add_source_args(export, required=False)
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
    export.add_argument(
        "--archive", metavar="DIR", help="read from this archive folder, syncing the range into it first"
    )
    export.add_argument(
        "--offline", action="store_true", help="with --archive: no sign-in; fail if the archive lacks part of the range"
    )
    export.add_argument("--org", metavar="ORG_ID", help="with --offline: the org to read when DIR holds several")
    chargeback_cli.add_chargeback_args(export)  # --cost-centers for chargeback; --price, --currency for both priced
    export.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    password: str | None = None
    try:
        check_export_args(args)
        if args.offline:
            return run_offline(args)
        check_source_args(args)
        password = read_password() if needs_password(args) else None
        return run_export(args, password)
    except CreditLensError as exc:
        return fail(redact(str(exc), password))


def check_export_args(args: argparse.Namespace) -> None:
    if args.offline and not args.archive:
        raise CliError("--offline reads an archive: add --archive DIR.")
    if args.offline and (args.demo or args.portal is not None):
        raise CliError("--offline does not sign in: drop --demo/--portal, or drop --offline to sync first.")
    if args.org and not args.offline:
        raise CliError("--org picks an archive with --offline; a sign-in already names its org.")
    if not args.offline and not args.demo and args.portal is None:
        raise CliError("Say where the usage comes from: --demo, --portal URL, or --archive DIR --offline.")
    if args.report not in PRICED_REPORTS and (args.price is not None or args.currency):
        raise CliError(f"--price and --currency apply to {' and '.join(PRICED_REPORTS)} reports, not {args.report}.")


def requested_range(args: argparse.Namespace, today: dt.date) -> tuple[dt.date, dt.date]:
    """The range asked for. With an archive it may reach past the two-year retention."""
    start, end = parse_day(args.start, "start date"), parse_day(args.end, "end date")
    if not args.archive:
        return validate_range(start, end, today, clamp_future_end=False)
    if end < start:
        raise InvalidDateRange(f"The range ends ({end}) before it starts ({start}). Swap the dates.")
    if end > today:
        raise InvalidDateRange(
            f"The range ends in the future ({end}); today is {today} (UTC), the last day with usage. "
            f"End it on {today} or earlier."
        )
    return start, end


def run_export(args: argparse.Namespace, password: str | None) -> int:
    today = utc_now().date()
    start, end = requested_range(args, today)
    conn = open_connection(args, password)
    archive = Archive(conn.identity.org_id, args.archive)  # in memory for this run without --archive
    progress = window_printer(sys.stderr) if args.archive else None
    sync = ensure(archive, conn, start, end, today=today, on_window=progress)
    data = read_range(archive, start, end, today=today, sync=sync)
    return write_report(args, data, conn)


def run_offline(args: argparse.Namespace) -> int:
    today = utc_now().date()
    start, end = requested_range(args, today)
    archive = Archive(offline_org(args.archive, args.org), args.archive)
    data = read_range(archive, start, end, today=today)
    if not data.complete and not args.allow_partial:
        raise CliError(f"The archive does not cover the range. {data.warning()} Nothing was written.")
    return write_report(args, data)


def offline_org(directory: str, org: str | None) -> str:
    found = archived_orgs(Path(directory))
    if not found:
        raise CliError(f"No archive in {directory}: run creditlens sync --archive {directory} first.")
    if org is None and len(found) > 1:
        raise CliError(f"{directory} holds the archives of several orgs; pick one with --org: {', '.join(found)}.")
    if org is not None and org not in found:
        raise CliError(f"No archive of org {org} in {directory}; it holds: {', '.join(found)}.")
    return org or found[0]


def write_report(args: argparse.Namespace, data: ArchivedRange, conn=None) -> int:
    needs_usage = args.report != "members"
    if needs_usage and not data.complete:
        if not args.allow_partial:
            raise CliError(f"{data.warning()} Nothing was written; use --allow-partial to write what loaded.")
        print(f"creditlens: warning: {data.warning()} The file holds only what loaded.", file=sys.stderr)
    if args.report == "chargeback":
        frame = chargeback_cli.chargeback_report(args, conn, data)  # conn is None offline
    elif args.report == "leaderboard":
        frame = add_cost_column(build_report(args.report, data), chargeback_cli.pricing_from_args(args))
    else:
        frame = build_report(args.report, data)
    if needs_usage and not data.complete:
        frame = mark_incomplete(frame, data.warning() or "incomplete")
    headers = getattr(args, "headers", "codes")
    payload = to_json_bytes(frame, headers) if args.format == "json" else to_csv_bytes(frame, headers)
    write_output(payload, args.out)
    return 0


def build_report(report: str, data: ArchivedRange) -> pd.DataFrame:
    """One report from the archived range; leaderboard and reconciliation need no days, so they take the
    range summed per series in SQL."""
    org_id = data.archive.org_id
    if report == "members":
        return data.members
    if report == "leaderboard":
        return reports.leaderboard(data.summary, data.members, org_id)
    if report == "reconciliation":
        return reports.reconcile_members(data.summary, data.members, org_id).table
    return reports.usage_rows(data.daily())
