"""Custom fields that administrators add to leads and contacts."""

from __future__ import annotations

from flask import Response, url_for

from crmcore.api.blueprint import (
    actor,
    bp,
    doc,
    empty,
    json_body,
    json_response,
    one_of,
    query_args,
)
from crmcore.api.schemas import CustomFieldOutput
from crmcore.app import db
from crmcore.auth.roles import registry
from crmcore.errors import Forbidden, ValidationFailed
from crmcore.services import custom_fields as svc
from crmcore.services.records import KINDS


def _require_internal() -> None:
    """External roles (a plugin's portal users) do not see the CRM's configuration."""
    role = registry(db()).roles.get(actor().role)
    if role is None or role.external:
        raise Forbidden("Custom fields are for the CRM's own users.")


@bp.get("/custom-fields")
@doc("custom fields", response="CustomFieldList",
     query={"record_type": one_of("lead or contact; both when left out.",
                                  ("lead", "contact"))})
def custom_fields_list() -> Response:
    """List custom fields, in form order.

    Their values travel in a record's custom object, under the field's name; lists
    and exports filter on them with custom.<name>=<value>.
    """
    args = query_args({"record_type"})
    _require_internal()
    record_type = args.get("record_type")
    if record_type is not None and record_type not in KINDS:
        raise ValidationFailed("Unknown record type.", {"record_type": ["lead or contact."]})
    session = db()
    found = [d for rt in ([record_type] if record_type else list(KINDS))
             for d in svc.definitions(session, rt)]
    return json_response({"items": CustomFieldOutput(many=True).dump(found)})


@bp.post("/custom-fields")
@doc("custom fields", body="CustomFieldInput", response="CustomFieldOutput", status=201,
     headers={"Location": "The list of fields, anchored at the new one."})
def custom_fields_create() -> Response:
    """Add a custom field.

    Needs settings.manage. A name already used for the record type answers 409.
    So does a type that would refuse values an earlier field of the same name
    left in records (the recycle bin's too), under errors.field_type: how many
    records hold them and one of them.
    """
    session = db()
    field = svc.create_field(session, actor(), json_body())
    session.commit()
    location = url_for("api.custom_fields_list", record_type=field.record_type) + f"#{field.id}"
    return json_response(CustomFieldOutput().dump(field), 201, location=location)


@bp.patch("/custom-fields/<int:field_id>")
@doc("custom fields", body="CustomFieldUpdate", response="CustomFieldOutput")
def custom_fields_update(field_id: int) -> Response:
    """Change a custom field's label, choices, requirement or position.

    Needs settings.manage. Name, type and record type stay, so that stored values
    keep their meaning. Leaving out a choice that records hold (the recycle
    bin's too) answers 409, naming it under errors.choices.
    """
    session = db()
    field = svc.update_field(session, actor(), field_id, json_body())
    session.commit()
    return json_response(CustomFieldOutput().dump(field))


@bp.delete("/custom-fields/<int:field_id>")
@doc("custom fields", status=204)
def custom_fields_delete(field_id: int) -> Response:
    """Remove a custom field.

    Needs settings.manage. Values already stored stay in the records' custom
    objects, but the API no longer accepts, filters or exports them. A field
    added again under the same name brings them back, and must fit them.
    """
    session = db()
    svc.delete_field(session, actor(), field_id)
    session.commit()
    return empty()
