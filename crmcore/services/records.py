"""Leads and contacts: the rules both share.

Every function takes the session and the acting user (``None`` for the system).
A sales user sees and changes only the records they own; users with
``records.view_all`` see all, and only users with ``records.reassign`` may set an
owner. A record the actor may not see answers :class:`NotFound`, exactly like
one that does not exist. Deleted records stay in the recycle bin, invisible to
everything but :mod:`crmcore.services.recycle_bin`.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from marshmallow import ValidationError, fields
from sqlalchemy import (
    Select,
    and_,
    bindparam,
    case,
    delete,
    false,
    func,
    literal,
    or_,
    select,
    tuple_,
)
from sqlalchemy import update as sql_update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crmcore.auth.roles import can, registry, require
from crmcore.db import MAX_INT, any_of, emit, json_is, utcnow
from crmcore.errors import Conflict, Forbidden, NotFound, StaleVersion, ValidationFailed
from crmcore.models import (
    Contact,
    DistinctPair,
    EmailKey,
    Lead,
    LeadStage,
    OtherKey,
    TimelineEntry,
    User,
)
from crmcore.models.records import LIFECYCLE_STAGES
from crmcore.schemas.base import Id, load
from crmcore.schemas.records import (
    custom_field,
    input_schema,
    phone_region,
    plugin_field_names,
    split_name,
)
from crmcore.services.bulk import insert_rows
from crmcore.services.custom_fields import definitions
from crmcore.services.users import owner_problem
from crmcore.textkeys import fold, sound_key


@dataclass(frozen=True)
class Kind:
    """What differs between leads and contacts."""

    record_type: str
    model: type[Lead] | type[Contact]
    ids_arg: str
    created: str
    updated: str
    deleted: str
    restored: str
    purged: str

    def event_ids(self, ids: Sequence[int]) -> dict[str, list[int]]:
        return {self.ids_arg: list(ids)}


LEADS = Kind("lead", Lead, "lead_ids", "crm_leads_created", "crm_leads_updated",
             "crm_leads_deleted", "crm_leads_restored", "crm_leads_purged")
CONTACTS = Kind("contact", Contact, "contact_ids", "crm_contacts_created",
                "crm_contacts_updated", "crm_contacts_deleted", "crm_contacts_restored",
                "crm_contacts_purged")
KINDS = {k.record_type: k for k in (LEADS, CONTACTS)}

# Columns derived from others, for search, sorting and the duplicate rule.
KEY_COLUMNS = frozenset({"name_key", "sound_key", "last_name_key", "email_key", "phone_key"})
# Fields the timeline leaves out: bookkeeping that changes with every edit.
UNTRACKED = {"version", "updated_at", "touched_at", *KEY_COLUMNS}


# -- reading ---------------------------------------------------------------------------


def visible(session: Session, actor: User | None, kind: Kind, *,
            deleted: bool | None = False) -> Select:
    """A select of the records ``actor`` may see: live ones, binned ones, or
    (``deleted=None``) both."""
    model = kind.model
    query = select(model)
    if deleted is not None:
        query = query.where(model.deleted_at.is_not(None) if deleted
                            else model.deleted_at.is_(None))
    if is_external(session, actor):
        return query.where(false())  # portal users work through their plugin only
    if not can(session, actor, "records.view_all"):
        query = query.where(model.owner_id == actor.id)  # type: ignore[union-attr]
    return query


def is_external(session: Session, actor: User | None) -> bool:
    """Whether ``actor`` has an external role (partner, advertiser, ...): such
    users see no core record and create none; their plugin's services act for them."""
    if actor is None:
        return False
    role = registry(session).roles.get(actor.role)
    return role is None or role.external


def get(session: Session, actor: User | None, kind: Kind, record_id: int, *,
        deleted: bool = False) -> Any:
    record = session.scalar(visible(session, actor, kind, deleted=deleted)
                            .where(kind.model.id == record_id))
    if record is None:
        raise NotFound(f"No such {kind.record_type}.")
    return record


# The entry :mod:`crmcore.services.merge` writes on a record it merged away.
MERGED_INTO = re.compile(r"Merged into #(\d+)")


@dataclass(frozen=True)
class Binned:
    """Why a record someone had open is gone: it went to the recycle bin."""

    message: str
    survivor_id: int | None  # the live record it was merged into, if the actor may see it


def binned_meanwhile(session: Session, actor: User | None, kind: Kind,
                     record_id: int) -> Binned | None:
    """Whether a record ``actor`` may see is in the recycle bin, merged into
    another (named when ``actor`` may see that one) or deleted; None when it is
    not, so that a record ``actor`` may not see stays a plain "not found"."""
    if session.scalar(visible(session, actor, kind, deleted=True)
                      .where(kind.model.id == record_id).with_only_columns(kind.model.id)) is None:
        return None
    # A merge moves the record's timeline to the survivor, then logs "merged"
    # on it; a later restore or delete logs after that.
    last = session.scalar(
        select(TimelineEntry)
        .where(TimelineEntry.record_type == kind.record_type,
               TimelineEntry.record_id == record_id,
               TimelineEntry.kind.in_(("merged", "deleted", "restored")))
        .order_by(TimelineEntry.id.desc()).limit(1))
    name = f"{kind.record_type.capitalize()} #{record_id}"
    merged = MERGED_INTO.fullmatch(last.body) if last is not None and last.kind == "merged" \
        else None
    if merged is None:
        return Binned(f"{name} was deleted meanwhile: it is in the recycle bin.", None)
    survivor = session.scalar(visible(session, actor, kind)
                              .where(kind.model.id == int(merged[1]))
                              .with_only_columns(kind.model.id))
    if survivor is None:
        return Binned(f"{name} was merged into another {kind.record_type} meanwhile; it is in "
                      "the recycle bin.", None)
    return Binned(f"{name} was merged into #{survivor} meanwhile; it is in the recycle bin.",
                  survivor)


# -- writing ---------------------------------------------------------------------------


def _claim_email(session: Session, actor: User | None, email: str, kind: Kind,
                 record_id: int) -> None:
    """Reserve ``email`` for this record. A savepoint keeps the caller's
    transaction usable when the database says the address is taken."""
    try:
        with session.begin_nested():
            session.add(EmailKey(email=email, record_type=kind.record_type, record_id=record_id))
    except IntegrityError:
        raise _email_taken(session, actor, email) from None


