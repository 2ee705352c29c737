"""Schemas only the API uses: bulk actions, conversion, merging, pages and problems."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from crmcore.schemas import records, users
from crmcore.schemas.base import StrictSchema
from crmcore.schemas.records import StageSchema

LeadOutput = records.LeadOutput
ContactOutput = records.ContactOutput
TimelineOutput = records.TimelineOutput
CustomFieldInput = records.CustomFieldInput
CustomFieldOutput = records.CustomFieldOutput
# What PATCH /custom-fields/<id> accepts: name, type and record type stay.
CUSTOM_FIELD_CHANGES = ("label", "choices", "required", "position")
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


class NextStep(Schema):
    label = fields.String()
    method = fields.String(metadata={"description": "GET: follow the link; POST: post to it."})
    url = fields.String()


class ConvertResult(ContactOutput):
    next_steps = fields.List(fields.Nested(NextStep), metadata={
        "description": "What enabled plugins offer to do next with the new contact."})


class MergeInput(StrictSchema):
    other_ids = fields.List(fields.Integer(strict=True), required=True,
                            validate=validate.Length(min=1, max=100), metadata={
                                "description": "The records merged into this one; they go "
                                               "to the recycle bin."})
    choices = fields.Dict(keys=fields.String(), values=fields.Integer(strict=True),
                          load_default=dict, metadata={
                              "description": "Per field, the id of the merged record whose "
                                             "value wins; this record's wins otherwise."})


class TimelineRow(Schema):
    created_at = fields.DateTime()
    kind = fields.String()
    body = fields.String()
    actor = fields.String(metadata={"description": "The name of who did it, or system."})
    changes = fields.Dict()
    source = fields.String(metadata={"description": "core, or plugin for entries plugins keep."})


class BinItem(Schema):
    id = fields.Integer()
    label = fields.String()
    deleted_at = fields.DateTime()


class RestoreResult(Schema):
    record_type = fields.String()
    id = fields.Integer()


class Links(Schema):
    self = fields.String()
    next = fields.String(allow_none=True)


class LeadPage(Schema):
    items = fields.List(fields.Nested(LeadOutput))
    links = fields.Nested(Links)


class ContactPage(Schema):
    items = fields.List(fields.Nested(ContactOutput))
    links = fields.Nested(Links)


class LeadList(Schema):
    items = fields.List(fields.Nested(LeadOutput))


class ContactList(Schema):
    items = fields.List(fields.Nested(ContactOutput))


class CustomFieldList(Schema):
    items = fields.List(fields.Nested(CustomFieldOutput))


class UserPage(Schema):
    items = fields.List(fields.Nested(UserSchema))
    links = fields.Nested(Links)


class TimelinePage(Schema):
    items = fields.List(fields.Nested(TimelineRow))


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
        "description": "LeadOutput or ContactOutput objects for type lead or contact; "
                       "BinItem objects (id, label, deleted_at) for plugin types."})
    links = fields.Nested(Links)
