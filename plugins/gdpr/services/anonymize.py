"""Anonymizing the person behind a lead or contact, one record or several, and
what an anonymization would erase. Each record is claimed before it is erased
(see :func:`_claim`), so that it is never anonymized twice.

The records merged into the one anonymized (and those merged into them) are the
same person: they are anonymized with it, in the same transaction
(:func:`try_anonymize`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from crmcore_plugins.gdpr import PERMISSION
from crmcore_plugins.gdpr.schemas import RECORD_TYPES
from crmcore_plugins.gdpr.services.audit import audit
from crmcore_plugins.gdpr.services.merges import merged_into
from crmcore_plugins.gdpr.services.records import KINDS, AlreadyAnonymized, anonymized_message
from crmcore_plugins.gdpr.services.settings import erase_keys
from sqlalchemy import update as sql_update
from sqlalchemy.orm import Session

import crmcore.services.privacy as privacy
from crmcore.auth.roles import require
from crmcore.db import utcnow
from crmcore.errors import ErasureFailed, NotFound
from crmcore.models import User
from crmcore.types import Person, PersonalField


@dataclass(frozen=True)
class Erased:
    """What one anonymization erased: the field keys, and the ids of the records
    (of the same type) merged into the record that were anonymized with it."""

    fields: frozenset[str]
    merged: tuple[int, ...] = ()


def _claim(session: Session, record_type: str, record_id: int,
           cutoff: datetime | None = None) -> bool:
    """Mark the record anonymized unless someone did first (or, for the sweep, it
    was touched since it was listed). The conditional UPDATE takes the row lock
    (PostgreSQL) or the database's write lock (SQLite): of two transactions
    claiming one record, exactly one wins."""
    model = KINDS[record_type].model
    query = sql_update(model).where(model.id == record_id, model.anonymized_at.is_(None))
    if cutoff is not None:
        query = query.where(model.touched_at < cutoff)
    result = session.execute(query.values(anonymized_at=utcnow())
                             .execution_options(synchronize_session="fetch"))
    return bool(result.rowcount)


def try_anonymize(session: Session, actor: User | None, record_type: str, record_id: int,
                  via: str, cutoff: datetime | None = None) -> Erased | None:
    """Anonymize one visible record inside the caller's transaction; ``None`` when
    it was anonymized (or, with ``cutoff``, touched) by someone else meanwhile.

    Every record merged into it, directly or through a merge of merges, and not
    anonymized yet is anonymized too, audited with the same actor and ``via``:
    it is the same person, in the recycle bin with the name and addresses it
    had (or restored from it since), whoever may see it and however recently it
    was touched. A failure in any of them fails the whole (:class:`ErasureFailed`
    naming it); the caller rolls back."""
    record, person = privacy.find_person(session, actor, record_type, record_id)
    if record.anonymized_at is not None or not _claim(session, record_type, record_id, cutoff):
        return None
    copies = _merged_copies(session, record_type, record_id)
    # The survivor's timeline holds what was moved from the copies: their names
    # are scrubbed from it as its own are.
    names = tuple(dict.fromkeys([*person.names, *(n for _, p in copies for n in p.names)]))
    keys = erase_keys(session)
    erased = _erase(session, actor, replace(person, names=names), keys, via)
    done = []
    for copy, copy_person in copies:
        if not _claim(session, record_type, copy.id):
            continue  # anonymized meanwhile by someone else
        try:
            _erase(session, actor, copy_person, keys, via)
        except ErasureFailed as exc:
            raise ErasureFailed(f"{record_type.capitalize()} #{copy.id}, merged into "
                                f"#{record_id}: {exc.detail}", exc.errors) from exc
        done.append(copy.id)
    return Erased(erased, tuple(done))


def _merged_copies(session: Session, record_type: str,
                   record_id: int) -> list[tuple[Any, Person]]:
    """The records merged into ``record_id`` (transitively) that still stand for
    someone, found whoever the actor is: the actor may erase the survivor, and
    these are the survivor's person."""
    found = []
    for copy_id in merged_into(session, record_type, record_id):
        try:
            copy, person = privacy.find_person(session, None, record_type, copy_id)
        except NotFound:
            continue  # purged meanwhile
        if copy.anonymized_at is None:
            found.append((copy, person))
    return found


