"""``creditlens archive``: look at an archive folder, or export it as Parquet for a warehouse."""

from __future__ import annotations

import argparse
from pathlib import Path

from creditlens.archive import Archive, archived_orgs
from creditlens.archive import reading as archive_reading
from creditlens.archive.parquet import export_parquet
from creditlens.cli.common import CliError, fail
from creditlens.errors import CreditLensError


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("archive", help="inspect an archive folder or export it as Parquet")
    actions = parser.add_subparsers(dest="archive_command", required=True)
    parquet = actions.add_parser(
        "export-parquet", help="write every org's archive as Parquet, Hive-partitioned by org and month"
    )
    parquet.add_argument("--archive", metavar="DIR", required=True, help="the archive folder")
    parquet.add_argument("--out", metavar="DIR2", required=True, help="the folder to write the Parquet datasets in")
    parquet.add_argument("--org", metavar="ORG_ID", help="only this org (default: every org in the folder)")
    parquet.set_defaults(run=run, action=run_export_parquet)
    info = actions.add_parser("info", help="list the orgs in an archive folder with their history")
    info.add_argument("--archive", metavar="DIR", required=True, help="the archive folder")
    info.set_defaults(run=run, action=run_info)


def run(args: argparse.Namespace) -> int:
    """The chosen ``archive`` action."""
    return int(args.action(args))


def orgs_in(directory: str, org: str | None = None) -> list[str]:
    """The org ids to act on; a clear error when the folder holds none, or not ``org``."""
    found = archived_orgs(Path(directory))
    if not found:
        raise CliError(f"No archive in {directory}: run creditlens sync --archive {directory} first.")
    if org is not None:
        if org not in found:
            raise CliError(f"No archive of org {org} in {directory}; it holds: {', '.join(found)}.")
        return [org]
    return found


def run_export_parquet(args: argparse.Namespace) -> int:
    try:
        out = Path(args.out)
        if out.exists() and not out.is_dir():
            raise CliError(f"--out {args.out} is a file, not a folder.")
        for org_id in orgs_in(args.archive, args.org):
            counts = export_parquet(Archive(org_id, args.archive), out)
            rows = ", ".join(f"{n} {name}" for name, n in counts.items())
            print(f"org {org_id}: {rows} rows written under {out}")
        return 0
    except CreditLensError as exc:
        return fail(str(exc))
    except OSError as exc:
        return fail(f"Could not write {args.out}: {exc.strerror or type(exc).__name__}.")


def run_info(args: argparse.Namespace) -> int:
    try:
        for org_id in orgs_in(args.archive):
            with Archive(org_id, args.archive).reading() as con:
                first, synced = archive_reading.history(con)
                days = con.execute("SELECT count(*) FROM coverage").fetchone()[0]
            last = synced.strftime("%Y-%m-%d %H:%M UTC") if synced else "never"
            print(f"org {org_id}: {days} day(s) archived, history from {first or '—'}, last synced {last}")
        return 0
    except CreditLensError as exc:
        return fail(str(exc))
