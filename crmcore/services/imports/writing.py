"""The write: the checked rows, a batch per transaction, classified again
against what the database holds by then; created records inserted with
batched Core statements, updated ones through :func:`records.apply_many`
with their earlier values kept for a revert."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from crmcore.db import any_of, emit, transaction, utcnow
from crmcore.models import EmailKey, ImportChange, ImportJob, ImportProblem, User
from crmcore.services import records as rec
from crmcore.services.bulk import insert_rows
from crmcore.services.import_rows import RECORD_ID
from crmcore.services.imports.checking import (
    Clearing,
    Scratch,
    classify,
    email_holders,
    joined_lists,
    missing_required,
    moving_emails,
    named_records,
    required_fields,
    update_values,
)
from crmcore.services.imports.options import BLANK, MAX_KEPT_ERRORS, ROW, ImportOptions


def keep_problems(session: Session, job_id: int, problems: Sequence[Sequence[Any]]) -> None:
    """Add ``(row, column, message)`` problems to the job's full list."""
    insert_rows(session.connection(), ImportProblem.__table__,
                [{"row": row, "column_name": column, "message": message}
                 for row, column, message in problems], {"import_id": job_id})


def write_checked(sessions: sessionmaker[Session], job_id: int,
                  progress: Callable[[ImportJob], None] | None, scratch: Scratch) -> None:
    """Write the good rows ``scratch`` holds, a batch per transaction, after
    those a resumed job committed already; then end the job ``done``."""
    with sessions() as session:
        job = session.get(ImportJob, job_id)
        assert job is not None
        options = ImportOptions(**job.options)
        kind = rec.KINDS[job.record_type]
        actor_id, done_rows = job.created_by, job.processed_rows
        actor = session.get(User, actor_id) if actor_id else None
        checked_errors = job.error_count
    for last_row, rows_through, values in scratch.good_batches():
        if last_row <= done_rows:
            continue  # committed before an interruption
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                with transaction(sessions) as session:
                    _one_batch_at_a_time(session)
                    job = session.get(ImportJob, job_id, with_for_update=True)
                    actor = session.get(User, actor_id) if actor_id else None
                    # A copy: writing a batch fills in its rows.
                    _write_batch(session, actor, kind, job, [dict(v) for v in values], options,
                                 scratch.columns, scratch.clearing)
                    job.processed_rows, job.rows_done = last_row, rows_through
                    job.progress_at, job.message = utcnow(), "Writing the checked rows."
                break
            except IntegrityError:
                # A user saved a record with one of the batch's emails after
                # the batch looked them up (PostgreSQL lets writers overlap).
                # Written again, the batch finds it, and skips, updates or
                # reports that row as asked.
                if attempt == WRITE_ATTEMPTS:
                    raise
        if progress:
            progress(job)
    with transaction(sessions) as session:
        # Fresh statistics, so that lists keep walking their sort indexes.
        session.execute(text(f"ANALYZE {kind.model.__tablename__}"))
        job = session.get(ImportJob, job_id)
        job.status, job.finished_at = "done", utcnow()
        # Every row was either written, found unchanged, skipped as a
        # duplicate or bad; a bad row may hold several problems.
        bad = (job.total_rows - job.created_count - job.updated_count - job.unchanged_count
               - job.skipped_count)
        unchanged = f"unchanged {job.unchanged_count}, " if job.unchanged_count else ""
        job.message = (f"Created {job.created_count}, updated {job.updated_count}, "
                       f"{unchanged}skipped {job.skipped_count}, left out {bad} bad row(s).")
        if job.error_count > checked_errors:
            job.message += (f" {job.error_count - checked_errors} of them were good when "
                            "checked, not when written: records were added or deleted "
                            "meanwhile (their problems say which).")


# Tries of a batch that collided with records written meanwhile.
WRITE_ATTEMPTS = 3

# The PostgreSQL advisory lock an import's batch holds while it is written.
BATCH_LOCK = 0x63726D01  # "crm" and 1


