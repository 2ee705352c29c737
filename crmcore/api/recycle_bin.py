"""The recycle bin: deleted leads, contacts and plugin records, to restore or purge."""

from __future__ import annotations

from typing import Any

from flask import Response, url_for

from crmcore.api.blueprint import (
    CURSOR,
    PAGE_SIZE,
    Param,
    actor,
    bp,
    doc,
    empty,
    int_arg,
    json_response,
    query_args,
)
from crmcore.api.records import dump_many, record_response
from crmcore.api.schemas import BinItem, RestoreResult
from crmcore.app import db
from crmcore.errors import ValidationFailed
from crmcore.services import records as svc
from crmcore.services import recycle_bin as bin_svc
from crmcore.services.records import KINDS

TYPE = "<string:record_type>"


def _core_page(record_type: str, limit: int, before: int) -> tuple[list[Any], str | None]:
    """Deleted leads or contacts as full records, newest id first."""
    kind = KINDS[record_type]
    model = kind.model
    query = svc.visible(db(), actor(), kind, deleted=True)
    if before:
        query = query.where(model.id < before)
    records = list(db().scalars(query.order_by(model.id.desc()).limit(limit + 1)))
    following = None
    if len(records) > limit:
        records = records[:limit]
        following = str(records[-1].id)
    return dump_many(kind, records), following


def _plugin_page(bin_type: Any, limit: int, before: int) -> tuple[list[Any], str | None]:
    """A plugin type's deleted rows (its ``list_deleted``), newest id first."""
    rows = sorted(bin_type.list_deleted(db(), actor()), key=lambda r: r.id, reverse=True)
    if before:
        rows = [r for r in rows if r.id < before]
    following = str(rows[limit - 1].id) if len(rows) > limit else None
    return BinItem(many=True).dump(rows[:limit]), following


@bp.get("/recycle-bin")
@doc("recycle bin", response="RecycleBinPage",
     query={"type": Param("lead, contact, or a record type a plugin adds.", required=True),
            "cursor": CURSOR, "limit": PAGE_SIZE})
def bin_list() -> Response:
    """List deleted records you may see, most recent first.

    Leads and contacts come as whole records; plugin records as id, label and
    deleted_at. An unknown type answers 422 naming the types there are.
    """
    args = query_args({"type", "cursor", "limit"})
    types = bin_svc.bin_types(db())
    record_type = args.get("type", "")
    if record_type not in types:
        raise ValidationFailed("Say which records to list.",
                               {"type": [f"One of: {', '.join(sorted(types))}."]})
    limit = int_arg(args, "limit", 50)
    before = int_arg(args, "cursor", 0, low=0, high=2**62)
    if record_type in KINDS:
        items, following = _core_page(record_type, limit, before)
    else:
        items, following = _plugin_page(types[record_type], limit, before)
    return json_response({
        "items": items,
        "links": {"self": url_for("api.bin_list", **args),
                  "next": url_for("api.bin_list", **{**args, "cursor": following})
                  if following else None}})


@bp.post(f"/recycle-bin/{TYPE}/<int:record_id>/restore")
@doc("recycle bin", response="Restored")
def bin_restore(record_type: str, record_id: int) -> Response:
    """Restore a deleted record, whole.

    A lead or contact answers the record as it is now (LeadOutput or
    ContactOutput); a plugin record its record_type and id.
    """
    session = db()
    bin_svc.restore(session, actor(), record_type, [record_id])
    session.commit()
    kind = KINDS.get(record_type)
    if kind is not None:
        return record_response(kind, svc.get(session, actor(), kind, record_id))
    return json_response(RestoreResult().dump({"record_type": record_type, "id": record_id}))


@bp.delete(f"/recycle-bin/{TYPE}/<int:record_id>")
@doc("recycle bin", status=204)
def bin_purge(record_type: str, record_id: int) -> Response:
    """Delete a record from the recycle bin for good.

    Needs recycle_bin.purge (administrators).
    """
    session = db()
    bin_svc.purge(session, actor(), record_type, [record_id])
    session.commit()
    return empty()
