"""The revert of an import: records it created deleted for good, records it
updated given their earlier values back, in batches, as the user who asked."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from crmcore.db import any_of, transaction, utcnow
from crmcore.errors import Conflict
from crmcore.models import ImportChange, ImportJob, User
from crmcore.services import records as rec
from crmcore.services.imports.states import claim, stopped_by

# What an import may change on an existing record, and so what revert restores.
REVERTIBLE = {"full_name", "first_name", "last_name", "emails", "phones", "company", "login",
              "partner", "location", "source", "stage_id", "owner_id", "tags", "street", "city",
              "postal_code", "country", "lifecycle_stage", "opt_outs", "custom"}


def run_revert(sessions: sessionmaker[Session], job_id: int,
               progress: Callable[[ImportJob], None] | None = None) -> ImportJob:
    """Undo an import whose revert was queued: delete what it created, give
    back what it updated, as the user who asked for it.

    Like the import, it goes in batches of its own transaction each, so that
    a revert of a million rows holds neither the database's write lock nor
    memory for long, and plugins hear of each batch once
    (``crm_leads_purged``, ``crm_leads_updated``). A revert that stopped half
    way leaves the import ``reverting``; reverting it again finishes the work."""
    with transaction(sessions) as session:
        claimed, job = claim(session, job_id, "revert_queued", "reverting", "Reverting.")
        if not claimed:
            raise Conflict(f"Import #{job_id} is {job.status}; nothing to revert.")
        resumed = job.reverted_count > 0
        actor = session.get(User, job.reverted_by) if job.reverted_by else None
        kind = rec.KINDS[job.record_type]
        # Matched by id, rows may have changed first emails: those come back too.
        rekey = job.options.get("match_by") == "id"
    try:
        removed, kept = _remove_created(sessions, actor, kind, job_id, progress)
        restored, left = _restore_updated(sessions, actor, kind, job_id, progress, rekey)
    except BaseException as exc:
        with transaction(sessions) as session:
            job = _advance(session, job_id, 0)
            job.progress_at = None  # stopped: it may be reverted again at once
            job.message = (f"The revert stopped after {job.reverted_count} record(s): "
                           f"{stopped_by(exc)}. Revert again to finish it.")
        raise
    with transaction(sessions) as session:
        job = _advance(session, job_id, 0)
        job.status, job.finished_at = "reverted", utcnow()
        # A resumed revert counts what this run did: the stopped one did the rest.
        more = " more" if resumed else ""
        job.message = (f"Reverted{' (resumed)' if resumed else ''}: deleted {removed}{more} "
                       f"record(s), restored {restored}{more}.")
        if kept:
            job.message += (f" Kept {kept} record(s) it created that were changed since "
                            "(edited, commented on, merged into) or that you may not edit.")
        if left:
            job.message += (f" Left {left} record(s) it updated as they are, wholly or in the "
                            "fields changed since, or that you may not edit.")
        return job


REVERT_BATCH = 2_000


def _advance(session: Session, job_id: int, count: int, *, restoring_from_start: bool = False
             ) -> ImportJob:
    """Count ``count`` more records reverted and note that the job moved on.
    Restores count on from the created records, all deleted by then."""
    job = session.get(ImportJob, job_id, with_for_update=True)
    assert job is not None
    job.reverted_count = count + (job.created_count if restoring_from_start
                                  else job.reverted_count)
    job.progress_at = utcnow()
    return job


def _remove_created(sessions: sessionmaker[Session], actor: User | None, kind: rec.Kind,
                    job_id: int, progress: Callable[[ImportJob], None] | None
                    ) -> tuple[int, int]:
    """Delete the records the import created, but those changed since (their
    version moved on: an edit, a comment, a merge into them) and those the
    reverting user may not edit. Returns how many were deleted and kept."""
    model = kind.model
    with sessions() as session:
        untouched = rec.visible(session, actor, kind, deleted=None).with_only_columns(
            model.id).where(model.import_id == job_id, model.version == 1).order_by(model.id)
    # Locked as they are read: an edit saved meanwhile is waited for and its
    # record kept (PostgreSQL reads the row again once the lock is free); an
    # edit started after waits, then finds the record gone. SQLite's write
    # transaction holds the database's lock already.
    untouched = untouched.with_for_update(of=model)
    removed, last = 0, 0
    while True:
        with transaction(sessions) as session:
            ids = list(session.scalars(untouched.where(model.id > last).limit(REVERT_BATCH)))
            rec.remove(session, actor, kind, ids)
            job = _advance(session, job_id, len(ids))
        if not ids:
            with sessions() as session:
                kept = session.scalar(select(func.count()).select_from(model)
                                      .where(model.import_id == job_id))
            return removed, kept or 0
        if progress:
            progress(job)
        removed, last = removed + len(ids), ids[-1]


def _restore_updated(sessions: sessionmaker[Session], actor: User | None, kind: rec.Kind,
                     job_id: int, progress: Callable[[ImportJob], None] | None,
                     rekey: bool) -> tuple[int, int]:
    """Give updated records their earlier values back, in the fields that
    still hold what the import wrote: a field (each custom field on its own)
    someone changed since keeps today's value, and a record the reverting
    user may not edit is left alone. Returns how many records were restored
    (wholly or partly) and how many left (wholly or partly) as they are.

    Putting values back is idempotent, so a resumed revert simply goes
    through every batch again (its count starting again after the created
    records, all gone by now)."""
    # Newest first, so that a record changed twice ends with its oldest values.
    changes = (select(ImportChange.id, ImportChange.record_id, ImportChange.before,
                      ImportChange.after)
               .where(ImportChange.import_id == job_id).order_by(ImportChange.id.desc()))
    restored, left, last = 0, 0, None
    while True:
        with transaction(sessions) as session:
            batch = session.execute(changes.limit(REVERT_BATCH) if last is None else
                                    changes.where(ImportChange.id < last).limit(REVERT_BATCH)
                                    ).all()
            ids = [c.record_id for c in batch]
            current = _editable_values(session, actor, kind, ids)
            existing = set(session.scalars(select(kind.model.id).where(
                any_of(session, kind.model.id, ids)))) if ids else set()
            updates = []
            for change in batch:
                now = current.get(change.record_id)
                if now is None:
                    # Purged since: nothing to give back, nothing left as it is.
                    left += change.record_id in existing and any(k in REVERTIBLE
                                                                 for k in change.before)
                    continue
                earlier, kept = _earlier_values(change.before, change.after, now)
                left += kept
                if earlier:
                    updates.append((change.record_id, earlier))
            held = rec.apply_many(session, actor, kind, updates, f"Import #{job_id} reverted",
                                  restoring=True, rekey=rekey)
            job = _advance(session, job_id, len(batch), restoring_from_start=last is None)
        if not batch:
            return restored, left
        if progress:
            progress(job)
        restored += len(held)  # records purged since, or holding those values, are left out
        last = batch[-1].id


def _earlier_values(before: Mapping[str, Any], after: Mapping[str, Any] | None,
                    now: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """What a revert gives back to a record holding ``now``, of what an import
    changed from ``before`` to ``after``: the fields that still hold what it
    wrote, their earlier values; and whether some field was changed since
    (and is left as it is). Custom fields count one by one."""
    earlier: dict[str, Any] = {}
    kept = False
    for field in (k for k in before if k in REVERTIBLE):
        if field == "custom" and after is not None and field in after:
            today = now[field] or {}
            custom, custom_kept = _earlier_custom(before[field] or {}, after[field] or {}, today)
            kept |= custom_kept
            if custom != today:
                earlier[field] = custom
        elif rec._jsonable(now[field]) == before[field]:
            continue  # given back already (by a revert that stopped half-way)
        # Changes recorded before core_0019 kept only the earlier values.
        elif after is None or field not in after or rec._jsonable(now[field]) == after[field]:
            earlier[field] = before[field]
        else:
            kept = True
    return earlier, kept


def _earlier_custom(before: Mapping[str, Any], after: Mapping[str, Any],
                    now: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """Today's custom fields ``now``, with each one the import changed (from
    ``before`` to ``after``) and no one since given its earlier value back, or
    removed if the import added it; and whether one was changed since."""
    custom, kept = dict(now), False
    for key in before.keys() | after.keys():
        wrote = after.get(key, _ABSENT)
        if before.get(key, _ABSENT) in (wrote, now.get(key, _ABSENT)):
            continue  # the import left it as it was, or it was given back already
        if now.get(key, _ABSENT) != wrote:
            kept = True
        elif key in before:
            custom[key] = before[key]
        else:
            del custom[key]
    return custom, kept


# A custom field a record does not have, unlike one holding null.
_ABSENT = object()


def _editable_values(session: Session, actor: User | None, kind: rec.Kind,
                     ids: Sequence[int]) -> dict[int, Any]:
    """The rows of the records ``ids`` that ``actor`` may edit, live or binned
    but not anonymized (which takes no edit, a revert's neither), locked
    (PostgreSQL) until the transaction ends: what is compared with
    what the import wrote must be what the revert then changes, not a value
    an edit saves in between (QA: 6 of 2,372 such edits were overwritten)."""
    if not ids:
        return {}
    model = kind.model
    query = rec.visible(session, actor, kind, deleted=None).with_only_columns(
        *model.__table__.columns).where(any_of(session, model.id, ids),
                                        model.anonymized_at.is_(None)).with_for_update(of=model)
    return {row.id: row._mapping for row in session.execute(query)}

