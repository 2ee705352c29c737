"""Imports over the API (CSV or Excel workbooks): upload a file to import or
check in the background, follow the job, revert it. Thin views over
:mod:`crmcore.services.imports`, as the web pages are."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from uuid import uuid4

from flask import Response, current_app, request, url_for
from werkzeug.exceptions import RequestEntityTooLarge

from crmcore import jobs
from crmcore.api.blueprint import (
    CURSOR,
    PAGE_SIZE,
    actor,
    bp,
    doc,
    int_arg,
    json_body,
    json_response,
    query_args,
)
from crmcore.api.records import PLURALS
from crmcore.api.schemas import ImportCheckedInput, ImportInput, ImportJobOutput
from crmcore.app import db
from crmcore.errors import ValidationFailed
from crmcore.models import ImportJob
from crmcore.responses import problems_download
from crmcore.schemas.base import load
from crmcore.services import imports as svc
from crmcore.services.records import KINDS
from crmcore.web.uploads import UploadProblem, save_upload, size_label

JOB = ImportJobOutput()


def job_data(job: ImportJob) -> dict[str, Any]:
    options = job.options or {}
    started = svc.started_import(db(), job)
    return JOB.dump({  # type: ignore[no-any-return]
        **{c: getattr(job, c) for c in (
            "id", "record_type", "filename", "status", "total_rows", "created_count",
            "updated_count", "unchanged_count", "skipped_count", "error_count",
            "reverted_count", "message", "created_by", "reverted_by", "created_at",
            "finished_at")},
        "stalled": svc.stalled(job), "rows_done": svc.rows_written(job),
        "dry_run": bool(options.get("dry_run")),
        "on_duplicate": options.get("on_duplicate", "report"),
        "blank_cells": options.get("blank_cells", "keep"),
        "match_by": options.get("match_by", "email"),
        "skip_bad_rows": bool(options.get("skip_bad_rows")),
        "errors": [{"row": r, "column": c, "message": m} for r, c, m in job.errors or []],
        "links": {"self": url_for("api.import_get", job_id=job.id),
                  "revert": url_for("api.import_revert", job_id=job.id)
                  if svc.revertible(job) else None,
                  "resume": url_for("api.import_resume", job_id=job.id)
                  if svc.resumable(job) else None,
                  "import_": url_for("api.import_checked", job_id=job.id)
                  if job.status == "checked" and started is None else None,
                  "started_import": url_for("api.import_get", job_id=started.id)
                  if started is not None else None,
                  "problems": url_for("api.import_problems", job_id=job.id)
                  if job.error_count else None},
    })


def job_response(job: ImportJob, status: int = 200) -> Response:
    location = url_for("api.import_get", job_id=job.id) if status == 202 else None
    return json_response(job_data(job), status, location=location)


def _too_large(limit: int) -> RequestEntityTooLarge:
    return RequestEntityTooLarge(f"The file is larger than {size_label(limit)}; split it "
                                 "into smaller files and import each.")


def upload_limit() -> int:
    return svc.max_upload_bytes(current_app.config)


def _form(limit: int) -> dict[str, str]:
    """The form fields; a body over ``limit`` (set before the request was
    authenticated, see :func:`crmcore.api.auth.body_limit`) is refused unread."""
    try:
        return {k: v for k, v in request.form.items() if k != "file"}
    except RequestEntityTooLarge:
        raise _too_large(limit) from None


def _upload(limit: int) -> tuple[Path, str]:
    """Stream the request's ``file`` to the uploads folder; ``(path, its name)``."""
    path = svc.uploads_dir(Path(current_app.instance_path)) / f"{uuid4().hex}.csv"
    try:
        return path, save_upload(request.files.get("file"), path, limit)
    except UploadProblem as exc:
        if exc.status == 413:
            raise _too_large(limit) from None
        raise ValidationFailed(str(exc), {"file": [str(exc)]}) from None


def register(record_type: str) -> None:
    """POST /leads/imports (api.lead_import) or /contacts/imports (api.contact_import)."""
    kind, plural = KINDS[record_type], PLURALS[record_type]

    def start_view() -> Response:
        query_args(())
        limit = upload_limit()
        options = svc.ImportOptions(**load(ImportInput(), _form(limit)))
        path, filename = _upload(limit)
        session = db()
        try:
            svc.check_file(session, actor(), kind, path, options)
            job = svc.start(session, actor(), kind, path, filename, options)
            session.commit()
        except BaseException:
            session.rollback()
            path.unlink(missing_ok=True)
            raise
        jobs.dispatch_import(current_app.extensions["crm"].sessions, job.id)
        return job_response(job, 202)

    start_view.__name__ = start_view.__qualname__ = f"{record_type}_import"
    start_view.upload_limit = upload_limit  # type: ignore[attr-defined]
    start_view.__doc__ = f"""Upload a file of {plural} to import, or only to check.

    Send multipart/form-data: the file (CSV, tab-separated text, or an Excel
    workbook, whose first sheet not hidden is read) in ``file``, the options (ImportInput)
    as form fields. Options that do not hold, and a file whose start does not
    fit (its header: an encoding it is not in, broken CSV, a workbook that
    cannot be read, columns that match no field), are answered 422 at once,
    each problem under the form field to change: ``mapping`` (a field that
    does not exist, a column the file does not have) or ``file`` (its header);
    otherwise the job is queued and answered 202 with a Location to follow:
    queued, validating, then invalid (every problem listed, a problem further
    in the file such as a line that does not decode included; nothing
    written), checked (a dry run), or running and done. By default any bad row
    stops the import before anything is written; a row that turns bad only as
    it is written (someone saved a record with its email since the check) is
    left out and listed with the job's problems, and the rest written.
    """
    view = doc(plural, response="ImportJobOutput", status=202, form="ImportInput")(start_view)
    bp.add_url_rule(f"/{plural}/imports", f"{record_type}_import", view, methods=["POST"])