def email_holder(session: Session, actor: User | None, email: str) -> tuple[Kind, Any] | None:
    """The lead or contact holding ``email`` as its key, live or in the recycle
    bin, when ``actor`` may see it; None when nobody holds it or the holder is
    not ``actor``'s to see."""
    key = session.get(EmailKey, email)
    if key is None or key.record_type not in KINDS:
        return None
    kind = KINDS[key.record_type]
    record = session.scalar(visible(session, actor, kind, deleted=None)
                            .where(kind.model.id == key.record_id))
    return (kind, record) if record is not None else None


def _email_taken(session: Session, actor: User | None, email: str) -> Conflict:
    """The conflict of an address another record holds. A holder in the recycle
    bin blocks the address unseen: named, with what to do, when ``actor`` may
    see it. For a holder ``actor`` may not see the wording is the same whether
    it is binned or not, so that it tells nothing about another's record."""
    found = email_holder(session, actor, email)
    if found is None:
        detail = (f"The email {email} already belongs to another lead or contact: one you "
                  "may not see, or one in the recycle bin. Ask someone who sees all records.")
    elif found[1].deleted_at is None:
        detail = f"The email {email} already belongs to another lead or contact."
    else:
        kind, record = found
        remedy = ("purge it from the bin first" if can(session, actor, "recycle_bin.purge")
                  else "ask an administrator to purge it from the bin first")
        detail = (f"The email {email} belongs to {kind.record_type} #{record.id} in the "
                  f"recycle bin: restore it, or {remedy}.")
    return Conflict(detail, {"emails": ["This email is already known."]})


def _release_email(session: Session, email: str | None) -> None:
    if email:
        session.execute(delete(EmailKey).where(EmailKey.email == email))


def write_other_keys(session: Session, kind: Kind,
                     records: Sequence[tuple[int, Sequence[str], Sequence[str]]], *,
                     new: bool = False) -> None:
    """Give records, ``(id, phones, emails)`` each, the other keys
    (:class:`~crmcore.models.OtherKey`) of those phones and emails in place of
    the ones they had (none, if they are ``new``)."""
    if not new and records:
        drop_other_keys(session, kind, [record_id for record_id, _, _ in records])
    insert_rows(session.connection(), OtherKey.__table__, [
        {"record_id": record_id, "value": value} for record_id, phones, emails in records
        if len(phones) > 1 or len(emails) > 1
        for value in dict.fromkeys([*phones[1:], *emails[1:]])],
        {"record_type": kind.record_type})


def gave_up_keys(columns: Mapping[str, Any]) -> bool:
    """Whether a record (its columns) is in the recycle bin without its key
    email: merged into another, it gave up its keys to the survivor."""
    return columns["deleted_at"] is not None and columns["email_key"] is None


def drop_other_keys(session: Session, kind: Kind, ids: Sequence[int]) -> None:
    session.execute(delete(OtherKey).where(OtherKey.record_type == kind.record_type,
                                           any_of(session, OtherKey.record_id, ids)),
                    execution_options={"synchronize_session": False})


def _default_stage(session: Session) -> int:
    stage_id = session.scalar(select(LeadStage.id).where(LeadStage.kind == "open")
                              .order_by(LeadStage.position, LeadStage.id).limit(1))
    if stage_id is None:
        raise ValidationFailed("No open lead stage is configured.",
                               {"stage_id": ["Configure an open stage first."]})
    return stage_id


def _check_refs(session: Session, actor: User | None, values: Mapping[str, Any]) -> None:
    errors: dict[str, list[str]] = {}
    if "owner_id" in values:
        if not can(session, actor, "records.reassign"):
            errors["owner_id"] = ["You may not set the owner."]
        elif values["owner_id"] is not None:
            problem = owner_problem(session, session.get(User, values["owner_id"]))
            if problem:
                errors["owner_id"] = [problem]
    if "stage_id" in values and session.get(LeadStage, values["stage_id"]) is None:
        errors["stage_id"] = ["Unknown stage."]
    if errors:
        raise ValidationFailed("The input has errors; see the fields.", errors)


def name_keys(kind: Kind, columns: Mapping[str, Any]) -> dict[str, str]:
    """The folded names of a record with these columns: ``name_key``, which
    search compares (a contact's holds its first and last name) and leads sort
    by, its ``sound_key``, which duplicate checks compare, and
    ``last_name_key``, which search compares too and contacts sort by. A
    lead's last name is the one converting it would give the contact
    (:func:`split_name`), so that a surname finds the lead and the contact
    alike."""
    if kind is LEADS:
        full_name = columns.get("full_name") or ""
        name_key = fold(full_name, 200)
        return {"name_key": name_key, "sound_key": sound_key(name_key, 200),
                "last_name_key": fold(split_name(full_name)[1], 100)}
    last = columns.get("last_name") or ""
    name_key = fold(f"{columns.get('first_name') or ''} {last}".strip(), 200)
    return {"name_key": name_key, "sound_key": sound_key(name_key, 200),
            "last_name_key": fold(last, 100)}


def _assigned(current: Mapping[str, Any], kind: Kind, values: Mapping[str, Any],
              plugin_fields: set[str]) -> dict[str, Any]:
    """The columns that validated ``values`` set on a record whose columns are
    ``current``: plugin fields go into ``plugin_data``, custom fields merge
    with those stored, and the email, phone and name keys follow."""
    values = dict(values)
    out: dict[str, Any] = {}
    plugin_values = {k: values.pop(k) for k in list(values) if k in plugin_fields}
    if plugin_values:
        out["plugin_data"] = {**(current.get("plugin_data") or {}), **plugin_values}
    if "custom" in values:
        out["custom"] = {**(current.get("custom") or {}), **values.pop("custom")}
    out.update(values)
    if "emails" in values:
        out["email_key"] = values["emails"][0] if values["emails"] else None
    if "phones" in values:
        out["phone_key"] = values["phones"][0] if values["phones"] else None
    out.update(name_keys(kind, {**current, **out}))
    return out


def _apply(record: Any, kind: Kind, values: Mapping[str, Any], plugin_fields: set[str]) -> None:
    current = {c.key: getattr(record, c.key) for c in record.__table__.columns}
    for key, value in _assigned(current, kind, values, plugin_fields).items():
        setattr(record, key, value)


def _snapshot(record: Any) -> dict[str, Any]:
    return {c.key: getattr(record, c.key) for c in record.__table__.columns
            if c.key not in UNTRACKED}


def _diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    return {k: (before[k], after[k]) for k in after if before.get(k) != after[k]}


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _jsonable_changes(changes: Mapping[str, tuple[Any, Any]]) -> dict[str, list[Any]]:
    return {k: [_jsonable(a), _jsonable(b)] for k, (a, b) in changes.items()}


