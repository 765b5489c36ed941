"""``creditlens alerts check`` through the real arcgis client against the HTTPS emulator.

Email goes to a local aiosmtpd server started here (STARTTLS required, sign-in required), the
webhook to a local HTTP receiver; each test asserts what arrived.
"""

from __future__ import annotations

import email
import json
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from creditlens import chargeback, reports
from creditlens.cli import main
from creditlens.dates import utc_today
from creditlens.fake.demo_org import OrgSpec, build_demo_org
from creditlens.fake.emulator import make_certificate
from creditlens.fetching import fetch_members, fetch_usage
from creditlens.money import Pricing
from creditlens.portal import connect
from creditlens.watch.rules import window_range
from creditlens.watch.sent import state_path_for

pytestmark = pytest.mark.integration

SMTP_USER, SMTP_PASSWORD = "alerts-bot", "smtp-Sentinel-pa55"
DELIVERY_ENV = (
    "CREDITLENS_SMTP_HOST",
    "CREDITLENS_SMTP_PORT",
    "CREDITLENS_SMTP_USERNAME",
    "CREDITLENS_SMTP_PASSWORD",
    "CREDITLENS_SMTP_CA_BUNDLE",
    "CREDITLENS_ALERT_EMAIL_FROM",
    "CREDITLENS_ALERT_EMAIL_TO",
    "CREDITLENS_ALERT_WEBHOOK_URL",
    "CREDITLENS_ALERT_RULES",
)

EVERY_SCOPE = """
[[rule]]
name = "org week"
scope = "org"
window = "7d"
credits_over = 0

[[rule]]
name = "member month"
scope = "member"
window = "30d"
credits_over = 0

[[rule]]
name = "service mtd"
scope = "service"
window = "mtd"
credits_over = 0

[[rule]]
name = "role week"
scope = "cost_center"
window = "7d"
credits_over = 0
cost_centers = "role"

[[rule]]
name = "low balance"
scope = "org"
window = "1d"
balance_under = 1e12

[[rule]]
name = "near allocation"
scope = "member"
window = "30d"
pct_of_allocation_over = 0

[[rule]]
name = "member spikes"
scope = "member"
window = "30d"
spike = true
"""

ONE_ALERT = """
[[rule]]
name = "org month"
scope = "org"
window = "30d"
credits_over = 0
"""


@pytest.fixture(scope="module")
def org():
    # The CLI's windows end yesterday (UTC), so the org's usage must run to today.
    return build_demo_org(OrgSpec(members=60, days=150, seed=23, end_day=utc_today(), url_key="alertcli"))


@pytest.fixture(scope="module")
def emulator(emulator_factory, org):
    return emulator_factory([org])


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for name in DELIVERY_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no .streamlit/secrets.toml from the checkout


def check(emulator, org, capsys, monkeypatch, rules: Path, *extra: str) -> tuple[int, str, str]:
    monkeypatch.setenv("CREDITLENS_PASSWORD", org.passwords[org.admin_username])
    code = main(
        [
            "alerts",
            "check",
            "--portal",
            emulator.url,
            "--username",
            org.admin_username,
            "--ca-bundle",
            emulator.ca_bundle,
            "--rules",
            str(rules),
            *extra,
        ]
    )
    out, err = capsys.readouterr()
    return code, out, err