def _erase(session: Session, actor: User | None, person: Person, keys: frozenset[str],
           via: str) -> frozenset[str]:
    erased = privacy.erase(session, actor, person, keys)
    # The other core record type's keys say nothing about this person.
    owner = {k: k.partition(".")[0] for k in erased}
    erased = frozenset(k for k in erased
                       if owner[k] == person.record_type or owner[k] not in RECORD_TYPES)
    audit(session, actor, "anonymize", via, record_type=person.record_type,
          record_id=person.record_id, fields=erased)
    return erased


@dataclass(frozen=True)
class MergedCopy:
    """A record an anonymization takes along, as the confirmation page names
    it. ``restored``: back from the recycle bin, so live and possibly edited
    into someone else meanwhile; the admin sees its name and may say first
    that it is a different person ("not duplicates"), which forgets the merge."""

    id: int
    name: str
    restored: bool


def merged_copies(session: Session, actor: User | None, record_type: str,
                  record_id: int) -> list[MergedCopy]:
    """The records an anonymization of this one would anonymize with it
    (merged into it, not anonymized yet), for the confirmation page. Named
    whoever may see them: they are the person the actor is about to erase."""
    require(session, actor, PERMISSION)
    privacy.find_person(session, actor, record_type, record_id)  # 404 unless visible
    return [MergedCopy(copy.id, copy.full_name, copy.deleted_at is None)
            for copy, _ in _merged_copies(session, record_type, record_id)]


def describe(session: Session, actor: User | None, record_type: str,
             record_id: int) -> tuple[Any, list[PersonalField]]:
    """The record and the fields an anonymization would erase, for the
    confirmation and export pages."""
    require(session, actor, PERMISSION)
    record, _ = privacy.find_person(session, actor, record_type, record_id)
    chosen = erase_keys(session)
    return record, [f for f in privacy.personal_fields(session) if f.key in chosen]


def anonymize(session: Session, actor: User | None, record_type: str, record_id: int, *,
              via: str = "web") -> Erased:
    """Anonymize the person behind one lead or contact (live or in the recycle bin)
    in the core and every plugin, with the records merged into it; returns the
    field keys erased and the merged records anonymized with it. The caller
    commits; on :class:`ErasureFailed` it must roll back.

    :raises NotFound: no such record, or one ``actor`` may not see.
    :raises AlreadyAnonymized: nothing left to do.
    """
    require(session, actor, PERMISSION)
    erased = try_anonymize(session, actor, record_type, record_id, via)
    if erased is None:
        record, _ = privacy.find_person(session, actor, record_type, record_id)
        raise AlreadyAnonymized(anonymized_message(record_type, record))
    return erased


@dataclass(frozen=True)
class Bulk:
    """What :func:`anonymize_many` did: how many of the records asked for were
    anonymized, and how many records merged into them were with them."""

    anonymized: int = 0
    merged: int = 0


def anonymize_many(session: Session, actor: User | None, refs: Sequence[tuple[str, int]], *,
                   via: str = "web") -> Bulk:
    """Anonymize several records (and the records merged into them) in the caller's
    transaction, all or nothing: when one fails the caller rolls back and none is
    anonymized. Records anonymized meanwhile, or with a record merged into one
    earlier in ``refs``, are skipped."""
    require(session, actor, PERMISSION)
    done = merged = 0
    for record_type, record_id in dict.fromkeys(refs):
        try:
            erased = try_anonymize(session, actor, record_type, record_id, via)
        except ErasureFailed as exc:
            raise ErasureFailed(f"{record_type.capitalize()} #{record_id}: {exc.detail}",
                                exc.errors) from exc
        if erased is not None:
            done += 1
            merged += len(erased.merged)
    return Bulk(done, merged)
