"""Delivery settings, what the messages hold (nothing from the portal renders), and the sent-alert state."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from creditlens.watch import delivery, sent
from creditlens.watch.evaluate import Alert

DAY = dt.date(2026, 6, 30)


def alert(subject: str = "ana", rule: str = "heavy", credits: float = 12.5) -> Alert:
    return Alert(rule, "member", subject, DAY, DAY, credits, 10.0, "credits_over", "")


# -- settings ----------------------------------------------------------------------------------------
def test_settings_from_the_environment_and_secrets_winning():
    env = {
        "CREDITLENS_SMTP_HOST": "smtp.env.example",
        "CREDITLENS_ALERT_EMAIL_FROM": "a@example.org",
        "CREDITLENS_ALERT_EMAIL_TO": "b@example.org, c@example.org",
        "CREDITLENS_SMTP_USERNAME": "bot",
        "CREDITLENS_SMTP_PASSWORD": "pw-Sentinel",
        "CREDITLENS_ALERT_WEBHOOK_URL": "https://hooks.slack.com/services/T/B/secret",
    }
    settings = delivery.load_delivery_settings({"smtp_host": "smtp.secrets.example", "smtp_port": 2525}, env)
    assert settings.channels == ["email", "webhook"]
    email = settings.email
    assert (email.host, email.port, email.recipients) == (
        "smtp.secrets.example",
        2525,
        ("b@example.org", "c@example.org"),
    )
    assert "pw-Sentinel" not in repr(settings) and "secret" not in repr(settings.webhook)
    assert settings.webhook.host == "hooks.slack.com"
    assert delivery.load_delivery_settings({}, {}).channels == []


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CREDITLENS_SMTP_HOST": "h"}, "Email needs a sender"),
        ({"CREDITLENS_SMTP_HOST": "h", "CREDITLENS_ALERT_EMAIL_FROM": "a@x.org"}, "Email needs recipients"),
        (
            {
                "CREDITLENS_SMTP_HOST": "h",
                "CREDITLENS_ALERT_EMAIL_FROM": "a@x.org",
                "CREDITLENS_ALERT_EMAIL_TO": "nobody",
            },
            "'nobody' is not an email address",
        ),
        (
            {
                "CREDITLENS_SMTP_HOST": "h",
                "CREDITLENS_SMTP_PORT": "smtp",
                "CREDITLENS_ALERT_EMAIL_FROM": "a@x.org",
                "CREDITLENS_ALERT_EMAIL_TO": "b@x.org",
            },
            "must be a port number",
        ),
        (
            {
                "CREDITLENS_SMTP_HOST": "h",
                "CREDITLENS_SMTP_USERNAME": "bot",
                "CREDITLENS_ALERT_EMAIL_FROM": "a@x.org",
                "CREDITLENS_ALERT_EMAIL_TO": "b@x.org",
            },
            "smtp_username is set without smtp_password",
        ),
        ({"CREDITLENS_ALERT_WEBHOOK_URL": "http://hooks.example.org/x"}, "must be an https:// URL"),
    ],
)
def test_half_configured_channels_are_refused(env, message):
    with pytest.raises(delivery.DeliverySettingsError, match=message):
        delivery.load_delivery_settings({}, env)


# -- messages ----------------------------------------------------------------------------------------
def test_chat_text_renders_nothing_from_the_portal():
    hostile = alert(subject="<!channel> *x* `y` [z](https://evil.example) & <@U1>")
    text = delivery.chat_text([hostile], "Org\nname")
    line = text.splitlines()[1]
    assert "<" not in text and ">" not in text and "&" not in text  # Slack's markup characters
    assert line.count("`") == 4  # rule and subject, each in one code span with no backtick inside
    assert "\n" not in text.splitlines()[0] and text.startswith("Credit Lens: 1 alert for `Org name`")
    assert json.loads(json.dumps(delivery.webhook_payload([hostile], "Org"))) == {
        "text": delivery.chat_text([hostile], "Org")
    }


def test_teams_workflows_get_an_adaptive_card_of_literal_text_runs():
    auto = delivery.load_delivery_settings(
        {}, {"CREDITLENS_ALERT_WEBHOOK_URL": "https://prod-01.westeurope.logic.azure.com:443/workflows/abc/triggers/x"}
    ).webhook
    slack = delivery.WebhookSettings("https://hooks.slack.com/services/T/B/x")
    assert (auto.body_format, slack.body_format) == ("teams-workflow", "text")
    forced = delivery.load_delivery_settings(
        {"alert_webhook_format": "teams-workflow"}, {"CREDITLENS_ALERT_WEBHOOK_URL": "https://hooks.example.org/x"}
    ).webhook
    assert forced.body_format == "teams-workflow"
    message = delivery.webhook_payload([alert(subject="**jane_doe**")], "Org", "teams-workflow")
    (attachment,) = message["attachments"]
    assert message["type"] == "message" and attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    blocks = attachment["content"]["body"]
    assert {b["type"] for b in blocks} == {"RichTextBlock"}
    runs = [inline for b in blocks for inline in b["inlines"]]
    assert {r["type"] for r in runs} == {"TextRun"}  # TextRuns are never Markdown
    assert runs[0]["weight"] == "Bolder" and runs[0]["text"] == "Credit Lens: 1 alert for Org (UTC days)"
    assert "**jane_doe**" in runs[1]["text"]
    with pytest.raises(delivery.DeliverySettingsError, match="alert_webhook_format"):
        delivery.load_delivery_settings(
            {"alert_webhook_format": "html"}, {"CREDITLENS_ALERT_WEBHOOK_URL": "https://hooks.example.org/x"}
        )


def test_long_chat_messages_are_cut_and_say_so():
    text = delivery.chat_text([alert(subject=f"user{i}") for i in range(60)], "Org")
    assert text.count("•") == delivery.MAX_CHAT_ALERTS and text.endswith("… and 10 more.")


def test_email_is_plain_text_without_header_injection():
    settings = delivery.EmailSettings("smtp.example.org", 587, "a@example.org", ("b@example.org",))
    message = delivery.email_message([alert(), alert(subject="bo")], "Org\r\nBcc: evil@example.org", settings)
    assert message["Subject"] == "Credit Lens: 2 alerts for Org  Bcc: evil@example.org"
    assert message["Bcc"] is None and message.get_content_type() == "text/plain"
    body = message.get_content()
    assert "[heavy] member ana used 12.50 credits in 2026-06-30, over 10.00" in body


# -- sent state --------------------------------------------------------------------------------------
def test_sent_state_is_per_org_and_channel_and_survives_a_restart(tmp_path):
    path = sent.state_path_for(tmp_path / "alerts.toml")
    assert path == tmp_path / "alerts.sent.json"
    log = sent.SentLog.load(path, "https://a|org1")
    log.mark_sent(alert().key, "email")
    log.save()
    again = sent.SentLog.load(path, "https://a|org1")
    assert again.was_sent(alert().key, "email") and not again.was_sent(alert().key, "webhook")
    assert not sent.SentLog.load(path, "https://b|org2").was_sent(alert().key, "email")
    assert not again.was_sent(alert(subject="bo").key, "email")


def test_old_entries_are_dropped_and_a_broken_file_is_an_error(tmp_path):
    path = tmp_path / "alerts.sent.json"
    log = sent.SentLog(path, "s")
    old = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    log.mark_sent("old", "email", old)
    log.mark_sent("new", "email")
    log.save()
    kept = json.loads(path.read_text())["sent"]
    assert list(kept) == ["s|new"]
    path.write_text("{not json")
    with pytest.raises(sent.SentStateError, match="not readable JSON"):
        sent.SentLog.load(path, "s")


def test_two_runs_cannot_hold_the_lock_at_once(tmp_path):
    path = tmp_path / "alerts.sent.json"
    busy = pytest.raises(sent.SentStateError, match="Another `creditlens alerts check`")
    with sent.locked(path), busy, sent.locked(path):
        pass
    with sent.locked(path):  # released after the first run
        pass
