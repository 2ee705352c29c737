"""The personal data the core itself holds: what leads and contacts declare, how
they are exported and how they are erased. The core answers the privacy hooks
with these functions, as any plugin would."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from crmcore.db import utcnow
from crmcore.models import Contact, EmailKey, ImportChange, ImportJob, Lead, TimelineEntry, User
from crmcore.services.records import KEY_COLUMNS, KINDS, drop_other_keys, name_keys
from crmcore.types import Person, PersonalField, PersonExport

ERASED = "[erased]"

LEAD_FIELDS = (
    PersonalField("lead", "full_name", "Name", mandatory=True),
    PersonalField("lead", "emails", "Email addresses"),
    PersonalField("lead", "phones", "Phone numbers"),
    PersonalField("lead", "company", "Company"),
    PersonalField("lead", "login", "Login"),
    PersonalField("lead", "location", "Location"),
    PersonalField("lead", "custom", "Custom fields"),
    PersonalField("lead", "comments", "Comments"),
)
CONTACT_FIELDS = (
    PersonalField("contact", "name", "Name", mandatory=True),
    PersonalField("contact", "emails", "Email addresses"),
    PersonalField("contact", "phones", "Phone numbers"),
    PersonalField("contact", "company", "Company"),
    PersonalField("contact", "address", "Address"),
    PersonalField("contact", "custom", "Custom fields"),
    PersonalField("contact", "comments", "Comments"),
)
# Record attributes behind each declared field.
COLUMNS: Mapping[str, Mapping[str, tuple[str, ...]]] = {
    "lead": {"full_name": ("full_name",), "emails": ("emails",), "phones": ("phones",),
             "company": ("company",), "login": ("login",), "location": ("location",),
             "custom": ("custom",)},
    "contact": {"name": ("first_name", "last_name"), "emails": ("emails",),
                "phones": ("phones",), "company": ("company",),
                "address": ("street", "city", "postal_code", "country"), "custom": ("custom",)},
}
MODELS: Mapping[str, Any] = {"lead": Lead, "contact": Contact}
EMPTY: Mapping[str, Any] = {"emails": [], "phones": [], "custom": {}}


def fields() -> list[PersonalField]:
    return [*LEAD_FIELDS, *CONTACT_FIELDS]


def person_of(record_type: str, record: Any) -> Person:
    """The :class:`Person` a lead or contact stands for."""
    if record_type == "lead":
        names: tuple[str, ...] = (record.full_name,)
    else:
        names = tuple(n for n in (record.first_name, record.last_name,
                                  f"{record.first_name} {record.last_name}".strip()) if n)
    return Person(record_type, record.id,
                  emails=tuple(dict.fromkeys(e.lower() for e in record.emails or ())),
                  phones=tuple(record.phones or ()), names=tuple(n for n in names if n))


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def export(session: Session, person: Person) -> list[PersonExport]:
    model = MODELS.get(person.record_type)
    record = session.get(model, person.record_id) if model is not None else None
    if record is None:
        return []
    columns = {c.key: _jsonable(getattr(record, c.key)) for c in model.__table__.columns}
    entries = session.execute(
        select(TimelineEntry, User.email).outerjoin(User, User.id == TimelineEntry.actor_id)
        .where(TimelineEntry.record_type == person.record_type,
               TimelineEntry.record_id == person.record_id)
        .order_by(TimelineEntry.id))
    timeline = [{"at": _jsonable(e.created_at), "kind": e.kind, "by": by, "body": e.body,
                 "changes": e.changes} for e, by in entries]
    return [PersonExport(person.record_type, {"record": columns, "timeline": timeline})]


def erase(session: Session, person: Person, selected: frozenset[str]) -> None:
    """Erase the selected fields of the person's record, its timeline's quotes of
    them and the earlier values an import kept for revert; release its email
    address. Idempotent."""
    model = MODELS.get(person.record_type)
    record = session.get(model, person.record_id) if model is not None else None
    if record is None:
        return
    chosen = {key.partition(".")[2] for key in selected
              if key.partition(".")[0] == person.record_type}
    columns = COLUMNS[person.record_type]
    erased_columns = {column for name in chosen for column in columns.get(name, ())}
    secrets = _quoted_values(person, record, erased_columns)
    placeholder = f"Anonymized {person.record_type} #{record.id}"
    for column in erased_columns:
        setattr(record, column, EMPTY.get(column, ""))
    names = ({"full_name": placeholder} if person.record_type == "lead"
             else {"first_name": "", "last_name": placeholder})
    for key, value in {**names, **name_keys(KINDS[person.record_type], names)}.items():
        setattr(record, key, value)
    if "emails" in erased_columns:
        record.email_key = None
    if "phones" in erased_columns:
        record.phone_key = None
    # The address no longer blocks a new record, whether or not it was erased,
    # nor is the record anyone's likely duplicate: it stands for nobody.
    session.execute(delete(EmailKey).where(EmailKey.record_type == person.record_type,
                                           EmailKey.record_id == person.record_id))
    drop_other_keys(session, KINDS[person.record_type], [person.record_id])
    if record.anonymized_at is None:
        record.anonymized_at = utcnow()
    _scrub_timeline(session, person, "comments" in chosen, erased_columns, secrets)
    _scrub_import_changes(session, person, erased_columns)


def _quoted_values(person: Person, record: Any, columns: Iterable[str]) -> list[str]:
    """Every text an erased column held and the person's names, longest first,
    so that replacing them in free text also catches a full name before its parts."""
    values: set[str] = set(name_parts(person))
    for column in columns:
        value = getattr(record, column)
        items = value.values() if isinstance(value, dict) else (
            value if isinstance(value, list) else [value])
        values.update(str(v) for v in items if v not in (None, "") and len(str(v)) >= 3)
    return sorted(values, key=len, reverse=True)


def name_parts(person: Person) -> list[str]:
    """The person's names and their parts of three letters or more, longest
    first; the placeholder of an earlier anonymization is no name."""
    found: set[str] = set()
    for name in person.names:
        if name and not name.startswith("Anonymized "):
            found.update({name, *name.split()})
    return sorted((n for n in found if len(n) >= 3), key=len, reverse=True)


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every occurrence of each secret (ignoring case) replaced by
    ``[erased]``. Give the secrets longest first."""
    for secret in secrets:
        text = re.sub(re.escape(secret), ERASED, text, flags=re.IGNORECASE)
    return text


