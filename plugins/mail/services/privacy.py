"""One person's messages, for the privacy hooks: exported, or erased in part or
whole."""

from __future__ import annotations

from crmcore_plugins.mail import storage
from crmcore_plugins.mail.models import MailAddress, MailAttachment, MailLink, MailMessage
from crmcore_plugins.mail.services.batches import chunks
from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session, selectinload

from crmcore.services.privacy import ERASED, name_parts, scrub
from crmcore.types import Person, PersonExport

BODY, ADDRESSES, ATTACHMENTS = ("mail_message.body", "mail_message.addresses",
                                "mail_message.attachments")


def person_messages(session: Session, person: Person) -> list[MailMessage]:
    """Messages that carry one of the person's addresses or are linked to their
    record, with their attachments."""
    linked = select(MailLink.message_id).where(MailLink.record_type == person.record_type,
                                              MailLink.record_id == person.record_id)
    mine = MailMessage.id.in_(linked)
    if person.emails:
        addressed = select(MailAddress.message_id).where(
            MailAddress.address.in_([e.lower() for e in person.emails]))
        mine = or_(mine, MailMessage.id.in_(addressed))
    query = select(MailMessage).options(selectinload(MailMessage.attachments)).where(mine)
    return list(session.scalars(query.order_by(MailMessage.id)))


def export_person(session: Session, person: Person) -> list[PersonExport]:
    """The person's messages: headers, texts and attachment files."""
    messages = person_messages(session, person)
    if not messages:
        return []
    folder = storage.root(session)
    files: dict[str, bytes] = {}
    data = []
    for message in messages:
        attachments = []
        for attachment in message.attachments:
            name = f"mail/{message.id}/{attachment.id}-{attachment.filename}"
            content = storage.read(folder, attachment.sha256)
            if content is not None:
                files[name] = content
            attachments.append({"filename": attachment.filename,
                                "content_type": attachment.content_type,
                                "size": attachment.size, "sha256": attachment.sha256,
                                "file": name if content is not None else None})
        data.append({"message_id": message.message_id, "subject": message.subject,
                     "from": message.from_address, "to": message.to_addresses,
                     "cc": message.cc_addresses,
                     "date": message.date.isoformat() if message.date else None,
                     "source": message.source, "text": message.text_body,
                     "html": message.html_body, "attachments": attachments})
    return [PersonExport("mail", {"messages": data}, files)]


def erase_person(session: Session, person: Person, fields: frozenset[str]) -> None:
    """Erase the selected parts of the person's messages. All three selected:
    the messages go entirely. Otherwise ``body`` blanks subjects and texts,
    ``addresses`` replaces the person's addresses wherever they appear, and
    ``attachments`` deletes the attachments. The person's name (always erased)
    is scrubbed from the texts that remain. Files no other message shares are
    deleted once the transaction commits. Idempotent."""
    chosen = fields & {BODY, ADDRESSES, ATTACHMENTS}
    messages = person_messages(session, person)
    if not messages:
        return
    ids = [m.id for m in messages]
    hashes = {a.sha256 for m in messages for a in m.attachments}
    if chosen == {BODY, ADDRESSES, ATTACHMENTS}:
        for chunk in chunks(ids):
            session.execute(delete(MailMessage).where(MailMessage.id.in_(chunk)))
        storage.remove_after_commit(session, hashes)
        return
    if ATTACHMENTS in chosen:
        for chunk in chunks(ids):
            session.execute(delete(MailAttachment).where(MailAttachment.message_id.in_(chunk)))
        storage.remove_after_commit(session, hashes)
    emails = sorted({e.lower() for e in person.emails}, key=len, reverse=True) \
        if ADDRESSES in chosen else []
    secrets = emails + name_parts(person)
    for message in messages:
        if BODY in chosen:
            message.subject, message.text_body, message.html_body = ERASED, "", ""
        if emails:
            message.from_address = ERASED if message.from_address in emails \
                else message.from_address
            message.to_addresses = [ERASED if a in emails else a for a in message.to_addresses]
            message.cc_addresses = [ERASED if a in emails else a for a in message.cc_addresses]
        if secrets:
            message.subject = scrub(message.subject, secrets)
            message.text_body = scrub(message.text_body, secrets)
            message.html_body = scrub(message.html_body, secrets)
    for chunk in chunks(ids if emails else []):
        session.execute(delete(MailAddress).where(MailAddress.message_id.in_(chunk),
                                                  MailAddress.address.in_(emails)))
