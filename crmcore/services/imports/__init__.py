"""Import of leads and contacts from CSV or Excel workbooks: validate
everything, then write in batches. This package's top level is the service
API (jobs: start, run, resume, revert, list, problems); its parts are
:mod:`~.options`, :mod:`~.reading` (the file), :mod:`~.checking`,
:mod:`~.writing`, :mod:`~.reverting` and :mod:`~.states` (what may happen to a job
next).

The file is streamed and worked on in batches, so memory stays flat whatever
its size:

1. **Check**: the encoding and header, every row through the fast validator
   (:mod:`crmcore.services.import_rows`), repeated addresses inside the file (a
   scratch SQLite table on disk remembers the addresses seen) and addresses
   already in the CRM. Problems are reported as (row, column, message). By
   default any problem stops the import before anything is written. Each
   batch's good rows, converted, are spooled to a scratch file.
2. **Write**: the spooled batches, each one transaction that inserts with
   batched Core statements, claims the key emails, announces one batch event
   to the plugins and records the job's progress (the file row the batch ends
   at). An interrupted import resumes after its last committed batch, reading
   the file again in the same batches, or is reverted.

A finished import can be reverted: records it created are deleted for good,
records it updated get their earlier values back.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from crmcore.auth.roles import can
from crmcore.db import transaction, utcnow
from crmcore.errors import Conflict, NotFound, ValidationFailed, interrupted
from crmcore.models import ImportJob, ImportProblem, User
from crmcore.services import records as rec
from crmcore.services.imports.checking import Scratch, check, refuse_external, row_validator
from crmcore.services.imports.options import (
    BLANK_CELLS,
    MATCHES,
    MAX_KEPT_ERRORS,
    POLICIES,
    ImportOptions,
    Report,
)
from crmcore.services.imports.reading import (
    ENCODINGS,
    clean_uploads,
    csv_rows,
    detect_delimiter,
    encoding_label,
    file_encoding,
    file_stamp,
    max_upload_bytes,
    misread_as_latin1,
    nul_in_file,
    open_rows,
    uploads_dir,
)
from crmcore.services.imports.reverting import run_revert
from crmcore.services.imports.states import (
    IN_FLIGHT,
    STALLED_AFTER,
    claim,
    resumable,
    revertible,
    rows_written,
    stalled,
    stopped_by,
    taken_over_when,
    why_not_revertible,
)
from crmcore.services.imports.writing import keep_problems, write_checked

__all__ = [
    "BLANK_CELLS", "ENCODINGS", "MATCHES", "MAX_KEPT_ERRORS", "POLICIES", "STALLED_AFTER",
    "ImportOptions", "JobPage", "QueueWork", "Report", "check", "check_file", "clean_uploads",
    "csv_rows", "detect_delimiter", "encoding_label", "file_encoding", "get_job",
    "import_checked", "list_jobs", "max_upload_bytes", "misread_as_latin1", "next_queued",
    "nul_in_file", "problems", "queue_resume", "queue_revert", "resumable", "resume", "revert",
    "revertible", "rows_written", "run", "run_revert", "stalled", "start", "started_import",
    "stopped_by", "uploads_dir", "would_do",
]


def start(session: Session, actor: User | None, kind: rec.Kind, path: Path, filename: str,
          options: ImportOptions) -> ImportJob:
    """Register an import job for a file already stored at ``path``."""
    refuse_external(session, actor)
    options.check()
    job = ImportJob(record_type=kind.record_type, filename=filename[:255], path=str(path),
                    file_stamp=file_stamp(path), options=options.__dict__.copy(),
                    status="queued", created_by=actor.id if actor else None)
    session.add(job)
    session.flush()
    return job


def import_checked(session: Session, actor: User | None, job_id: int, *,
                   skip_bad_rows: bool = False) -> ImportJob:
    """A new import job for the file a dry run checked, with its options (and
    ``skip_bad_rows``, to leave out the rows it found bad), so that a large
    file need not be uploaded again. The caller commits, then dispatches it.

    A dry run starts one import: a second would create its records again.
    Its row stays locked until the caller commits, so that of two requests at
    once the second waits, then finds the first one's import."""
    checked = get_job(session, actor, job_id, lock=True)
    if checked.status != "checked":
        raise Conflict(f"Import #{checked.id} is not a finished dry run.")
    if (started := started_import(session, checked)) is not None:
        raise Conflict(f"Dry run #{checked.id} was imported already, as import #{started.id} "
                       f"({started.status}); importing it again would add its rows twice.")
    if not Path(checked.path).is_file():
        raise Conflict(f"The file of dry run #{checked.id} is gone; upload it again.")
    options = ImportOptions(**{**checked.options, "dry_run": False})
    options.skip_bad_rows = options.skip_bad_rows or skip_bad_rows
    job = start(session, actor, rec.KINDS[checked.record_type], Path(checked.path),
                checked.filename, options)
    checked.started_import_id = job.id
    return job


