"""Adding messages to the archive: :func:`store_messages`, idempotent by
Message-ID, for the ``crm mail import`` command and other plugins alike."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from crmcore_plugins.mail import storage
from crmcore_plugins.mail.models import MailAddress, MailAttachment, MailMessage
from crmcore_plugins.mail.parsing import MB, MailReadError, ParsedMessage, parse_raw, too_big
from crmcore_plugins.mail.services.batches import chunks, dialect_insert
from crmcore_plugins.mail.services.links import add_links, links_by_address
from crmcore_plugins.mail.services.records import kind_of
from sqlalchemy import select
from sqlalchemy.orm import Session


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


def limits(session: Session) -> tuple[int, int]:
    """The largest message and attachment, in bytes, the settings allow."""
    settings = session.info["crm"].plugins.settings("mail")
    return settings["max_message_mb"] * MB, settings["max_attachment_mb"] * MB


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
    links = links_by_address(session, {(inserted[p.message_id], address)
                                        for p in fresh for address, _role in p.addresses()})
    links |= {(message_pk, kind_of(rt).record_type, int(rid))
              for rt, rid in link_to for message_pk in result.message_ids}
    add_links(session, links)
    return result


def _existing_ids(session: Session, message_ids: Sequence[str]) -> dict[str, int]:
    """``{Message-ID: archive id}`` of those already archived."""
    found: dict[str, int] = {}
    for chunk in chunks(list(dict.fromkeys(message_ids))):
        found.update(session.execute(select(MailMessage.message_id, MailMessage.id)
                                     .where(MailMessage.message_id.in_(chunk))).all())
    return found


def _insert_messages(session: Session, messages: Sequence[ParsedMessage],
                     source: str) -> dict[str, int]:
    """Insert the messages, skipping any Message-ID that exists by now (the
    unique constraint decides, not an earlier read); ``{Message-ID: id}`` of
    those inserted."""
    inserted: dict[str, int] = {}
    insert = dialect_insert(session)
    for chunk in chunks(messages, 100):
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