def _one_batch_at_a_time(session: Session) -> None:
    """Wait until no other import's batch is being written (PostgreSQL: an
    advisory lock until this transaction ends; SQLite's write lock does it
    already). Two imports of the same people would otherwise claim the same
    email keys at once, each batch looking them up before the other's commit:
    a unique violation, or a deadlock between the two."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(BATCH_LOCK)))


def _write_batch(session: Session, actor: User | None, kind: rec.Kind, job: ImportJob,
                 converted: list[dict[str, Any]], options: ImportOptions,
                 columns: Mapping[str, str], clearing: Clearing | None) -> None:
    """Write a batch of good rows as the check classified them, again against
    what the database holds now: rows whose email another record took since,
    or whose record went since, become problems with their row and column.
    ``clearing``: what the rows' blank cells clear in the records they update."""
    emails = [v["emails"][0] for v in converted if v.get("emails")]
    existing = email_holders(session, actor, kind, options, emails)
    named = named_records(session, actor, kind, [v[RECORD_ID] for v in converted
                                                 if RECORD_ID in v])
    moving = moving_emails(converted, named)
    required = required_fields(session, kind)
    creates: list[dict[str, Any]] = []
    updates: dict[int, dict[str, Any]] = {}
    update_rows: dict[int, tuple[int, str]] = {}
    by_email: dict[int, Sequence[str]] = {}
    batch_seen: set[str] = set()
    late: list[list[Any]] = []
    for values in converted:
        row = values.pop(ROW, 0)
        email = values["emails"][0] if values.get("emails") else None
        if email in batch_seen:
            continue  # a repeat inside the file, reported by the check
        action, record_id, message, about = classify(kind, options, values, existing,
                                                      named, moving)
        if email:
            batch_seen.add(email)
        if action == "create":
            # Missing only if it changed since the check: a field made
            # required, or the record the row updated gone (it creates one now).
            if missing := missing_required(kind, values, required, options.defaults, columns):
                late.extend([row, column, f"{message.removesuffix('.')} (since this file "
                             "was checked)."] for column, message in missing)
                continue
            if clearing is not None:
                values.pop(BLANK, None)  # a created record is created as ever
            values.update(options.defaults)
            creates.append(values)
        elif action == "update" and clearing is not None and (
                refusals := clearing.problems(values, named.get(record_id))):  # type: ignore[arg-type]
            # Created when checked: the record it updates was added since.
            late.extend([row, column, f"{message.removesuffix('.')} (since this file was "
                         "checked)."] for column, message in refusals)
        elif action == "update" and record_id not in updates:  # else reported by the check
            updates[record_id] = update_values(clearing, values)  # type: ignore[index]
            # The row and the field it found its record by.
            update_rows[record_id] = (row, RECORD_ID if RECORD_ID in values  # type: ignore[index]
                                      else "emails")
            if RECORD_ID not in values:
                by_email[record_id] = joined_lists(clearing, values)  # type: ignore[index]
        elif action == "error":
            # Good when checked; since then another import or user took its email.
            late.append([row, columns.get(about, about),
                         f"{message.removesuffix('.')} (since this file was checked)."])
        else:
            job.skipped_count += 1
    if updates:
        # Locked as they are found: a record deleted since (a revert, the
        # recycle bin emptied) is a problem of its row, not an update.
        model = kind.model
        found = set(session.scalars(select(model.id).where(
            any_of(session, model.id, list(updates))).with_for_update()))
        for record_id in [i for i in updates if i not in found]:
            del updates[record_id]
            by_email.pop(record_id, None)
            row, about = update_rows[record_id]
            late.append([row, columns.get(about, about), f"The {kind.record_type} "
                         f"#{record_id} was deleted since this file was checked."])
    if late:
        job.error_count += len(late)
        job.errors = [*(job.errors or []), *late][:MAX_KEPT_ERRORS]
        keep_problems(session, job.id, late)
    if creates:
        ids = _insert(session, actor, kind, job, creates)
        keyed = [{"email": r["email_key"], "record_id": i}
                 for r, i in zip(creates, ids, strict=True) if r["email_key"]]
        insert_rows(session.connection(), EmailKey.__table__, keyed,
                    {"record_type": kind.record_type})
        job.created_count += len(ids)
        emit(session, kind.created, actor=actor, **kind.event_ids(ids))
    if updates:
        changed = _apply_updates(session, actor, kind, job, list(updates.items()),
                                 rekey=options.match_by == "id", joining=by_email)
        job.updated_count += changed
        job.unchanged_count += len(updates) - changed


