"""A job's states: what may happen to it next (resume, revert), when a job
whose process died may be taken over, and claiming one for a process."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from crmcore.db import utcnow
from crmcore.errors import CrmError, NotFound, interrupted
from crmcore.models import ImportJob

# A job in flight whose process wrote nothing for this long has lost it (the
# server restarted, the worker was killed); a batch takes about a second, and
# a check beats every HEARTBEAT_SECONDS.
STALLED_AFTER = timedelta(minutes=10)

IN_FLIGHT = ("validating", "running", "resume_queued", "revert_queued", "reverting")


def stalled(job: ImportJob) -> bool:
    """Whether a job in flight stopped moving: its process is gone."""
    return job.status in IN_FLIGHT and (
        job.progress_at is None or utcnow() - job.progress_at > STALLED_AFTER)


def resumable(job: ImportJob) -> bool:
    """Whether an import that stopped may be continued (or, if it stopped while
    checking, checked again) now."""
    return job.status == "failed" or (
        job.status in ("validating", "running", "resume_queued") and stalled(job))


def rows_written(job: ImportJob) -> int:
    """How many of the file's rows the import has gone through so far."""
    if job.status in ("done", "reverted"):
        return job.total_rows
    return min(job.rows_done, job.total_rows)


def revertible(job: ImportJob) -> bool:
    """Whether a revert may start (or, for a stopped one, finish) now: not for
    an import that wrote nothing."""
    wrote = bool(job.created_count or job.updated_count)
    return (job.status in ("done", "failed") and wrote) or (
        stalled(job) and job.status in ("running", "resume_queued", "revert_queued", "reverting"))


def why_not_revertible(job: ImportJob) -> str:
    if job.status == "reverted":
        return f"Import #{job.id} was already reverted."
    if job.status in ("revert_queued", "reverting"):
        return f"Import #{job.id} is being reverted. {taken_over_when(job)}"
    if job.status in ("running", "resume_queued"):
        return (f"Import #{job.id} is still running; revert it when it has finished. "
                f"{taken_over_when(job)}")
    return f"Import #{job.id} wrote nothing; there is nothing to revert."


def taken_over_when(job: ImportJob) -> str:
    """When a job in flight whose process died (a restart, a killed worker)
    may be resumed or reverted: one process at a time works on a job."""
    if job.progress_at is None:
        return ""
    free = job.progress_at + STALLED_AFTER
    return (f"If its process has died, it can be taken over from {free:%Y-%m-%d %H:%M:%S} "
            f"UTC, {STALLED_AFTER.seconds // 60} minutes after it last moved.")


def stopped_by(exc: BaseException) -> str:
    """Why work stopped, for a job's message: a refusal's own words, else the
    error's type and text."""
    if interrupted(exc):
        return "its process was stopped"
    if isinstance(exc, CrmError):
        return exc.detail.rstrip(".")
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        # The driver's words, without the statement SQLAlchemy adds.
        exc = exc.orig
    return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0]}".rstrip(".")


def claim(session: Session, job_id: int, waiting: str, working: str, message: str
          ) -> tuple[bool, ImportJob]:
    """Move a job from ``waiting`` to ``working`` with one conditional UPDATE,
    so that two workers (or a worker and a web process) never run the same
    work. Returns whether this call claimed it, and the job."""
    claimed = session.execute(update(ImportJob).where(
        ImportJob.id == job_id, ImportJob.status == waiting)
        .values(status=working, message=message, progress_at=utcnow())).rowcount == 1
    job = session.get(ImportJob, job_id)
    if job is None:
        raise NotFound("No such import.")
    return claimed, job
