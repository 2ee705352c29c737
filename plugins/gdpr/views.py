"""The GDPR pages: contact age (touch, anonymize), settings, audit log, and the
anonymize and export pages reached from a lead's or contact's page.

Thin views: parse the form, call one function of :mod:`.services` (which checks
the ``gdpr.manage`` permission), commit or roll back, render.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from crmcore_plugins.gdpr.models import ACTIONS
from crmcore_plugins.gdpr.schemas import RECORD_TYPES, BulkInput, load
from crmcore_plugins.gdpr.services.age import AgePage, age_page, rows_for
from crmcore_plugins.gdpr.services.anonymize import (
    anonymize,
    anonymize_many,
    describe,
    merged_copies,
)
from crmcore_plugins.gdpr.services.audit import AuditPage, audit_page
from crmcore_plugins.gdpr.services.export import export_record, to_json, to_zip
from crmcore_plugins.gdpr.services.records import AlreadyAnonymized
from crmcore_plugins.gdpr.services.settings import get_settings, save_settings
from crmcore_plugins.gdpr.services.touch import touch
from flask import Blueprint, Response, flash, redirect, request, url_for
from sqlalchemy import select
from werkzeug.exceptions import HTTPException

from crmcore.db import utcnow
from crmcore.errors import CrmError, ErasureFailed, ValidationFailed
from crmcore.models import LeadStage
from crmcore.services.users import users_by_id
from crmcore.web.kit import actor, db, error_messages, render, staff_pages

blueprint = Blueprint("gdpr", __name__, url_prefix="/gdpr", template_folder="templates")
staff_pages(blueprint)

PLURALS = {"lead": "leads", "contact": "contacts"}


@blueprint.errorhandler(CrmError)
def crm_error(exc: CrmError) -> Any:
    db().rollback()
    return _error_page(exc.status, exc.title, exc.detail)


@blueprint.errorhandler(HTTPException)
def http_error(exc: HTTPException) -> Any:
    if exc.code in (403, 404):
        return _error_page(exc.code, "", "")
    return exc


def _error_page(status: int, title: str, detail: str) -> Any:
    # The core's wording: "not found" and "not yours" must read the same.
    if status == 404:
        title, detail = "Not found", "There is nothing here."
    elif status == 403:
        title, detail = "Forbidden", "You may not do this."
    return render("web/error.html", status, title=title, detail=detail)


def _flash_error(exc: CrmError) -> None:
    # The bulk form has no fields to mark: say what is wrong in the message.
    details = " ".join(m for ms in error_messages(exc).values() for m in ms)
    flash(details or exc.detail, "error")


def _record_url(record_type: str, record: Any) -> str:
    if record.deleted_at is not None:
        return url_for("web.recycle_bin")
    return url_for(f"web.{record_type}", record_id=record.id)


def _filtered_page(endpoint: str, load: Callable[[], Any], empty: Any
                   ) -> tuple[Any, dict[str, str], dict[str, list[str]], str | None]:
    """A list page filtered by the query string: ``(page, filters, errors, next
    page's URL)``; bad filters give an empty page and per-field errors."""
    errors: dict[str, list[str]] = {}
    try:
        page = load()
    except ValidationFailed as exc:  # raised after the permission check
        errors, page = error_messages(exc), empty
    filters = {k: v for k, v in request.args.items() if k != "cursor" and v.strip()}
    next_url = url_for(endpoint, **filters, cursor=page.next_cursor) \
        if page.next_cursor else None
    return page, filters, errors, next_url


# -- contact age ---------------------------------------------------------------------------


@blueprint.get("/")
def age() -> Any:
    session = db()
    page, filters, errors, next_url = _filtered_page(
        "gdpr.age", lambda: age_page(session, actor(), request.args), AgePage([], None, {}))
    return render("gdpr/age.html", 422 if errors else 200, page=page, filters=filters,
                  errors=errors, next_url=next_url, now=utcnow(),
                  people=users_by_id(session),
                  stages={s.id: s for s in session.scalars(
                      select(LeadStage).order_by(LeadStage.position, LeadStage.id))},
                  record_types=RECORD_TYPES)


@blueprint.post("/bulk")
def age_bulk() -> Any:
    session = db()
    back = redirect(url_for("gdpr.age"), 303)
    try:
        data = load(BulkInput(), {"action": request.form.get("action", ""),
                                  "ids": request.form.getlist("ids"),
                                  "confirm": request.form.get("confirm", "")})
    except ValidationFailed as exc:
        _flash_error(exc)
        return back
    refs = data["ids"]
    try:
        if data["action"] == "touch":
            count = touch(session, actor(), refs)
            session.commit()
            flash(f"{count} record{'s' if count != 1 else ''} touched: "
                  "their retention starts again today.", "info")
            return back
        if not data["confirm"]:
            return render("gdpr/confirm_bulk.html",
                          rows=rows_for(session, actor(), refs), now=utcnow())
        done = anonymize_many(session, actor(), refs)
        session.commit()
    except ErasureFailed as exc:
        session.rollback()
        flash(exc.detail, "error")
        return back
    flash(f"{_records(done.anonymized)} anonymized"
          + (f", and {_records(done.merged)} merged into them." if done.merged else "."), "info")
    return back


def _records(count: int) -> str:
    return f"{count} record{'s' if count != 1 else ''}"


def _merged_note(record_type: str, ids: Sequence[int]) -> str:
    """The sentence that says which merged records went with the one anonymized."""
    if not ids:
        return ""
    numbers = ", ".join(f"#{i}" for i in ids)
    return (f" {len(ids)} {record_type}{'s' if len(ids) != 1 else ''} merged into it "
            f"({numbers}) {'were' if len(ids) != 1 else 'was'} anonymized with it.")


# -- one record: anonymize and export ------------------------------------------------------


def anonymize_page(record_type: str, record_id: int) -> Any:
    session = db()
    if request.method != "POST":
        record, fields = describe(session, actor(), record_type, record_id)
        merged = ([] if record.anonymized_at
                  else merged_copies(session, actor(), record_type, record_id))
        return render("gdpr/anonymize.html", record_type=record_type, record=record,
                      fields=fields, merged=merged)
    try:
        erased = anonymize(session, actor(), record_type, record_id)
        session.commit()
    except AlreadyAnonymized as exc:
        session.rollback()
        flash(exc.detail, "info")
    except ErasureFailed as exc:
        session.rollback()
        flash(exc.detail, "error")
        return redirect(url_for(f"gdpr.{record_type}_anonymize", record_id=record_id), 303)
    else:
        flash(f"The {record_type} was anonymized: {len(erased.fields)} kinds of personal data "
              "were erased in the CRM and its plugins." + _merged_note(record_type, erased.merged),
              "info")
    record, _ = describe(session, actor(), record_type, record_id)
    return redirect(_record_url(record_type, record), 303)


def export_page(record_type: str, record_id: int) -> Any:
    session = db()
    if request.method != "POST":
        record, _ = describe(session, actor(), record_type, record_id)
        return render("gdpr/export.html", record_type=record_type, record=record)
    as_zip = request.form.get("format") == "zip"
    try:
        export = export_record(session, actor(), record_type, record_id)
        body = to_zip(export) if as_zip else to_json(export)
        session.commit()
    except AlreadyAnonymized as exc:
        session.rollback()
        flash(exc.detail, "info")
        record, _ = describe(session, actor(), record_type, record_id)
        return redirect(_record_url(record_type, record), 303)
    name = f"personal-data-{record_type}-{record_id}.{'zip' if as_zip else 'json'}"
    return Response(body, mimetype="application/zip" if as_zip else "application/json",
                    headers={"Content-Disposition": f'attachment; filename="{name}"',
                             "Cache-Control": "no-store"})


def _bind(view: Any, record_type: str, endpoint: str) -> Any:
    def bound(record_id: int) -> Any:
        return view(record_type, record_id)

    bound.__name__ = bound.__qualname__ = endpoint
    return bound


# Endpoints per record type (gdpr.lead_anonymize, gdpr.contact_export, ...): the
# core builds record actions' URLs from the record id alone.
for _type in RECORD_TYPES:
    for _path, _stem, _view in (("anonymize", "anonymize", anonymize_page),
                                ("export", "export", export_page)):
        _endpoint = f"{_type}_{_stem}"
        blueprint.add_url_rule(f"/{PLURALS[_type]}/<int:record_id>/{_path}", _endpoint,
                               _bind(_view, _type, _endpoint), methods=["GET", "POST"])


# -- settings and audit --------------------------------------------------------------------


@blueprint.route("/settings", methods=["GET", "POST"])
def settings() -> Any:
    session = db()
    if request.method != "POST":
        current = get_settings(session, actor())
        return render("gdpr/settings.html", settings=current, errors={}, values=None)
    values = {"erase": request.form.getlist("erase"),
              **{f"retention_{t}": request.form.get(f"retention_{t}", "") for t in RECORD_TYPES}}
    try:
        save_settings(session, actor(), values)
        session.commit()
    except ValidationFailed as exc:
        session.rollback()
        return render("gdpr/settings.html", 422, settings=get_settings(session, actor()),
                      errors=error_messages(exc), values=values)
    flash("The GDPR settings were saved.", "info")
    return redirect(url_for("gdpr.settings"), 303)


@blueprint.get("/audit")
def audit() -> Any:
    session = db()
    page, filters, errors, next_url = _filtered_page(
        "gdpr.audit", lambda: audit_page(session, actor(), request.args),
        AuditPage([], None, {}))
    return render("gdpr/audit.html", 422 if errors else 200, page=page, filters=filters,
                  errors=errors, next_url=next_url, people=users_by_id(session),
                  actions=ACTIONS)
