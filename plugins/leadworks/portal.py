"""The advertisers' portal: their leads with stages, the lead form, CSV
uploads, and the public page where an invited user sets a password.

Thin views over :mod:`crmcore_plugins.leadworks.services`; every page is
scoped to the signed-in user's own company.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from uuid import uuid4

from crmcore_plugins.leadworks.models import Advertiser
from crmcore_plugins.leadworks.services import (
    access,
    email_history,
    fields,
    intake,
    submissions,
    uploads,
)
from crmcore_plugins.leadworks.services.intake import Submitter
from flask import Blueprint, current_app, flash, g, redirect, request, url_for
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

import crmcore.services.imports as imports
from crmcore import jobs
from crmcore.errors import CrmError, Forbidden
from crmcore.web.kit import (
    UploadProblem,
    actor,
    db,
    error_messages,
    portal_pages,
    render,
    save_upload,
    split_list,
)

blueprint = Blueprint("leadworks", __name__, url_prefix="/leadworks",
                      template_folder="templates")
portal_pages(blueprint, "advertiser", public={"invitation"})

TEXT_FIELDS = (("full_name", "Full name"), ("company", "Company"), ("login", "Login"),
               ("partner", "Partner"), ("location", "Location"))
LIST_FIELDS = (("emails", "Emails", "Separate several with commas; the first is the main one."),
               ("phones", "Phones", "Separate several with commas."))
TRUE_TEXTS = ("true", "1", "yes", "on")
DEFAULT_UPLOAD_MAX = 25 * 1024 * 1024
ACTIVE = ("queued", "validating", "running")


def upload_limit() -> int:
    return int(current_app.config.get("LEADWORKS_UPLOAD_MAX_BYTES", DEFAULT_UPLOAD_MAX))


@blueprint.before_request
def load_advertiser() -> Any:
    if request.endpoint == "leadworks.invitation":
        return None
    try:
        g.advertiser = access.advertiser_of(db(), actor())
    except Forbidden as exc:
        return render("web/error.html", 403, title="Account deactivated", detail=exc.detail)
    return None


def advertiser() -> Advertiser:
    return g.advertiser  # type: ignore[no-any-return]


@blueprint.errorhandler(CrmError)
def crm_error(exc: CrmError) -> Any:
    db().rollback()
    return render("web/error.html", exc.status, title=exc.title, detail=exc.detail)


@blueprint.errorhandler(RequestEntityTooLarge)
def too_large(_exc: RequestEntityTooLarge) -> Any:
    limit = upload_limit() // (1024 * 1024)
    return render("web/error.html", 413, title="Upload too large",
                  detail=f"Uploads may be at most {limit} MB together; split them.")


@blueprint.errorhandler(HTTPException)
def http_error(exc: HTTPException) -> Any:
    return render("web/error.html", exc.code or 500, title=exc.name,
                  detail=exc.description or "")


# -- the list ------------------------------------------------------------------------------


@blueprint.get("/")
def home() -> Any:
    session = db()
    rows = submissions.own_submissions(session, advertiser().id, limit=200)
    return render("leadworks/portal_home.html", advertiser=advertiser(), rows=rows,
                  uploads=uploads.own_uploads(session, advertiser()))


# -- the lead form -------------------------------------------------------------------------


def blank_values(custom: list[Any]) -> dict[str, str]:
    names = [n for n, _ in TEXT_FIELDS] + [n for n, _, _ in LIST_FIELDS] + ["campaign"]
    return {**dict.fromkeys(names, ""), **{f"custom.{d.name}": "" for d in custom}}


def form_data(values: dict[str, str], custom: list[Any]) -> dict[str, Any]:
    """The form's text as the lead schema's input, as the CRM's own form does:
    empty text fields are left out, comma-separated text becomes lists."""
    data: dict[str, Any] = {}
    for name, _ in TEXT_FIELDS:
        if values[name].strip():
            data[name] = values[name].strip()
    for name, _, _ in LIST_FIELDS:
        data[name] = split_list(values[name])
    extra: dict[str, Any] = {}
    for d in custom:
        text = values[f"custom.{d.name}"].strip()
        if d.field_type == "boolean":
            if text.lower() in TRUE_TEXTS:
                extra[d.name] = "true"
            elif d.required:
                extra[d.name] = "false"
        elif text:
            extra[d.name] = text
    if custom:
        data["custom"] = extra
    return data


def form_page(values: dict[str, str], custom: list[Any], errors: dict[str, list[str]] | None
              = None, message: str | None = None, status: int = 200) -> Any:
    return render("leadworks/portal_lead_form.html", status, values=values,
                  errors=errors or {}, message=message, text_fields=TEXT_FIELDS,
                  list_fields=LIST_FIELDS, custom_fields=custom)


def uploaded_messages() -> list[tuple[str, bytes]]:
    files: list[FileStorage] = request.files.getlist("messages")
    return [(f.filename or "upload", f.read()) for f in files if f and f.filename]


@blueprint.route("/leads/new", methods=["GET", "POST"])
def new_lead() -> Any:
    session = db()
    custom = fields.custom_fields(session)
    values = blank_values(custom)
    if request.method != "POST":
        return form_page(values, custom)
    request.max_content_length = upload_limit()
    values = {name: request.form.get(name, "") for name in values}
    who = Submitter.portal(advertiser(), actor(), "form")
    try:
        raws = email_history.read_uploads(session, uploaded_messages())
        created = intake.submit_lead(session, who, values["campaign"],
                                     form_data(values, custom), raws)
        lead_id = created.lead.id
        session.commit()
    except intake.Duplicate as exc:
        session.rollback()
        intake.record_refusal(session, who, values["campaign"].strip())
        session.commit()
        return form_page(values, custom, error_messages(exc), exc.detail, exc.status)
    except CrmError as exc:
        session.rollback()
        return form_page(values, custom, error_messages(exc), exc.detail, exc.status)
    flash(f"Lead #{lead_id} was handed over.", "info")
    return redirect(url_for("leadworks.home"), 303)


# -- CSV uploads ---------------------------------------------------------------------------


def store_csv(upload: FileStorage | None) -> tuple[Path, str]:
    """Save the upload under a random name in the core import's folder, so
    that the core's clean-up of old uploads covers it too."""
    target = imports.uploads_dir(Path(current_app.instance_path)) / f"{uuid4().hex}.csv"
    filename = save_upload(upload, target, upload_limit())
    return target, filename