for _record_type in PLURALS:
    register(_record_type)


@bp.get("/imports")
@doc("imports", response="ImportJobPage",
     query={"cursor": CURSOR, "limit": PAGE_SIZE})
def import_list() -> Response:
    """List imports, newest first: your own, or everyone's with records.view_all."""
    args = query_args({"cursor", "limit"})
    limit = int_arg(args, "limit", 50)
    before = int_arg(args, "cursor", 0, low=0, high=2**62) or None
    page = svc.list_jobs(db(), actor(), limit, before)
    return json_response({
        "items": [job_data(job) for job in page.jobs],
        "links": {"self": url_for("api.import_list", **args),
                  "next": url_for("api.import_list", **{**args, "cursor": str(page.older)})
                  if page.older else None}})


@bp.get("/imports/<int:job_id>")
@doc("imports", response="ImportJobOutput")
def import_get(job_id: int) -> Response:
    """An import: its state, progress, counts and problems.

    Poll it while status is queued, validating, running, revert_queued or
    reverting; stalled says a job in flight lost its process.
    """
    query_args(())
    return job_response(svc.get_job(db(), actor(), job_id))


@bp.post("/imports/<int:job_id>/import")
@doc("imports", body="ImportCheckedInput", response="ImportJobOutput", status=202)
def import_checked(job_id: int) -> Response:
    """Import the file a dry run (status checked) checked, without uploading it again.

    A new job is queued with the dry run's options; skip_bad_rows true leaves
    out the rows it found bad. The body may be left out. Answers 202 with the
    new job, 409 when the job is not a finished dry run, its file is gone, or
    it was imported already (once only, unless that import was refused as
    invalid, having written nothing: the detail names it, links.started_import
    links it).
    """
    query_args(())
    data = load(ImportCheckedInput(), json_body() if request.content_length else {})
    session = db()
    job = svc.import_checked(session, actor(), job_id, skip_bad_rows=data["skip_bad_rows"])
    session.commit()
    jobs.dispatch_import(current_app.extensions["crm"].sessions, job.id)
    return job_response(job, 202)


def _queued(queue: svc.QueueWork, dispatch: jobs.Dispatch, job_id: int) -> Response:
    """Queue background work on a job, start it, and answer 202 with the job."""
    query_args(())
    session = db()
    job = queue(session, actor(), job_id)
    session.commit()
    dispatch(current_app.extensions["crm"].sessions, job_id)
    return job_response(job, 202)


@bp.get("/imports/<int:job_id>/problems.csv")
@doc("imports", media_type="text/csv",
     headers={"Content-Disposition": "attachment; filename=import-ID-problems.csv"})
def import_problems(job_id: int) -> Response:
    """Every problem an import found, as CSV: row (0 for the file as a whole),
    column and problem, in the order found. The job's errors hold the first
    1000 of them."""
    query_args(())
    return problems_download(actor(), job_id)


@bp.post("/imports/<int:job_id>/revert")
@doc("imports", response="ImportJobOutput", status=202)
def import_revert(job_id: int) -> Response:
    """Revert an import in the background: delete the records it created and
    give those it updated their earlier values back.

    Answers 202 with the job (revert_queued); 409 when it cannot be reverted
    now (still running, being reverted, already reverted, or it wrote nothing).
    """
    return _queued(svc.queue_revert, jobs.dispatch_revert, job_id)


@bp.post("/imports/<int:job_id>/resume")
@doc("imports", response="ImportJobOutput", status=202)
def import_resume(job_id: int) -> Response:
    """Continue, in the background, an import that stopped half-way (failed, or
    stalled: its process ended), after its last committed batch.

    An import that stopped while its file was checked wrote nothing: it is
    checked again from the start. Answers 202 with the job (resume_queued, or
    queued); 409 while it is still moving or when it did not stop half-way.
    """
    return _queued(svc.queue_resume, jobs.dispatch_import, job_id)
