"""Leads and contacts: list, export, create, read, change, delete, timeline,
comments, bulk actions, merging duplicates, and converting a lead into a contact."""

from __future__ import annotations

import logging
from typing import Any

from flask import Response, url_for
from marshmallow import Schema, ValidationError, fields, validate
from werkzeug.routing import BuildError

from crmcore.api.blueprint import (
    CURSOR,
    PAGE_SIZE,
    Param,
    actor,
    bp,
    check_if_match,
    doc,
    empty,
    etag_of,
    int_arg,
    json_body,
    json_response,
    one_of,
    query_args,
    whole,
)
from crmcore.api.schemas import (
    BULK_ACTIONS,
    BulkInput,
    ContactOutput,
    ConvertInput,
    DistinctInput,
    LeadOutput,
    MergeInput,
    TimelineOutput,
    TimelineRow,
)
from crmcore.app import db
from crmcore.errors import NotFound, ValidationFailed
from crmcore.models.records import LIFECYCLE_STAGES
from crmcore.responses import csv_download, xlsx_download
from crmcore.schemas.base import Id, load
from crmcore.schemas.records import CommentInput
from crmcore.services import records as svc
from crmcore.services.actions import conversion_steps
from crmcore.services.cells import DELIMITERS
from crmcore.services.duplicates import (
    BY,
    duplicate_sets,
    kept_apart,
    mark_distinct,
    merge_candidates,
    unmark_distinct,
)
from crmcore.services.merge import merge
from crmcore.services.records import CONTACTS, FILTERABLE, LEADS, SORTABLE, Kind
from crmcore.services.timeline import full_timeline
from crmcore.services.workbooks import MEDIA_TYPE

log = logging.getLogger("crmcore.api")

OUTPUTS: dict[str, type[Schema]] = {"lead": LeadOutput, "contact": ContactOutput}
PLURALS = {"lead": "leads", "contact": "contacts"}


# Built once: a schema's dump keeps no state between calls, and building one
# per request costs a tenth of a list request.
ONE = {record_type: schema() for record_type, schema in OUTPUTS.items()}
MANY = {record_type: schema(many=True) for record_type, schema in OUTPUTS.items()}


def dump(kind: Kind, record: Any) -> dict[str, Any]:
    return ONE[kind.record_type].dump(record)  # type: ignore[no-any-return]


def dump_many(kind: Kind, records: list[Any]) -> list[dict[str, Any]]:
    return MANY[kind.record_type].dump(records)  # type: ignore[no-any-return]


def record_response(kind: Kind, record: Any, status: int = 200) -> Response:
    location = None
    if status == 201:
        location = url_for(f"api.{kind.record_type}_get", record_id=record.id)
    return json_response(dump(kind, record), status, etag=etag_of(record), location=location)


def page_links(next_cursor: str | None, args: dict[str, str], endpoint: str, *,
               prev_cursor: str | None = None, paged_back: bool = False,
               **view_args: Any) -> dict[str, str | None]:
    """A page's links; ``paged_back`` adds ``prev``, for lists whose cursors
    also lead back."""
    def at(cursor: str | None) -> str | None:
        return url_for(endpoint, **view_args, **{**args, "cursor": cursor}) if cursor else None

    links = {"self": url_for(endpoint, **view_args, **args), "next": at(next_cursor)}
    if paged_back:
        links["prev"] = at(prev_cursor)
    return links


# Filters on custom fields: ``custom.<name>``; the service refuses unknown names.
CUSTOM_PREFIX = ("custom.",)


def list_filters(kind: Kind, args: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in args.items()
            if k in FILTERABLE[kind.record_type] or k.startswith(CUSTOM_PREFIX)}


def csv_response(kind: Kind, filters: dict[str, str], sort: str,
                 delimiter: str = "comma") -> Response:
    """A streamed CSV export; see :func:`crmcore.responses.csv_download`."""
    return csv_download(kind, actor(), filters, sort, f"{PLURALS[kind.record_type]}.csv",
                        delimiter)


_TAG_VALUES = fields.List(fields.String(validate=validate.Length(min=1, max=50)),
                          validate=validate.Length(min=1, max=50))


