"""The archive's tables. Only :mod:`crmcore_plugins.mail.services` writes them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crmcore.db import Base, utcnow


class MailMessage(Base):
    """One archived email. ``message_id`` is its RFC 5322 Message-ID without the
    angle brackets, or ``sha256:<hex of the raw bytes>`` for a message without
    one, so that importing the same message again always finds it."""

    __tablename__ = "mail_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[str] = mapped_column(String(998), unique=True)
    subject: Mapped[str] = mapped_column(Text, default="")
    from_address: Mapped[str] = mapped_column(String(320), default="")
    to_addresses: Mapped[list[str]] = mapped_column(JSON, default=list)
    cc_addresses: Mapped[list[str]] = mapped_column(JSON, default=list)
    # The Date header in UTC; None when the message had none that parses.
    date: Mapped[datetime | None]
    text_body: Mapped[str] = mapped_column(Text, default="")
    # Sanitized on import (see sanitize.py): safe to show as it is stored.
    html_body: Mapped[str] = mapped_column(Text, default="")
    raw_size: Mapped[int] = mapped_column(default=0)
    source: Mapped[str] = mapped_column(String(50), default="import")
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())

    attachments: Mapped[list[MailAttachment]] = relationship(
        lazy="raise", order_by="MailAttachment.id", passive_deletes=True)

    @property
    def when(self) -> datetime:
        """When the message was sent, else when it reached the archive."""
        return self.date or self.created_at


class MailAddress(Base):
    """Each address of a message, lower-cased, by role: "every message with this
    address" is one indexed lookup, which a JSON column could not offer."""

    __tablename__ = "mail_addresses"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("mail_messages.id", ondelete="CASCADE"))
    address: Mapped[str] = mapped_column(String(320), index=True)
    role: Mapped[str] = mapped_column(String(4))  # from, to or cc

    __table_args__ = (UniqueConstraint("message_id", "address", "role"),)


class MailLink(Base):
    """A message shown on a lead's or contact's timeline."""

    __tablename__ = "mail_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("mail_messages.id", ondelete="CASCADE"))
    record_type: Mapped[str] = mapped_column(String(20))
    record_id: Mapped[int]

    __table_args__ = (
        UniqueConstraint("message_id", "record_type", "record_id"),
        Index("ix_mail_links_record", "record_type", "record_id"),
    )


class MailAttachment(Base):
    """A file that came with a message. The bytes live on disk under the
    SHA-256 of their content (see storage.py); ``filename`` is for display only."""

    __tablename__ = "mail_attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("mail_messages.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(255))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    storage_path: Mapped[str] = mapped_column(String(100))