def write_rules(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "alerts.toml"
    path.write_text(text)
    return path


# -- dry run: every scope, figures equal to the leaderboard's ---------------------------------------
def test_dry_run_json_for_every_scope_matches_the_reports(emulator, org, capsys, monkeypatch, tmp_path):
    rules = write_rules(tmp_path, EVERY_SCOPE)
    code, out, err = check(emulator, org, capsys, monkeypatch, rules, "--dry-run", "--format", "json")
    assert code == 0, err
    alerts = json.loads(out)
    assert {a["rule"] for a in alerts} == {
        "org week",
        "member month",
        "service mtd",
        "role week",
        "low balance",
        "near allocation",
        "member spikes",
    }
    for a in alerts:
        assert list(a)[:7] == ["rule", "scope", "subject", "window_start", "window_end", "credits", "threshold"]
    conn = connect(emulator.url, org.admin_username, org.passwords[org.admin_username], ca_bundle=emulator.ca_bundle)
    members = fetch_members(conn)
    today = utc_today()

    def fired(rule: str) -> dict[str, float]:
        return {a["subject"]: a["credits"] for a in alerts if a["rule"] == rule}

    def window_usage(window: str) -> pd.DataFrame:
        start, end = window_range(window, today)
        chosen = [a for a in alerts if a["window_start"] == start.isoformat() and a["window_end"] == end.isoformat()]
        assert chosen, f"no alert carries the {window} window {start}..{end}"
        result = fetch_usage(conn, start, end)
        assert result.complete
        return result.frame

    board = reports.leaderboard(window_usage("30d"), members, conn.identity.org_id)
    used = board[(board["status"] == reports.MEMBER) & (board["credits"] > 0)]
    assert fired("member month") == pytest.approx(dict(zip(used["username"], used["credits"], strict=True)), abs=1e-5)
    week = window_usage("7d")
    assert fired("org week") == pytest.approx({"org": week["credits"].sum()}, abs=1e-5)
    lines = chargeback.build_chargeback(
        week, members, conn.identity.org_id, chargeback.from_member_field(members, "role"), Pricing()
    ).table
    lines = lines[(lines["line_kind"] == chargeback.COST_CENTER) & (lines["credits"] > 0)]
    assert fired("role week") == pytest.approx(dict(zip(lines["cost_center"], lines["credits"], strict=True)), abs=1e-5)
    mtd = window_usage("mtd")
    per_service = mtd.groupby(mtd["stype"].astype(str), observed=True)["credits"].sum()
    assert fired("service mtd") == pytest.approx(per_service[per_service > 0].to_dict(), abs=1e-5)
    assert fired("low balance") == {"org": pytest.approx(conn.available_credits)}
    budgets = reports.budget_status(members, week)
    assert set(fired("near allocation")) == set(budgets.loc[budgets["used_pct"] > 0, "username"])
    assert err == ""


def test_text_output_and_no_alerts(emulator, org, capsys, monkeypatch, tmp_path):
    rules = write_rules(tmp_path, ONE_ALERT)
    code, out, _ = check(emulator, org, capsys, monkeypatch, rules, "--dry-run")
    assert code == 0 and out.startswith("[org month] the org used ") and out.count("\n") == 1
    quiet = write_rules(tmp_path, ONE_ALERT.replace("credits_over = 0", "credits_over = 1e12"))
    code, out, _ = check(emulator, org, capsys, monkeypatch, quiet, "--dry-run")
    assert code == 0 and out == f"No alerts for {org.name}.\n"
    assert not state_path_for(quiet).exists()  # a dry run remembers nothing


# -- delivery ---------------------------------------------------------------------------------------
class Inbox:
    """An aiosmtpd handler that keeps what arrived, or refuses it with ``refuse``."""

    def __init__(self) -> None:
        self.messages: list[email.message.Message] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.refuse: str | None = None

    async def handle_DATA(self, server, session, envelope):
        if self.refuse:
            return self.refuse
        self.messages.append(email.message_from_bytes(envelope.content))
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"


def check_password(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        SMTP_USER.encode(),
        SMTP_PASSWORD.encode(),
    )
    return AuthResult(success=ok)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def smtp_cert(tmp_path_factory):
    return make_certificate(tmp_path_factory.mktemp("smtp-cert"))


def start_smtp(cert, starttls: bool = True) -> tuple[Controller, Inbox]:
    inbox = Inbox()
    kwargs = {}
    if starttls:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*cert)
        kwargs = {"tls_context": context, "require_starttls": True, "authenticator": check_password}
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), **kwargs)
    controller.start()
    return controller, inbox