def bulk_change(kind: Kind, action: str, value: Any) -> dict[str, Any]:
    """The change a bulk action makes, in the terms of ``svc.bulk_update``."""
    try:
        if action == "assign":
            owner = None if value is None else Id(strict=True).deserialize(value)
            return {"owner_id": owner}
        if action == "stage":
            return {"stage_id": Id(strict=True).deserialize(value)}
        tags = [value] if isinstance(value, str) else value
        return {"add_tags": _TAG_VALUES.deserialize(tags)}
    except ValidationError as exc:
        raise ValidationFailed("The value does not suit the action.",
                               {"value": exc.messages}) from None


# The list filters (services.records.FILTERABLE) as the OpenAPI document gives them.
FILTERS: dict[str, str | Param] = {
    "owner_id": whole("Records this user owns (the user's id)."),
    "stage_id": whole("Leads at this stage (the stage's id)."),
    "source": "Leads whose source is exactly this.",
    "company": "Records whose company is exactly this.",
    "lifecycle_stage": one_of("Contacts at this lifecycle stage.", LIFECYCLE_STAGES),
    "postal_code": "Contacts whose postal code is exactly this.",
    "tag": "Records with this tag.",
    "created_after": "Records created at or after this moment: a date (YYYY-MM-DD) or an "
                     "ISO 8601 date and time.",
    "created_before": "Records created before this moment: a date (YYYY-MM-DD) or an "
                      "ISO 8601 date and time.",
    "q": "Records whose name or last name (whatever its case and accents), key email or "
         "first phone starts with this.",
    "mine": Param("true: only the records you own.", {"type": "boolean"}),
}


