"""Leads, contacts and the recycle bin: thin views over crmcore.services.records."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flask import (
    abort,
    current_app,
    flash,
    redirect,
    request,
    url_for,
)
from flask import session as web_session
from sqlalchemy.orm.exc import StaleDataError

from crmcore.app import db
from crmcore.errors import Conflict, CrmError, NotFound, StaleVersion
from crmcore.models import CustomField
from crmcore.models.records import LIFECYCLE_STAGES, OPT_OUT_CHANNELS
from crmcore.responses import csv_download, xlsx_download
from crmcore.schemas.records import input_schema, plugin_field_names
from crmcore.services import actions as action_svc
from crmcore.services import custom_fields as custom_svc
from crmcore.services import records as svc
from crmcore.services import recycle_bin as bin_svc
from crmcore.services import users as user_svc
from crmcore.services.duplicates import find_duplicates, kept_apart, merge_candidates
from crmcore.services.timeline import full_timeline
from crmcore.web import custom_fields as custom_ui
from crmcore.web.common import (
    action_links,
    actor,
    all_stages,
    allowed,
    bp,
    error_messages,
    render,
    split_list,
    users_by_id,
)

LIST_FIELDS = ("emails", "phones", "tags")


@dataclass(frozen=True)
class Ui:
    """What differs between the lead and contact pages."""

    kind: svc.Kind
    name: str  # endpoint stem: "lead" -> web.leads, web.lead, web.lead_edit ...
    plural: str
    text_fields: tuple[tuple[str, str], ...]
    filters: tuple[str, ...]
    sorts: tuple[tuple[str, str], ...]


LEAD_UI = Ui(
    svc.LEADS, "lead", "leads",
    (("full_name", "Full name"), ("company", "Company"), ("login", "Login"),
     ("partner", "Partner"), ("location", "Location"), ("source", "Source")),
    ("q", "stage_id", "owner_id", "source", "tag", "created_after", "created_before", "mine"),
    (("-created_at", "Newest first"), ("created_at", "Oldest first"),
     ("-updated_at", "Recently changed"), ("full_name", "Name A-Z"),
     ("-full_name", "Name Z-A"), ("-score", "Highest score")),
)
CONTACT_UI = Ui(
    svc.CONTACTS, "contact", "contacts",
    (("first_name", "First name"), ("last_name", "Last name"), ("company", "Company"),
     ("street", "Street"), ("city", "City"), ("postal_code", "Postal code"),
     ("country", "Country (ISO code)")),
    ("q", "lifecycle_stage", "owner_id", "company", "postal_code", "tag", "created_after",
     "created_before", "mine"),
    (("-created_at", "Newest first"), ("created_at", "Oldest first"),
     ("-updated_at", "Recently changed"), ("last_name", "Last name A-Z"),
     ("-last_name", "Last name Z-A")),
)
UIS = {"lead": LEAD_UI, "contact": CONTACT_UI}


# -- forms -----------------------------------------------------------------------------


def plugin_fields(ui: Ui) -> list[str]:
    schema = input_schema(current_app.extensions["crm"].hook, ui.kind.record_type)
    return sorted(plugin_field_names(schema, ui.kind.record_type))


def definitions(ui: Ui) -> list[CustomField]:
    return custom_svc.definitions(db(), ui.kind.record_type)


def form_values(ui: Ui, record: Any | None,
                custom: Sequence[CustomField] = ()) -> dict[str, Any]:
    """The form's raw values for a record (or an empty form)."""
    values: dict[str, Any] = custom_ui.record_values(custom, record)
    values.update({name: "" for name, _ in ui.text_fields})
    values.update({name: "" for name in LIST_FIELDS})
    values.update(stage_id="", owner_id="", lifecycle_stage="lead", opt_outs=[], version="")
    for name in plugin_fields(ui):
        values[name] = ""
    if record is None:
        return values
    for name, _ in ui.text_fields:
        values[name] = getattr(record, name) or ""
    for name in LIST_FIELDS:
        values[name] = ", ".join(getattr(record, name) or [])
    values["owner_id"] = record.owner_id or ""
    values["version"] = record.version
    if ui is LEAD_UI:
        values["stage_id"] = record.stage_id
    else:
        values["lifecycle_stage"] = record.lifecycle_stage
        values["opt_outs"] = list(record.opt_outs or [])
    for name in plugin_fields(ui):
        values[name] = (record.plugin_data or {}).get(name, "")
    return values


