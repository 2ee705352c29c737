"""Schemas only the API uses: bulk actions, conversion, pages and problems."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from crmcore.schemas import records, users
from crmcore.schemas.base import StrictSchema
from crmcore.schemas.records import StageSchema

LeadOutput = records.LeadOutput
ContactOutput = records.ContactOutput
TimelineOutput = records.TimelineOutput
UserSchema = users.UserSchema

BULK_ACTIONS = {"lead": ("assign", "stage", "tag", "delete"),
                "contact": ("assign", "tag", "delete")}


class BulkInput(StrictSchema):
    ids = fields.List(fields.Integer(strict=True), required=True,
                      validate=validate.Length(min=1, max=1000))
    action = fields.String(required=True, validate=validate.OneOf(BULK_ACTIONS["lead"]))
    value = fields.Raw(allow_none=True, metadata={
        "description": "assign: a user id or null; stage: a stage id; tag: a tag or a list "
                       "of tags; delete: nothing"})


class BulkResult(Schema):
    changed = fields.Integer()


class ConvertInput(StrictSchema):
    lifecycle_stage = fields.String(load_default="prospect",
                                    validate=validate.OneOf(("prospect", "customer")))


class Links(Schema):
    self = fields.String()
    next = fields.String(allow_none=True)


class LeadPage(Schema):
    items = fields.List(fields.Nested(LeadOutput))
    links = fields.Nested(Links)


class ContactPage(Schema):
    items = fields.List(fields.Nested(ContactOutput))
    links = fields.Nested(Links)


class UserPage(Schema):
    items = fields.List(fields.Nested(UserSchema))
    links = fields.Nested(Links)


class TimelinePage(Schema):
    items = fields.List(fields.Nested(TimelineOutput))


class StageList(Schema):
    items = fields.List(fields.Nested(StageSchema))


class Problem(Schema):
    type = fields.String()
    title = fields.String()
    status = fields.Integer()
    detail = fields.String()
    errors = fields.Dict(metadata={"description": "Messages per field, when there are any."})


class RecycleBinPage(Schema):
    items = fields.List(fields.Dict(), metadata={
        "description": "LeadOutput or ContactOutput objects, as the type parameter says."})
    links = fields.Nested(Links)
