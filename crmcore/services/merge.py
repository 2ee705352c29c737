"""Merging duplicate leads or contacts into one survivor."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from crmcore.auth.roles import require
from crmcore.db import emit, utcnow
from crmcore.errors import Conflict, NotFound, ValidationFailed
from crmcore.models import EmailKey, Lead, TimelineEntry, User
from crmcore.schemas.records import MAX_EMAILS, MAX_PHONES, MAX_TAGS
from crmcore.services.custom_fields import definitions
from crmcore.services.duplicates import named_ids
from crmcore.services.records import (
    CONTACTS,
    LEADS,
    Kind,
    _claim_email,
    _diff,
    _snapshot,
    drop_other_keys,
    log,
    name_keys,
    rescore,
    visible,
    write_other_keys,
)

# Records merged into one at once.
MAX_MERGED = 100
MERGEABLE = {
    "lead": ("full_name", "login", "emails", "phones", "company", "partner", "location",
             "source", "stage_id", "owner_id"),
    "contact": ("first_name", "last_name", "emails", "phones", "company", "street", "city",
                "postal_code", "country", "lifecycle_stage", "owner_id"),
}
# A choice of ``custom.<name>`` picks whose value of that custom field wins.
CUSTOM = "custom."
LIMITS = {"emails": (MAX_EMAILS, "addresses"), "phones": (MAX_PHONES, "numbers"),
          "tags": (MAX_TAGS, "tags")}


def merge(session: Session, actor: User | None, kind: Kind, survivor_id: int,
          other_ids: Sequence[int], choices: Mapping[str, int] | None = None,
          versions: Mapping[int, int] | None = None) -> Any:
    """Merge ``other_ids`` into ``survivor_id``.

    ``choices`` names, per field (of :data:`MERGEABLE`, or ``custom.<name>``
    for a custom field), the record whose value wins (the survivor's wins
    otherwise). For emails and phones the winner's come first and every other
    record's are kept after them; tags and a contact's opt-outs are joined,
    custom and plugin fields fill the survivor's gaps, timelines move to the
    survivor, leads converted into a merged contact point at the survivor,
    plugins move their rows in ``crm_*_merged``, and the others go to the
    recycle bin.

    ``versions`` maps record ids to the version the user saw: a record
    changed since is a :class:`Conflict`, as is an anonymized record (it
    stands for nobody and takes no one's data). Joined lists longer than a
    record holds are refused (:class:`ValidationFailed`)."""
    others_unique = [i for i in dict.fromkeys(other_ids) if i != survivor_id]
    if not others_unique:
        raise ValidationFailed("Pick at least one other record to merge.",
                               {"other_ids": ["Pick at least one other record."]})
    if len(others_unique) > MAX_MERGED:
        raise ValidationFailed(f"Merge at most {MAX_MERGED} records at once.",
                               {"other_ids": [f"At most {MAX_MERGED}."]})
    # Locked in id order and read afresh: two merges of the same records, in
    # either direction, take turns (neither deadlocks), and the second finds
    # the first one's loser in the bin.
    model = kind.model
    by_id = {r.id: r for r in session.scalars(
        visible(session, actor, kind).where(model.id.in_([survivor_id, *others_unique]))
        .order_by(model.id).with_for_update(of=model)
        .execution_options(populate_existing=True))}
    if len(by_id) != len(others_unique) + 1:
        raise NotFound(f"No such {kind.record_type}.")
    survivor, others = by_id[survivor_id], [by_id[i] for i in others_unique]
    _check_records(kind, by_id, versions or {})
    choices = choices or {}
    errors = {f: ["Not mergeable."] for f in choices
              if f not in MERGEABLE[kind.record_type] and not f.startswith(CUSTOM)}
    errors |= _unknown_custom(session, kind, by_id.values(), choices)
    errors |= {f: ["Pick one of the merged records."] for f, rid in choices.items()
               if f not in errors and rid not in by_id}
    if errors:
        raise ValidationFailed("Bad merge choices.", errors)
    if "owner_id" in choices and by_id[choices["owner_id"]].owner_id != survivor.owner_id:
        require(session, actor, "records.reassign")

    before = _snapshot(survivor)
    for field, record_id in choices.items():
        if not field.startswith(CUSTOM):
            setattr(survivor, field, getattr(by_id[record_id], field))
    # Every address and phone is kept; the chosen record's come first (its
    # first email is the key), then the survivor's own, then the others'.
    for field in ("emails", "phones"):
        setattr(survivor, field, list(dict.fromkeys([
            *getattr(survivor, field), *before[field],
            *(value for other in others for value in getattr(other, field))])))
    survivor.tags = sorted({*survivor.tags, *(t for o in others for t in o.tags)})
    if kind is CONTACTS:
        # Whoever opted out of a channel in any of the records did.
        survivor.opt_outs = sorted({*survivor.opt_outs, *(c for o in others for c in o.opt_outs)})
    _check_limits(kind, survivor)
    for attr in ("custom", "plugin_data"):
        merged: dict[str, Any] = {}
        for other in reversed(others):
            merged.update(getattr(other, attr) or {})
        setattr(survivor, attr, {**merged, **(getattr(survivor, attr) or {})})
    survivor.custom = _chosen_custom(survivor.custom, {
        i: before["custom"] if i == survivor_id else r.custom for i, r in by_id.items()}, choices)
    if kind is LEADS and survivor.converted_contact_id is None:
        survivor.converted_contact_id = next(
            (o.converted_contact_id for o in others if o.converted_contact_id), None)

    # The others' addresses now belong to the survivor: release their keys and
    # claim the survivor's (which may have changed by choice).
    keys = {r.email_key for r in [survivor, *others] if r.email_key}
    session.execute(delete(EmailKey).where(EmailKey.email.in_(keys)))
    survivor.email_key = survivor.emails[0] if survivor.emails else None
    survivor.phone_key = survivor.phones[0] if survivor.phones else None
    for key, value in name_keys(kind, _snapshot(survivor)).items():
        setattr(survivor, key, value)
    if survivor.email_key:
        _claim_email(session, actor, survivor.email_key, kind, survivor.id)
    drop_other_keys(session, kind, others_unique)
    write_other_keys(session, kind, [(survivor.id, survivor.phones, survivor.emails)])

    session.execute(update(TimelineEntry).where(
        TimelineEntry.record_type == kind.record_type,
        TimelineEntry.record_id.in_(others_unique)).values(record_id=survivor.id))
    if kind is CONTACTS:
        session.execute(update(Lead).where(Lead.converted_contact_id.in_(others_unique))
                        .values(converted_contact_id=survivor.id)
                        .execution_options(synchronize_session=False))
    now = utcnow()
    for other in others:
        other.deleted_at = now
        other.email_key = None
    if kind is LEADS:
        rescore(session, [survivor])
    session.flush()
    changes = _diff(before, _snapshot(survivor))
    log(session, actor, kind, survivor.id, "merged",
        body=f"Merged {', '.join(f'#{i}' for i in others_unique)} into this record",
        changes=changes)
    for other in others:
        log(session, actor, kind, other.id, "merged", body=f"Merged into #{survivor.id}")
    emit(session, f"crm_{kind.record_type}s_merged", actor=actor, survivor_id=survivor.id,
         merged_ids=others_unique)
    if changes:
        emit(session, kind.updated, actor=actor, changes={survivor.id: changes})
    return survivor


def _check_records(kind: Kind, by_id: Mapping[int, Any], versions: Mapping[int, int]) -> None:
    changed = sorted(i for i, version in versions.items()
                     if i in by_id and by_id[i].version != version)
    if changed:
        raise Conflict(f"{named_ids(changed)} changed since you looked: look again before merging.")
    anonymized = sorted(i for i, record in by_id.items() if record.anonymized_at is not None)
    if anonymized:
        raise Conflict(f"{named_ids(anonymized)} {'was' if len(anonymized) == 1 else 'were'} "
                       f"anonymized: an anonymized {kind.record_type} stands for nobody and "
                       "takes no one's data. Leave it out of the merge.")


def _check_limits(kind: Kind, survivor: Any) -> None:
    errors = {field: [f"Together the records hold {len(getattr(survivor, field))} {noun}; "
                      f"a {kind.record_type} holds at most {limit}: take some off first."]
              for field, (limit, noun) in LIMITS.items() if len(getattr(survivor, field)) > limit}
    if errors:
        raise ValidationFailed("The merged record would hold more than a record may.", errors)


def _unknown_custom(session: Session, kind: Kind, records: Iterable[Any],
                    choices: Mapping[str, int]) -> dict[str, list[str]]:
    """Errors for the ``custom.<name>`` choices that name no custom field of
    ``kind`` that is defined or that one of ``records`` holds a value of (a
    deleted field's): a misspelt name would otherwise merge as if unchosen."""
    names = {f: f.removeprefix(CUSTOM) for f in choices if f.startswith(CUSTOM)}
    if not names:
        return {}
    known = {d.name for d in definitions(session, kind.record_type)} \
        | {name for record in records for name in (record.custom or {})}
    return {field: [f"Name a custom field after “{CUSTOM}”." if not name else
                    f"No custom field of {kind.record_type}s is named “{name}”."]
            for field, name in names.items() if name not in known}


def _chosen_custom(custom: dict[str, Any], held: Mapping[int, dict[str, Any] | None],
                   choices: Mapping[str, int]) -> dict[str, Any]:
    """``custom`` with each chosen custom field's value taken from what the
    record picked for it ``held`` (by id); a record without a value there
    leaves the field empty."""
    custom = dict(custom)
    for field, record_id in choices.items():
        if field.startswith(CUSTOM):
            name = field.removeprefix(CUSTOM)
            picked = held[record_id] or {}
            if name in picked:
                custom[name] = picked[name]
            else:
                custom.pop(name, None)
    return custom