def submitted_values(ui: Ui, custom: Sequence[CustomField] = ()) -> dict[str, Any]:
    values = form_values(ui, None, custom)
    for name in values:
        if name == "opt_outs":
            values[name] = request.form.getlist("opt_outs")
        else:
            values[name] = request.form.get(name, "")
    return values


def service_data(ui: Ui, values: Mapping[str, Any], record: Any | None,
                 custom: Sequence[CustomField] = ()) -> dict[str, Any]:
    """Turn the form's text into the service's input: comma-separated text becomes
    lists; empty optional fields are left out of a new record."""
    creating = record is None
    data: dict[str, Any] = {}
    for name, _ in ui.text_fields:
        text = str(values.get(name, "")).strip()
        if text or not creating:
            data[name] = text
    for name in LIST_FIELDS:
        data[name] = split_list(values.get(name))
    if ui is LEAD_UI and str(values.get("stage_id", "")).strip():
        data["stage_id"] = str(values["stage_id"]).strip()
    if ui is CONTACT_UI:
        if str(values.get("lifecycle_stage", "")).strip():
            data["lifecycle_stage"] = str(values["lifecycle_stage"]).strip()
        data["opt_outs"] = list(values.get("opt_outs") or [])
    owner = str(values.get("owner_id", "")).strip()
    if owner and allowed("records.reassign") and (creating or owner != str(record.owner_id)):
        data["owner_id"] = owner
    for name in plugin_fields(ui):
        text = str(values.get(name, "")).strip()
        if text or (not creating and (record.plugin_data or {}).get(name) not in (None, "")):
            data[name] = text
    custom_data = custom_ui.service_input(custom, values, record)
    if custom_data is not None:
        data["custom"] = custom_data
    return data


def form_page(ui: Ui, record: Any | None, values: Mapping[str, Any],
              errors: Mapping[str, list[str]] | None = None, message: str | None = None,
              status: int = 200, custom: Sequence[CustomField] = (),
              duplicates: Sequence[Any] = ()) -> Any:
    return render(
        f"web/{ui.name}_form.html", status, ui=ui, record=record, values=values,
        errors=errors or {}, message=message, stages=all_stages(),
        owners=user_svc.possible_owners(db()) if allowed("records.reassign") else {},
        plugin_fields=plugin_fields(ui), lifecycle_stages=LIFECYCLE_STAGES,
        opt_out_channels=OPT_OUT_CHANNELS, custom_fields=custom, duplicates=duplicates,
    )


# -- views shared by leads and contacts ---------------------------------------------------


def list_filters(ui: Ui, custom: Sequence[CustomField]) -> tuple[dict[str, str], str]:
    """The list's filters and sort from the query string; "my records" by default."""
    args = request.args
    keys = [*ui.filters, *custom_ui.filter_keys(custom)]
    filters = {k: args.get(k, "").strip() for k in keys if args.get(k, "").strip()}
    filters.setdefault("mine", "1")
    return filters, args.get("sort", "-created_at")


def list_view(ui: Ui) -> Any:
    session = db()
    args = request.args
    custom = definitions(ui)
    filters, sort = list_filters(ui, custom)
    errors: dict[str, list[str]] = {}
    try:
        page = svc.list_records(session, actor(), ui.kind, filters, sort=sort,
                                cursor=args.get("cursor") or None)
    except CrmError as exc:
        errors = error_messages(exc)
        page = svc.Page([], None)
    pages = {name: url_for(f"web.{ui.plural}", **filters, sort=sort, cursor=cursor)
             for name, cursor in (("next", page.next_cursor), ("prev", page.prev_cursor))
             if cursor}
    if args.get("cursor"):
        pages["first"] = url_for(f"web.{ui.plural}", **filters, sort=sort)
    owner_ids = {r.owner_id for r in page.items}
    people = users_by_id() if allowed("records.view_all") else users_by_id(owner_ids)
    return render(f"web/{ui.plural}.html", 422 if errors else 200, ui=ui, records=page.items,
                  filters=filters, sort=sort, errors=errors, pages=pages,
                  people=people, stages={s.id: s for s in all_stages()},
                  owners=user_svc.possible_owners(db()) if allowed("records.reassign") else {},
                  lifecycle_stages=LIFECYCLE_STAGES, custom_fields=custom,
                  export_url=url_for(f"web.{ui.plural}_export", **filters, sort=sort),
                  semicolon_export_url=url_for(f"web.{ui.plural}_export", **filters, sort=sort,
                                               delimiter="semicolon"),
                  xlsx_export_url=url_for(f"web.{ui.plural}_export_xlsx", **filters, sort=sort))