@pytest.fixture
def smtp(smtp_cert, monkeypatch):
    controller, inbox = start_smtp(smtp_cert)
    monkeypatch.setenv("CREDITLENS_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("CREDITLENS_SMTP_PORT", str(controller.port))
    monkeypatch.setenv("CREDITLENS_SMTP_USERNAME", SMTP_USER)
    monkeypatch.setenv("CREDITLENS_SMTP_PASSWORD", SMTP_PASSWORD)
    monkeypatch.setenv("CREDITLENS_SMTP_CA_BUNDLE", str(smtp_cert[0]))
    monkeypatch.setenv("CREDITLENS_ALERT_EMAIL_FROM", "credit-lens@example.org")
    monkeypatch.setenv("CREDITLENS_ALERT_EMAIL_TO", "gis-admins@example.org, finance@example.org")
    yield inbox
    controller.stop()


class Receiver(BaseHTTPRequestHandler):
    posts: list[dict]
    status = 200

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.status == 200:
            self.server.posts.append({"content_type": self.headers.get("Content-Type"), "json": json.loads(body)})
        self.send_response(self.server.status)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook(monkeypatch):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    server.posts, server.status = [], 200
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv(
        "CREDITLENS_ALERT_WEBHOOK_URL", f"http://127.0.0.1:{server.server_port}/hooks/T000/B000/secretpath"
    )
    yield server
    server.shutdown()
    server.server_close()


def test_email_over_starttls_is_delivered_once(emulator, org, capsys, monkeypatch, tmp_path, smtp):
    rules = write_rules(tmp_path, ONE_ALERT)
    code, out, err = check(emulator, org, capsys, monkeypatch, rules)
    assert code == 0, err
    assert "sent 1 alert(s) by email" in err
    (message,) = smtp.messages
    assert smtp.envelopes == [("credit-lens@example.org", ["gis-admins@example.org", "finance@example.org"])]
    assert message["Subject"] == f"Credit Lens: 1 alert for {org.name}"
    assert message.get_content_type() == "text/plain"
    body = message.get_payload(decode=True).decode()
    assert out.strip() in body  # the same line as the text output
    start, end = window_range("30d", utc_today())
    assert f"{start.isoformat()} – {end.isoformat()}" in body
    assert SMTP_PASSWORD not in out + err + state_path_for(rules).read_text()

    code, out, err = check(emulator, org, capsys, monkeypatch, rules)
    assert code == 0 and "sent" not in err
    assert len(smtp.messages) == 1  # the second run sends nothing new


def test_webhook_is_a_json_post_slack_and_teams_accept(emulator, org, capsys, monkeypatch, tmp_path, webhook):
    rules = write_rules(tmp_path, EVERY_SCOPE)
    code, out, err = check(emulator, org, capsys, monkeypatch, rules, "--format", "json")
    assert code == 0, err
    (post,) = webhook.posts
    assert post["content_type"].startswith("application/json")
    assert list(post["json"]) == ["text"]  # the one field both Slack and Teams incoming webhooks take
    text = post["json"]["text"]
    alerts = json.loads(out)
    assert text.startswith(f"Credit Lens: {len(alerts)} alerts for `{org.name}`")
    for a in alerts[:50]:
        who = "the org" if a["scope"] == "org" else f"{a['scope']} `{a['subject']}`"
        assert f"`{a['rule']}`: {who} " in text
    assert text.endswith(f"… and {len(alerts) - 50} more.")
    assert "secretpath" not in err

    code, _, err = check(emulator, org, capsys, monkeypatch, rules)
    assert code == 0 and len(webhook.posts) == 1


def test_a_teams_workflow_webhook_gets_an_adaptive_card(emulator, org, capsys, monkeypatch, tmp_path, webhook):
    monkeypatch.setenv("CREDITLENS_ALERT_WEBHOOK_FORMAT", "teams-workflow")
    code, _, err = check(emulator, org, capsys, monkeypatch, write_rules(tmp_path, ONE_ALERT))
    assert code == 0, err
    (post,) = webhook.posts
    (attachment,) = post["json"]["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    texts = [run["text"] for block in attachment["content"]["body"] for run in block["inlines"]]
    assert texts[0] == f"Credit Lens: 1 alert for {org.name} (UTC days)"
    assert texts[1].startswith("• org month: the org ")


def test_a_failing_smtp_server_exits_non_zero_and_is_retried(
    emulator, org, capsys, monkeypatch, tmp_path, smtp, webhook
):
    rules = write_rules(tmp_path, ONE_ALERT)
    smtp.refuse = "451 4.3.0 Mailbox temporarily unavailable"
    code, _, err = check(emulator, org, capsys, monkeypatch, rules)
    assert code == 1
    assert "delivery failed: email via 127.0.0.1:" in err and "451" in err and "retried on the next run" in err
    assert smtp.messages == [] and len(webhook.posts) == 1  # the webhook still went

    smtp.refuse = None
    code, _, err = check(emulator, org, capsys, monkeypatch, rules)
    assert code == 0, err
    assert len(smtp.messages) == 1  # the retry
    assert len(webhook.posts) == 1  # the webhook is not repeated

    code, _, _ = check(emulator, org, capsys, monkeypatch, rules)
    assert code == 0 and len(smtp.messages) == 1


def test_a_server_without_starttls_gets_no_mail(emulator, org, capsys, monkeypatch, tmp_path, smtp_cert):
    controller, inbox = start_smtp(smtp_cert, starttls=False)
    try:
        monkeypatch.setenv("CREDITLENS_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("CREDITLENS_SMTP_PORT", str(controller.port))
        monkeypatch.setenv("CREDITLENS_ALERT_EMAIL_FROM", "credit-lens@example.org")
        monkeypatch.setenv("CREDITLENS_ALERT_EMAIL_TO", "gis-admins@example.org")
        code, _, err = check(emulator, org, capsys, monkeypatch, write_rules(tmp_path, ONE_ALERT))
    finally:
        controller.stop()
    assert code == 1 and "does not offer STARTTLS" in err and inbox.messages == []


def test_a_receiver_error_names_the_webhook_not_its_secret(emulator, org, capsys, monkeypatch, tmp_path, webhook):
    webhook.status = 500
    code, _, err = check(emulator, org, capsys, monkeypatch, write_rules(tmp_path, ONE_ALERT))
    assert code == 1 and "delivery failed: webhook to 127.0.0.1: the receiver answered HTTP 500" in err
    assert "secretpath" not in err


# -- bad input: one line each ---------------------------------------------------------------------------
def test_bad_rules_archive_and_missing_channel(emulator, org, capsys, monkeypatch, tmp_path):
    bad = write_rules(tmp_path, ONE_ALERT.replace('scope = "org"', 'scope = "team"'))
    code, out, err = check(emulator, org, capsys, monkeypatch, bad, "--dry-run")
    assert code == 1 and out == "" and "rule \"org month\": key 'scope' is 'team'" in err and err.count("\n") == 1
    good = write_rules(tmp_path, ONE_ALERT)
    (tmp_path / "afile").write_text("")
    code, _, err = check(emulator, org, capsys, monkeypatch, good, "--archive", str(tmp_path / "afile"), "--dry-run")
    assert code == 1 and "is a file" in err and err.count("\n") == 1
    code, _, err = check(emulator, org, capsys, monkeypatch, good)
    assert code == 1 and "Nowhere to send alerts" in err and err.count("\n") == 1
    monkeypatch.setenv("CREDITLENS_SMTP_HOST", "127.0.0.1")
    code, _, err = check(emulator, org, capsys, monkeypatch, good)
    assert code == 1 and "Email needs a sender" in err and "Traceback" not in err


def test_with_an_archive_the_days_are_synced_once_and_the_figures_are_the_same(
    emulator, org, capsys, monkeypatch, tmp_path
):
    rules = write_rules(tmp_path, EVERY_SCOPE)
    code, live, err = check(emulator, org, capsys, monkeypatch, rules, "--dry-run", "--format", "json")
    assert code == 0, err
    archive = tmp_path / "archive"
    emulator.clear_requests()
    code, first, err = check(
        emulator, org, capsys, monkeypatch, rules, "--dry-run", "--format", "json", "--archive", str(archive)
    )
    assert code == 0, err
    first_requests = sum(r["path"].endswith("/usage") for r in emulator.requests)
    emulator.clear_requests()
    code, second, err = check(
        emulator, org, capsys, monkeypatch, rules, "--dry-run", "--format", "json", "--archive", str(archive)
    )
    assert code == 0, err
    second_requests = sum(r["path"].endswith("/usage") for r in emulator.requests)
    assert json.loads(first) == json.loads(live) == json.loads(second)
    assert any(archive.glob("*.duckdb"))
    assert second_requests < first_requests  # the second run fetches only what may have changed


def test_rules_from_the_environment(emulator, org, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("CREDITLENS_ALERT_RULES", str(write_rules(tmp_path, ONE_ALERT)))
    monkeypatch.setenv("CREDITLENS_PASSWORD", org.passwords[org.admin_username])
    code = main(["alerts", "check", "--demo", "--dry-run"])
    out, err = capsys.readouterr()
    assert code == 0 and out.startswith("[org month] the org used "), err
