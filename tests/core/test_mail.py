"""Email goes through a real SMTP server on loopback (the testing kit's mailbox)."""

from __future__ import annotations

import smtplib

import pytest

from crmcore import mail


def test_a_message_reaches_the_configured_server(app, mailbox):
    with app.app_context():
        msg = mail.message("ada@example.com", "Welcome", "Hello Ada",
                           html="<p>Hello <b>Ada</b></p>")
        mail.send(msg)
    received = mailbox.wait(1)[0]
    assert received["From"] == "crm@example.test" and received["To"] == "ada@example.com"
    assert received["Subject"] == "Welcome" and received["Message-ID"].endswith("@example.test>")
    assert received.get_body(("plain",)).get_content().strip() == "Hello Ada"
    assert "<b>Ada</b>" in received.get_body(("html",)).get_content()


def test_settings_come_from_the_environment_outside_an_app(monkeypatch):
    monkeypatch.setenv("CRM_SMTP_HOST", "mail.internal")
    monkeypatch.setenv("CRM_SMTP_PORT", "2525")
    monkeypatch.setenv("CRM_SMTP_TLS", "STARTTLS")
    monkeypatch.setenv("CRM_MAIL_FROM", "crm@corp.example")
    settings = mail.current_settings()
    assert (settings.host, settings.port, settings.tls, settings.sender) == (
        "mail.internal", 2525, "starttls", "crm@corp.example")


def test_an_unreachable_server_raises(app):
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=1)
    with app.app_context(), pytest.raises((OSError, smtplib.SMTPException)):
        mail.send(mail.message("ada@example.com", "x", "y"))


def test_mail_queued_in_a_transaction_leaves_only_after_commit(app, mailbox):
    from crmcore.db import transaction

    sessions = app.extensions["crm"].sessions
    with pytest.raises(RuntimeError), transaction(sessions) as session:
        mail.send_after_commit(session, mail.message("a@example.com", "rolled back", "x"))
        raise RuntimeError
    with transaction(sessions) as session:
        mail.send_after_commit(session, mail.message("b@example.com", "kept", "x"))
        with pytest.raises(RuntimeError), session.begin_nested():
            mail.send_after_commit(session, mail.message("c@example.com", "savepoint", "x"))
            raise RuntimeError
    # Outside any app context (as in an import thread), the settings still
    # come from the app the session belongs to.
    assert [m["Subject"] for m in mailbox.wait(1)] == ["kept"]