def log(session: Session, actor: User | None, kind: Kind, record_id: int, entry_kind: str,
        body: str = "", changes: Mapping[str, tuple[Any, Any]] | None = None) -> TimelineEntry:
    """Add a timeline entry to a record."""
    entry = TimelineEntry(
        record_type=kind.record_type, record_id=record_id, kind=entry_kind,
        actor_id=actor.id if actor else None, body=body,
        changes=_jsonable_changes(changes or {}),
    )
    session.add(entry)
    return entry


def score_totals(session: Session, leads: Sequence[Lead]) -> dict[int, int]:
    """Each lead's score: the sum of every plugin's part (``crm_lead_score_parts``)."""
    totals = dict.fromkeys((lead.id for lead in leads), 0)
    for part in session.info["crm"].hook.crm_lead_score_parts(session=session, leads=leads):
        for lead_id, points in (part or {}).items():
            if lead_id in totals:
                totals[lead_id] += int(points)
    return totals


def score_rows(session: Session, rows: Sequence[dict[str, Any]],
               defaults: Mapping[str, Any] | None = None) -> None:
    """Score leads given as column dicts, which gain their ``score``, with one
    hook call. Plugins get read-only stand-ins carrying the columns as
    attributes: ORM objects for thousands of rows would cost more than their
    write. What the rows leave out, the stand-ins' class holds (``defaults``
    over empty values), so that each stand-in copies only its row."""
    empty = {column.key: None for column in Lead.__table__.columns}
    empty.update(emails=[], phones=[], tags=[], custom={}, plugin_data={}, company="",
                 **(defaults or {}))
    stand_in = type("LeadColumns", (), empty)
    leads = []
    for row in rows:
        lead = stand_in()
        lead.__dict__.update(row)
        leads.append(lead)
    totals = score_totals(session, leads)  # type: ignore[arg-type]
    for row in rows:
        row["score"] = totals[row["id"]]


def rescore(session: Session, leads: Sequence[Lead]) -> None:
    """Set each lead's score from :func:`score_totals`."""
    if not leads:
        return
    totals = score_totals(session, leads)
    for lead in leads:
        if lead.score != totals[lead.id]:
            lead.score = totals[lead.id]


def validated(session: Session, actor: User | None, kind: Kind, data: Mapping[str, Any], *,
              record: Any | None = None) -> dict[str, Any]:
    """``data`` as saving it (:func:`create`, or :func:`update` of ``record``)
    would take it, or the error saving it would raise: invalid input, a
    reference ``actor`` may not use, a first email another record holds.
    Nothing is written, so a form may warn of what is only likely (a
    duplicate) once it knows that nothing certain stands in the way; the email
    may still be taken before the save, which the key's constraint refuses."""
    schema = input_schema(session.info["crm"].hook, kind.record_type, partial=record is not None,
                          custom_fields=definitions(session, kind.record_type))
    values = load(schema, data)
    _check_refs(session, actor, values)
    key = values["emails"][0] if values.get("emails") else None
    holder = session.get(EmailKey, key) if key else None
    if holder is not None and (record is None or (holder.record_type, holder.record_id)
                               != (kind.record_type, record.id)):
        raise _email_taken(session, actor, holder.email)
    return values


def create(session: Session, actor: User | None, kind: Kind, data: Mapping[str, Any], *,
           defaults: Mapping[str, Any] | None = None) -> Any:
    """Create a lead or contact from raw input; the actor owns it unless an owner is set.

    :param defaults: values set by code rather than typed by someone (``source``,
        ``tags``, ``plugin_data``, ``owner_id``), applied over the validated input
        before the record is announced; a plugin creating records on someone's
        behalf passes its bookkeeping here."""
    if is_external(session, actor):
        raise Forbidden(f"External users cannot create {kind.record_type}s here.")
    schema = input_schema(session.info["crm"].hook, kind.record_type,
                          custom_fields=definitions(session, kind.record_type))
    values = {**load(schema, data), **(defaults or {})}
    _check_refs(session, actor, values)
    record = kind.model()
    values.setdefault("owner_id", actor.id if actor else None)
    if kind is LEADS:
        values.setdefault("stage_id", _default_stage(session))
    _apply(record, kind, values, plugin_field_names(schema, kind.record_type))
    session.add(record)
    session.flush()
    if record.email_key:
        _claim_email(session, actor, record.email_key, kind, record.id)
    write_other_keys(session, kind, [(record.id, record.phones, record.emails)], new=True)
    if kind is LEADS:
        rescore(session, [record])
    log(session, actor, kind, record.id, "created")
    emit(session, kind.created, actor=actor, **kind.event_ids([record.id]))
    return record


def update(session: Session, actor: User | None, kind: Kind, record: Any,
           data: Mapping[str, Any], expected_version: int | None = None) -> Any:
    """Change a record. ``expected_version`` is the version the editor saw; a
    different stored version means someone else saved first: :class:`Conflict`.
    An anonymized record takes no edit (:class:`Conflict`): it stands for
    nobody, and data typed into it would escape every rule about personal
    data (retention sweeps and exports pass anonymized records by)."""
    if record.anonymized_at is not None:
        raise Conflict(f"This {kind.record_type} was anonymized: it stands for nobody and "
                       f"takes no one's data. Add a new {kind.record_type} instead.")
    if expected_version is not None and expected_version != record.version:
        raise StaleVersion(
            f"This {kind.record_type} was changed since you read it, by someone else or in "
            f"another tab or request (version {record.version}, you edited "
            f"{expected_version}); reload and retry.")
    schema = input_schema(session.info["crm"].hook, kind.record_type, partial=True,
                          custom_fields=definitions(session, kind.record_type))
    values = load(schema, data)
    _check_refs(session, actor, values)
    before = _snapshot(record)
    old_key = record.email_key
    _apply(record, kind, values, plugin_field_names(schema, kind.record_type))
    changes = _diff(before, _snapshot(record))
    if not changes:
        return record
    if record.email_key != old_key:
        _release_email(session, old_key)
        if record.email_key:
            _claim_email(session, actor, record.email_key, kind, record.id)
    if changes.keys() & {"phones", "emails"}:
        write_other_keys(session, kind, [(record.id, record.phones, record.emails)])
    if kind is LEADS:
        rescore(session, [record])
    session.flush()
    log(session, actor, kind, record.id, "changed", changes=changes)
    _announce_changes(session, actor, kind, {record.id: changes})
    return record


