"""Schemas only the API uses: bulk actions, conversion, merging, pages and problems."""

from __future__ import annotations

import json
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from crmcore.models.records import IMPORT_STATES
from crmcore.schemas import records, users
from crmcore.schemas.base import Id, StrictSchema
from crmcore.schemas.records import StageSchema
from crmcore.services.cells import DELIMITERS
from crmcore.services.duplicates import MAX_CANDIDATES, SHOWN
from crmcore.services.merge import MAX_MERGED

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
    ids = fields.List(Id(strict=True), required=True,
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
    other_ids = fields.List(Id(strict=True), required=True,
                            validate=validate.Length(min=1, max=MAX_MERGED), metadata={
                                "description": "The records merged into this one; they go "
                                               "to the recycle bin."})
    choices = fields.Dict(keys=fields.String(), values=Id(strict=True),
                          load_default=dict, metadata={
                              "description": "Per field (or `custom.<name>` for a custom "
                                             "field), the id of the merged record whose "
                                             "value wins; this record's wins otherwise."})
    versions = fields.Dict(
        keys=fields.String(validate=validate.Regexp(r"^[1-9][0-9]{0,9}$",
                                                    error="Not a record id.")),
        values=fields.Integer(strict=True, validate=validate.Range(min=1)),
        load_default=dict, metadata={
            "description": "Optional: per record id, the version the client last read (its "
                           "ETag); a record changed since makes the merge a 409."})


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
    prev = fields.String(allow_none=True, metadata={
        "description": "The page before this one; null on the first page. Lists of leads "
                       "and contacts only."})


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


class Matched(Schema):
    phones = fields.List(fields.String(), metadata={
        "description": "Phones both records hold, as stored: the same number with "
                       "another extension, or none, is another phone."})
    emails = fields.List(fields.String(), metadata={
        "description": "Addresses both records hold."})
    similar_name = fields.Boolean(metadata={
        "description": "Whether their names (nicknames, swapped letters, a letter apart, "
                       "any order) and companies are alike."})


class LeadCandidate(LeadOutput):
    matched = fields.Nested(Matched, metadata={"description": "Why it may be the same person."})


class ContactCandidate(ContactOutput):
    matched = fields.Nested(Matched, metadata={"description": "Why it may be the same person."})


class LeadCandidateList(Schema):
    items = fields.List(fields.Nested(LeadCandidate))


class ContactCandidateList(Schema):
    items = fields.List(fields.Nested(ContactCandidate))


class CustomFieldList(Schema):
    items = fields.List(fields.Nested(CustomFieldOutput))


class DistinctInput(StrictSchema):
    ids = fields.List(Id(strict=True), required=True,
                      validate=validate.Length(min=2, max=MAX_CANDIDATES), metadata={
                          "description": "Records that look alike but are different people."})


class DistinctResult(Schema):
    marked = fields.Integer(metadata={"description": "How many pairs of them were new."})


class LeadDuplicateSet(Schema):
    by = fields.String(metadata={"description": "name (similar names and companies), phone "
                                                "or email (a phone or address all hold, "
                                                "first or not)."})
    shared = fields.String(allow_none=True, metadata={
        "description": "The phone (with its extension if it has one) or address all "
                       "hold, as stored; null by name."})
    total = fields.Integer(metadata={"description": "How many records the set holds."})
    ids = fields.List(fields.Integer(), metadata={
        "description": f"All of them, oldest first (at most {MAX_CANDIDATES}): for merge "
                       "or distinct."})
    records = fields.List(fields.Nested(LeadOutput),
                          metadata={"description": f"The first {SHOWN}, oldest first."})


class ContactDuplicateSet(LeadDuplicateSet):
    records = fields.List(fields.Nested(ContactOutput),
                          metadata={"description": f"The first {SHOWN}, oldest first."})


class LeadDuplicatePage(Schema):
    items = fields.List(fields.Nested(LeadDuplicateSet))
    links = fields.Nested(Links)


class ContactDuplicatePage(Schema):
    items = fields.List(fields.Nested(ContactDuplicateSet))
    links = fields.Nested(Links)


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


class JsonObject(fields.Field):
    """A form field holding a JSON object of strings (multipart bodies carry text)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        try:
            loaded = json.loads(value) if isinstance(value, str) else value
        except ValueError:
            raise ValidationError("Not valid JSON.") from None
        if not (isinstance(loaded, dict)
                and all(isinstance(v, str) for v in loaded.values())):
            raise ValidationError('A JSON object of strings: {"CSV header": "field"}.')
        return loaded


class ImportInput(StrictSchema):
    """The form fields of POST /leads/imports and /contacts/imports, beside ``file``."""

    file = fields.Raw(metadata={"type": "string", "format": "binary",
                                "description": "The file (required): CSV, tab-separated text, "
                                               "or an Excel workbook (.xlsx), whose first "
                                               "sheet not hidden is read unless sheet names "
                                               "another."})
    mapping = JsonObject(load_default=dict, metadata={
        "type": "string",
        "description": 'A JSON object: column header -> field ("-" ignores the column); '
                       "columns not named are matched by their header: a field's name "
                       "or alias, or a custom field's name or label (a header that fits "
                       "two fields must be named here)."})
    on_duplicate = fields.String(load_default="report", validate=validate.OneOf(
        ("report", "skip", "update")), metadata={
            "description": "Rows whose email the CRM already holds: report them as "
                           "problems, skip them, or update the record (one the user may edit; "
                           "a row naming any other is a problem)."})
    blank_cells = fields.String(load_default="keep", validate=validate.OneOf(("keep", "clear")),
                                metadata={"description": (
                                    "What a blank cell does to a record a row updates: keep "
                                    "its value, or clear it (text empty, lists empty, an "
                                    "owner or custom field null), once every column filling "
                                    "the field is blank. Clearing a field the record must "
                                    "have (its name, a lead's stage, a required custom "
                                    "field, the first email) is a problem of the row. "
                                    "Columns not in the file, and created records, are as "
                                    "ever.")})
    match_by = fields.String(load_default="email", validate=validate.OneOf(("email", "id")),
                             metadata={"description": (
                                 "How rows find the records they are: by their first email, "
                                 "or by the column named id (an export's), which lets a row "
                                 "change the record's first email too; rows with an empty id "
                                 "are matched by email.")})
    skip_bad_rows = fields.Boolean(load_default=False, metadata={
        "description": "Import the good rows even when some are bad."})
    encoding = fields.String(load_default="utf-8-sig", validate=validate.Length(max=40),
                             metadata={"description": "The text encoding of a CSV."})
    delimiter = fields.String(load_default="auto", validate=validate.OneOf(
        ("auto", *DELIMITERS)), metadata={
            "description": "What separates a CSV's cells; auto takes the one the header "
                           "row holds most of (a comma if none)."})
    sheet = fields.String(load_default=None, validate=validate.Length(min=1, max=31), metadata={
        "description": "The name of the workbook's sheet to read (whatever its case); "
                       "the first that is not hidden if left out (a hidden sheet is read "
                       "only when named). A CSV has none: giving one is refused."})
    dry_run = fields.Boolean(load_default=False, metadata={
        "description": "Only check the file: the job ends checked, its counts saying "
                       "what an import would do."})


class ImportCheckedInput(StrictSchema):
    skip_bad_rows = fields.Boolean(load_default=False, metadata={
        "description": "Leave out the rows the dry run found bad."})


class ImportProblem(Schema):
    row = fields.Integer(metadata={"description": "The file line; 0 for the file as a whole."})
    column = fields.String()
    message = fields.String()


class ImportLinks(Schema):
    self = fields.String()
    revert = fields.String(allow_none=True, metadata={
        "description": "Where to POST to revert the import, while it may be reverted."})
    resume = fields.String(allow_none=True, metadata={
        "description": "Where to POST to continue an import that stopped half-way."})
    import_ = fields.String(data_key="import", allow_none=True, metadata={
        "description": "For a finished dry run: where to POST to import the file it checked "
                       "(once)."})
    started_import = fields.String(allow_none=True, metadata={
        "description": "For a dry run imported already: that import."})
    problems = fields.String(allow_none=True, metadata={
        "description": "Every problem found, as CSV (row, column, problem), when there are "
                       "any."})


class ImportJobOutput(Schema):
    id = fields.Integer()
    record_type = fields.String()
    filename = fields.String()
    status = fields.String(metadata={"enum": list(IMPORT_STATES)})
    stalled = fields.Boolean(metadata={
        "description": "In flight but not moving for 10 minutes: its process ended."})
    dry_run = fields.Boolean()
    on_duplicate = fields.String()
    blank_cells = fields.String(metadata={"description": "keep or clear."})
    match_by = fields.String(metadata={"description": "email or id."})
    skip_bad_rows = fields.Boolean()
    total_rows = fields.Integer(metadata={
        "description": "Data rows in the file once checked; while it is checked (validating), "
                       "the rows read so far."})
    rows_done = fields.Integer(metadata={
        "description": "Rows gone through so far: written, unchanged, skipped or left out."})
    created_count = fields.Integer()
    updated_count = fields.Integer()
    unchanged_count = fields.Integer(metadata={
        "description": "Rows whose record held their values already: nothing written."})
    skipped_count = fields.Integer()
    error_count = fields.Integer()
    errors = fields.List(fields.Nested(ImportProblem), metadata={
        "description": "The first 1000 problems; error_count counts them all, and "
                       "links.problems lists them all."})
    reverted_count = fields.Integer()
    message = fields.String()
    created_by = fields.Integer(allow_none=True)
    reverted_by = fields.Integer(allow_none=True)
    created_at = fields.DateTime()
    finished_at = fields.DateTime(allow_none=True)
    links = fields.Nested(ImportLinks)


class ImportJobPage(Schema):
    items = fields.List(fields.Nested(ImportJobOutput))
    links = fields.Nested(Links)