def export_view(ui: Ui) -> Any:
    """The filtered list as CSV, streamed page by page. People open it in a
    spreadsheet: it starts with a byte order mark (the API's export does not)."""
    filters, sort = list_filters(ui, definitions(ui))
    return csv_download(ui.kind, actor(), filters, sort, f"{ui.plural}.csv",
                        request.args.get("delimiter", "comma"), byte_order_mark=True)


def export_xlsx_view(ui: Ui) -> Any:
    """The filtered list as an Excel workbook."""
    filters, sort = list_filters(ui, definitions(ui))
    return xlsx_download(ui.kind, actor(), filters, sort, f"{ui.plural}.xlsx")


def new_view(ui: Ui) -> Any:
    custom = definitions(ui)
    if request.method != "POST":
        return form_page(ui, None, form_values(ui, None, custom), custom=custom)
    values = submitted_values(ui, custom)
    session = db()
    try:
        data = service_data(ui, values, None, custom)
        if request.form.get("confirm_duplicate") != "1":
            duplicates = find_duplicates(session, actor(), ui.kind, data)
            if duplicates:
                return form_page(ui, None, values, custom=custom, duplicates=duplicates)
        record = svc.create(session, actor(), ui.kind, data)
        session.commit()
    except CrmError as exc:
        session.rollback()
        return form_page(ui, None, values, error_messages(exc), exc.detail, exc.status,
                         custom=custom)
    flash(f"The {ui.name} was created.", "info")
    return redirect(url_for(f"web.{ui.name}", record_id=record.id), 303)


def detail_view(ui: Ui, record_id: int) -> Any:
    session = db()
    user = actor()
    record = svc.get(session, user, ui.kind, record_id)
    entries = full_timeline(session, ui.kind, record)
    user_ids: set[int | None] = {record.owner_id}
    for entry in entries:
        owner_change = (entry.changes or {}).get("owner_id")
        if owner_change:
            user_ids.update(v for v in owner_change if isinstance(v, int))
    actions = action_links(action_svc.record_actions(session, user, ui.kind.record_type, record),
                           record.id)
    next_steps: list[dict[str, str]] = []
    converted = web_session.pop("converted", None) if ui is CONTACT_UI else None
    if isinstance(converted, dict) and converted.get("contact") == record.id:
        lead = session.scalar(svc.visible(session, user, svc.LEADS)
                              .where(svc.LEADS.model.id == converted.get("lead")))
        if lead is not None and lead.converted_contact_id == record.id:
            next_steps = action_links(
                action_svc.conversion_steps(session, user, lead, record.id), record.id)
    candidates = merge_candidates(session, user, ui.kind, record)
    return render(f"web/{ui.name}.html", ui=ui, record=record, entries=entries,
                  people=users_by_id(user_ids), stages={s.id: s for s in all_stages()},
                  plugin_fields=plugin_fields(ui), custom_fields=definitions(ui),
                  custom_display=custom_ui.display, actions=actions, next_steps=next_steps,
                  candidates=candidates, kept_apart=kept_apart(session, user, ui.kind, record))


def edit_view(ui: Ui, record_id: int) -> Any:
    session = db()
    custom = definitions(ui)
    if request.method != "POST":
        record = svc.get(session, actor(), ui.kind, record_id)
        return form_page(ui, record, form_values(ui, record, custom), custom=custom)
    values = submitted_values(ui, custom)
    try:
        record = svc.get(session, actor(), ui.kind, record_id)
    except NotFound:
        return binned_page(ui, record_id, "Nothing was saved.",
                           typed=typed_changes(ui, record_id, values, custom))
    try:
        expected = int(request.form.get("version", ""))
    except ValueError:
        expected = -1
    try:
        data = service_data(ui, values, record, custom)
        if request.form.get("confirm_duplicate") != "1":
            duplicates = find_duplicates(session, actor(), ui.kind, data, record=record)
            if duplicates:
                return form_page(ui, record, values, custom=custom, duplicates=duplicates)
        svc.update(session, actor(), ui.kind, record, data, expected_version=expected)
        session.commit()
    except StaleDataError:
        session.rollback()
        return form_page(ui, record, values, {}, stale_message(ui), 409, custom=custom)
    except CrmError as exc:
        session.rollback()
        message = exc.detail
        if isinstance(exc, StaleVersion):
            message = stale_message(ui)
        return form_page(ui, record, values, error_messages(exc), message, exc.status,
                         custom=custom)
    flash(f"The {ui.name} was saved.", "info")
    return redirect(url_for(f"web.{ui.name}", record_id=record.id), 303)


