"""Reading the archive: a record's messages and timeline, and the lists, messages
and attachments a user may see (only those linked to a record they may see)."""

from __future__ import annotations

from typing import Any

from crmcore_plugins.mail.models import MailAddress, MailAttachment, MailLink, MailMessage
from crmcore_plugins.mail.services.records import KINDS, kind_of
from sqlalchemy import Select, and_, exists, func, or_, select
from sqlalchemy.orm import Session, selectinload

from crmcore.errors import NotFound
from crmcore.models import User
from crmcore.services.records import visible


def _newest_first(query: Select[Any]) -> Select[Any]:
    return query.order_by(func.coalesce(MailMessage.date, MailMessage.created_at).desc(),
                          MailMessage.id.desc())


def messages_for(session: Session, record_type: str, record_id: int) -> list[MailMessage]:
    """The messages linked to a record, newest first (no permission check: the
    caller has already shown the record to its user)."""
    kind_of(record_type)
    linked = select(MailLink.message_id).where(MailLink.record_type == record_type,
                                              MailLink.record_id == record_id)
    return list(session.scalars(_newest_first(select(MailMessage)
                                              .where(MailMessage.id.in_(linked)))))


def _visible_links(session: Session, actor: User | None) -> Any:
    """A condition on :class:`MailLink`: it points at a record ``actor`` may see."""
    return or_(*(and_(MailLink.record_type == kind.record_type,
                      MailLink.record_id.in_(visible(session, actor, kind)
                                             .with_only_columns(kind.model.id)))
                 for kind in KINDS.values()))


def get_message(session: Session, actor: User | None, message_pk: int) -> MailMessage:
    """A message with its attachments, if ``actor`` may see a record it is
    linked to; :class:`NotFound` otherwise, exactly as for a missing one."""
    allowed = exists().where(MailLink.message_id == message_pk, _visible_links(session, actor))
    message = session.scalar(select(MailMessage).options(selectinload(MailMessage.attachments))
                             .where(MailMessage.id == message_pk, allowed))
    if message is None:
        raise NotFound("No such message.")
    return message


def linked_records(session: Session, actor: User | None, message_pk: int
                   ) -> list[tuple[str, Any]]:
    """``(record type, record)`` for each record the message is linked to that
    ``actor`` may see: one query per record type."""
    found: list[tuple[str, Any]] = []
    for kind in KINDS.values():
        linked = select(MailLink.record_id).where(MailLink.message_id == message_pk,
                                                 MailLink.record_type == kind.record_type)
        query = visible(session, actor, kind).where(kind.model.id.in_(linked))
        found += [(kind.record_type, r) for r in session.scalars(query.order_by(kind.model.id))]
    return found


def recent_messages(session: Session, actor: User | None, address: str = "",
                    limit: int = 50) -> list[MailMessage]:
    """The newest messages ``actor`` may see, optionally only those with ``address``."""
    query = select(MailMessage).where(MailMessage.id.in_(
        select(MailLink.message_id).where(_visible_links(session, actor))))
    if address.strip():
        query = query.where(MailMessage.id.in_(
            select(MailAddress.message_id).where(MailAddress.address == address.strip().lower())))
    return list(session.scalars(_newest_first(query).limit(limit)))


def attachment_of(message: MailMessage, attachment_id: int) -> MailAttachment:
    """One of the message's attachments (loaded by :func:`get_message`)."""
    for attachment in message.attachments:
        if attachment.id == attachment_id:
            return attachment
    raise NotFound("No such attachment.")


def timeline_rows(session: Session, record_type: str, record_id: int) -> list[Any]:
    """``(subject, from, to, date, created_at)`` of the record's messages: one query."""
    query = (select(MailMessage.subject, MailMessage.from_address, MailMessage.to_addresses,
                    MailMessage.date, MailMessage.created_at)
             .join(MailLink, MailLink.message_id == MailMessage.id)
             .where(MailLink.record_type == record_type, MailLink.record_id == record_id))
    return list(session.execute(query))
