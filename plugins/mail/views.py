"""The archive's pages, for staff: recent mail, a record's mail, one message
and its attachments. Every read goes through the services, which show only
messages linked to a record the user may see."""

from __future__ import annotations

from typing import Any

from crmcore_plugins.mail import storage
from crmcore_plugins.mail.sanitize import clean_html
from crmcore_plugins.mail.services.reading import (
    attachment_of,
    get_message,
    linked_records,
    messages_for,
    recent_messages,
)
from crmcore_plugins.mail.services.records import KINDS
from flask import Blueprint, Response, render_template, request, send_file
from markupsafe import Markup

from crmcore.errors import NotFound
from crmcore.services.records import get
from crmcore.web.kit import actor, db, render, staff_pages

blueprint = Blueprint("mail", __name__, url_prefix="/mail", template_folder="templates")
staff_pages(blueprint)

# Types a browser may be told as they are; anything else downloads as opaque
# bytes, so that an attachment can never be taken for a page of the CRM.
INERT_TYPES = {"application/pdf", "image/png", "image/jpeg", "image/gif", "image/webp",
               "text/plain", "text/csv"}


@blueprint.errorhandler(NotFound)
def not_found(_exc: NotFound) -> Any:
    # The same page for "does not exist" and "not yours": it reveals nothing.
    page = render_template("web/error.html", status=404, title="Not found",
                           detail="There is nothing here.")
    return page, 404


@blueprint.get("/")
def messages() -> Any:
    address = request.args.get("address", "").strip()[:320]
    found = recent_messages(db(), actor(), address)
    return render("mail/messages.html", messages=found, address=address, record=None)


def _record_messages(record_type: str, record_id: int) -> Any:
    session = db()
    record = get(session, actor(), KINDS[record_type], record_id)
    found = messages_for(session, record_type, record.id)
    return render("mail/messages.html", messages=found, address="", record=record,
                  record_type=record_type)


@blueprint.get("/leads/<int:record_id>")
def lead_messages(record_id: int) -> Any:
    return _record_messages("lead", record_id)


@blueprint.get("/contacts/<int:record_id>")
def contact_messages(record_id: int) -> Any:
    return _record_messages("contact", record_id)


@blueprint.get("/messages/<int:message_id>")
def message(message_id: int) -> Any:
    session = db()
    found = get_message(session, actor(), message_id)
    # Stored HTML was sanitized on import; cleaning again as it is shown means
    # a tightened policy applies to old mail too, and a row changed behind the
    # application's back still cannot inject markup.
    html = Markup(clean_html(found.html_body))  # noqa: S704 - nh3 output
    return render("mail/message.html", message=found, html=html,
                  records=linked_records(session, actor(), found.id))


@blueprint.get("/messages/<int:message_id>/attachments/<int:attachment_id>")
def attachment(message_id: int, attachment_id: int) -> Response:
    session = db()
    found = attachment_of(get_message(session, actor(), message_id),
                          attachment_id)
    path = storage.path_of(storage.root(session), found.sha256)
    if not path.is_file():
        raise NotFound("The file of this attachment is missing.")
    mimetype = found.content_type if found.content_type in INERT_TYPES \
        else "application/octet-stream"
    response = send_file(path, mimetype=mimetype, as_attachment=True,
                         download_name=found.filename, max_age=0)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
    return response