def started_import(session: Session, checked: ImportJob) -> ImportJob | None:
    """The import a dry run started, unless it was refused (``invalid``: it
    wrote nothing, so the file may be imported again, skipping bad rows)."""
    if checked.started_import_id is None:
        return None
    started = session.get(ImportJob, checked.started_import_id)
    return started if started is not None and started.status != "invalid" else None


def get_job(session: Session, actor: User | None, job_id: int, *,
            lock: bool = False) -> ImportJob:
    """The job ``actor`` may see; ``lock``: locked until the transaction ends,
    and read afresh, for a change that depends on its status."""
    job = session.get(ImportJob, job_id, with_for_update=lock,
                      populate_existing=lock)
    if job is None or not (actor is None or job.created_by == actor.id
                           or can(session, actor, "records.view_all")):
        raise NotFound("No such import.")
    return job


@dataclass(frozen=True)
class JobPage:
    """A page of imports, newest first; ``older`` is the ``before`` of the next
    page, None on the last."""

    jobs: list[ImportJob]
    older: int | None


def list_jobs(session: Session, actor: User | None, limit: int = 50,
              before: int | None = None) -> JobPage:
    """The jobs ``actor`` may see, newest first; ``before`` an id, for the next page."""
    query = select(ImportJob).order_by(ImportJob.id.desc()).limit(limit + 1)
    if before is not None:
        query = query.where(ImportJob.id < before)
    if actor is not None and not can(session, actor, "records.view_all"):
        query = query.where(ImportJob.created_by == actor.id)
    found = list(session.scalars(query))
    return JobPage(found[:limit], found[limit - 1].id if len(found) > limit else None)


def run(sessions: sessionmaker[Session], job_id: int,
        progress: Callable[[ImportJob], None] | None = None) -> ImportJob:
    """Check the job's file, then write it batch by batch (or resume after the
    last committed batch). Returns the job as it ended.

    The check only reads: it holds no write lock (SQLite has one for the whole
    database), so the CRM stays usable while a large file is checked, and the
    job shows ``validating`` with the rows read so far."""
    with transaction(sessions) as session:
        claimed, job = claim(session, job_id, "queued", "validating", "Checking the file.")
        resuming = not claimed and claim(session, job_id, "resume_queued", "running",
                                          "Resuming: checking the file again.")[0]
        if not (claimed or resuming):
            raise Conflict(f"Import #{job.id} is {job.status}; nothing to run.")
        options = ImportOptions(**job.options)
    scratch = Scratch() if claimed and not options.dry_run else None
    try:
        if claimed and (ended := _validate(sessions, job_id, options, scratch, progress)):
            return ended
        scratch = scratch or _recheck(sessions, job_id, options)
        write_checked(sessions, job_id, progress, scratch)
    except BaseException as exc:
        # Also when the process is asked to stop (Ctrl-C, a worker's SIGTERM):
        # the batch in flight rolled back, and the job may go on at once
        # rather than once it looks stalled.
        with transaction(sessions) as session:
            job = session.get(ImportJob, job_id)
            if job.status == "validating" and interrupted(exc):
                # Nothing written: a resume checks the file again, at once.
                job.progress_at = None
                job.message = "The check stopped: its process was stopped. Resume it."
            elif job.status == "validating":  # nothing written: nothing to resume or revert
                _refused(job, ValidationFailed(
                    f"The check stopped: {stopped_by(exc)}. Import the file again."))
            else:
                job.status = "failed"
                job.message = (f"Stopped after {job.rows_done} rows: {stopped_by(exc)}. "
                               + ("Resume it or revert it." if Path(job.path).exists()
                                  else "Its file is gone: revert it."))
        raise
    finally:
        if scratch:
            scratch.close()
    with sessions() as session:
        return session.get(ImportJob, job_id)  # type: ignore[return-value]


HEARTBEAT_SECONDS = 5.0