def register(kind: Kind) -> None:
    """Add the endpoints of one kind of record to the blueprint."""
    rt = kind.record_type
    plural = PLURALS[rt]
    title = rt.capitalize()
    base = f"/{plural}"
    item = f"/{plural}/<int:record_id>"
    list_query: dict[str, str | Param] = {name: FILTERS[name] for name in FILTERABLE[rt]}
    list_query.update({
        "sort": one_of(f"One of {', '.join(SORTABLE[rt])}; a leading - sorts descending "
                       "(-created_at). Names sort whatever their case and accents.",
                       [*SORTABLE[rt], *(f"-{name}" for name in SORTABLE[rt])]),
        "cursor": CURSOR,
        "limit": PAGE_SIZE,
    })

    export_query = {k: v for k, v in list_query.items() if k not in ("cursor", "limit")}
    export_query["delimiter"] = one_of(
        "comma (the default), semicolon (for spreadsheets where the decimal mark is a "
        "comma) or tab.", DELIMITERS)

    @doc(plural, response=f"{title}Page", query=list_query)
    def list_view() -> Response:
        args = query_args(set(FILTERABLE[rt]) | {"sort", "cursor", "limit"}, CUSTOM_PREFIX)
        filters = list_filters(kind, args)
        limit = int_arg(args, "limit", 50)
        page = svc.list_records(db(), actor(), kind, filters, sort=args.get("sort", "-created_at"),
                                cursor=args.get("cursor") or None, limit=limit)
        return json_response({"items": dump_many(kind, page.items),
                              "links": page_links(page.next_cursor, args, f"api.{rt}_list",
                                                  prev_cursor=page.prev_cursor,
                                                  paged_back=True)})

    @doc(plural, query=export_query, media_type="text/csv",
         headers={"Content-Disposition": f"attachment; filename={plural}.csv"})
    def export_view() -> Response:
        args = query_args(set(FILTERABLE[rt]) | {"sort", "delimiter"}, CUSTOM_PREFIX)
        return csv_response(kind, list_filters(kind, args), args.get("sort", "-created_at"),
                            args.get("delimiter", "comma"))

    @doc(plural, query={k: v for k, v in export_query.items() if k != "delimiter"},
         media_type=MEDIA_TYPE,
         headers={"Content-Disposition": f"attachment; filename={plural}.xlsx"})
    def export_xlsx_view() -> Response:
        args = query_args(set(FILTERABLE[rt]) | {"sort"}, CUSTOM_PREFIX)
        return xlsx_download(kind, actor(), list_filters(kind, args),
                             args.get("sort", "-created_at"), f"{plural}.xlsx")

    @doc(plural, body=f"{title}Input", response=f"{title}Output", status=201,
         headers={"Location": f"The new {rt}.", "ETag": "Its version."})
    def create_view() -> Response:
        session = db()
        record = svc.create(session, actor(), kind, json_body())
        session.commit()
        return record_response(kind, record, 201)

    @doc(plural, response=f"{title}Output", headers={"ETag": "The version, for If-Match."})
    def get_view(record_id: int) -> Response:
        query_args(())
        return record_response(kind, svc.get(db(), actor(), kind, record_id))

    @doc(plural, body=f"{title}Input", response=f"{title}Output",
         headers={"ETag": "The new version."})
    def update_view(record_id: int) -> Response:
        session = db()
        record = svc.get(session, actor(), kind, record_id)
        check_if_match(record)
        svc.update(session, actor(), kind, record, json_body())
        session.commit()
        return record_response(kind, record)

    @doc(plural, status=204)
    def delete_view(record_id: int) -> Response:
        session = db()
        if not svc.soft_delete(session, actor(), kind, [record_id]):
            raise NotFound(f"No such {rt}.")
        session.commit()
        return empty()

    @doc(plural, response="TimelinePage", query={
        "limit": whole("How many entries, newest first, 1 to 1000 (200).", high=1000,
                       default=200)})
    def timeline_view(record_id: int) -> Response:
        args = query_args({"limit"})
        session = db()
        record = svc.get(session, actor(), kind, record_id)
        rows = full_timeline(session, kind, record, limit=int_arg(args, "limit", 200, high=1000))
        return json_response({"items": TimelineRow(many=True).dump(rows)})

    @doc(plural, body="CommentInput", response="TimelineOutput", status=201)
    def comment_view(record_id: int) -> Response:
        session = db()
        record = svc.get(session, actor(), kind, record_id)
        body = load(CommentInput(), json_body())["body"]
        entry = svc.comment(session, actor(), kind, record, body)
        session.commit()
        return json_response(TimelineOutput().dump(entry), 201)

    @doc(plural, body="BulkInput", response="BulkResult")
    def bulk_view() -> Response:
        session = db()
        data = load(BulkInput(), json_body())
        action = data["action"]
        if action not in BULK_ACTIONS[rt]:
            raise ValidationFailed("Unknown action.", {"action": [
                f"Must be one of: {', '.join(BULK_ACTIONS[rt])}."]})
        if action == "delete":
            if data.get("value") is not None:
                raise ValidationFailed("Delete takes no value.", {"value": ["Leave it out."]})
            changed = svc.soft_delete(session, actor(), kind, data["ids"])
        else:
            change = bulk_change(kind, action, data.get("value"))
            changed = svc.bulk_update(session, actor(), kind, data["ids"], change)
        session.commit()
        return json_response({"changed": changed})

    @doc(plural, body="MergeInput", response=f"{title}Output",
         headers={"ETag": "The survivor's new version."})
    def merge_view(record_id: int) -> Response:
        session = db()
        data = load(MergeInput(), json_body())
        survivor = merge(session, actor(), kind, record_id, data["other_ids"], data["choices"],
                         {int(i): v for i, v in data["versions"].items()})
        session.commit()
        return record_response(kind, survivor)

    @doc(plural, response=f"{title}CandidateList")
    def duplicates_view(record_id: int) -> Response:
        query_args(())
        session = db()
        record = svc.get(session, actor(), kind, record_id)
        candidates = merge_candidates(session, actor(), kind, record)
        return json_response({"items": [
            {**item, "matched": {"phones": list(candidate.phones),
                                 "emails": list(candidate.emails),
                                 "similar_name": candidate.alike}}
            for item, candidate in zip(dump_many(kind, [c.record for c in candidates]),
                                       candidates, strict=True)]})

    @doc(plural, response=f"{title}DuplicatePage", query={
        "by": one_of(f"{', '.join(BY)}: sets of similar names and companies (the default), "
                     "or of records holding one phone or one address, first or not.", BY),
        "cursor": CURSOR,
        "limit": whole("How many sets, 1 to 100 (20); a page holds every set of its last "
                       "name's sound, phone or address.", high=100, default=20)})
    def duplicate_sets_view() -> Response:
        args = query_args({"by", "cursor", "limit"})
        page = duplicate_sets(db(), actor(), kind, by=args.get("by", "name"),
                              cursor=args.get("cursor") or None,
                              limit=int_arg(args, "limit", 20, high=100))
        items = [{"by": s.by, "shared": s.shared, "total": s.total, "ids": s.ids,
                  "records": dump_many(kind, s.records)} for s in page.items]
        return json_response({"items": items, "links": page_links(
            page.next_cursor, args, f"api.{plural}_duplicate_sets")})

    @doc(plural, body="DistinctInput", response="DistinctResult")
    def distinct_view() -> Response:
        session = db()
        marked = mark_distinct(session, actor(), kind, load(DistinctInput(), json_body())["ids"])
        session.commit()
        return json_response({"marked": marked})

    @doc(plural, response=f"{title}List")
    def kept_apart_view(record_id: int) -> Response:
        query_args(())
        session = db()
        record = svc.get(session, actor(), kind, record_id)
        return json_response({"items": dump_many(
            kind, kept_apart(session, actor(), kind, record))})

    @doc(plural, status=204)
    def undistinct_view(record_id: int, other_id: int) -> Response:
        session = db()
        unmark_distinct(session, actor(), kind, record_id, other_id)
        session.commit()
        return empty()

    for view in (list_view, export_view, export_xlsx_view, create_view, get_view, update_view,
                 delete_view, timeline_view, comment_view, bulk_view, merge_view,
                 duplicates_view, duplicate_sets_view, distinct_view, kept_apart_view,
                 undistinct_view):
        view.__doc__ = VIEW_DOCS[view.__name__].format(rt=rt, plural=plural)
    bp.add_url_rule(base, f"{rt}_list", list_view, methods=["GET"])
    bp.add_url_rule(base, f"{rt}_create", create_view, methods=["POST"])
    bp.add_url_rule(f"{base}/export.csv", f"{rt}_export", export_view, methods=["GET"])
    bp.add_url_rule(f"{base}/export.xlsx", f"{rt}_export_xlsx", export_xlsx_view,
                    methods=["GET"])
    bp.add_url_rule(f"{base}/bulk", f"{rt}_bulk", bulk_view, methods=["POST"])
    bp.add_url_rule(f"{base}/duplicates", f"{plural}_duplicate_sets", duplicate_sets_view,
                    methods=["GET"])
    bp.add_url_rule(f"{base}/duplicates/distinct", f"{plural}_distinct", distinct_view,
                    methods=["POST"])
    bp.add_url_rule(item, f"{rt}_get", get_view, methods=["GET"])
    bp.add_url_rule(item, f"{rt}_update", update_view, methods=["PATCH"])
    bp.add_url_rule(item, f"{rt}_delete", delete_view, methods=["DELETE"])
    bp.add_url_rule(f"{item}/timeline", f"{rt}_timeline", timeline_view, methods=["GET"])
    bp.add_url_rule(f"{item}/comments", f"{rt}_comment", comment_view, methods=["POST"])
    bp.add_url_rule(f"{item}/merge", f"{rt}_merge", merge_view, methods=["POST"])
    bp.add_url_rule(f"{item}/duplicates", f"{rt}_duplicates", duplicates_view, methods=["GET"])
    bp.add_url_rule(f"{item}/distinct", f"{rt}_kept_apart", kept_apart_view, methods=["GET"])
    bp.add_url_rule(f"{item}/distinct/<int:other_id>", f"{rt}_undistinct", undistinct_view,
                    methods=["DELETE"])


