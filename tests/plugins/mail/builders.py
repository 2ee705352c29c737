"""Test messages, built with the email package (no fixture files)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime


def build_message(subject: str = "Hello", sender: str = "ada@example.com",
                  to: Sequence[str] = ("sales@crm.test",), cc: Sequence[str] = (),
                  message_id: str | None = "<m1@example.com>", text: str = "Plain text.",
                  html: str | None = None,
                  attachments: Sequence[tuple[str, str, bytes]] = (),
                  date: datetime | None = datetime(2026, 3, 4, 12, 30, tzinfo=UTC)) -> bytes:
    """An RFC 5322 message as bytes. ``attachments`` are ``(filename, type, data)``."""
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = ", ".join(to)
    if cc:
        message["Cc"] = ", ".join(cc)
    if message_id is not None:
        message["Message-ID"] = message_id
    if date is not None:
        message["Date"] = format_datetime(date)
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    for filename, content_type, data in attachments:
        maintype, subtype = content_type.split("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return message.as_bytes()
