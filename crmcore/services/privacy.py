"""Anonymizing and exporting one person across the core and every plugin.

The owners of personal data answer three hooks (``crm_personal_data``,
``crm_person_export``, ``crm_person_erase``); these functions drive them. A
privacy plugin adds who may call them, an audit log and a user interface.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from sqlalchemy.orm import Session

from crmcore.errors import ErasureFailed, ValidationFailed
from crmcore.models import User
from crmcore.services import records as rec
from crmcore.services.personal_data import ERASED, name_parts, person_of, scrub
from crmcore.types import Person, PersonalField, PersonExport

__all__ = ["ERASED", "erase", "export", "find_person", "kind_of", "mandatory_keys",
           "name_parts", "personal_fields", "scrub"]

log = logging.getLogger("crmcore.privacy")

KINDS = {"lead": rec.LEADS, "contact": rec.CONTACTS}


def personal_fields(session: Session) -> list[PersonalField]:
    """Every field that holds personal data, core first, then plugins in load order."""
    found: list[PersonalField] = []
    for result in session.info["crm"].hook.crm_personal_data():
        found.extend(result or ())
    return found


def mandatory_keys(session: Session) -> frozenset[str]:
    return frozenset(f.key for f in personal_fields(session) if f.mandatory)


def kind_of(record_type: str) -> rec.Kind:
    kind = KINDS.get(record_type)
    if kind is None:
        raise ValidationFailed("Unknown record type.",
                               {"record_type": ["One of: lead, contact."]})
    return kind


def find_person(session: Session, actor: User | None, record_type: str, record_id: int,
                *, deleted: bool | None = None) -> tuple[Any, Person]:
    """The record (live or in the recycle bin) and the person it stands for;
    404 when ``actor`` may not see it."""
    kind = kind_of(record_type)
    if deleted is None:
        query = rec.visible(session, actor, kind)
        binned = rec.visible(session, actor, kind, deleted=True)
        record = (session.scalar(query.where(kind.model.id == record_id))
                  or session.scalar(binned.where(kind.model.id == record_id)))
        if record is None:
            rec.get(session, actor, kind, record_id)  # raises NotFound
    else:
        record = rec.get(session, actor, kind, record_id, deleted=deleted)
    return record, person_of(record_type, record)


def export(session: Session, person: Person) -> list[PersonExport]:
    """What the core and every plugin hold about ``person``."""
    parts: list[PersonExport] = []
    for result in session.info["crm"].hook.crm_person_export(session=session, person=person):
        parts.extend(result or ())
    return parts


def erase(session: Session, actor: User | None, person: Person,
          fields: Iterable[str]) -> frozenset[str]:
    """Erase ``fields`` (plus the mandatory ones) of ``person`` in the core and every
    plugin, inside the caller's transaction. Returns the keys erased.

    A failing owner raises :class:`ErasureFailed` naming it; the caller rolls back,
    so that no person is ever half anonymized."""
    known = {f.key for f in personal_fields(session)}
    unknown = sorted(set(fields) - known)
    if unknown:
        raise ValidationFailed("Unknown personal data fields.",
                               {"fields": [f"Unknown: {', '.join(unknown)}."]})
    selected = frozenset(fields) | mandatory_keys(session)
    caller = session.info["crm"].hook.crm_person_erase
    # One implementation at a time, core first, so that a failure names its owner.
    for impl in reversed(caller.get_hookimpls()):
        try:
            impl.function(session=session, actor=actor, person=person, fields=selected)
        except Exception as exc:
            log.warning("erasing %s #%s failed in %s", person.record_type, person.record_id,
                        impl.plugin_name, exc_info=True)
            raise ErasureFailed(
                f"The plugin {impl.plugin_name!r} failed to erase its data "
                f"({type(exc).__name__}); nothing was anonymized.",
                {"plugin": [impl.plugin_name]}) from exc
    session.flush()
    rec.log(session, actor, kind_of(person.record_type), person.record_id, "anonymized")
    return selected

