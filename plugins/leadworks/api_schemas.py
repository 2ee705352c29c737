"""The intake API's bodies and answers as the OpenAPI document gives them
(``crm_api_schemas``). The lead's own fields are the core lead form's, with
every enabled plugin's; the intake validates them with that same schema."""

from __future__ import annotations

from typing import Any

from flask import Flask
from marshmallow import Schema, fields

from crmcore.schemas.base import StrictSchema
from crmcore.schemas.records import input_schema

MESSAGES = fields.List(fields.Raw(), metadata={
    "description": "Emails exchanged with the person, kept on the lead's timeline: each "
                   "raw RFC 822 text, or {\"base64\": ...} for an 8-bit message."})


class Attached(Schema):
    stored = fields.Integer()
    already_archived = fields.Integer()
    skipped_attachments = fields.List(fields.String())


class IntakeAnswer(Schema):
    id = fields.Integer(metadata={"description": "The lead's id."})
    status = fields.String(metadata={"description": "created"})
    campaign = fields.String()
    stage = fields.String(metadata={"description": "The lead's stage, by name."})
    messages = fields.Nested(Attached, metadata={"description": "What became of the "
                                                                 "messages sent along."})


class BatchResult(Schema):
    index = fields.Integer(metadata={"description": "The lead's place in the batch, from 0."})
    status = fields.Integer(metadata={"description": "201 created, 409 a known email, "
                                                     "422 invalid, 413 a message too large."})
    id = fields.Integer()
    stage = fields.String()
    messages = fields.Nested(Attached)
    errors = fields.Dict(metadata={"description": "Messages per field, when refused."})


class BatchAnswer(Schema):
    campaign = fields.String()
    all_or_nothing = fields.Boolean()
    created = fields.Integer()
    refused_duplicates = fields.Integer()
    invalid = fields.Integer()
    results = fields.List(fields.Nested(BatchResult))


class Submission(Schema):
    submission_id = fields.Integer()
    lead_id = fields.Integer(allow_none=True, metadata={
        "description": "The lead's id as handed over; null once the lead is gone."})
    full_name = fields.String(metadata={
        "description": "The lead's name; once merged, as handed over; empty once gone."})
    email = fields.String(metadata={
        "description": "The lead's key email; once merged, as handed over; empty once gone."})
    campaign = fields.String()
    channel = fields.String(metadata={"description": "api, batch or upload."})
    stage = fields.String(metadata={
        "description": "By name; merged once staff merged the lead with another record of "
                       "the person (its stage is then not shown); removed once the lead is "
                       "gone."})
    submitted_at = fields.DateTime()


class SubmissionPage(Schema):
    items = fields.List(fields.Nested(Submission))
    next_before = fields.Integer(allow_none=True, metadata={
        "description": "Pass as before for the next page; null on the last."})


def schemas(app: Flask) -> dict[str, Any]:
    """The components the intake endpoints name."""
    lead = input_schema(app.extensions["crm"].hook, "lead").declared_fields
    campaign = fields.String(required=True, metadata={"description": "1 to 100 characters."})
    item = StrictSchema.from_dict({**lead, "messages": MESSAGES}, name="IntakeItem")
    return {
        "IntakeLead": StrictSchema.from_dict(
            {**lead, "campaign": campaign, "messages": MESSAGES}, name="IntakeLead"),
        "IntakeAnswer": IntakeAnswer,
        "IntakeBatch": StrictSchema.from_dict({
            "campaign": campaign,
            "leads": fields.List(fields.Nested(item), required=True),
            "all_or_nothing": fields.Boolean(metadata={
                "description": "true: create none unless every lead can be created."})},
            name="IntakeBatch"),
        "IntakeBatchAnswer": BatchAnswer,
        "IntakeSubmissionPage": SubmissionPage,
    }