def _announce_changes(session: Session, actor: User | None, kind: Kind,
                      changes: Mapping[int, Mapping[str, tuple[Any, Any]]]) -> None:
    """One event for a batch of changed records, and one for the leads among
    them that moved stage."""
    if not changes:
        return
    emit(session, kind.updated, actor=actor, changes=changes)
    stage_moves = [(record_id, *diff["stage_id"]) for record_id, diff in changes.items()
                   if "stage_id" in diff]
    if stage_moves:
        emit(session, "crm_leads_stage_changed", actor=actor, changes=stage_moves)


def bulk_update(session: Session, actor: User | None, kind: Kind, ids: Sequence[int],
                data: Mapping[str, Any]) -> int:
    """Apply one change (owner, stage, added tags) to many visible records in a
    few statements; events arrive as one batch."""
    allowed = {"owner_id", "stage_id", "add_tags"}
    unknown = set(data) - allowed
    if unknown or not data:
        raise ValidationFailed("Choose one of: owner, stage, tags.",
                               {k: ["Unknown field."] for k in unknown} or
                               {"_schema": ["Nothing to change."]})
    _check_refs(session, actor, data)
    records = session.scalars(visible(session, actor, kind).where(kind.model.id.in_(ids))).all()
    changes: dict[int, dict[str, tuple[Any, Any]]] = {}
    for record in records:
        before = _snapshot(record)
        values = {k: v for k, v in data.items() if k != "add_tags"}
        if "add_tags" in data:
            values["tags"] = sorted({*record.tags, *data["add_tags"]})
        for key, value in values.items():
            setattr(record, key, value)
        diff = _diff(before, _snapshot(record))
        if diff:
            changes[record.id] = diff
            log(session, actor, kind, record.id, "changed", changes=diff)
    if kind is LEADS:
        rescore(session, [r for r in records if r.id in changes])
    session.flush()
    _announce_changes(session, actor, kind, changes)
    return len(changes)


def emptied(session: Session, actor: User | None, kind: Kind, names: Collection[str]
            ) -> tuple[dict[str, Any], dict[str, str]]:
    """The value each field of ``names`` (as input names them: ``company``,
    ``owner_id``, ``custom.budget``) takes when an update empties it, as
    :func:`update` takes a client's empty value: "" for text, [] for a list,
    null for the rest (an owner, a stage, a custom field); and apart, why each
    field that may not be emptied may not (the input schema refuses its empty
    value: a lead's stage, a required custom field; or ``actor`` may not set
    it: the owner without records.reassign). An import's blank cells clear
    fields so (``blank_cells="clear"``)."""
    custom = definitions(session, kind.record_type)
    labels = {f"custom.{d.name}": d.label for d in custom}
    schema = input_schema(session.info["crm"].hook, kind.record_type, partial=True,
                          custom_fields=custom)
    empty: dict[str, Any] = {}
    refused: dict[str, str] = {}
    for name in names:
        value = None if name in labels else _empty_value(schema.fields[name])
        data = {"custom": {name[len("custom."):]: value}} if name in labels else {name: value}
        try:
            loaded = load(schema, data)
        except ValidationFailed:
            refused[name] = (f"{labels[name]} is required." if name in labels else
                             f"A {kind.record_type} must have a "
                             f"{name.removesuffix('_id').replace('_', ' ')}.")
            continue
        try:
            _check_refs(session, actor, loaded)
        except ValidationFailed as exc:
            refused[name] = " ".join(exc.errors[name])
            continue
        empty[name] = value
    return empty, refused


def _empty_value(field: fields.Field) -> Any:
    if isinstance(field, fields.List):
        return []
    return "" if isinstance(field, fields.String) else None


def apply_many(session: Session, actor: User | None, kind: Kind,
               updates: Sequence[tuple[int, Mapping[str, Any]]], note: str, *,
               restoring: bool = False, rekey: bool = False,
               joining: Mapping[int, Collection[str]] | None = None
               ) -> dict[int, dict[str, Any]]:
    """Apply validated values to many records, ``(record id, values)`` each,
    with a few statements: one read, one executemany UPDATE of the columns
    that change, one insert of timeline entries (``note`` as their text), one
    batch of events. A record keeps its key email first (unless ``rekey``):
    it is what an import matched it by, and what the email key table holds
    for it. Permissions, like validation, are the caller's.

    :param restoring: the values are earlier ones coming back (a revert):
        custom fields are put back whole instead of merged with today's.
    :param rekey: the values' first email becomes the record's key (an import
        that matched records by id, and its revert).
    :param joining: the records (ids) whose lists (of :data:`JOINED`) the
        values' join rather than replace (:func:`_joined`), each with the
        lists it joins: those an import found by email, whose file may know
        only some of a person's addresses (a list it empties on purpose, a
        blank cell under ``blank_cells="clear"``, is not joined).
    :raises Conflict: with ``rekey``, when a new key email belongs to another
        record; the caller rolls its transaction back (keys were released).
    :return: for each record the values change, ``(before, after)``: what it
        held in the fields its values gave before and after (records whose
        values they hold already, and ids not found, are left out).
    """
    if not updates:
        return {}
    table = kind.model.__table__
    # SQLite's write transactions hold the database's lock already.
    work = _worked_out(session, kind, updates, restoring, rekey, joining or {},
                       lock=session.get_bind().dialect.name == "postgresql")
    held, changes, rows, written = work.held, work.changes, work.rows, work.written
    current = work.current
    if not rows:
        return held
    if rekey:
        _move_keys(session, kind, [(row["id"], old_key, row["email_key"]) for row in rows
                                   if (old_key := current[row["id"]]["email_key"])
                                   != row["email_key"]])
    write_other_keys(session, kind, [(row["id"], row["phones"], row["emails"]) for row in rows
                                     if changes[row["id"]].keys() & {"phones", "emails"}
                                     and not gave_up_keys(row)])
    if kind is LEADS:
        score_rows(session, rows)
        written.add("score")
    now = utcnow()
    session.execute(
        sql_update(table).where(table.c.id == bindparam("record_id"))
        .values(version=table.c.version + 1),
        [{**{k: row.get(k) for k in written}, "record_id": row["id"],
          "updated_at": now, "touched_at": now} for row in rows])
    insert_rows(session.connection(), TimelineEntry.__table__, [
        {"record_id": record_id, "changes": _jsonable_changes(diff)}
        for record_id, diff in changes.items()],
        {"record_type": kind.record_type, "kind": "changed", "body": note,
         "actor_id": actor.id if actor else None, "created_at": now})
    _announce_changes(session, actor, kind, changes)
    return held