VIEW_DOCS = {
    "list_view": "List {plural}.\n\nThe {plural} you may see, one keyset-paginated page at a "
                 "time; follow links.next until it is null, and links.prev back. Filter on a "
                 "custom field with custom.<name>=<value> (see GET /api/v1/custom-fields).",
    "duplicate_sets_view": "List likely duplicates among the {plural}.\n\nSets of live "
                           "{plural} you may see that look like one person: similar names "
                           "(sounding alike and a letter apart at most, in any order, "
                           "whatever their case, accents, titles and initials) and similar "
                           "companies (whatever their legal form and but for a letter, an "
                           "empty one included), or one phone or one address held by "
                           "all, whichever of theirs it is; the rules of the create form's "
                           "warning. Each {rt} of a set is alike to every other by these "
                           "rules (likeness does not chain: \"Kappa Tools\" and \"Kappa "
                           "Pills\" are in no set together through \"Kappa Pools\" and "
                           "\"Kappa Polls\"), and none was said to be a different person "
                           "than another; a {rt} is in one set at most, with the oldest "
                           "it fits. Merge a set with POST "
                           "/api/v1/{plural}/{{record_id}}/merge.",
    "distinct_view": "Say that {plural} are not duplicates.\n\nThe {plural} named "
                     "(two or more, all of which you may see) are different people: the "
                     "duplicate list never puts two of them in one set (a third {rt} alike "
                     "to both makes a set with one of them). Each one's timeline says so.",
    "kept_apart_view": "List the {plural} a {rt} is kept apart from.\n\nThose said to "
                       "be different people (POST /api/v1/{plural}/duplicates/distinct), "
                       "which neither its duplicates nor the duplicate list offer.",
    "undistinct_view": "Take back that two {plural} are different people.\n\nThey may be "
                       "offered as duplicates again; both timelines say so.",
    "export_view": "Export {plural} as CSV.\n\nEvery {rt} you may see that matches the "
                   "filters (the list's, custom.<name> included), sorted like the list, "
                   "with a column per custom field, streamed as one text/csv attachment. "
                   "Cells a spreadsheet would take for a formula start with an apostrophe.",
    "export_xlsx_view": "Export {plural} as an Excel workbook.\n\nWhat the CSV export "
                        "holds, as one sheet: numbers as numbers, everything else as text, "
                        "never a formula (cells that look like one carry Excel's quote "
                        "prefix). The workbook is written whole before it is sent; a list "
                        "longer than a worksheet (1,048,575 rows) answers 422.",
    "create_view": "Create a {rt}.\n\nYou own it unless you may reassign and set owner_id.",
    "get_view": "Read a {rt}.\n\nA {rt} you may not see answers 404, like a missing one.",
    "update_view": "Change a {rt}.\n\nSend only the fields to change, with If-Match set to the "
                   "ETag you read: 428 without it, 412 when someone saved in between.",
    "delete_view": "Delete a {rt}.\n\nMoves it to the recycle bin, whence it can be restored.",
    "timeline_view": "The timeline of a {rt}.\n\nChanges, comments and plugin entries, "
                     "newest first.",
    "comment_view": "Comment on a {rt}.",
    "merge_view": "Merge duplicates into a {rt}.\n\nThis {rt} survives: choices name, per "
                  "field, the merged record whose value wins; emails, phones, tags (and a "
                  "contact's opt-outs) are joined, timelines move here, and the others go "
                  "to the recycle bin. A record you may not see answers 404; a bad choice, "
                  "or joined lists longer than a record holds, 422; a record changed since "
                  "the versions given, or an anonymized one, 409.",
    "duplicates_view": "Likely duplicates of a {rt}.\n\nThe {plural} you may see holding "
                       "one of its phones or addresses (any of theirs), or with a similar "
                       "name (\"Jon Smith\" is \"Smith, John\", \"Bob\" is \"Robert\") "
                       "and a similar company (\"Acme Fibre\" is \"ACME Fiber, Inc.\"): "
                       "candidates to merge, but those it is kept apart from; matched says "
                       "why each is there.",
    "bulk_view": "Change many {plural} at once.\n\nActions: assign (value: a user id or null), "
                 "stage (leads; value: a stage id), tag (value: tags to add), delete. Records "
                 "you may not see are skipped; changed counts the rest.",
}


