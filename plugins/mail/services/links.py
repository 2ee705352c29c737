"""Links from messages to the leads and contacts that carry their addresses:
made when either side arrives, moved when records are merged."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from crmcore_plugins.mail.models import MailAddress, MailLink
from crmcore_plugins.mail.services.batches import chunks, dialect_insert
from crmcore_plugins.mail.services.records import KINDS, kind_of
from sqlalchemy import Select, and_, delete, func, select, true, update
from sqlalchemy.orm import Session

from crmcore.db import any_of
from crmcore.services.records import Kind


def add_links(session: Session, links: set[tuple[int, str, int]]) -> int:
    """Insert ``(message id, record type, record id)`` links; those that exist
    (or that a concurrent transaction adds first) are left alone. Returns how
    many were added."""
    rows = [{"message_id": m, "record_type": rt, "record_id": r} for m, rt, r in sorted(links)]
    insert = dialect_insert(session)
    added = 0
    for chunk in chunks(rows):
        outcome = session.execute(insert(MailLink).values(list(chunk)).on_conflict_do_nothing())
        added += max(outcome.rowcount, 0)  # type: ignore[attr-defined]
    return added


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


def links_by_address(session: Session, wanted: set[tuple[int, str]]
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
        for chunk in chunks(sorted(by_address)):
            for record_id, address in session.execute(query.where(email.in_(chunk))):
                links |= {(m, kind.record_type, record_id) for m in by_address[address]}
    return links


def link_records(session: Session, record_type: str, ids: Sequence[int]) -> int:
    """Link every archived message that carries an address of these records
    (live, not anonymized) to them. Idempotent; one query, matched in the
    database on the archive's address index, then the inserts of the links
    found. Returns how many links were added."""
    kind = kind_of(record_type)
    records = _record_emails(session, kind)
    record_id, email = records.selected_columns
    matches = (records.with_only_columns(MailAddress.message_id, record_id)
               .join(MailAddress, MailAddress.address == email)
               .where(any_of(session, kind.model.id, sorted(set(ids)))).distinct())
    return add_links(session, {(message_pk, kind.record_type, r)
                               for message_pk, r in session.execute(matches)})


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


def drop_links(session: Session, record_type: str, ids: Sequence[int]) -> None:
    """Forget the links of records deleted for good; the messages stay in the
    archive, and a record that later gets one of these ids starts with none."""
    session.execute(delete(MailLink).where(MailLink.record_type == record_type,
                                           any_of(session, MailLink.record_id, ids)),
                    execution_options={"synchronize_session": False})