def count_unchanged(session: Session, kind: Kind,
                    updates: Sequence[tuple[int, Mapping[str, Any]]], *,
                    rekey: bool = False, joining: Mapping[int, Collection[str]] | None = None
                    ) -> int:
    """How many of ``updates`` (as :func:`apply_many` takes them) would change
    nothing in their records, worked out by its rules, without writing: what
    a dry run of an import says it would leave unchanged."""
    if not updates:
        return 0
    work = _worked_out(session, kind, updates, False, rekey, joining or {}, lock=False)
    return sum(1 for record_id, _ in updates
               if record_id in work.current and record_id not in work.held)


@dataclass
class _Work:
    """What :func:`apply_many` reads and works out before it writes."""

    current: dict[int, dict[str, Any]]  # each record's columns, by id
    held: dict[int, tuple[dict[str, Any], dict[str, Any]]]  # its return value
    changes: dict[int, dict[str, tuple[Any, Any]]]  # the timeline's diffs
    rows: list[dict[str, Any]]  # the changed records' new columns
    written: set[str]  # the columns some row changes, and the timestamps


def _worked_out(session: Session, kind: Kind, updates: Sequence[tuple[int, Mapping[str, Any]]],
                restoring: bool, rekey: bool, joining: Mapping[int, Collection[str]],
                lock: bool) -> _Work:
    table = kind.model.__table__
    read = select(table).where(any_of(session, table.c.id, [i for i, _ in updates]))
    result = session.execute(read.with_for_update() if lock else read)
    keys = list(result.keys())
    work = _Work({columns["id"]: columns
                  for columns in (dict(zip(keys, row, strict=True)) for row in result)},
                 {}, {}, [], {"updated_at", "touched_at"})
    for record_id, values in updates:
        old = work.current.get(record_id)
        if old is None:
            continue
        given = [k for k in values if k in old]
        if record_id in joining:
            values = _joined(old, values, joining[record_id])
        if not restoring and "custom" in values and None in values["custom"].values():
            # Null and absent read alike: emptying a custom field the record
            # never had changes nothing.
            values = {**values, "custom": {k: v for k, v in values["custom"].items()
                                           if v is not None or k in (old["custom"] or {})}}
        if "emails" in values and old["email_key"] and not rekey:
            values = {**values, "emails": list(dict.fromkeys([old["email_key"],
                                                               *values["emails"]]))}
        base = {**old, "custom": {}} if restoring and "custom" in values else old
        assigned = {k: v for k, v in _assigned(base, kind, values, set()).items()
                    if old[k] != v}
        if gave_up_keys(old):
            # Merged into another record: the address is the survivor's now.
            # Coming back from the bin claims it again (:func:`restore`).
            assigned.pop("email_key", None)
        diff = {k: (old[k], v) for k, v in assigned.items() if k not in UNTRACKED}
        new = {**old, **assigned}
        if diff:
            work.held[record_id] = ({k: old[k] for k in given}, {k: new[k] for k in given})
            work.changes[record_id] = diff
            work.rows.append(new)
            work.written.update(assigned)
    return work


# The lists an update may join with those a record holds (:func:`apply_many`).
JOINED = ("emails", "phones")


def _joined(held: Mapping[str, Any], values: Mapping[str, Any],
            lists: Collection[str]) -> dict[str, Any]:
    """``values`` whose ``lists`` (emails, phones) keep those of a record that
    ``held`` them after their own: no address or phone it has is lost. The
    values' come first: a file from another CRM has one phone column, which
    holds a person's newer number. Phones compare as stored (normalized)."""
    return {**values, **{field: list(dict.fromkeys([*values[field], *(held[field] or [])]))
                         for field in lists if field in values}}


def _move_keys(session: Session, kind: Kind,
               moves: Sequence[tuple[int, str | None, str | None]]) -> None:
    """Give records new key emails, ``(record id, old key, new key)`` each: every
    old key is released before any new one is claimed, so that records may
    trade addresses."""
    if not moves:
        return
    released = [old for _, old, _ in moves if old]
    if released:
        session.execute(delete(EmailKey).where(any_of(session, EmailKey.email, released)))
    claimed = {new: record_id for record_id, _, new in moves if new}
    taken = sorted(session.scalars(select(EmailKey.email).where(
        any_of(session, EmailKey.email, list(claimed)))))
    if taken:
        raise Conflict(f"The email {taken[0]} already belongs to another lead or contact.",
                       {"emails": ["This email is already known."]})
    insert_rows(session.connection(), EmailKey.__table__,
                [{"email": email, "record_id": i} for email, i in claimed.items()],
                {"record_type": kind.record_type})


def soft_delete(session: Session, actor: User | None, kind: Kind, ids: Sequence[int]) -> int:
    """Move visible records to the recycle bin; returns how many moved."""
    found = session.scalars(visible(session, actor, kind).where(kind.model.id.in_(ids))
                            .with_only_columns(kind.model.id)).all()
    if not found:
        return 0
    session.execute(sql_update(kind.model).where(kind.model.id.in_(found))
                    .values(deleted_at=utcnow(), version=kind.model.version + 1)
                    .execution_options(synchronize_session="fetch"))
    for record_id in found:
        log(session, actor, kind, record_id, "deleted")
    emit(session, kind.deleted, actor=actor, **kind.event_ids(found))
    return len(found)


def touch(session: Session, actor: User | None, kind: Kind, ids: Sequence[int]) -> list[int]:
    """Mark visible records as worked on now (a retention policy counts from
    here); returns the ids touched. Each gets a timeline entry."""
    found = list(session.scalars(visible(session, actor, kind).where(kind.model.id.in_(ids))
                                 .with_only_columns(kind.model.id)))
    if found:
        session.execute(sql_update(kind.model).where(kind.model.id.in_(found))
                        .values(touched_at=utcnow())
                        .execution_options(synchronize_session="fetch"))
        for record_id in found:
            log(session, actor, kind, record_id, "touched")
    return found


