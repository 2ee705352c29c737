"""The mail archive's rules: the only code that writes its tables, and the face
other plugins use (Leadworks hands over an advertiser's emails with
:func:`store_messages`).

Every function takes the caller's session and never commits. Work on many
messages or records is done in a few set-based statements per batch, never one
query per row, so that a CSV import of thousands of leads stays fast.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from crmcore_plugins.mail import storage
from crmcore_plugins.mail.models import MailAddress, MailAttachment, MailLink, MailMessage
from crmcore_plugins.mail.parsing import MB, MailReadError, ParsedMessage, parse_raw, too_big
from sqlalchemy import Select, and_, delete, exists, func, or_, select, true, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, selectinload

from crmcore.db import utcnow
from crmcore.errors import NotFound, ValidationFailed
from crmcore.models import Lead, User
from crmcore.services.privacy import ERASED, name_parts, scrub
from crmcore.services.records import CONTACTS, LEADS, Kind, visible
from crmcore.types import Person, PersonExport

KINDS: dict[str, Kind] = {"lead": LEADS, "contact": CONTACTS}
# Rows per statement: well under SQLite's bound-parameter limit.
CHUNK = 500
BODY, ADDRESSES, ATTACHMENTS = ("mail_message.body", "mail_message.addresses",
                                "mail_message.attachments")


@dataclass(frozen=True)
class Refusal:
    """A message (or an attachment) that was not stored, and why."""

    label: str
    reason: str


@dataclass
class StoreResult:
    """What :func:`store_messages` did.

    :param stored: messages new to the archive.
    :param duplicates: messages already there (by Message-ID), or twice in the input.
    :param refused: messages not stored, each with the reason.
    :param skipped_attachments: attachments left out of stored messages.
    :param message_ids: archive ids of every message accepted, new or already
        stored, in input order (a duplicate within the input appears once).
    """

    stored: int = 0
    duplicates: int = 0
    refused: list[Refusal] = field(default_factory=list)
    skipped_attachments: list[Refusal] = field(default_factory=list)
    message_ids: list[int] = field(default_factory=list)


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _kind(record_type: str) -> Kind:
    kind = KINDS.get(record_type)
    if kind is None:
        raise ValidationFailed("Unknown record type.", {"record_type": ["lead or contact."]})
    return kind


def limits(session: Session) -> tuple[int, int]:
    """The largest message and attachment, in bytes, the settings allow."""
    settings = session.info["crm"].plugins.settings("mail")
    return settings["max_message_mb"] * MB, settings["max_attachment_mb"] * MB


def _insert(session: Session) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT DO NOTHING (SQLite and
    PostgreSQL, the two databases crmcore runs on)."""
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


# -- storing ------------------------------------------------------------------------------


def store_messages(session: Session, raws: Iterable[bytes], source: str, *,
                   labels: Sequence[str] | None = None,
                   link_to: Iterable[tuple[str, int]] = ()) -> StoreResult:
    """Add raw RFC 5322 messages to the archive, inside the caller's transaction.

    Idempotent by Message-ID: a message already archived (or given twice) is
    counted as a duplicate and left as it is. A message that is too big or not
    an email is refused with the reason; attachments over the size limit are
    left out. Each new message is linked to every live, not anonymized lead and
    contact whose emails hold one of its addresses.

    :param raws: the messages' bytes (see :func:`parsing.parse_upload` for files).
    :param source: where they came from, e.g. ``"import"``, ``"leadworks"``.
    :param labels: names for the messages in refusals (file names); by default
        ``message 1``, ``message 2``, ...
    :param link_to: ``(record_type, record_id)`` pairs every accepted message
        (new or not) is linked to as well, e.g. the lead an advertiser's emails
        came with, whatever addresses they carry.
    """
    max_message, max_attachment = limits(session)
    result = StoreResult()
    accepted: list[ParsedMessage] = []
    for index, raw in enumerate(raws):
        label = labels[index] if labels is not None and index < len(labels) \
            else f"message {index + 1}"
        refusal = too_big(len(raw), max_message)
        if refusal:
            result.refused.append(Refusal(label, refusal))
            continue
        try:
            parsed = parse_raw(raw, max_attachment_bytes=max_attachment)
        except MailReadError as exc:
            result.refused.append(Refusal(label, exc.detail))
            continue
        result.skipped_attachments += [Refusal(label, reason) for reason in parsed.skipped]
        accepted.append(parsed)

    ids = _existing_ids(session, [p.message_id for p in accepted])
    new: dict[str, ParsedMessage] = {}
    for parsed in accepted:
        if parsed.message_id in ids or parsed.message_id in new:
            result.duplicates += 1
        else:
            new[parsed.message_id] = parsed
    inserted = _insert_messages(session, list(new.values()), source)
    # A message another transaction stored meanwhile is a duplicate too.
    raced = [mid for mid in new if mid not in inserted]
    result.duplicates += len(raced)
    ids.update(inserted)
    ids.update(_existing_ids(session, raced))
    result.stored = len(inserted)
    result.message_ids = list(dict.fromkeys(ids[p.message_id] for p in accepted))

    fresh = [new[mid] for mid in inserted]
    _insert_parts(session, fresh, inserted)
    links = _links_by_address(session, {(inserted[p.message_id], address)
                                        for p in fresh for address, _role in p.addresses()})
    links |= {(message_pk, _kind(rt).record_type, int(rid))
              for rt, rid in link_to for message_pk in result.message_ids}
    _add_links(session, links)
    return result


