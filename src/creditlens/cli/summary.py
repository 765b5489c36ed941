"""``creditlens summary``: the management summary of a UTC range as a PDF.

Also the chargeback flags ``creditlens export --report chargeback`` shares with it:
``--cost-centers groups|FILE.csv|role|user_type [--group-tag T] [--price P --currency C]``.
The price and currency default to ``[creditlens] credit_price``/``currency`` in
``.streamlit/secrets.toml`` or ``CREDITLENS_CREDIT_PRICE``/``CREDITLENS_CURRENCY``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

import pandas as pd

from creditlens import chargeback as cb
from creditlens import reports
from creditlens.archive import Archive, ArchivedRange, SyncReport, ensure, read_range
from creditlens.archive.sync import utc_now
from creditlens.cli.common import (
    CliError,
    add_source_args,
    check_source_args,
    fail,
    needs_password,
    open_connection,
    read_password,
    write_output,
)
from creditlens.dates import oldest_day, parse_day, validate_range
from creditlens.errors import CreditLensError, redact
from creditlens.money import Pricing, check_price, load_pricing, parse_currency, read_secrets_section
from creditlens.portal import PortalConnection

SOURCE_HELP = "groups (tagged --group-tag), FILE.csv (username,cost_center), role or user_type"


def add_chargeback_args(parser: argparse.ArgumentParser, default: str | None = None) -> None:
    """``--cost-centers``, ``--group-tag``, ``--price`` and ``--currency``."""
    parser.add_argument("--cost-centers", metavar="SOURCE", default=default, help=f"cost centers from {SOURCE_HELP}")
    parser.add_argument(
        "--group-tag", default=cb.DEFAULT_GROUP_TAG, help="with --cost-centers groups: the tag of cost-center groups"
    )
    parser.add_argument("--price", type=_price_arg, help="money per credit, e.g. 0.10 (default: config)")
    parser.add_argument("--currency", type=_currency_arg, help="ISO 4217 code, e.g. USD (default: config or USD)")


def _price_arg(text: str) -> float:
    try:
        return check_price(float(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a price: give money per credit, e.g. 0.10.") from None
    except CreditLensError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _currency_arg(text: str) -> str:
    try:
        return parse_currency(text)
    except CreditLensError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def pricing_from_args(args: argparse.Namespace) -> Pricing:
    """The flags over the config (secrets file, then environment)."""
    configured = load_pricing(read_secrets_section())
    price = args.price if args.price is not None else configured.price
    return Pricing(price, args.currency or configured.currency)


def cost_centers_from_args(
    args: argparse.Namespace, conn: PortalConnection | None, members: pd.DataFrame
) -> cb.CostCenters:
    source = (args.cost_centers or "").strip()
    if not source:
        raise CliError(f"--report chargeback needs --cost-centers: {SOURCE_HELP}.")
    if source in (cb.ROLE, cb.USER_TYPE):
        return cb.from_member_field(members, source)
    if source == cb.GROUPS:
        return cb.groups_cost_centers(conn, members, tag=args.group_tag)
    path = Path(source)
    if not path.is_file():
        raise CliError(f"--cost-centers '{source}' is neither {SOURCE_HELP.replace('FILE.csv', 'a file')}.")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CliError(f"Could not read {source}: {exc.strerror or type(exc).__name__}.") from None
    centers = cb.from_mapping_csv(data, members)
    report = centers.report
    if report is not None:
        print(f"creditlens: {source}: {report.summary()}", file=sys.stderr)
        for issue in report.issues():
            print(f"creditlens: {source}: {issue.describe()}", file=sys.stderr)
    return centers


def chargeback_report(args: argparse.Namespace, conn: PortalConnection | None, data: ArchivedRange) -> pd.DataFrame:
    """The Chargeback page's table for ``export --report chargeback``; its add-up check goes to stderr.

    The table needs no days, so it takes the range summed per series; ``conn`` is None offline,
    where groups cannot be fetched.
    """
    if conn is None and (args.cost_centers or "").strip() == cb.GROUPS:
        raise CliError("--cost-centers groups fetches the org's groups: it needs a sign-in, not --offline.")
    centers = cost_centers_from_args(args, conn, data.members)
    org_total = float(data.org_totals["credits"].sum()) if len(data.org_totals) else None
    org_id = data.archive.org_id
    charge = cb.build_chargeback(
        data.summary, data.members, org_id, centers, pricing_from_args(args), org_total, data.complete
    )
    print(f"creditlens: {charge.check.describe()}", file=sys.stderr)
    return charge.table


# -- the command ----------------------------------------------------------------------------------------
def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("summary", help="write the management summary of a date range as a PDF")
    add_source_args(parser)
    parser.add_argument("--start", required=True, help="first UTC day, YYYY-MM-DD (inclusive)")
    parser.add_argument("--end", required=True, help="last UTC day, YYYY-MM-DD (inclusive)")
    parser.add_argument("--out", metavar="FILE.pdf", required=True, help="the PDF to write")
    add_chargeback_args(parser, default=cb.ROLE)
    parser.add_argument("--allow-partial", action="store_true", help="write what loaded even if some windows failed")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    password: str | None = None
    try:
        check_source_args(args)
        password = read_password() if needs_password(args) else None
        return run_summary(args, password)
    except CreditLensError as exc:
        return fail(redact(str(exc), password))


def run_summary(args: argparse.Namespace, password: str | None) -> int:
    """Sync the range and the previous period into an in-memory archive, read both, write the PDF."""
    from creditlens.summary_pdf import build_summary, render_pdf

    today = utc_now().date()
    start, end = validate_range(
        parse_day(args.start, "start date"), parse_day(args.end, "end date"), today, clamp_future_end=False
    )
    if Path(args.out).is_dir():
        raise CliError(f"--out {args.out} is a folder: name a PDF file in it.")
    conn = open_connection(args, password)
    prev_start, prev_end = reports.previous_period(start, end)
    archive = Archive(conn.identity.org_id, None)
    sync = ensure(archive, conn, max(prev_start, oldest_day(today)), end, today=today)
    data = read_range(archive, start, end, today=today, sync=sync)
    if not data.complete:
        if not args.allow_partial:
            raise CliError(f"{data.warning()} Nothing was written; use --allow-partial to write what loaded.")
        print(f"creditlens: warning: {data.warning()} The summary says so on its first page.", file=sys.stderr)
    previous, previous_note = _previous_usage(archive, prev_start, prev_end, today, sync)
    summary = build_summary(
        org_name=conn.org_name,
        org_id=conn.identity.org_id,
        start=start,
        end=end,
        usage=data.daily(),
        previous=previous,
        members=data.members,
        org_totals=data.org_totals,
        cost_centers=cost_centers_from_args(args, conn, data.members),
        pricing=pricing_from_args(args),
        available_credits=conn.available_credits,
        budgets_enabled=conn.budgets_enabled,
        warning=data.warning(),
        previous_note=previous_note,
    )
    write_output(render_pdf(summary), args.out)
    return 0


def _previous_usage(
    archive: Archive, start: dt.date, end: dt.date, today: dt.date, sync: SyncReport
) -> tuple[pd.DataFrame | None, str | None]:
    """The previous period's usage, or None with the reason it cannot be compared."""
    if start < oldest_day(today):
        return None, "The previous period reaches past the two years ArcGIS Online keeps, so it is not compared."
    previous = read_range(archive, start, end, today=today, sync=sync)
    if not previous.complete:
        return None, "The previous period could not be loaded completely, so it is not compared."
    return previous.summary, None