def upload_page(form: dict[str, Any], message: str | None = None,
                report: imports.Report | None = None, status: int = 200) -> Any:
    return render("leadworks/portal_upload.html", status, form=form, message=message,
                  report=report, errors=report.errors if report else [],
                  encodings=imports.ENCODINGS, fields=fields.import_fields(db()),
                  limit=upload_limit() // (1024 * 1024))


@blueprint.route("/upload", methods=["GET", "POST"])
def upload() -> Any:
    form = {"campaign": "", "encoding": "utf-8-sig", "sheet": "", "all_or_nothing": False}
    if request.method != "POST":
        return upload_page(form)
    request.max_content_length = upload_limit()
    form = {"campaign": request.form.get("campaign", ""),
            "encoding": request.form.get("encoding", "utf-8-sig"),
            "sheet": request.form.get("sheet", "").strip(),
            "all_or_nothing": request.form.get("all_or_nothing") == "1"}
    if form["encoding"] not in dict(imports.ENCODINGS):
        form["encoding"] = "utf-8-sig"
    try:
        path, filename = store_csv(request.files.get("file"))
    except UploadProblem as exc:
        return upload_page(form, str(exc), status=exc.status)
    who = Submitter.portal(advertiser(), actor(), "csv")
    # The request's transaction ends before the file is read: the service
    # reads, then writes in a transaction of its own.
    db().commit()
    sessions = current_app.extensions["crm"].sessions
    try:
        checked = uploads.upload_csv(sessions, who, form["campaign"], path, filename,
                                     form["all_or_nothing"], form["encoding"],
                                     form["sheet"] or None)
    except CrmError as exc:
        path.unlink(missing_ok=True)
        details = [m for messages in error_messages(exc).values() for m in messages]
        message = " ".join(dict.fromkeys([exc.detail, *details]))
        return upload_page(form, message, status=422)
    if checked.upload is None:
        path.unlink(missing_ok=True)
        message = ("Nothing was imported: you asked for all or nothing, and some rows have "
                   "problems." if form["all_or_nothing"] and checked.report.error_count
                   else "Nothing to import: no row can be created.")
        return upload_page(form, message, checked.report, 422)
    upload_id = checked.upload.id
    jobs.dispatch_import(sessions, checked.upload.job_id)
    flash(f"Upload #{upload_id} accepted: {checked.report.to_create} lead(s) to create"
          + (f", {checked.report.error_count} row(s) left out." if checked.report.error_count
             else "."), "info")
    return redirect(url_for("leadworks.upload_job", upload_id=upload_id), 303)


@blueprint.get("/uploads/<int:upload_id>")
def upload_job(upload_id: int) -> Any:
    upload, job = uploads.own_upload(db(), advertiser(), upload_id)
    return render("leadworks/portal_upload_job.html", upload=upload, job=job,
                  active=job.status in ACTIVE,
                  errors=job.errors or [])


# -- invitations (public) ------------------------------------------------------------------


@blueprint.route("/invitation/<token>", methods=["GET", "POST"])
def invitation(token: str) -> Any:
    session = db()
    found = access.open_invitation(session, token)  # 404 page when unknown or spent
    if request.method != "POST":
        return render("leadworks/invitation.html", invitation=found, errors={})
    try:
        access.accept_invitation(session, token, request.form.get("password", "")[:1024],
                                 request.form.get("confirm", "")[:1024])
        session.commit()
    except CrmError as exc:
        session.rollback()
        return render("leadworks/invitation.html", exc.status, invitation=found,
                      errors=error_messages(exc), message=exc.detail)
    flash("Your password is set. Sign in with your email and password.", "info")
    return redirect(url_for("web.login"), 303)
