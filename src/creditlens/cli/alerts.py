"""``creditlens alerts check``: evaluate the alert rules on fresh usage and deliver what fired, once.

::

    creditlens alerts check (--demo | --portal URL --username U [--ca-bundle PEM]) --rules FILE
                            [--archive DIR] [--dry-run] [--format text|json]

The fired alerts are printed (text, or a JSON list with rule, scope, subject, window_start,
window_end, credits, threshold). With ``--archive DIR`` the days are synced into that usage archive
first (only missing or stale ones are fetched) and read from it. Without ``--dry-run`` each alert
not sent before is delivered by email and/or webhook; a channel that fails makes the run exit 1,
names the channel, and its alerts are tried again on the next run. Usage that did not load
completely is never evaluated (exit 3).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from creditlens.cli.common import (
    EXIT_ERROR,
    EXIT_INCOMPLETE,
    CliError,
    add_source_args,
    check_source_args,
    fail,
    needs_password,
    open_connection,
    read_password,
)
from creditlens.dates import utc_today
from creditlens.errors import CreditLensError, redact
from creditlens.fetching import UsageResult, fetch_members, fetch_usage
from creditlens.portal import PortalConnection
from creditlens.watch import delivery, sent
from creditlens.watch.evaluate import Alert, Evaluation, evaluate_rules, fetch_range
from creditlens.watch.rules import RuleSet, load_rules

RULES_ENV = "CREDITLENS_ALERT_RULES"
SECRETS_PATH = Path(".streamlit/secrets.toml")


def add_parser(sub: argparse._SubParsersAction) -> None:
    alerts = sub.add_parser("alerts", help="check alert rules and send what fired (email, webhook)")
    actions = alerts.add_subparsers(dest="alerts_command", required=True)
    check = actions.add_parser("check", help="evaluate every rule on fresh data; deliver new alerts")
    add_source_args(check)
    check.add_argument(
        "--rules", metavar="FILE", help=f"the TOML rules file (default: [creditlens] alert_rules or {RULES_ENV})"
    )
    check.add_argument("--archive", metavar="DIR", help="sync this usage archive first and read history from it")
    check.add_argument("--dry-run", action="store_true", help="print what fires; send nothing, remember nothing")
    check.add_argument("--format", default="text", choices=("text", "json"))
    check.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    password: str | None = None
    try:
        check_source_args(args)
        section = _secrets_section()
        rules = load_rules(_rules_path(args.rules, section))
        settings = None if args.dry_run else _delivery_settings(section)
        password = read_password() if needs_password(args) else None
        return check_rules(args, rules, settings, password)
    except CreditLensError as exc:
        return fail(redact(str(exc), password))


def _secrets_section() -> dict:
    from creditlens.money import read_secrets_section

    return read_secrets_section(SECRETS_PATH)


def _rules_path(given: str | None, section: dict) -> Path:
    value = given or section.get("alert_rules") or os.environ.get(RULES_ENV)
    if not value:
        raise CliError(f"No rules: pass --rules FILE, or set alert_rules in [creditlens] or {RULES_ENV}.")
    return Path(str(value))


def _delivery_settings(section: dict) -> delivery.DeliverySettings:
    settings = delivery.load_delivery_settings(section)
    if not settings.channels:
        raise CliError(
            "Nowhere to send alerts: set smtp_host (CREDITLENS_SMTP_HOST) for email or alert_webhook_url "
            "(CREDITLENS_ALERT_WEBHOOK_URL) for a webhook, or use --dry-run. See docs/alerts.md."
        )
    return settings


def check_rules(
    args: argparse.Namespace, rules: RuleSet, settings: delivery.DeliverySettings | None, password: str | None
) -> int:
    conn = open_connection(args, password)
    evaluation = evaluate_now(conn, rules, args.archive)
    if not evaluation.complete:
        return EXIT_INCOMPLETE
    _print_alerts(evaluation.alerts, args.format, conn.org_name)
    for problem in evaluation.problems:
        print(f"creditlens: warning: {problem}", file=sys.stderr)
    failures = [] if settings is None else deliver_new(conn, rules, settings, evaluation.alerts)
    for failure in failures:
        print(f"creditlens: delivery failed: {failure}; it will be retried on the next run.", file=sys.stderr)
    return EXIT_ERROR if failures or evaluation.problems else 0


def evaluate_now(conn: PortalConnection, rules: RuleSet, archive_dir: str | None = None) -> Evaluation:
    """Fetch the whole UTC days the rules need (ending yesterday), or sync them into the archive, and evaluate."""
    today = utc_today()
    start, end = fetch_range(rules, today)
    members = fetch_members(conn)
    result = usage_from_archive(conn, archive_dir, start, end) if archive_dir else fetch_usage(conn, start, end)
    if not result.complete:
        print(f"creditlens: {result.warning()} No rule was checked and nothing was sent.", file=sys.stderr)
        return Evaluation([], [], complete=False)
    return evaluate_rules(rules, result.frame, members, conn.identity.org_id, today, conn.available_credits)


def usage_from_archive(conn: PortalConnection, directory: str, start, end) -> UsageResult:
    """Sync ``start``..``end`` into the org's archive in ``directory`` (only missing or stale days), then read it."""
    from creditlens.archive import Archive, ensure, read_range

    path = Path(directory)
    if path.exists() and not path.is_dir():
        raise CliError(f"--archive {directory} is a file; give the archive's folder.")
    archive = Archive(conn.identity.org_id, path)
    report = ensure(archive, conn, start, end)
    return read_range(archive, start, end, sync=report).usage_result()


def _print_alerts(alerts: list[Alert], fmt: str, org_name: str) -> None:
    if fmt == "json":
        sys.stdout.write(json.dumps([a.as_record() for a in alerts], indent=2) + "\n")
    elif not alerts:
        sys.stdout.write(f"No alerts for {delivery.plain(org_name)}.\n")
    else:
        lines = [delivery.plain(a.describe()) for a in alerts]
        sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()


def deliver_new(
    conn: PortalConnection, rules: RuleSet, settings: delivery.DeliverySettings, alerts: list[Alert]
) -> list[str]:
    """Send each alert not yet sent on each channel; the failures, one line per channel."""
    if rules.path is None:
        raise CliError("The rules have no file to keep the sent-alerts state beside.")
    state_path = sent.state_path_for(rules.path)
    failures = []
    with sent.locked(state_path):
        log = sent.SentLog.load(state_path, f"{conn.identity.portal_url}|{conn.identity.org_id}")
        for channel in settings.channels:
            pending = [a for a in alerts if not log.was_sent(a.key, channel)]
            if not pending:
                continue
            try:
                delivery.deliver(channel, settings, pending, conn.org_name)
            except delivery.DeliveryError as exc:
                failures.append(str(exc))
                continue
            for alert in pending:
                log.mark_sent(alert.key, channel)
            log.save()  # after each channel, so a later failure cannot make this one send again
            print(f"creditlens: sent {len(pending)} alert(s) by {channel}.", file=sys.stderr)
    return failures