def restore(session: Session, actor: User | None, kind: Kind, ids: Sequence[int]) -> int:
    """Bring records back from the recycle bin, whole. A record merged into
    another gave up its key email and other keys; restoring it claims that
    address again, and is refused if someone else holds it now."""
    found = list(session.scalars(visible(session, actor, kind, deleted=True)
                                 .where(kind.model.id.in_(ids))))
    if not found:
        return 0
    for record in found:
        record.deleted_at = None
        if record.email_key is None and record.emails:
            record.email_key = record.emails[0]
            try:
                _claim_email(session, actor, record.email_key, kind, record.id)
            except Conflict:
                holder = email_holder(session, actor, record.email_key)
                named = (f"{holder[0].record_type} #{holder[1].id}" if holder is not None
                         else "another lead or contact")
                message = (f"The {kind.record_type} #{record.id} cannot come back: its email "
                           f"{record.email_key} belongs to {named} now (after a merge, the "
                           "record it was merged into). Take the address off that record "
                           "first, or leave this one in the bin.")
                raise Conflict(message, {"emails": [message]}) from None
        log(session, actor, kind, record.id, "restored")
    write_other_keys(session, kind, [(r.id, r.phones, r.emails) for r in found])
    session.flush()
    emit(session, kind.restored, actor=actor, **kind.event_ids([r.id for r in found]))
    return len(found)


def purge(session: Session, actor: User | None, kind: Kind, ids: Sequence[int]) -> int:
    """Delete binned records for good, with their timeline and email keys."""
    require(session, actor, "recycle_bin.purge")
    found = list(session.scalars(visible(session, actor, kind, deleted=True)
                                 .where(kind.model.id.in_(ids))
                                 .with_only_columns(kind.model.id)))
    remove(session, actor, kind, found)
    return len(found)


def remove(session: Session, actor: User | None, kind: Kind, ids: Sequence[int]) -> None:
    """Delete records for good: plugins first delete what belongs to them
    (``crm_leads_purged``), then the records' email and other keys, timelines,
    marks as distinct from others and rows go,
    one statement per table. The caller has checked permissions, keeps ``ids``
    to a few thousand (one hook call) and holds none of them as objects."""
    if not ids:
        return
    model = kind.model
    emit(session, kind.purged, actor=actor, **kind.event_ids(ids))
    keys = list(session.scalars(select(model.email_key).where(
        any_of(session, model.id, ids), model.email_key.is_not(None))))
    # The rows are not in the session, and the ORM need not look for them.
    bulk = {"synchronize_session": False}
    if keys:
        session.execute(delete(EmailKey).where(
            any_of(session, EmailKey.email, keys), EmailKey.record_type == kind.record_type),
            execution_options=bulk)
    drop_other_keys(session, kind, ids)
    session.execute(delete(TimelineEntry).where(
        TimelineEntry.record_type == kind.record_type,
        any_of(session, TimelineEntry.record_id, ids)), execution_options=bulk)
    session.execute(delete(DistinctPair).where(
        DistinctPair.record_type == kind.record_type,
        or_(any_of(session, DistinctPair.low_id, ids),
            any_of(session, DistinctPair.high_id, ids))), execution_options=bulk)
    if kind is CONTACTS:
        session.execute(sql_update(Lead).where(any_of(session, Lead.converted_contact_id, ids))
                        .values(converted_contact_id=None), execution_options=bulk)
    session.execute(delete(model).where(any_of(session, model.id, ids)), execution_options=bulk)


def comment(session: Session, actor: User | None, kind: Kind, record: Any,
            body: str) -> TimelineEntry:
    """Add a comment; logging an activity on a lead moves its "last contacted"."""
    from crmcore.schemas.records import CommentInput

    text = load(CommentInput(), {"body": body})["body"]
    entry = log(session, actor, kind, record.id, "comment", body=text)
    record.touched_at = utcnow()
    if kind is LEADS:
        record.last_contacted_at = record.touched_at
    session.flush()
    return entry


def timeline(session: Session, kind: Kind, record: Any, limit: int = 200) -> list[TimelineEntry]:
    return list(session.scalars(
        select(TimelineEntry).where(TimelineEntry.record_type == kind.record_type,
                                    TimelineEntry.record_id == record.id)
        .order_by(TimelineEntry.id.desc()).limit(limit)))


def convert_lead(session: Session, actor: User | None, lead: Lead,
                 lifecycle_stage: str = "prospect") -> Contact:
    """Make a contact from a lead, keeping its emails, custom and plugin fields;
    the lead stays as history, linked to the contact, and its timeline is copied."""
    if lifecycle_stage not in ("prospect", "customer"):
        raise ValidationFailed("Convert to a prospect or a customer.",
                               {"lifecycle_stage": ["Must be prospect or customer."]})
    if lead.converted_contact_id:
        raise Conflict("This lead was already converted.")
    first, last = split_name(lead.full_name)
    contact = Contact(
        first_name=first, last_name=last,
        **name_keys(CONTACTS, {"first_name": first, "last_name": last}),
        emails=list(lead.emails), phones=list(lead.phones), phone_key=lead.phone_key,
        company=lead.company, tags=list(lead.tags), custom=dict(lead.custom),
        plugin_data=dict(lead.plugin_data), owner_id=lead.owner_id,
        lifecycle_stage=lifecycle_stage,
    )
    session.add(contact)
    session.flush()
    if lead.email_key:
        # The address moves from the lead to the contact: still one person.
        session.execute(sql_update(EmailKey).where(EmailKey.email == lead.email_key)
                        .values(record_type="contact", record_id=contact.id))
        contact.email_key = lead.email_key
    session.execute(sql_update(OtherKey).where(OtherKey.record_type == "lead",
                                               OtherKey.record_id == lead.id)
                    .values(record_type="contact", record_id=contact.id))
    lead.converted_contact_id = contact.id
    for entry in timeline(session, LEADS, lead, limit=10_000):
        session.add(TimelineEntry(record_type="contact", record_id=contact.id, kind=entry.kind,
                                  actor_id=entry.actor_id, body=entry.body,
                                  changes=entry.changes, created_at=entry.created_at))
    log(session, actor, LEADS, lead.id, "converted", body=f"Converted to contact #{contact.id}")
    log(session, actor, CONTACTS, contact.id, "converted", body=f"Converted from lead #{lead.id}")
    session.flush()
    emit(session, "crm_contacts_created", actor=actor, contact_ids=[contact.id])
    emit(session, "crm_lead_converted", actor=actor, lead_id=lead.id, contact_id=contact.id)
    return contact


# -- lists -----------------------------------------------------------------------------

SORTABLE = {
    "lead": ("created_at", "updated_at", "full_name", "score", "id"),
    "contact": ("created_at", "updated_at", "last_name", "id"),
}
# Names sort by their folded keys, so that case and accents do not decide the
# order (by the bytes, "Zoe" would come before "adam" and "Émile").
SORT_KEYS = {"full_name": "name_key", "last_name": "last_name_key"}
FILTERABLE = {
    "lead": ("owner_id", "stage_id", "source", "company", "tag", "created_after",
             "created_before", "q", "mine"),
    "contact": ("owner_id", "lifecycle_stage", "company", "postal_code", "tag", "created_after",
                "created_before", "q", "mine"),
}