def _validate(sessions: sessionmaker[Session], job_id: int, options: ImportOptions,
              scratch: Scratch | None, progress: Callable[[ImportJob], None] | None
              ) -> ImportJob | None:
    """The check of a claimed job, in a session that only reads. Returns the job
    if it ended there (invalid, or checked for a dry run), else ``None`` with
    the job ``running`` and the good rows kept in ``scratch``. ``progress``
    hears of the rows read every few seconds."""
    refused = None
    with transaction(sessions) as session:
        # What a check stopped half-way found; this one finds it again.
        session.execute(delete(ImportProblem).where(ImportProblem.import_id == job_id))
        session.execute(update(ImportJob).where(ImportJob.id == job_id).values(error_count=0))
    with sessions() as session:
        job = session.get(ImportJob, job_id)
        assert job is not None
        actor = session.get(User, job.created_by) if job.created_by else None
        kind, path = rec.KINDS[job.record_type], Path(job.path)
        try:
            report = check(session, actor, kind, path, options,
                           progress=_heartbeat(sessions, job_id, progress), scratch=scratch,
                           store=_problem_store(sessions, job_id))
        except ValidationFailed as exc:
            refused = exc
    with transaction(sessions) as session:
        job = session.get(ImportJob, job_id, with_for_update=True)
        assert job is not None
        if refused is not None:
            return _refused(job, refused)
        job.total_rows, job.error_count = report.total_rows, report.error_count
        job.errors = [list(e) for e in report.errors]
        if options.dry_run:
            return _checked(job, report)
        if report.error_count and not options.skip_bad_rows:
            job.status, job.finished_at = "invalid", utcnow()
            job.message = (f"{report.error_count} problem(s) found; nothing was imported. "
                           "Fix the rows, or import again skipping bad rows to leave them out.")
            return job
        job.status, job.progress_at = "running", utcnow()
        return None


def _problem_store(sessions: sessionmaker[Session], job_id: int
                   ) -> Callable[[list[tuple[int, str, str]]], None]:
    """Keep a check's problems with its job, each batch's in a short write
    transaction of its own (the check itself only reads), and count them on
    the job as they are found: a long check, or one stopped half-way, shows
    how many so far."""
    def store(problems: list[tuple[int, str, str]]) -> None:
        with transaction(sessions) as session:
            keep_problems(session, job_id, problems)
            session.execute(update(ImportJob).where(ImportJob.id == job_id).values(
                error_count=ImportJob.error_count + len(problems)))

    return store


def problems(session: Session, actor: User | None, job_id: int,
             page_size: int = 5000) -> Iterator[tuple[int, str, str]]:
    """Every problem of an import ``actor`` may see, in the order found:
    ``(row, column, message)``. A file refused whole has its one problem (row
    0); jobs from before every problem was kept give the ones they kept.

    :raises NotFound: before anything is read, like :func:`get_job`."""
    job = get_job(session, actor, job_id)
    kept = [tuple(e) for e in job.errors or []]
    page = (select(ImportProblem.id, ImportProblem.row, ImportProblem.column_name,
                   ImportProblem.message)
            .where(ImportProblem.import_id == job_id).order_by(ImportProblem.id)
            .limit(page_size))

    def read() -> Iterator[tuple[int, str, str]]:
        last, found = 0, False
        while rows := session.execute(page.where(ImportProblem.id > last)).all():
            found = True
            yield from ((row, column, message) for _, row, column, message in rows)
            last = rows[-1][0]
        if not found:
            yield from kept  # type: ignore[misc]

    return read()


def _heartbeat(sessions: sessionmaker[Session], job_id: int,
               progress: Callable[[ImportJob], None] | None = None, *, counting: bool = True
               ) -> Callable[[int], None]:
    """A check's progress callback: every few seconds a sign of life (so that
    a check whose process died is seen as stalled) and, ``counting``, the rows
    read so far as the job's total, which ``progress`` then hears of."""
    last = time.monotonic()

    def beat(rows: int) -> None:
        nonlocal last
        if time.monotonic() - last < HEARTBEAT_SECONDS:
            return
        with transaction(sessions) as session:
            session.execute(update(ImportJob).where(ImportJob.id == job_id).values(
                progress_at=utcnow(), **({"total_rows": rows} if counting else {})))
            job = session.get(ImportJob, job_id)
        if progress and counting:
            progress(job)
        last = time.monotonic()

    return beat


def _recheck(sessions: sessionmaker[Session], job_id: int, options: ImportOptions
             ) -> Scratch:
    """A resume's good rows: the file checked again as the first check did it
    (whose rows went with its process), so that the rows it left out (a bad
    one, one repeating an earlier row's email) stay out, and the rows written
    before the stop are found again, as the file's own, not as records in the
    CRM. The job's problems stay as the first check reported them."""
    scratch = Scratch()
    try:
        with sessions() as session:
            job = session.get(ImportJob, job_id)
            assert job is not None
            actor = session.get(User, job.created_by) if job.created_by else None
            check(session, actor, rec.KINDS[job.record_type], Path(job.path), options,
                  progress=_heartbeat(sessions, job_id, counting=False), scratch=scratch)
    except BaseException:
        scratch.close()
        raise
    return scratch


def _refused(job: ImportJob, exc: ValidationFailed) -> ImportJob:
    """End a job whose file as a whole cannot be read (encoding, CSV, sheet, header)."""
    job.status, job.message, job.finished_at = "invalid", exc.detail, utcnow()
    job.errors, job.error_count = [[0, next(iter(exc.errors), "file"), exc.detail]], 1
    return job


