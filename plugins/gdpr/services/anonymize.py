"""Anonymizing the person behind a lead or contact, one record or several, and
what an anonymization would erase. Each record is claimed before it is erased
(see :func:`_claim`), so that it is never anonymized twice."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from crmcore_plugins.gdpr import PERMISSION
from crmcore_plugins.gdpr.schemas import RECORD_TYPES
from crmcore_plugins.gdpr.services.audit import audit
from crmcore_plugins.gdpr.services.records import KINDS, AlreadyAnonymized, anonymized_message
from crmcore_plugins.gdpr.services.settings import erase_keys
from sqlalchemy import update as sql_update
from sqlalchemy.orm import Session

import crmcore.services.privacy as privacy
from crmcore.auth.roles import require
from crmcore.db import utcnow
from crmcore.errors import ErasureFailed
from crmcore.models import User
from crmcore.types import PersonalField


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
                  via: str, cutoff: datetime | None = None) -> frozenset[str] | None:
    """Anonymize one visible record inside the caller's transaction; ``None`` when
    it was anonymized (or, with ``cutoff``, touched) by someone else meanwhile."""
    record, person = privacy.find_person(session, actor, record_type, record_id)
    if record.anonymized_at is not None or not _claim(session, record_type, record_id, cutoff):
        return None
    erased = privacy.erase(session, actor, person, erase_keys(session))
    # The other core record type's keys say nothing about this person.
    owner = {k: k.partition(".")[0] for k in erased}
    erased = frozenset(k for k in erased
                       if owner[k] == record_type or owner[k] not in RECORD_TYPES)
    audit(session, actor, "anonymize", via, record_type=record_type, record_id=record_id,
          fields=erased)
    return erased


def describe(session: Session, actor: User | None, record_type: str,
             record_id: int) -> tuple[Any, list[PersonalField]]:
    """The record and the fields an anonymization would erase, for the
    confirmation and export pages."""
    require(session, actor, PERMISSION)
    record, _ = privacy.find_person(session, actor, record_type, record_id)
    chosen = erase_keys(session)
    return record, [f for f in privacy.personal_fields(session) if f.key in chosen]


def anonymize(session: Session, actor: User | None, record_type: str, record_id: int, *,
              via: str = "web") -> frozenset[str]:
    """Anonymize the person behind one lead or contact (live or in the recycle bin)
    in the core and every plugin; returns the field keys erased. The caller
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


def anonymize_many(session: Session, actor: User | None, refs: Sequence[tuple[str, int]], *,
                   via: str = "web") -> int:
    """Anonymize several records in the caller's transaction, all or nothing: when
    one fails the caller rolls back and none is anonymized. Records anonymized
    meanwhile are skipped. Returns how many were anonymized."""
    require(session, actor, PERMISSION)
    done = 0
    for record_type, record_id in dict.fromkeys(refs):
        try:
            if try_anonymize(session, actor, record_type, record_id, via) is not None:
                done += 1
        except ErasureFailed as exc:
            raise ErasureFailed(f"{record_type.capitalize()} #{record_id}: {exc.detail}",
                                exc.errors) from exc
    return done