def stale_message(ui: Ui) -> str:
    # The other change may be the same user's, in another tab.
    return (f"This {ui.name} was changed since you opened it (in another tab, or by "
            "someone else); nothing was saved. Open it again to see the changes, then "
            "redo yours: what you typed is still below.")


def typed_changes(ui: Ui, record_id: int, values: Mapping[str, Any],
                  custom: Sequence[CustomField]) -> list[tuple[str, str]]:
    """``(label, typed text)`` of each field whose submitted value differs from
    what the binned record holds: what the user changed, to re-apply elsewhere."""
    record = svc.get(db(), actor(), ui.kind, record_id, deleted=True)
    stored = form_values(ui, record, custom)
    labels = {**dict(ui.text_fields), "emails": "Emails", "phones": "Phones", "tags": "Tags",
              "stage_id": "Stage", "owner_id": "Owner", "lifecycle_stage": "Lifecycle stage",
              "opt_outs": "Opted out of", **{custom_ui.key(d): d.label for d in custom}}
    changed = [(name, typed) for name, typed in values.items()
               if name != "version" and str(typed) != str(stored.get(name, ""))]
    # Stage and owner arrive as ids: shown by the names the form offered.
    named: dict[str, dict[str, str]] = {
        "stage_id": {str(s.id): s.name for s in all_stages()},
        "owner_id": ({str(u.id): u.name or u.email for u in users_by_id().values()}
                     if any(name == "owner_id" for name, _ in changed) else {}),
    }
    return [(labels.get(name, name), ", ".join(typed) if isinstance(typed, list)
             else named.get(name, {}).get(str(typed), str(typed)))
            for name, typed in changed]


def binned_page(ui: Ui, record_id: int, outcome: str, *,
                typed: Sequence[tuple[str, str]] = (), comment: str | None = None) -> Any:
    """The answer to a form posted for a record that went to the recycle bin
    meanwhile (merged away in another tab, deleted by a colleague): what
    happened, the record it was merged into, and what the user typed, kept.
    A record the user may not see stays a 404."""
    gone = svc.binned_meanwhile(db(), actor(), ui.kind, record_id)
    if gone is None:
        raise NotFound(f"No such {ui.name}.")
    return render("web/binned_meanwhile.html", 409, ui=ui, message=f"{gone.message} {outcome}",
                  survivor_id=gone.survivor_id, typed=typed, comment=comment)


def comment_view(ui: Ui, record_id: int) -> Any:
    session = db()
    body = request.form.get("body", "")
    try:
        record = svc.get(session, actor(), ui.kind, record_id)
    except NotFound:
        return binned_page(ui, record_id, "The comment was not added.", comment=body)
    try:
        svc.comment(session, actor(), ui.kind, record, body)
        session.commit()
        flash("Comment added.", "info")
    except CrmError as exc:
        session.rollback()
        flash("The comment was not added: it is empty or too long.", "error")
        if exc.status == 404:
            raise
    return redirect(url_for(f"web.{ui.name}", record_id=record_id), 303)


def delete_view(ui: Ui, record_id: int) -> Any:
    session = db()
    if not svc.soft_delete(session, actor(), ui.kind, [record_id]):
        raise NotFound(f"No such {ui.name}.")
    session.commit()
    flash(f"The {ui.name} went to the recycle bin.", "info")
    return redirect(url_for(f"web.{ui.plural}"), 303)


def bulk_view(ui: Ui) -> Any:
    session = db()
    try:
        ids = [int(i) for i in request.form.getlist("ids")]
    except ValueError:
        abort(400)
    action = request.form.get("action", "")
    back = redirect(url_for(f"web.{ui.plural}"), 303)
    if not ids:
        flash("Select at least one row.", "error")
        return back
    try:
        if action == "delete":
            count = svc.soft_delete(session, actor(), ui.kind, ids)
        elif action == "assign":
            count = svc.bulk_update(session, actor(), ui.kind, ids,
                                    {"owner_id": int(request.form.get("owner_id", ""))})
        elif action == "stage" and ui is LEAD_UI:
            count = svc.bulk_update(session, actor(), ui.kind, ids,
                                    {"stage_id": int(request.form.get("stage_id", ""))})
        elif action == "tag":
            tags = split_list(request.form.get("tag"))
            if not tags or any(len(t) > 50 for t in tags):
                raise ValueError
            count = svc.bulk_update(session, actor(), ui.kind, ids, {"add_tags": tags})
        else:
            flash("Choose an action.", "error")
            return back
        session.commit()
    except ValueError:
        session.rollback()
        flash("Choose a value for the action.", "error")
        return back
    except CrmError as exc:
        session.rollback()
        details = "; ".join(m for ms in error_messages(exc).values() for m in ms)
        flash(f"{exc.detail} {details}".strip(), "error")
        return back
    flash(f"{count} {ui.plural if count != 1 else ui.name} changed.", "info")
    return back