def _checked(job: ImportJob, report: Report) -> ImportJob:
    """End a dry run: its counts say what an import would do."""
    job.status, job.finished_at = "checked", utcnow()
    job.created_count, job.skipped_count = report.to_create, report.to_skip
    job.updated_count = report.to_update - report.to_leave
    job.unchanged_count = report.to_leave
    job.message = (f"Checked {report.total_rows} row(s): an import would "
                   f"{would_do(report)}; {report.error_count} problem(s). Nothing was written.")
    return job


def would_do(report: Report) -> str:
    """What a dry run found an import would do: "create 2, update 1, leave 3
    unchanged and skip 0"."""
    unchanged = f", leave {report.to_leave} unchanged" if report.to_leave else ""
    return (f"create {report.to_create}, update {report.to_update - report.to_leave}"
            f"{unchanged} and skip {report.to_skip}")


def check_file(session: Session, actor: User | None, kind: rec.Kind, path: Path,
               options: ImportOptions) -> None:
    """Refuse, before any job is made, options that do not hold and a file whose
    encoding, CSV or header does not fit (:class:`ValidationFailed` names the
    problem under ``file`` or the option: a header's problems that the mapping
    makes under ``mapping``, or ``columns`` if given). Reads only the start of
    the file."""
    options.check()
    with open_rows(path, options) as (header, _rows):
        row_validator(session, actor, kind, header, options)


def next_queued(sessions: sessionmaker[Session]) -> tuple[int, str] | None:
    """The oldest job waiting for a worker, if any, as ``(id, status)``: the
    status says whether it waits to be imported (``queued``, or ``resume_queued``
    to continue) or reverted (``revert_queued``)."""
    with sessions() as session:
        row = session.execute(select(ImportJob.id, ImportJob.status)
                              .where(ImportJob.status.in_(
                                  ("queued", "resume_queued", "revert_queued")))
                              .order_by(ImportJob.id).limit(1)).first()
        return (row.id, row.status) if row else None


# What queue_revert and queue_resume are: (session, actor, job id) -> the job.
QueueWork = Callable[[Session, User | None, int], ImportJob]


def queue_resume(session: Session, actor: User | None, job_id: int) -> ImportJob:
    """Ask for an import that stopped to be continued by background work
    (:func:`run`) after its last committed batch, or, if it stopped before
    writing, for its file to be checked again. The caller commits, then
    dispatches it. Only one process ever continues a job: a job still moving
    is refused."""
    job = get_job(session, actor, job_id, lock=True)
    if not resumable(job):
        if job.status in IN_FLIGHT:
            raise Conflict(f"Import #{job.id} is {job.status} and still moving; "
                           f"nothing to resume. {taken_over_when(job)}")
        raise Conflict(f"Import #{job.id} is {job.status}: it did not stop half-way; "
                       "nothing to resume.")
    checked_nothing = job.status == "validating"
    stamp = file_stamp(Path(job.path))
    if not checked_nothing and job.file_stamp and stamp and stamp != job.file_stamp:
        # Its rows would no longer line up with the batches written.
        raise Conflict(f"The file of import #{job.id} changed since the import started: "
                       "resuming would skip or repeat rows. Revert the import and import "
                       "the file again.")
    job.status = "queued" if checked_nothing else "resume_queued"
    job.message = "Waiting to be checked again." if checked_nothing else "Waiting to be resumed."
    job.progress_at = utcnow()
    return job


def resume(sessions: sessionmaker[Session], actor: User | None, job_id: int,
           progress: Callable[[ImportJob], None] | None = None) -> ImportJob:
    """Queue the resume and run it here, in the caller's process (the CLI)."""
    with transaction(sessions) as session:
        queue_resume(session, actor, job_id)
    return run(sessions, job_id, progress)


def queue_revert(session: Session, actor: User | None, job_id: int) -> ImportJob:
    """Ask for an import to be reverted by background work
    (:func:`run_revert`); the caller commits, then dispatches it."""
    job = get_job(session, actor, job_id, lock=True)
    if not revertible(job):
        raise Conflict(why_not_revertible(job))
    job.status, job.message = "revert_queued", "Waiting to be reverted."
    job.reverted_by, job.progress_at = (actor.id if actor else None), utcnow()
    return job


def revert(sessions: sessionmaker[Session], actor: User | None, job_id: int,
           progress: Callable[[ImportJob], None] | None = None) -> ImportJob:
    """Queue the revert and run it here, in the caller's process (the CLI)."""
    with transaction(sessions) as session:
        queue_revert(session, actor, job_id)
    return run_revert(sessions, job_id, progress)