def _scrub_timeline(session: Session, person: Person, comments: bool,
                    columns: set[str], secrets: list[str]) -> None:
    name_columns = set(COLUMNS[person.record_type][
        "full_name" if person.record_type == "lead" else "name"])
    hidden = columns | name_columns | KEY_COLUMNS
    entries = session.scalars(select(TimelineEntry).where(
        TimelineEntry.record_type == person.record_type,
        TimelineEntry.record_id == person.record_id))
    for entry in entries:
        if entry.kind == "comment" and comments:
            entry.body = "[comment erased]"
        elif entry.body:
            entry.body = scrub(entry.body, secrets)
        if entry.changes and hidden & set(entry.changes):
            entry.changes = {k: ([ERASED, ERASED] if k in hidden else v)
                             for k, v in entry.changes.items()}


def _scrub_import_changes(session: Session, person: Person, columns: set[str]) -> None:
    hidden = columns | {"full_name", "first_name", "last_name"} | KEY_COLUMNS
    changes = session.scalars(
        select(ImportChange).join(ImportJob, ImportJob.id == ImportChange.import_id)
        .where(ImportJob.record_type == person.record_type,
               ImportChange.record_id == person.record_id))
    for change in changes:
        if hidden & set(change.before):
            change.before = {k: v for k, v in change.before.items() if k not in hidden}