@dataclass
class Page:
    items: list[Any]
    next_cursor: str | None
    # The page before this one; None on the first page (or one found to be first).
    prev_cursor: str | None = None


def _encode_cursor(values: Sequence[Any]) -> str:
    raw = json.dumps([_jsonable(v) for v in values]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _after(session: Session, query: Select, column: Any, order: tuple[Any, ...], last: Any,
           last_id: int, ties: bool, descending: bool, limit: int) -> list[Any]:
    """Up to ``limit`` rows after the cursor ``(last, last_id)`` in sort order;
    ``ties`` says whether rows sharing the cursor's sort value may follow it.

    PostgreSQL seeks there with one row-value range. SQLite's planner bounds a
    row-value range by its first column only, and would step over every row
    tied with the cursor (an import batch shares one ``created_at``) on each
    page; it reads the ties after the cursor, then the rows past them, as two
    ranges that both start where the page does, and skips the first when the
    page before saw that no tie follows."""
    model = column.class_
    if session.get_bind().dialect.name != "sqlite":
        key, cursor = tuple_(column, model.id), tuple_(last, last_id)
        return _fetch(session, query.where(key < cursor if descending else key > cursor)
                      .order_by(*order).limit(limit))
    rows: list[Any] = []
    if ties:
        same = query.where(column == last,
                           model.id < last_id if descending else model.id > last_id)
        rows = _fetch(session, same.order_by(*order).limit(limit))
    if len(rows) < limit:
        rest = query.where(column < last if descending else column > last)
        rows += _fetch(session, rest.order_by(*order).limit(limit - len(rows)))
    return rows


def _fetch(session: Session, query: Select) -> list[Any]:
    """The records a select of the model finds, or the rows a select of its
    columns does (both answer ``row.id``, ``row.full_name``...)."""
    whole = len(query.column_descriptions) == 1 and isinstance(
        query.column_descriptions[0]["expr"], type)
    result = session.execute(query)
    return list(result.scalars() if whole else result)


BAD_CURSOR = "Not a cursor this API gave."


def _decode_cursor(cursor: str) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded))
    except ValueError:
        values = None
    if not (isinstance(values, list) and len(values) in (2, 3, 4)
            and type(values[1]) is int and 0 < values[1] <= MAX_INT
            and (len(values) < 4 or values[3] is True)):
        raise ValidationFailed("Bad cursor.", {"cursor": [BAD_CURSOR]})
    # Cursors given before the third item existed: ties may follow. The fourth
    # marks a cursor to the page before (``prev``); others lead forward.
    ties = values[2] if len(values) > 2 else True
    return [values[0], values[1], ties, len(values) == 4]


def _cursor_value(column: Any, value: Any) -> Any:
    """The cursor's sort value as ``column`` holds it. A cursor is the client's
    to send back, so a value of another type (or NUL in a text) is refused here
    rather than by the database."""
    kind = column.type.python_type
    if kind is datetime and isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass
    fits = ((kind is str and isinstance(value, str) and "\x00" not in value)
            or (kind is int and type(value) is int and -MAX_INT - 1 <= value <= MAX_INT))
    if not fits:
        raise ValidationFailed("Bad cursor.", {"cursor": [BAD_CURSOR]})
    return value


def _tag_filter(session: Session, model: Any, tag: str) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return model.tags.cast(JSONB).contains([tag])
    each = func.json_each(model.tags).table_valued("value")
    return select(1).select_from(each).where(each.c.value == tag).exists()


SEARCH_KEYS = ("name_key", "last_name_key", "email_key", "phone_key")


def _prefix_search(session: Session, model: Any, text: str) -> Any:
    """Records whose name or last name ("Lovelace" finds "Ada Lovelace"), key
    email or first phone starts with ``text``, each test backed by an index;
    names compare folded ("mull" finds "Müller").
    PostgreSQL uses LIKE on indexes that compare bytes whatever the database's
    collation (every key's is C); SQLite compares bytes, so a range works."""
    text = text.strip()
    name = fold(text, 200)
    prefixes = [(model.name_key, name), (model.last_name_key, name[:100]),
                (model.email_key, text.lower()), (model.phone_key, phone_prefix(text))]
    if session.get_bind().dialect.name == "postgresql":
        return or_(*(column.like(_escape_like(prefix) + "%", escape="\\")
                     for column, prefix in prefixes))
    return or_(*(and_(column >= prefix, column < prefix + "\U0010ffff")
                 for column, prefix in prefixes))


_PHONE_LIKE = re.compile(r"\+?[\d\s().\-/]*\d[\d\s().\-/]*")


def phone_prefix(text: str) -> str:
    """The start of stored phones that ``text``, typed as people write numbers
    ("+1 650-253", as a record's page shows one, or "(650) 253" in the
    region CRM_PHONE_REGION names), stands for: "+1650253"; other text as it is."""
    if not _PHONE_LIKE.fullmatch(text):
        return text.lower()
    digits = re.sub(r"\D", "", text)
    if text.startswith("+"):
        return "+" + digits
    import phonenumbers  # on use, as the phone schema does

    # A national number without its trunk prefix ("020 7946" in GB).
    code = phonenumbers.country_code_for_region(phone_region())
    return f"+{code}{digits.lstrip('0')}" if code else text.lower()


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _custom_filter(session: Session, model: Any, definition: Any, key: str, value: Any
                   ) -> Any:
    """Compare a custom field's stored JSON value with a filter value given as text."""
    element = model.custom[definition.name]
    # Read by the field that validates the input: a value the field can never
    # hold is a mistake to name, not an empty page.
    try:
        wanted = custom_field(definition, partial=True).deserialize(str(value).strip())
    except ValidationError as exc:
        raise ValidationFailed("Bad filter.", {key: exc.messages}) from None
    if definition.field_type == "number":
        stored_as, matches = "number", element.as_float() == wanted
    elif definition.field_type == "boolean":
        stored_as, matches = "boolean", element.as_boolean() == wanted
    else:
        stored_as, matches = "string", element.as_string() == wanted
    # Only values of the field's JSON type compare: one an earlier field of the
    # same name left (text under a number field) matches nothing, rather than
    # PostgreSQL failing to read it as a number.
    return case((json_is(session, model.custom, definition.name, stored_as), matches),
                else_=false())