def _existing_ids(session: Session, message_ids: Sequence[str]) -> dict[str, int]:
    """``{Message-ID: archive id}`` of those already archived."""
    found: dict[str, int] = {}
    for chunk in _chunks(list(dict.fromkeys(message_ids))):
        found.update(session.execute(select(MailMessage.message_id, MailMessage.id)
                                     .where(MailMessage.message_id.in_(chunk))).all())
    return found


def _insert_messages(session: Session, messages: Sequence[ParsedMessage],
                     source: str) -> dict[str, int]:
    """Insert the messages, skipping any Message-ID that exists by now (the
    unique constraint decides, not an earlier read); ``{Message-ID: id}`` of
    those inserted."""
    inserted: dict[str, int] = {}
    insert = _insert(session)
    for chunk in _chunks(messages, 100):
        rows = [{"message_id": p.message_id, "subject": p.subject,
                 "from_address": p.from_address, "to_addresses": p.to_addresses,
                 "cc_addresses": p.cc_addresses, "date": p.date, "text_body": p.text_body,
                 "html_body": p.html_body, "raw_size": p.raw_size, "source": source[:50]}
                for p in chunk]
        statement = (insert(MailMessage).values(rows)
                     .on_conflict_do_nothing(index_elements=["message_id"])
                     .returning(MailMessage.message_id, MailMessage.id))
        inserted.update(session.execute(statement).all())
    return inserted


def _insert_parts(session: Session, messages: Sequence[ParsedMessage],
                  ids: dict[str, int]) -> None:
    """The new messages' address rows and attachments (files first, then rows)."""
    addresses = [{"message_id": ids[p.message_id], "address": address, "role": role}
                 for p in messages for address, role in p.addresses()]
    if addresses:
        session.execute(MailAddress.__table__.insert(), addresses)
    folder = storage.root(session)
    attachments = []
    for parsed in messages:
        for attachment in parsed.attachments:
            sha256, relative = storage.save(folder, attachment.data)
            attachments.append({"message_id": ids[parsed.message_id],
                                "filename": attachment.filename,
                                "content_type": attachment.content_type,
                                "size": len(attachment.data), "sha256": sha256,
                                "storage_path": relative})
    if attachments:
        session.execute(MailAttachment.__table__.insert(), attachments)


def _add_links(session: Session, links: set[tuple[int, str, int]]) -> int:
    """Insert ``(message id, record type, record id)`` links; those that exist
    (or that a concurrent transaction adds first) are left alone. Returns how
    many were added."""
    rows = [{"message_id": m, "record_type": rt, "record_id": r} for m, rt, r in sorted(links)]
    insert = _insert(session)
    added = 0
    for chunk in _chunks(rows):
        outcome = session.execute(insert(MailLink).values(list(chunk)).on_conflict_do_nothing())
        added += max(outcome.rowcount, 0)  # type: ignore[attr-defined]
    return added


# -- linking to records --------------------------------------------------------------------


def _record_emails(session: Session, kind: Kind) -> Select[Any]:
    """``(record id, lower-cased email)`` for each email of each live, not
    anonymized record of ``kind``: the JSON list unnested in the database."""
    model = kind.model
    if session.get_bind().dialect.name == "postgresql":
        each = func.json_array_elements_text(model.emails).table_valued("value")
    else:
        each = func.json_each(model.emails).table_valued("value")
    email = func.lower(each.c.value)
    return (select(model.id, email).select_from(model).join(each, true())
            .where(model.deleted_at.is_(None), model.anonymized_at.is_(None)))


def _links_by_address(session: Session, wanted: set[tuple[int, str]]
                      ) -> set[tuple[int, str, int]]:
    """Links from messages to the records that carry their addresses, given
    ``(message id, address)`` pairs: one query per record type and chunk of
    addresses."""
    by_address: dict[str, set[int]] = defaultdict(set)
    for message_pk, address in wanted:
        by_address[address].add(message_pk)
    links: set[tuple[int, str, int]] = set()
    for kind in KINDS.values():
        query = _record_emails(session, kind)
        email = query.selected_columns[1]
        for chunk in _chunks(sorted(by_address)):
            for record_id, address in session.execute(query.where(email.in_(chunk))):
                links |= {(m, kind.record_type, record_id) for m in by_address[address]}
    return links


