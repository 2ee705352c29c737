"""Sending email over SMTP, configured by environment.

``CRM_SMTP_HOST`` (default ``localhost``), ``CRM_SMTP_PORT`` (25),
``CRM_SMTP_USER`` / ``CRM_SMTP_PASSWORD`` (log in when set), ``CRM_SMTP_TLS``
(``starttls``, ``ssl`` or ``none``, the default) and ``CRM_MAIL_FROM`` (the sender,
default ``crm@localhost``). Flask settings ``SMTP_HOST`` ... ``MAIL_FROM`` win over
the environment, which is how tests point an app at their own server.

Send after the transaction that decided to send has committed
(:func:`send_after_commit` does this): a rolled-back change must not have told
anyone anything.
"""

from __future__ import annotations

import logging
import os
import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from typing import TYPE_CHECKING, Any

from crmcore.db import after_commit

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

log = logging.getLogger("crmcore.mail")


@dataclass(frozen=True)
class SmtpSettings:
    host: str = "localhost"
    port: int = 25
    user: str = ""
    password: str = ""
    tls: str = "none"
    sender: str = "crm@localhost"

    @classmethod
    def load(cls, config: Mapping[str, Any] | None = None) -> SmtpSettings:
        config = config or {}

        def get(key: str, default: str) -> str:
            return str(config.get(key) or os.environ.get(f"CRM_{key}") or default)

        return cls(host=get("SMTP_HOST", cls.host), port=int(get("SMTP_PORT", str(cls.port))),
                   user=get("SMTP_USER", ""), password=get("SMTP_PASSWORD", ""),
                   tls=get("SMTP_TLS", "none").lower(), sender=get("MAIL_FROM", cls.sender))


def current_settings(session: Session | None = None) -> SmtpSettings:
    """The running Flask app's settings over the environment; outside an
    application context, those of the app ``session`` belongs to (an import
    thread), else the environment alone (the CLI, a worker)."""
    from flask import current_app, has_app_context

    if has_app_context():
        return SmtpSettings.load(current_app.config)
    return SmtpSettings.load(session.info["crm"].config if session is not None else None)


def message(to: str | list[str], subject: str, text: str, *, html: str | None = None,
            sender: str | None = None, settings: SmtpSettings | None = None) -> EmailMessage:
    """A plain-text message (with an HTML alternative when ``html`` is given)."""
    settings = settings or current_settings()
    msg = EmailMessage()
    msg["From"] = sender or settings.sender
    msg["To"] = ", ".join(to) if isinstance(to, list) else to
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain=settings.sender.rpartition("@")[2] or "localhost")
    msg.set_content(text)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    return msg


def send(msg: EmailMessage, settings: SmtpSettings | None = None) -> None:
    """Deliver ``msg`` through the configured SMTP server; raises ``OSError`` or
    ``smtplib.SMTPException`` when the server cannot be reached or refuses it."""
    settings = settings or current_settings()
    if settings.tls == "ssl":
        client: smtplib.SMTP = smtplib.SMTP_SSL(settings.host, settings.port, timeout=30,
                                                context=ssl.create_default_context())
    else:
        client = smtplib.SMTP(settings.host, settings.port, timeout=30)
    with client:
        if settings.tls == "starttls":
            client.starttls(context=ssl.create_default_context())
        if settings.user:
            client.login(settings.user, settings.password)
        client.send_message(msg)
    # The recipient and subject only: bodies may carry one-time links.
    log.info("mail sent to %s: %s", msg["To"], msg["Subject"])


def send_after_commit(session: Session, msg: EmailMessage) -> None:
    """Send ``msg`` once the session's transaction commits, never if it rolls
    back. The SMTP settings are taken now, while the app is at hand; a failure
    to deliver is logged, and the committed work stands."""
    settings = current_settings(session)

    def deliver() -> None:
        try:
            send(msg, settings)
        except (OSError, smtplib.SMTPException) as exc:
            # One line: an install without a mail server would drown its log
            # in tracebacks.
            log.warning("could not send mail to %s (%s): %s", msg["To"], msg["Subject"], exc)

    after_commit(session, deliver)