def list_records(session: Session, actor: User | None, kind: Kind,
                 filters: Mapping[str, Any] | None = None, sort: str = "-created_at",
                 cursor: str | None = None, limit: int = 50,
                 columns: Sequence[str] | None = None) -> Page:
    """One page of visible records, filtered and sorted by declared fields only,
    paginated by keyset (the page a thousand deep costs what the first does).

    :param columns: when given, the page holds rows of these columns instead of
        records: half the cost per row, for reading many only to write them
        out (an export)."""
    model = kind.model
    filters = dict(filters or {})
    custom, errors = _filter_fields(session, kind, filters)
    name = sort.lstrip("-")
    if name not in SORTABLE[kind.record_type]:
        errors["sort"] = [f"Sort by one of: {', '.join(SORTABLE[kind.record_type])}."]
    field = SORT_KEYS.get(name, name)
    if not 1 <= limit <= 200:
        errors["limit"] = ["Between 1 and 200."]
    if errors:
        raise ValidationFailed("Unknown filter or sort.", errors)
    query = visible(session, actor, kind)
    if columns is not None:
        query = query.with_only_columns(
            *(getattr(model, name) for name in dict.fromkeys((*columns, field, "id"))))
    query = _filtered(session, actor, kind, query, filters, custom)
    column = getattr(model, field)
    if not cursor:
        rows = _fetch(session, query.order_by(*_order(column, sort.startswith("-")))
                      .limit(limit + 1))
        return Page(rows[:limit], _edge_cursor(rows, field, limit))
    last_value, last_id, ties, backward = _decode_cursor(cursor)
    last_value = _cursor_value(column, last_value)
    # The page before the cursor is read backwards from it, then shown in order.
    descending = sort.startswith("-") != backward
    rows = _after(session, query, column, _order(column, descending),
                  literal(last_value, column.type), last_id, bool(ties), descending, limit + 1)
    # Past the far edge of the rows read, a cursor leads on when more rows lie
    # there. Past the near edge lies the cursor's row: a cursor leads back
    # towards it, and whether rows there may tie with the edge row is known,
    # as no other row sits between.
    onward = _edge_cursor(rows, field, limit, backward=backward)
    back = None
    if rows:
        value = getattr(rows[0], field)
        back = _encode_cursor([value, rows[0].id, value == last_value,
                               *([] if backward else [True])])
    rows = rows[:limit]
    if backward:
        return Page(rows[::-1], back, onward)
    return Page(rows, onward, back)


def _order(column: Any, descending: bool) -> tuple[Any, ...]:
    """A list's order by ``column``, then by id, as its keyset cursors need."""
    model = column.class_
    return (column.desc(), model.id.desc()) if descending else (column.asc(), model.id.asc())


def _edge_cursor(rows: Sequence[Any], field: str, limit: int, *,
                 backward: bool = False) -> str | None:
    """The cursor past row ``limit - 1`` of ``rows`` (read ``limit + 1``), when
    ``rows`` goes on past it; a ``backward`` read gives a cursor to the page before."""
    if len(rows) <= limit:
        return None
    # The row after the page says whether the page past it starts among ties.
    last, following = rows[limit - 1], rows[limit]
    value = getattr(last, field)
    return _encode_cursor([value, last.id, getattr(following, field) == value,
                           *([True] if backward else [])])


def count_records(session: Session, actor: User | None, kind: Kind,
                  filters: Mapping[str, Any] | None = None, *, at_most: int) -> int:
    """How many visible records match ``filters`` (as :func:`list_records`
    takes them), counting no further than ``at_most``: enough to know that a
    list is too long, without reading all of a long one."""
    filters = dict(filters or {})
    custom, errors = _filter_fields(session, kind, filters)
    if errors:
        raise ValidationFailed("Unknown filter.", errors)
    query = _filtered(session, actor, kind, visible(session, actor, kind)
                      .with_only_columns(kind.model.id), filters, custom)
    return session.scalar(select(func.count()).select_from(query.limit(at_most).subquery()))


def _filter_fields(session: Session, kind: Kind, filters: Mapping[str, Any]
                   ) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The custom fields ``filters`` may name, by ``custom.<name>``, and the
    filters that name nothing a list filters by."""
    # Custom field definitions are one more query: only a custom filter needs them.
    custom = ({f"custom.{d.name}": d for d in definitions(session, kind.record_type)}
              if any(key.startswith("custom.") for key in filters) else {})
    return custom, {key: ["Unknown filter."] for key in filters
                    if key not in FILTERABLE[kind.record_type] and key not in custom}


def _filtered(session: Session, actor: User | None, kind: Kind, query: Select,
              filters: Mapping[str, Any], custom: Mapping[str, Any]) -> Select:
    """``query`` narrowed by ``filters``, whose names :func:`_filter_fields`
    has checked; a bad value raises :class:`ValidationFailed`."""
    model = kind.model
    for key, value in filters.items():
        if value in (None, ""):
            continue
        if key in custom:
            query = query.where(_custom_filter(session, model, custom[key], key, value))
        elif key == "q":
            query = query.where(_prefix_search(session, model, str(value)))
        elif key == "tag":
            query = query.where(_tag_filter(session, model, str(value)))
        elif key == "mine":
            text = str(value).strip()  # empty: not asked for
            try:
                mine = bool(text) and fields.Boolean().deserialize(text)
            except ValidationError as exc:
                raise ValidationFailed("Bad filter.", {key: exc.messages}) from None
            if actor is not None and mine:
                query = query.where(model.owner_id == actor.id)
        elif key in ("created_after", "created_before"):
            try:
                moment = datetime.fromisoformat(str(value))
            except ValueError:
                raise ValidationFailed("Bad date.", {key: ["Use YYYY-MM-DD."]}) from None
            query = query.where(model.created_at >= moment if key == "created_after"
                                else model.created_at < moment)
        elif key in ("owner_id", "stage_id"):
            try:
                query = query.where(getattr(model, key) == Id().deserialize(value))
            except ValidationError as exc:
                raise ValidationFailed("Bad filter.", {key: exc.messages}) from None
        elif key == "lifecycle_stage" and value not in LIFECYCLE_STAGES:
            # A stage no contact can be at is a typo, not an empty list.
            raise ValidationFailed("Bad filter.",
                                   {key: [f"One of: {', '.join(LIFECYCLE_STAGES)}."]})
        else:
            query = query.where(getattr(model, key) == value)
    return query
