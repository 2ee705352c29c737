"""Input of the gdpr pages and commands: settings, filters and bulk actions.

Every schema reports errors per field; :func:`load` turns them into
:class:`crmcore.errors.ValidationFailed`, which the pages show beside the inputs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crmcore_plugins.gdpr.models import ACTIONS
from marshmallow import Schema, ValidationError, fields, pre_load, validate

import crmcore.schemas.base as base

RECORD_TYPES = ("lead", "contact")
MAX_MONTHS = 1200  # a century: anything longer is a typo
MAX_BULK = 500


class _FormSchema(Schema):
    """Form values arrive as strings: trim them and read an empty one as "not given"."""

    @pre_load
    def blank_is_none(self, data: Mapping[str, Any], **_kw: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in data.items():
            if isinstance(value, str):
                value = value.strip()
                if value == "":
                    continue
            out[key] = value
        return out


class SettingsInput(_FormSchema):
    """The admin settings page: optional fields to erase and retention months."""

    erase = fields.List(fields.String(validate=validate.Length(min=1, max=120)),
                        load_default=list)
    retention_lead = fields.Integer(load_default=None, allow_none=True,
                                    validate=validate.Range(min=1, max=MAX_MONTHS))
    retention_contact = fields.Integer(load_default=None, allow_none=True,
                                       validate=validate.Range(min=1, max=MAX_MONTHS))


class RecordRef(fields.String):
    """``"lead:12"`` as ``("lead", 12)``: the age view lists both record types."""

    def _deserialize(self, value: Any, attr: str | None, data: Any,
                     **kwargs: Any) -> tuple[str, int]:
        text = super()._deserialize(value, attr, data, **kwargs)
        record_type, _, raw_id = text.partition(":")
        # ASCII digits only ('²' is a digit to Python, '+1' a number to int),
        # then an id the database holds, not one of thousands of digits.
        if record_type not in RECORD_TYPES or not (raw_id.isascii() and raw_id.isdigit()):
            raise ValidationError("Not a lead or contact.")
        try:
            return record_type, base.Id().deserialize(raw_id)
        except ValidationError:
            raise ValidationError("Not a lead or contact.") from None


class BulkInput(_FormSchema):
    action = fields.String(required=True, validate=validate.OneOf(("touch", "anonymize")),
                           error_messages={"required": "Choose an action."})
    ids = fields.List(RecordRef(), required=True,
                      validate=validate.Length(min=1, max=MAX_BULK,
                                               error="Select at least one record, at most {max}."),
                      error_messages={"required": "Select at least one record."})
    confirm = fields.Boolean(load_default=False)


class AgeFilters(_FormSchema):
    """The contact age view's filters."""

    older_than = fields.Integer(load_default=None, validate=validate.Range(min=0, max=MAX_MONTHS))
    # Ids the database holds: a larger number is a message on its field.
    owner_id = base.Id(load_default=None)
    stage_id = base.Id(load_default=None)
    record_type = fields.String(load_default=None, validate=validate.OneOf(RECORD_TYPES))
    cursor = fields.String(load_default=None, validate=validate.Length(max=200))


class AuditFilters(_FormSchema):
    """The audit log's filters; dates are inclusive."""

    action = fields.String(load_default=None, validate=validate.OneOf(ACTIONS))
    actor_id = base.Id(load_default=None)
    record_type = fields.String(load_default=None, validate=validate.Length(max=20))
    record_id = base.Id(load_default=None)
    date_from = fields.Date(load_default=None)
    date_to = fields.Date(load_default=None)
    cursor = base.Id(load_default=None)



def load(schema: Schema, data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` (query arguments, form fields) validated by ``schema``, leaving
    out what it does not know; :class:`ValidationFailed` with per-field errors."""
    return base.load(schema, dict(data), unknown="exclude")  # type: ignore[no-any-return]
