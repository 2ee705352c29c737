"""Likely duplicates and merging them: a list of the sets of leads (or
contacts) that look like one person, and a side-by-side page where the user
picks, per field, whose value wins; the other record goes to the recycle bin."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import flash, redirect, request, url_for

from crmcore.app import db
from crmcore.db import MAX_INT
from crmcore.errors import CrmError, NotFound
from crmcore.services import merge as merge_svc
from crmcore.services import records as svc
from crmcore.services.custom_fields import definitions
from crmcore.services.duplicates import (
    BY,
    duplicate_sets,
    mark_distinct,
    named_ids,
    unmark_distinct,
)
from crmcore.web.common import actor, all_stages, allowed, bp, error_messages, render, users_by_id
from crmcore.web.records import CONTACT_UI, LEAD_UI, Ui, ui_view

LABELS = {
    "full_name": "Full name", "first_name": "First name", "last_name": "Last name",
    "login": "Login", "emails": "Emails", "phones": "Phones", "company": "Company",
    "partner": "Partner", "location": "Location", "source": "Source", "stage_id": "Stage",
    "owner_id": "Owner", "street": "Street", "city": "City", "postal_code": "Postal code",
    "country": "Country", "lifecycle_stage": "Lifecycle stage",
}


def merge_view(ui: Ui, record_id: int, other_id: int) -> Any:
    session = db()
    user = actor()
    try:
        survivor = svc.get(session, user, ui.kind, record_id)
        other = svc.get(session, user, ui.kind, other_id)
    except NotFound:
        return binned_meanwhile(ui, record_id, other_id)
    if survivor.id == other.id:
        flash(f"Pick another {ui.name} to merge with.", "error")
        return redirect(url_for(f"web.{ui.name}", record_id=record_id), 303)
    fields = merge_svc.MERGEABLE[ui.kind.record_type]
    custom = custom_fields(ui, survivor, other)
    if request.method != "POST":
        # A custom field's value fills the survivor's gap unless picked otherwise.
        return merge_page(ui, survivor, other, {
            **{f: survivor.id for f in fields},
            **{f: survivor.id if f.removeprefix(merge_svc.CUSTOM) in (survivor.custom or {})
               else other.id for f in custom}})
    choices: dict[str, int] = {}
    for field in [*fields, *custom]:
        picked = request.form.get(field, "")
        if picked.isdecimal():
            choices[field] = int(picked)
        elif field in fields:
            choices[field] = survivor.id
    versions = {r.id: int(v) for r in (survivor, other)
                if (v := request.form.get(f"version-{r.id}", "")).isdecimal()}
    try:
        merge_svc.merge(session, user, ui.kind, survivor.id, [other.id], choices, versions)
        session.commit()
    except CrmError as exc:
        session.rollback()
        if exc.status == 404:
            raise
        survivor = svc.get(session, user, ui.kind, record_id)
        other = svc.get(session, user, ui.kind, other_id)
        return merge_page(ui, survivor, other, choices, error_messages(exc), exc.detail,
                          exc.status)
    flash(f"The {ui.plural} were merged; #{other_id} went to the recycle bin.", "info")
    if back_to() is not None:
        return redirect(url_for(f"web.{ui.plural}_duplicates", by=back_to()), 303)
    return redirect(url_for(f"web.{ui.name}", record_id=survivor.id), 303)


def binned_meanwhile(ui: Ui, record_id: int, other_id: int) -> Any:
    """Where to go when one of the two records went to the recycle bin (a
    merge of them done in another tab, or by a colleague): to the other,
    saying so. Otherwise, neither being one the user may see, 404."""
    session, user = db(), actor()
    for gone, kept in ((record_id, other_id), (other_id, record_id)):
        try:
            svc.get(session, user, ui.kind, gone, deleted=True)
            svc.get(session, user, ui.kind, kept)
        except NotFound:
            continue
        flash(f"#{gone} is in the recycle bin already (merged, or deleted, meanwhile); "
              "nothing was merged.", "error")
        return redirect(url_for(f"web.{ui.name}", record_id=kept), 303)
    raise NotFound(f"No such {ui.name}.")


def back_to() -> str | None:
    """The duplicate list the merge was started from (its ``by``), to return
    to once merged; only those lists, so that no link sends the user elsewhere."""
    back = request.values.get("back")
    return back if back in BY else None


def custom_fields(ui: Ui, *records: Any) -> dict[str, str]:
    """``custom.<name>`` and label of each custom field the records hold a
    value of, in the order the fields are defined (a deleted field's values
    last, by name)."""
    held = {name for record in records for name in (record.custom or {})}
    defined = {d.name: d.label for d in definitions(db(), ui.kind.record_type)
               if d.name in held}
    return {f"{merge_svc.CUSTOM}{name}": label
            for name, label in [*defined.items(), *((n, n) for n in sorted(held - {*defined}))]}


def merge_page(ui: Ui, survivor: Any, other: Any, chosen: dict[str, int],
               errors: dict[str, list[str]] | None = None, message: str | None = None,
               status: int = 200) -> Any:
    custom = custom_fields(ui, survivor, other)

    def value(record: Any, field: str) -> Any:
        if field in custom:
            return (record.custom or {}).get(field.removeprefix(merge_svc.CUSTOM))
        return getattr(record, field)

    fields = [*merge_svc.MERGEABLE[ui.kind.record_type], *custom]
    rows = [{"field": f, "label": custom.get(f) or LABELS.get(f) or f.replace("_", " ")
             .capitalize(),
             "values": [value(survivor, f), value(other, f)],
             "same": value(survivor, f) == value(other, f),
             # Without records.reassign, the survivor keeps its owner.
             "locked": f == "owner_id" and not allowed("records.reassign")}
            for f in fields]
    return render("web/merge.html", status, ui=ui, survivor=survivor, other=other, rows=rows,
                  chosen=chosen, errors=errors or {}, message=message, back=back_to(),
                  people=users_by_id({survivor.owner_id, other.owner_id}),
                  stages={s.id: s for s in all_stages()})


@bp.route("/leads/<int:record_id>/merge/<int:other_id>", methods=["GET", "POST"])
def lead_merge(record_id: int, other_id: int) -> Any:
    return merge_view(LEAD_UI, record_id, other_id)


@bp.route("/contacts/<int:record_id>/merge/<int:other_id>", methods=["GET", "POST"])
def contact_merge(record_id: int, other_id: int) -> Any:
    return merge_view(CONTACT_UI, record_id, other_id)


def duplicates_view(ui: Ui) -> Any:
    by = request.args.get("by", "name")
    page = duplicate_sets(db(), actor(), ui.kind, by=by, cursor=request.args.get("cursor"))
    records = [r for item in page.items for r in item.records]
    next_url = url_for(f"web.{ui.plural}_duplicates", by=by, cursor=page.next_cursor) \
        if page.next_cursor else None
    return render("web/duplicates.html", ui=ui, by=by, sets=page.items, next_url=next_url,
                  cursor=request.args.get("cursor", ""),
                  people=users_by_id({r.owner_id for r in records}))


def on_set(ui: Ui, act: Callable[[list[int]], str]) -> Any:
    """Run ``act`` on the form's ids in one transaction, flash what it says
    (or the service's refusal), and go back to the page the form was on: a
    record's, or the duplicate list."""
    record = request.form.get("record", "")
    if record.isdecimal():
        back = redirect(url_for(f"web.{ui.name}", record_id=int(record)), 303)
    else:
        back = redirect(url_for(f"web.{ui.plural}_duplicates", by=back_to() or "name",
                                cursor=request.form.get("cursor") or None), 303)
    try:
        message = act(form_ids())
        db().commit()
    except CrmError as exc:
        db().rollback()
        if exc.status == 404:
            raise
        flash(exc.detail, "error")
        return back
    flash(message, "info")
    return back


def distinct_view(ui: Ui) -> Any:
    def act(ids: list[int]) -> str:
        mark_distinct(db(), actor(), ui.kind, ids)
        return (f"{named_ids(sorted(set(ids)))} are kept apart as different people; the "
                "list leaves them out.")

    return on_set(ui, act)


def merge_set_view(ui: Ui) -> Any:
    """Merge a whole set into its oldest record in one step: its values win,
    the others' emails, phones and tags are kept (the service's rules). A set
    larger than one merge may take goes in steps, the oldest first."""

    def act(ids: list[int]) -> str:
        # With fewer than two ids, the service says what is missing.
        survivor, *others = sorted(set(ids)) or [0]
        now, later = others[:merge_svc.MAX_MERGED], others[merge_svc.MAX_MERGED:]
        merge_svc.merge(db(), actor(), ui.kind, survivor, now, versions=form_versions())
        return (f"{named_ids(now)} merged into #{survivor}; the others went to the "
                "recycle bin."
                + (f" {len(later)} more {'remains' if len(later) == 1 else 'remain'}: "
                   "merge all again." if later else ""))

    return on_set(ui, act)


def form_ids() -> list[int]:
    """The ids the form's ``ids`` field lists, comma-separated; what no record
    can have is left out before ``int()`` sees it."""
    return [int(i) for i in request.form.get("ids", "").split(",")
            if i.isdecimal() and 0 < int(i[:11]) <= MAX_INT]


def form_versions() -> dict[int, int]:
    """The form's ``versions`` field, ``id:version`` pairs comma-separated:
    what the page showed of each record, for the merge to check."""
    pairs = (item.partition(":") for item in request.form.get("versions", "").split(","))
    return {int(i): int(v) for i, _, v in pairs
            if i.isdecimal() and v.isdecimal() and len(i) <= 10 and len(v) <= 10}


def undistinct_view(ui: Ui, record_id: int, other_id: int) -> Any:
    unmark_distinct(db(), actor(), ui.kind, record_id, other_id)
    db().commit()
    flash(f"#{record_id} and #{other_id} may be duplicates again.", "info")
    return redirect(url_for(f"web.{ui.name}", record_id=record_id), 303)


def register_routes(ui: Ui) -> None:
    """The duplicate pages of leads or contacts: web.leads_duplicates,
    web.leads_distinct, web.leads_merge_set and web.lead_undistinct
    (web.contacts_duplicates ...)."""
    many, one = f"/{ui.plural}", f"/{ui.plural}/<int:record_id>"
    routes: list[tuple[str, str, Any, list[str]]] = [
        (f"{many}/duplicates", f"{ui.plural}_duplicates", duplicates_view, ["GET"]),
        (f"{many}/duplicates/distinct", f"{ui.plural}_distinct", distinct_view, ["POST"]),
        (f"{many}/duplicates/merge", f"{ui.plural}_merge_set", merge_set_view, ["POST"]),
        (f"{one}/distinct/<int:other_id>/undo", f"{ui.name}_undistinct", undistinct_view,
         ["POST"]),
    ]
    for rule, endpoint, view, methods in routes:
        bp.add_url_rule(rule, endpoint, ui_view(view, ui, endpoint, __name__),
                        methods=methods)


register_routes(LEAD_UI)
register_routes(CONTACT_UI)