def _insert(session: Session, actor: User | None, kind: rec.Kind, job: ImportJob,
            rows: list[dict[str, Any]]) -> list[int]:
    """Write new records (``rows`` gain their keys and ids) with one
    executemany or COPY; returns their ids in row order.

    Ids are reserved first, so that leads are scored before they are written
    (one INSERT, no UPDATE after it) and nothing has to be read back."""
    now = utcnow()
    shared: dict[str, Any] = {"created_at": now, "updated_at": now, "touched_at": now,
                              "version": 1, "import_id": job.id,
                              "owner_id": actor.id if actor else None}
    if kind is rec.LEADS and any("stage_id" not in r for r in rows):
        shared["stage_id"] = rec._default_stage(session)
    ids = _reserve_ids(session, kind, job, len(rows))
    several: list[tuple[int, list[str], list[str]]] = []
    for row, record_id in zip(rows, ids, strict=True):
        row["id"] = record_id
        emails, phones = row.get("emails") or [], row.get("phones") or []
        row["email_key"] = emails[0] if emails else None
        row["phone_key"] = phones[0] if phones else None
        if len(emails) > 1 or len(phones) > 1:
            several.append((record_id, phones, emails))
        row.update(rec.name_keys(kind, row))
    if kind is rec.LEADS:
        rec.score_rows(session, rows, shared)
    insert_rows(session.connection(), kind.model.__table__, rows, shared)
    rec.write_other_keys(session, kind, several, new=True)
    return ids


def _reserve_ids(session: Session, kind: rec.Kind, job: ImportJob, count: int) -> list[int]:
    table = kind.model.__tablename__
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        return list(connection.scalars(
            text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) "
                 "FROM generate_series(1, :count)"), {"table": table, "count": count}))
    # SQLite numbers rows after the highest id the table ever handed out
    # (sqlite_sequence, which AUTOINCREMENT keeps), as the ids of purged rows
    # are never given again. A write first takes the database's single write
    # lock, so no one else can insert until commit.
    connection.execute(update(ImportJob).where(ImportJob.id == job.id)
                       .values(processed_rows=ImportJob.processed_rows))
    top = max(connection.scalar(select(func.max(kind.model.id))) or 0,
              connection.scalar(text("SELECT seq FROM sqlite_sequence WHERE name = :table"),
                                {"table": table}) or 0)
    return list(range(top + 1, top + 1 + count))


def _apply_updates(session: Session, actor: User | None, kind: rec.Kind, job: ImportJob,
                   updates: list[tuple[int, dict[str, Any]]], rekey: bool,
                   joining: Mapping[int, Sequence[str]]) -> int:
    """Write the updates; returns how many records they changed (a row whose
    values its record holds already writes nothing, and a revert has nothing
    of it to give back). The records ``joining`` (found by email) keep every
    email and phone they hold besides the rows', but in a list a row clears."""
    held = rec.apply_many(session, actor, kind, updates, f"Updated by import #{job.id}",
                          rekey=rekey, joining=joining)
    # What each record held in the fields the import gave, and what the import
    # wrote there, for a revert.
    insert_rows(session.connection(), ImportChange.__table__, [
        {"record_id": record_id, "before": _jsonable(before), "after": _jsonable(after)}
        for record_id, (before, after) in held.items()],
        {"import_id": job.id})
    return len(held)


def _jsonable(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: rec._jsonable(v) for k, v in values.items()}

