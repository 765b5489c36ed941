"""``creditlens sync``: bring an org's archive up to date, one line per usage window, then a summary."""

from __future__ import annotations

import argparse
import datetime as dt
import sys

from creditlens.archive import Archive, WindowEvent, ensure
from creditlens.archive.sync import DEFAULT_LOCK_WAIT_S, oldest_fetchable, utc_now
from creditlens.cli.common import (
    EXIT_INCOMPLETE,
    CliError,
    add_source_args,
    check_source_args,
    fail,
    needs_password,
    open_connection,
    read_password,
)
from creditlens.dates import parse_day
from creditlens.errors import CreditLensError, redact

BAR_WIDTH = 24


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "sync", help="fetch the usage days an org's archive lacks or that may still change (run it nightly)"
    )
    add_source_args(parser)
    parser.add_argument("--archive", metavar="DIR", required=True, help="the archive folder (one file per org)")
    parser.add_argument(
        "--start", help="first UTC day to hold, YYYY-MM-DD (default: everything the portal keeps, two years)"
    )
    parser.add_argument(
        "--lock-wait",
        type=float,
        default=DEFAULT_LOCK_WAIT_S,
        metavar="S",
        help=f"seconds to wait for another sync of the same org (default {DEFAULT_LOCK_WAIT_S:g})",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    password: str | None = None
    try:
        check_source_args(args)
        today = utc_now().date()
        start = parse_day(args.start, "start date") if args.start else oldest_fetchable(today)
        if start > today:
            raise CliError(f"--start {start} is in the future; today is {today} (UTC).")
        password = read_password() if needs_password(args) else None
        return run_sync(args, password, start, today)
    except CreditLensError as exc:
        return fail(redact(str(exc), password))


def run_sync(args: argparse.Namespace, password: str | None, start: dt.date, today: dt.date) -> int:
    conn = open_connection(args, password)
    archive = Archive(conn.identity.org_id, args.archive)
    print(f"Syncing org {conn.identity.org_id} into {archive.path}, {start} to {today} (UTC)", flush=True)
    report = ensure(
        archive, conn, start, today, today=today, on_window=window_printer(sys.stdout), lock_timeout_s=args.lock_wait
    )
    if not report.windows:
        print("Nothing to fetch: every day is archived and settled.")
    print(f"Done: {report.summary()}.", flush=True)
    if not report.complete:
        for failure in report.failures:
            print(f"creditlens: warning: not archived: {redact(failure.describe())}", file=sys.stderr)
        return EXIT_INCOMPLETE
    return 0


def window_printer(stream):
    """One line per window; with a progress bar when ``stream`` is a terminal."""
    tty = getattr(stream, "isatty", lambda: False)()

    def show(event: WindowEvent) -> None:
        prefix = f"window {event.done}/{event.total}"
        if tty:
            filled = round(BAR_WIDTH * event.done / max(1, event.total))
            prefix = f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {prefix}"
        if event.error:
            what = f"FAILED: {redact(event.error)}"
        else:
            what = f"{event.added} day(s) added, {event.refreshed} refreshed"
        print(f"{prefix} {event.window.label()}: {what}", file=stream, flush=True)

    return show