# -- routes --------------------------------------------------------------------------------


def ui_view(view: Callable[..., Any], ui: Ui, endpoint: str, module: str) -> Callable[..., Any]:
    """``view`` bound to ``ui``, named as a hand-written view function ``endpoint`` in
    ``module`` would be (Flask-Limiter keys its limits by that name)."""

    def bound(**kwargs: Any) -> Any:
        return view(ui, **kwargs)

    bound.__name__ = bound.__qualname__ = endpoint
    bound.__module__ = module
    return bound


def register_routes(ui: Ui) -> None:
    """The same pages for leads and contacts, under the endpoints web.leads, web.lead_new,
    web.leads_export, web.leads_export_xlsx, web.lead, web.lead_edit, web.lead_comment,
    web.lead_delete and web.leads_bulk (web.contacts, web.contact_new ... for contacts)."""
    many, one = f"/{ui.plural}", f"/{ui.plural}/<int:record_id>"
    routes: list[tuple[str, str, Any, list[str]]] = [
        (many, ui.plural, list_view, ["GET"]),
        (f"{many}/new", f"{ui.name}_new", new_view, ["GET", "POST"]),
        (f"{many}/export.csv", f"{ui.plural}_export", export_view, ["GET"]),
        (f"{many}/export.xlsx", f"{ui.plural}_export_xlsx", export_xlsx_view, ["GET"]),
        (one, ui.name, detail_view, ["GET"]),
        (f"{one}/edit", f"{ui.name}_edit", edit_view, ["GET", "POST"]),
        (f"{one}/comment", f"{ui.name}_comment", comment_view, ["POST"]),
        (f"{one}/delete", f"{ui.name}_delete", delete_view, ["POST"]),
        (f"{many}/bulk", f"{ui.plural}_bulk", bulk_view, ["POST"]),
    ]
    for rule, endpoint, view, methods in routes:
        bp.add_url_rule(rule, endpoint, ui_view(view, ui, endpoint, __name__),
                        methods=methods)


register_routes(LEAD_UI)
register_routes(CONTACT_UI)


@bp.post("/leads/<int:record_id>/convert")
def lead_convert(record_id: int) -> Any:
    session = db()
    record = svc.get(session, actor(), svc.LEADS, record_id)
    try:
        contact = svc.convert_lead(session, actor(), record,
                                   request.form.get("lifecycle_stage", "prospect"))
        session.commit()
    except CrmError as exc:
        session.rollback()
        if exc.status == 404:
            raise
        flash(exc.detail, "error")
        return redirect(url_for("web.lead", record_id=record_id), 303)
    flash("The lead was converted to a contact.", "info")
    # The contact page shows the plugins' next steps once, right after converting.
    web_session["converted"] = {"lead": record.id, "contact": contact.id}
    return redirect(url_for("web.contact", record_id=contact.id), 303)


# -- recycle bin -----------------------------------------------------------------------------


@bp.get("/recycle-bin")
def recycle_bin(status: int = 200) -> Any:
    sections = bin_svc.list_bin(db(), actor())
    return render("web/recycle_bin.html", status, sections=list(sections.values()),
                  can_purge=allowed("recycle_bin.purge"))


def _bin_noun(record_type: str) -> str:
    ui = UIS.get(record_type)
    return f"The {ui.name}" if ui else "The record"


@bp.post("/recycle-bin/<record_type>/<int:record_id>/restore")
def recycle_bin_restore(record_type: str, record_id: int) -> Any:
    session = db()
    try:
        bin_svc.restore(session, actor(), record_type, [record_id])  # NotFound: the 404 page
    except Conflict as exc:  # its address was taken meanwhile: said on the bin's page
        session.rollback()
        flash(exc.detail, "error")
        return recycle_bin(exc.status)
    session.commit()
    flash(f"{_bin_noun(record_type)} was restored.", "info")
    return redirect(url_for("web.recycle_bin"), 303)


@bp.post("/recycle-bin/<record_type>/<int:record_id>/purge")
def recycle_bin_purge(record_type: str, record_id: int) -> Any:
    session = db()
    bin_svc.purge(session, actor(), record_type, [record_id])  # Forbidden, NotFound: pages
    session.commit()
    flash(f"{_bin_noun(record_type)} was deleted for good.", "info")
    return redirect(url_for("web.recycle_bin"), 303)
