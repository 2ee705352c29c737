"""The recycle bin: deleted leads and contacts, to restore or purge."""

from __future__ import annotations

from flask import Response, url_for

from crmcore.api.blueprint import actor, bp, doc, empty, int_arg, json_response, query_args
from crmcore.api.records import dump_many, record_response
from crmcore.app import db
from crmcore.errors import NotFound, ValidationFailed
from crmcore.services import records as svc
from crmcore.services.records import KINDS

TYPE = "<any(lead, contact):record_type>"


@bp.get("/recycle-bin")
@doc("recycle bin", response="RecycleBinPage",
     query={"type": "lead or contact (required)", "cursor": "From links.next.",
            "limit": "Page size, 1 to 200 (50)."})
def bin_list() -> Response:
    """List deleted records you may see, most recently deleted first."""
    args = query_args({"type", "cursor", "limit"})
    kind = KINDS.get(args.get("type", ""))
    if kind is None:
        raise ValidationFailed("Say which records to list.", {"type": ["lead or contact."]})
    limit = int_arg(args, "limit", 50)
    before = int_arg(args, "cursor", 0, low=0, high=2**62)
    model = kind.model
    query = svc.visible(db(), actor(), kind, deleted=True)
    if before:
        query = query.where(model.id < before)
    records = list(db().scalars(query.order_by(model.id.desc()).limit(limit + 1)))
    following = None
    if len(records) > limit:
        records = records[:limit]
        following = url_for("api.bin_list", **{**args, "cursor": str(records[-1].id)})
    return json_response({"items": dump_many(kind, records),
                          "links": {"self": url_for("api.bin_list", **args), "next": following}})


@bp.post(f"/recycle-bin/{TYPE}/<int:record_id>/restore")
@doc("recycle bin", response="LeadOutput")
def bin_restore(record_type: str, record_id: int) -> Response:
    """Restore a deleted record, whole; answers the record as it is now."""
    kind = KINDS[record_type]
    session = db()
    if not svc.restore(session, actor(), kind, [record_id]):
        raise NotFound(f"No such {record_type} in the recycle bin.")
    session.commit()
    return record_response(kind, svc.get(session, actor(), kind, record_id))


@bp.delete(f"/recycle-bin/{TYPE}/<int:record_id>")
@doc("recycle bin", status=204)
def bin_purge(record_type: str, record_id: int) -> Response:
    """Delete a record from the recycle bin for good.

    Needs recycle_bin.purge (administrators).
    """
    kind = KINDS[record_type]
    session = db()
    if not svc.purge(session, actor(), kind, [record_id]):
        raise NotFound(f"No such {record_type} in the recycle bin.")
    session.commit()
    return empty()