def link_records(session: Session, record_type: str, ids: Sequence[int]) -> int:
    """Link every archived message that carries an address of these records
    (live, not anonymized) to them. Idempotent; a few queries per 500 records
    however many there are. Returns how many links were added."""
    kind = _kind(record_type)
    query = _record_emails(session, kind)
    added = 0
    for chunk in _chunks(sorted(set(ids))):
        records: dict[str, set[int]] = defaultdict(set)
        for record_id, address in session.execute(query.where(kind.model.id.in_(chunk))):
            records[address].add(record_id)
        if not records:
            continue
        links: set[tuple[int, str, int]] = set()
        for addresses in _chunks(sorted(records)):
            rows = session.execute(select(MailAddress.message_id, MailAddress.address)
                                   .where(MailAddress.address.in_(addresses)).distinct())
            for message_pk, address in rows:
                links |= {(message_pk, kind.record_type, r) for r in records[address]}
        added += _add_links(session, links)
    return added


def move_links(session: Session, record_type: str, survivor_id: int,
               merged_ids: Sequence[int]) -> None:
    """Give the merged records' messages to the survivor (two statements)."""
    merged = [i for i in merged_ids if i != survivor_id]
    if not merged:
        return
    of = and_(MailLink.record_type == record_type, MailLink.record_id.in_(merged))
    survivor_has = select(MailLink.message_id).where(MailLink.record_type == record_type,
                                                     MailLink.record_id == survivor_id)
    session.execute(delete(MailLink).where(of, MailLink.message_id.in_(survivor_has)))
    session.execute(update(MailLink).where(of).values(record_id=survivor_id))


# -- reading ------------------------------------------------------------------------------


def _newest_first(query: Select[Any]) -> Select[Any]:
    return query.order_by(func.coalesce(MailMessage.date, MailMessage.created_at).desc(),
                          MailMessage.id.desc())


def messages_for(session: Session, record_type: str, record_id: int) -> list[MailMessage]:
    """The messages linked to a record, newest first (no permission check: the
    caller has already shown the record to its user)."""
    _kind(record_type)
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


# -- one person's messages (privacy) --------------------------------------------------------


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
        for chunk in _chunks(ids):
            session.execute(delete(MailMessage).where(MailMessage.id.in_(chunk)))
        storage.remove_after_commit(session, hashes)
        return
    if ATTACHMENTS in chosen:
        for chunk in _chunks(ids):
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
    for chunk in _chunks(ids if emails else []):
        session.execute(delete(MailAddress).where(MailAddress.message_id.in_(chunk),
                                                  MailAddress.address.in_(emails)))


def timeline_rows(session: Session, record_type: str, record_id: int) -> list[Any]:
    """``(subject, from, to, date, created_at)`` of the record's messages: one query."""
    query = (select(MailMessage.subject, MailMessage.from_address, MailMessage.to_addresses,
                    MailMessage.date, MailMessage.created_at)
             .join(MailLink, MailLink.message_id == MailMessage.id)
             .where(MailLink.record_type == record_type, MailLink.record_id == record_id))
    return list(session.execute(query))




# -- demo ----------------------------------------------------------------------------------


def load_demo(session: Session, seller: User) -> int:
    """A short exchange with each of the first demo leads of ``seller``, stored
    once; returns how many demo messages the archive holds."""
    demo = select(func.count()).select_from(MailMessage).where(MailMessage.source == "demo")
    held = session.scalar(demo) or 0
    if held:
        return held
    leads = session.execute(select(Lead.id, Lead.full_name, Lead.email_key)
                            .where(Lead.owner_id == seller.id, Lead.email_key.is_not(None))
                            .order_by(Lead.id).limit(5)).all()
    raws = []
    for lead_id, name, address in leads:
        exchange = ((seller.email, address, "Your fibre quote",
                     f"Dear {name},\n\nour quote for a fibre line follows in the next mail."),
                    (address, seller.email, "Re: Your fibre quote",
                     "Thanks! Could you also price a static IP?"))
        for number, (sender, to, subject, text) in enumerate(exchange):
            msg = EmailMessage()
            msg["Message-ID"] = f"<demo-{lead_id}-{number}@crmcore.demo>"
            msg["From"], msg["To"], msg["Subject"] = sender, to, subject
            msg["Date"] = format_datetime(utcnow())
            msg.set_content(text)
            raws.append(msg.as_bytes())
    return store_messages(session, raws, "demo").stored
