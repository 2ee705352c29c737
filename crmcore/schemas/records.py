"""Lead and contact schemas. Input schemas are strict; plugins add fields to them
through ``crm_schema_fields`` (kept in ``plugin_data``)."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from datetime import date
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from crmcore.models.records import CUSTOM_FIELD_TYPES, LIFECYCLE_STAGES, OPT_OUT_CHANNELS
from crmcore.schemas.base import Id, Integer, StrictSchema
from crmcore.schemas.users import EmailField


def phone_region() -> str:
    """The region that numbers without a country code belong to (``CRM_PHONE_REGION``)."""
    return os.environ.get("CRM_PHONE_REGION", "US").upper()


def normalize_phone(value: str) -> str:
    """A phone number in E.164, followed by ``;ext=`` and its extension if it has
    one (``+16502530000;ext=42``, as RFC 3966 writes it), or :class:`ValidationError`.

    Digits alone that start with the country code of :func:`phone_region` (no
    "+", no leading 0: 4915112345678 with the region DE) are what Excel leaves
    of a number saved as a number, "+" dropped; yet they may be a number of
    the region too (+49 491 5112345678). When both readings are valid numbers
    they are refused, naming both, rather than one guessed."""
    # Imported on first use, like the email validator, to keep start-up short.
    import phonenumbers

    region = phone_region()
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        raise ValidationError("Not a phone number.") from None
    if not phonenumbers.is_valid_number(number):
        raise ValidationError("Not a valid phone number.")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if (other := _dropped_plus(value.strip(), region)) and other != e164:
        raise ValidationError(f"Could be {phone_text(other)} or {phone_text(e164)}: "
                              "write it with + and the country code.")
    if not number.extension:
        return e164
    # E.164 has no room for an extension, and without one a call reaches the
    # switchboard, not the person. Not format_number's RFC3966 form
    # ("tel:+1-650-253-0000;ext=42"): the number stays the E.164 that search
    # and the duplicate checks compare. phonenumbers keeps an extension's
    # digits as written (Arabic-Indic ones too); in ASCII they dial, and
    # compare as the same extension.
    return f"{e164};ext={phonenumbers.normalize_digits_only(number.extension)}"


def _dropped_plus(digits: str, region: str) -> str | None:
    """``digits`` read as an international number (E.164), where they start
    with ``region``'s country code and so read, or None.

    Only the region's own code: any digits could have lost a "+", but a
    national number of some regions is often valid read so too (a third of
    the US's ten digits read as another country's number, half of Germany's
    mobiles without their 0 as the US's), and refusing those would refuse the
    numbers most files hold."""
    import phonenumbers

    code = str(phonenumbers.country_code_for_region(region))
    if not (digits.isascii() and digits.isdigit() and digits.startswith(code)):
        return None
    number = phonenumbers.parse(f"+{digits}")
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def phone_text(stored: str) -> str:
    """A stored phone as people read it: ``+1 650-253-0000 ext. 42``."""
    import phonenumbers

    try:
        number = phonenumbers.parse(stored)
    except phonenumbers.NumberParseException:
        return stored  # stored before numbers were checked: shown as it is
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


# How a phone is stored and answered, for the API's descriptions.
STORED_PHONE = ("E.164, followed by ;ext= and the extension if it has one "
                "(+16502530000;ext=42, as RFC 3966 writes it)")


class PhoneField(fields.String):
    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        return normalize_phone(super()._deserialize(value, attr, data, **kwargs))


def distinct_items(values: list[str]) -> None:
    """A list's rule: no value listed twice. The message names the first
    repeated, as stored (an address lower-cased), which a long list or an
    import's several columns would otherwise hide."""
    if len(set(values)) != len(values):
        seen: set[str] = set()
        for value in values:
            if value in seen:
                raise ValidationError(f"Listed twice: {value}.")
            seen.add(value)


def listing(choices: Sequence[str], shown: int = 10) -> str:
    """``choices`` as a message lists them: the first ``shown``, and how many
    more there are, so that a field of a hundred choices gives a readable
    message."""
    if len(choices) <= shown:
        return ", ".join(choices)
    return f"{', '.join(choices[:shown])}, … ({len(choices)} in all)"


# What one record holds at most (a merge checks the lists it joins against them too).
MAX_EMAILS = MAX_PHONES = 10
MAX_TAGS = 50

def line_breaks(text: str) -> str:
    """``text`` with every line break a "\\n": a browser sends a text area's
    as "\\r\\n", and a workbook reads a "\\r" back as "\\n"."""
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


class Text(fields.String):
    """Text without the spaces and line breaks around it, its line breaks
    "\\n", as an import reads a cell: a record typed in and the same record
    imported from its export (CSV or workbook) hold the same values."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        return line_breaks(super()._deserialize(value, attr, data, **kwargs).strip())


class Choice(Text):
    """Text that is one of ``choices``, matched whatever its case ("Lead",
    "SILVER") and kept as the choice is spelled: a spreadsheet's
    capitalisation is no reason to refuse a row, and filters compare the
    stored spelling."""

    def __init__(self, choices: Sequence[str], **kwargs: Any) -> None:
        # marshmallow formats the message: braces in a choice are text.
        message = ("Must be one of: " + listing(choices) + ".").replace("{", "{{").replace(
            "}", "}}")
        super().__init__(validate=validate.OneOf(choices, error=message), **kwargs)
        self.choices = frozenset(choices)
        # Of choices that differ only in case, the first is taken, unless the
        # value is exactly another.
        self.spelling: dict[str, str] = {}
        for choice in choices:
            self.spelling.setdefault(choice.casefold(), choice)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        return text if text in self.choices else self.spelling.get(text.casefold(), text)


def distinct_tags(tags: list[str]) -> list[str]:
    """``tags`` without a tag given again in another case ("VIP; vip"): the
    first spelling stays. Tags are told apart by people, not by case."""
    seen: set[str] = set()
    out = []
    for tag in tags:
        if tag.casefold() not in seen:
            seen.add(tag.casefold())
            out.append(tag)
    return out


class TagList(fields.List):
    """A record's tags, each once (:func:`distinct_tags`): a list's rules (how
    many) count the tags kept."""

    def _deserialize(self, value: Any, attr: str | None, data: Any,
                     **kwargs: Any) -> list[Any]:
        return distinct_tags(super()._deserialize(value, attr, data, **kwargs))


Tags = TagList(Text(validate=[
    validate.Length(min=1, max=50),
    # An export lists a record's tags separated by ";", and an import splits
    # them there (and at ","): a tag holding one would come back as two.
    validate.ContainsNoneOf(";", error="A tag cannot hold “;” (it separates tags in a file)."),
    validate.ContainsNoneOf(",", error="A tag cannot hold “,” (it separates tags in a file "
                                       "and in the record form).")]),
    validate=validate.Length(max=MAX_TAGS, error="At most {max} tags."))


class RecordInput(StrictSchema):
    emails = fields.List(EmailField(), validate=[
        validate.Length(max=MAX_EMAILS, error="At most {max} addresses."), distinct_items])
    phones = fields.List(PhoneField(), validate=[
        validate.Length(max=MAX_PHONES, error="At most {max} numbers."), distinct_items],
        metadata={"description": "Phone numbers as people write them (\"(650) 253-0000 ext. "
                                 "42\"), those without a country code in the region "
                                 f"CRM_PHONE_REGION names; stored in {STORED_PHONE}."})
    company = Text(validate=validate.Length(max=200))
    owner_id = Id(allow_none=True)
    tags = Tags


class LeadInput(RecordInput):
    full_name = Text(required=True, validate=validate.Length(min=1, max=200))
    login = Text(validate=validate.Length(max=100))
    partner = Text(validate=validate.Length(max=200))
    location = Text(validate=validate.Length(max=200))
    source = Text(validate=validate.Length(max=100))
    stage_id = Id()


class ContactInput(RecordInput):
    first_name = Text(validate=validate.Length(max=100))
    last_name = Text(required=True, validate=validate.Length(min=1, max=100))
    street = Text(validate=validate.Length(max=200))
    city = Text(validate=validate.Length(max=100))
    postal_code = Text(validate=validate.Regexp(r"^[A-Za-z0-9 \-]{0,20}$",
                                                error="Letters, digits, spaces and dashes only."))
    country = Text(validate=validate.Regexp(r"^([A-Za-z]{2})?$", error="Two-letter ISO code."))
    lifecycle_stage = Choice(LIFECYCLE_STAGES)
    opt_outs = fields.List(Choice(OPT_OUT_CHANNELS), validate=distinct_items)


BASE_INPUTS: dict[str, type[Schema]] = {"lead": LeadInput, "contact": ContactInput}

# Lower-case words that start a last name ("Jan van der Berg", "Maria de la
# Cruz"); capitalised, they may be given names ("Van Morrison").
NAME_PARTICLES = frozenset({"da", "das", "de", "del", "della", "den", "der", "di", "do",
                            "dos", "du", "la", "le", "ten", "ter", "van", "von", "zu"})
# What may end a name, after the last name and kept with it, written with or
# without a dot, in any case.
NAME_SUFFIXES = frozenset({"jr", "sr", "ii", "iii", "iv"})


def _suffix(word: str) -> bool:
    return word.replace(".", "").casefold() in NAME_SUFFIXES


def split_name(full_name: str) -> tuple[str, str]:
    """``(first name, last name)`` of a whole name, as a contact's name column
    and a lead's conversion read it. "Lovelace, Ada" (one comma) is the last
    name first; otherwise the last name is the last word, or starts at a
    lower-case particle ("Jan van der Berg"). A suffix stays with the last
    name, after a comma or not ("Martin Luther King Jr.", "King, Martin
    Luther, Jr."). Words are separated by one space."""
    pieces = [words for words in (piece.split() for piece in full_name.split(",")) if words]
    suffixes: list[str] = []
    while len(pieces) > 1 and len(pieces[-1]) == 1 and _suffix(pieces[-1][0]):
        suffixes[:0] = pieces.pop()
    if len(pieces) > 2:
        # Commas that say nothing of which part is the last name: the last word is.
        first, _, last = " ".join(full_name.split()).rpartition(" ")
        return first, last
    # The words that end with a suffix the comma did not set apart ("Gates, Bill III").
    words = pieces[-1] if pieces else []
    while len(words) > 1 and _suffix(words[-1]):
        suffixes[:0] = [words.pop()]
    if len(pieces) == 2:
        last, first_words = pieces
    else:
        start = next((i for i, word in enumerate(words[:-1]) if word in NAME_PARTICLES),
                     len(words) - 1)
        first_words, last = words[:start], words[start:]
    return " ".join(first_words), " ".join([*last, *suffixes])


def custom_field(definition: Any, partial: bool) -> fields.Field:
    """The marshmallow field for an admin-defined custom field."""
    # On update (partial) a required field may be left out, never emptied.
    kwargs: dict[str, Any] = {"required": definition.required and not partial,
                              "allow_none": not definition.required}
    kind = definition.field_type
    if kind == "number":
        return Number(allow_nan=False, **kwargs)
    if kind == "date":
        return IsoDate(**kwargs)
    if kind == "boolean":
        return fields.Boolean(error_messages={
            "invalid": "Not a valid boolean. Use yes or no (true or false, 1 or 0)."},
            **kwargs)
    if kind == "choice":
        return Choice(definition.choices, **kwargs)
    return Text(validate=validate.Length(max=1000), **kwargs)


class Number(fields.Float):
    """A custom number field. Spreadsheets in German, French and other
    languages write 1.000 for a thousand and 1,5 for one and a half: a text
    that may be either is refused rather than read a thousand times off, and
    a refusal says how to write a number."""

    default_error_messages = {
        "invalid": "Not a valid number: write it with a decimal point and no thousands "
                   "separator (1234.5).",
        "ambiguous": "Could be {thousands} (with a thousands point) or {decimal} (with a "
                     "decimal point): write {thousands} for the one, {written} for the other.",
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> float:
        if isinstance(value, str) and (grouped := _POINT_GROUPED.fullmatch(value.strip())):
            text = grouped.group()
            decimal = f"{float(text):g}"
            # Written so, the decimal reading is no longer a grouped thousand.
            written = f"{decimal}0" if _POINT_GROUPED.fullmatch(decimal) else decimal
            raise self.make_error("ambiguous", thousands=text.replace(".", ""),
                                  decimal=decimal, written=written)
        return super()._deserialize(value, attr, data, **kwargs)


# One group of three digits after a point, as 1.000 or 12.500 (not 0.125: no
# thousand starts with a zero).
_POINT_GROUPED = re.compile(r"[+-]?[1-9]\d{0,2}\.\d{3}")


# A date year first, as ISO 8601 writes it, or with one-digit month and day
# (2023-3-5), "/" or "." between its parts (2023/03/15: no place writes the
# day before the month after the year), and at midnight (2023-03-15
# 00:00:00): how a spreadsheet or a database writes a date cell as text.
_ISO_DATE = re.compile(r"([0-9]{4})([-/.])([0-9]{1,2})\2([0-9]{1,2})"
                       r"(?:[ T]00:00(?::00(?:\.0+)?)?)?")
_WITH_TIME = re.compile(r"[0-9]{4}([-/.])[0-9]{1,2}\1[0-9]{1,2}[ T][0-9]")
# Day and month in either order (03/15/2023, 15.03.2023): one file may mean
# either, and a day up to the 12th reads both ways, so none is guessed.
_DAY_AND_MONTH = re.compile(r"[0-9]{1,2}([./-])[0-9]{1,2}\1[0-9]{2,4}")
DATE_FORMAT = "YYYY-MM-DD (2023-03-15)"


class IsoDate(fields.Date):
    """A date kept in JSON as its ISO string, read from the forms of
    :data:`_ISO_DATE` and the others ISO 8601 has (20230315). A refusal says
    the form wanted, and why a date day or month first is not read."""

    default_error_messages = {
        "invalid": f"Not a valid date. Write it as {DATE_FORMAT}.",
        "order": "Not a valid date. Its day and month could come in either order: write it "
                 f"as {DATE_FORMAT}.",
        "time": f"Not a valid date. It has a time of day: write the date alone, as {DATE_FORMAT}.",
        "day": "Not a valid date. No such day.",
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if not isinstance(value, str):
            raise self.make_error("invalid")
        text = value.strip()
        found = _ISO_DATE.fullmatch(text)
        if found is not None:
            try:
                return date(int(found[1]), int(found[3]), int(found[4])).isoformat()
            except ValueError:
                raise self.make_error("day") from None
        try:
            return super()._deserialize(text, attr, data, **kwargs).isoformat()
        except ValidationError:
            raise self.make_error("order" if _DAY_AND_MONTH.fullmatch(text)
                                  else "time" if _WITH_TIME.match(text)
                                  else "invalid") from None


def input_schema(hook: Any, record_type: str, *, partial: bool = False,
                 custom_fields: Sequence[Any] = ()) -> Schema:
    """The input schema of ``record_type`` with every enabled plugin's fields and
    the admin's custom fields (nested under ``custom``)."""
    extra: dict[str, fields.Field] = {}
    for result in hook.crm_schema_fields(record_type=record_type):
        extra.update(result or {})
    if custom_fields:
        custom_cls = StrictSchema.from_dict(
            {d.name: custom_field(d, partial) for d in custom_fields},
            name=f"{record_type.title()}CustomFields")
        extra["custom"] = fields.Nested(custom_cls, required=any(
            d.required for d in custom_fields) and not partial)
    cls = BASE_INPUTS[record_type]
    if extra:
        cls = type(f"{cls.__name__}Extended", (cls,), dict(extra))
    return cls(partial=partial)


def plugin_field_names(schema: Schema, record_type: str) -> set[str]:
    return set(schema.fields) - set(BASE_INPUTS[record_type]().fields) - {"custom"}


class StageSchema(Schema):
    id = fields.Integer(dump_only=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=80))
    position = Integer(load_default=0)
    kind = fields.String(load_default="open", validate=validate.OneOf(("open", "won", "lost")))


class CustomFieldInput(StrictSchema):
    record_type = fields.String(required=True, validate=validate.OneOf(("lead", "contact")))
    name = fields.String(required=True, validate=validate.Regexp(
        r"^[a-z][a-z0-9_]{0,49}$", error="Lower-case letters, digits and _; start with a letter."))
    label = fields.String(required=True, validate=validate.Length(min=1, max=100))
    field_type = fields.String(required=True, validate=validate.OneOf(CUSTOM_FIELD_TYPES))
    choices = fields.List(fields.String(validate=validate.Length(min=1, max=100)),
                          load_default=list, validate=validate.Length(max=100))
    required = fields.Boolean(load_default=False)
    position = Integer(load_default=0)


class CustomFieldOutput(Schema):
    id = fields.Integer()
    record_type = fields.String()
    name = fields.String()
    label = fields.String()
    field_type = fields.String()
    choices = fields.List(fields.String())
    required = fields.Boolean()
    position = fields.Integer()


class RecordOutput(Schema):
    id = fields.Integer()
    custom = fields.Dict()
    emails = fields.List(fields.String())
    phones = fields.List(fields.String(), metadata={"description": f"In {STORED_PHONE}."})
    company = fields.String()
    owner_id = fields.Integer(allow_none=True)
    tags = fields.List(fields.String())
    plugin_data = fields.Dict()
    version = fields.Integer()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    deleted_at = fields.DateTime(allow_none=True)


class LeadOutput(RecordOutput):
    full_name = fields.String()
    login = fields.String()
    partner = fields.String()
    location = fields.String()
    source = fields.String()
    score = fields.Integer()
    stage_id = fields.Integer()
    last_contacted_at = fields.DateTime(allow_none=True)
    converted_contact_id = fields.Integer(allow_none=True)


class ContactOutput(RecordOutput):
    first_name = fields.String()
    last_name = fields.String()
    street = fields.String()
    city = fields.String()
    postal_code = fields.String()
    country = fields.String()
    lifecycle_stage = fields.String()
    opt_outs = fields.List(fields.String())


class TimelineOutput(Schema):
    id = fields.Integer()
    kind = fields.String()
    actor_id = fields.Integer(allow_none=True)
    body = fields.String()
    changes = fields.Dict()
    created_at = fields.DateTime()


class CommentInput(StrictSchema):
    body = fields.String(required=True, validate=validate.Length(min=1, max=10000))