register(LEADS)
register(CONTACTS)


@bp.post("/leads/<int:record_id>/convert")
@doc("leads", body="ConvertInput", response="ConvertResult", status=201,
     headers={"Location": "The new contact.", "ETag": "Its version."})
def lead_convert(record_id: int) -> Response:
    """Convert a lead into a contact.

    The lead stays as history, linked to the new contact, whose timeline starts
    with a copy of the lead's. next_steps lists what enabled plugins offer to do
    next with the contact.
    """
    session = db()
    lead = svc.get(session, actor(), LEADS, record_id)
    data = load(ConvertInput(), json_body())
    contact = svc.convert_lead(session, actor(), lead, data["lifecycle_stage"])
    session.commit()
    steps = next_steps(conversion_steps(session, actor(), lead, contact.id), contact.id)
    return json_response({**dump(CONTACTS, contact), "next_steps": steps}, 201,
                         etag=etag_of(contact),
                         location=url_for("api.contact_get", record_id=contact.id))


def next_steps(actions: list[Any], contact_id: int) -> list[dict[str, str]]:
    steps = []
    for action in actions:
        try:
            url = url_for(action.endpoint, record_id=contact_id)
        except BuildError:
            log.warning("conversion step %r names an unknown endpoint %r", action.label,
                        action.endpoint)
            continue
        steps.append({"label": action.label, "method": action.method.upper(), "url": url})
    return steps
