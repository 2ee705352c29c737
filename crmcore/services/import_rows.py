"""Row validation for CSV imports: the fast path that gives the answers of the
full marshmallow schemas.

Per-row ``Schema.load`` costs more than everything else an import does, so
each column gets a converter built once. Converters reuse the schemas' own
rules (the same length limits, choices, email and phone normalizers) and take a
shortcut only where it provably changes nothing: a plain ASCII address whose
domain the full validator already accepted is just lower-cased.
``tests/core/test_import_rows.py`` checks the equivalence with Hypothesis.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from crmcore.schemas.records import (
    BASE_INPUTS,
    Choice,
    TagList,
    custom_field,
    distinct_items,
    distinct_tags,
    line_breaks,
    listing,
    normalize_phone,
    split_name,
)
from crmcore.schemas.users import normalize_email
from crmcore.services.cells import restore

# Columns whose cell holds several values, separated by ";" (a tags cell's by
# "," too). Several columns may fill one (Email, Email 2): their values join
# in column order.
LIST_FIELDS = {"emails", "phones", "tags", "opt_outs"}
# What separates a list cell's items. In a phone cell, not a ";" before
# "ext=": it starts the number's extension, as the CRM stores and exports it
# (RFC 3966: "+16502530000;ext=42; +12025550143").
_ITEM_SEPARATOR = re.compile(";")
_PHONE_SEPARATOR = re.compile(";(?!ext=)", re.IGNORECASE)
# Tags are separated by "," too, as the record form and other tools' exports
# separate them (a tag cannot hold either).
_TAG_SEPARATOR = re.compile("[;,]")
# How much of a cell a problem quotes.
QUOTED_LENGTH = 40
# A person's name, whole or in parts, as other tools export it. A lead keeps
# it whole (its parts join, first name first), a contact in parts (a whole name
# splits as converting a lead splits it: ``split_name``).
WHOLE_NAME = "full_name"
NAME_PARTS = ("first_name", "last_name")
# The record's fields a column of the name fills, where they are not the column's own.
NAME_FILLS: Mapping[str, Mapping[str, tuple[str, ...]]] = {
    "lead": dict.fromkeys(NAME_PARTS, (WHOLE_NAME,)),
    "contact": {WHOLE_NAME: NAME_PARTS},
}

# Header names (as ``header_key`` spells them) of the fields leads and contacts share.
_SHARED_ALIASES = {
    "name": "full_name", "full_name": "full_name", "fullname": "full_name",
    "first_name": "first_name", "firstname": "first_name", "given_name": "first_name",
    "last_name": "last_name", "lastname": "last_name", "surname": "last_name",
    "family_name": "last_name", "email": "emails", "emails": "emails", "e_mail": "emails",
    "email_address": "emails", "phone": "phones", "phones": "phones", "telephone": "phones",
    "mobile": "phones", "phone_number": "phones", "mobile_phone": "phones",
    "company": "company", "company_name": "company", "organization": "company",
    "organisation": "company", "owner": "owner", "owner_email": "owner",
    # As CRMs export their records' owner.
    "contact_owner": "owner", "lead_owner": "owner", "record_owner": "owner",
    "account_owner": "owner", "sales_rep": "owner", "sales_representative": "owner",
    "tags": "tags", "tag": "tags",
}
ALIASES = {
    "lead": {
        **_SHARED_ALIASES, "login": "login", "username": "login", "partner": "partner",
        "location": "location", "city": "location", "source": "source",
        "lead_source": "source", "stage": "stage",
    },
    "contact": {
        **_SHARED_ALIASES, "street": "street", "address": "street", "city": "city",
        "postal_code": "postal_code", "zip": "postal_code", "zip_code": "postal_code",
        "postcode": "postal_code", "country": "country", "lifecycle_stage": "lifecycle_stage",
        "stage": "lifecycle_stage", "opt_outs": "opt_outs",
    },
}
REQUIRED = {"lead": "full_name", "contact": "last_name"}
# Columns of an export that the CRM keeps itself: an import leaves them out.
KEPT_BY_THE_CRM = frozenset({"id", "score", "created_at", "updated_at", "last_contacted_at"})
# The column an import matching rows by id reads the record's id from (an
# export's first column), and the key its value comes under.
RECORD_ID = "id"

_SIMPLE_LOCAL = re.compile(r"[a-z0-9]+(?:[._+-][a-z0-9]+)*\Z")


@lru_cache(maxsize=4096)
def _domain_ok(domain: str) -> bool:
    try:
        return normalize_email(f"a@{domain}") == f"a@{domain}"
    except ValidationError:
        return False


def fast_email(value: str) -> str:
    """``normalize_email(value)``, without calling the full validator for plain
    ASCII addresses on domains it already accepted."""
    candidate = value.strip().lower()
    local, at, domain = candidate.partition("@")
    if (at and candidate.isascii() and len(local) <= 64 and len(candidate) <= 254
            and _SIMPLE_LOCAL.match(local) and _domain_ok(domain)):
        return candidate
    return normalize_email(value)


def header_key(name: str) -> str:
    return re.sub(r"[^a-z0-9.]+", "_", name.strip().lower()).strip("_")


def field_of(record_type: str, key: str) -> str | None:
    """The field a header names by one of its aliases; a numbered list column
    (``Email 2``, ``Phone_1``) fills the list."""
    field = ALIASES[record_type].get(key)
    if field is None and (numbered := re.fullmatch(r"(.+?)_?\d+", key)):
        field = ALIASES[record_type].get(numbered[1])
        return field if field in LIST_FIELDS else None
    return field


def fields_named(record_type: str, name: str, custom: Sequence[Any]) -> list[str]:
    """The fields a column named ``name`` may fill, unless a mapping says: the
    one it spells as an export writes it (``full_name``, ``custom.budget``),
    else every one whose alias, or custom field's name or label, it is
    (whatever the case, spaces and punctuation, as :func:`header_key` reads
    them). Several are for the user to choose between: a column of a custom
    field labelled "Company" could be meant for either."""
    exact = name.strip()
    if exact in ALIASES[record_type].values() or any(exact == f"custom.{d.name}"
                                                     for d in custom):
        return [exact]
    key = header_key(name)
    found = [field] if (field := field_of(record_type, key)) else []
    found += [f"custom.{d.name}" for d in custom
              if key in (header_key(d.name), header_key(d.label), f"custom.{d.name}")]
    return list(dict.fromkeys(found))


@dataclass(frozen=True)
class Column:
    index: int
    header: str
    field: str

    def fills(self, record_type: str) -> tuple[str, ...]:
        """The record's fields this column gives: a part of a lead's name fills
        its whole name, a contact's whole name its parts."""
        return NAME_FILLS[record_type].get(self.field, (self.field,))


def required_from(record_type: str) -> list[str]:
    """The fields a column may map to for the record type's required field."""
    return sorted(f for f in set(ALIASES[record_type].values())
                  if REQUIRED[record_type] in Column(0, "", f).fills(record_type))


class HeaderProblems(ValueError):
    """Why :func:`map_header` refuses a header. Its message says every problem,
    ``; ``-separated, then the fields a column may fill. ``by_cause`` has the
    problems apart, each in the message's words:

    - ``mapping``: what the mapping given is wrong about whatever the file
      holds: a field that does not exist, a column the file does not have (or,
      by name, has several of), a count of columns not the file's, the file's
      ``id`` column mapped to another field when rows are matched by id;
    - ``file``: the file's header, as mapped: a column that was not mapped and
      matches no field, or several, no column giving the required field (or
      the id, the file having no ``id`` column), several columns filling one
      field.

    A list holding a column that matches no field ends with the fields
    (``unknown``: the cause of each such column)."""

    def __init__(self, problems: Sequence[tuple[str, str]], fields: Sequence[str] | None = None,
                 unknown: Sequence[str] = ()) -> None:
        message = "; ".join(text for _, text in problems)
        listed = "Fields: " + ", ".join(fields) + "." if fields is not None else None
        super().__init__(message + (". " + listed if listed else ""))
        self.by_cause: dict[str, list[str]] = {}
        for cause, text in problems:
            self.by_cause.setdefault(cause, []).append(text)
        if listed:
            for cause in dict.fromkeys(unknown):
                self.by_cause[cause].append(listed)


def map_header(record_type: str, header: Sequence[str], mapping: Mapping[str, str],
               custom: Sequence[Any], by_id: bool = False,
               chosen: Sequence[str] | None = None) -> list[Column]:
    """Which field each CSV column fills. ``mapping`` (CSV header -> field) wins
    over the names of :func:`fields_named` (the aliases, the custom fields'
    names and labels: ``custom`` are their definitions); a column mapped to
    ``-`` is ignored, and so are the columns the CRM keeps itself (``id``,
    ``score``, dates), which an export of the CRM carries. Raises
    :class:`HeaderProblems` (a ValueError) with a message naming the bad
    columns (one that names several fields among them), telling the mapping's
    problems from the file's.

    ``chosen``: instead of ``mapping`` and the aliases, the field of each
    column by position (``-`` ignores it), as the import page's mapping step
    gives it, which tells apart columns of the same name. ``mapping``, by
    name, cannot: naming a header the file repeats is refused.

    ``by_id``: rows are matched to records by their id, read from the column
    named ``id`` (whatever the mapping says of it; ignoring it is what the
    mapping step proposes) or from the column mapped to ``id``."""
    known = set(ALIASES[record_type].values()) | {f"custom.{d.name}" for d in custom}
    if chosen is not None and len(chosen) != len(header):
        raise HeaderProblems([("mapping", f"the mapping gives {len(chosen)} column(s), the "
                                          f"file has {len(header)}")])
    # A mapping names columns whatever their case, as headers match fields.
    by_name = {key.strip().casefold(): value for key, value in mapping.items()}
    columns: list[Column] = []
    problems: list[tuple[str, str]] = []  # (cause, message): HeaderProblems.by_cause
    unknown: list[str] = []  # the causes of columns that match no field
    for index, name in enumerate(header):
        if not name.strip():
            if chosen is None:
                continue  # no name to map it by: a cell it fills is its row's problem
            name = f"#{index + 1}"
        target = (chosen[index] if chosen is not None
                  else mapping.get(name) or mapping.get(name.strip())
                  or by_name.get(name.strip().casefold()))
        key = header_key(name)
        if by_id and (target == RECORD_ID or (key == RECORD_ID and target in (None, "-"))):
            columns.append(Column(index, name, RECORD_ID))
            continue
        if target == "-":
            continue
        if not target and key in KEPT_BY_THE_CRM:
            continue
        named = [target] if target else fields_named(record_type, name, custom)
        if len(named) > 1:
            problems.append(("file", f"column {name!r} could fill {' or '.join(named)}: map "
                                     "it to one (or ignore it)"))
            continue
        field = named[0] if named else None
        if field is None or field not in known:
            separators = [c for c in ",;\t" if c in name]
            cause = "mapping" if target else "file"
            unknown.append(cause)
            problems.append((cause, f"column {name!r} matches no field"
                             + (f" (mapped to unknown field {target!r})" if target else "")
                             + (f" (it holds {separators[0]!r}: are the cells separated by "
                                "another character?)" if separators and not target else "")))
            continue
        columns.append(Column(index, name, field))
    if by_id and not any(c.field == RECORD_ID for c in columns):
        # The file's own id column, mapped to another field, is the mapping's doing.
        problems.append(("mapping" if any(header_key(n) == RECORD_ID for n in header) else "file",
                         "rows are matched by id, but no column is named id (as in an export "
                         "of this list) or mapped to it"))
    if chosen is None:
        problems += [("mapping", problem) for problem in _unmatched(header, mapping)]
    fields_seen = [c.field for c in columns]
    for field in sorted({f for f in fields_seen if fields_seen.count(f) > 1} - LIST_FIELDS):
        problems.append(("file", f"several columns fill {field}: "
                         + ", ".join(repr(c.header) for c in columns if c.field == field)))
    if WHOLE_NAME in fields_seen and set(NAME_PARTS) & set(fields_seen):
        problems.append(("file", f"the name comes from one column ({WHOLE_NAME}) or from its "
                         f"parts ({' and '.join(NAME_PARTS)}), not both: "
                         + ", ".join(repr(c.header) for c in columns
                                     if c.field in (WHOLE_NAME, *NAME_PARTS))))
    elif not any(REQUIRED[record_type] in c.fills(record_type) for c in columns):
        problems.append(("file", f"no column gives {REQUIRED[record_type]} (a column of "
                         f"{' or '.join(required_from(record_type))} would)"))
    if problems:
        raise HeaderProblems(problems, sorted(known), unknown)
    return columns


def _unmatched(header: Sequence[str], mapping: Mapping[str, str]) -> list[str]:
    """What a mapping by name names that is not one column of the file: a
    header the file repeats would map its columns alike, one of them (a
    column ignored, the other not) silently left out."""
    positions: dict[str, list[int]] = {}
    for index, name in enumerate(header, start=1):
        if name.strip():
            positions.setdefault(name.strip().casefold(), []).append(index)
    problems = []
    for name in mapping:
        found = positions.get(name.strip().casefold(), [])
        if not found:
            problems.append(f"the mapping names column {name!r}, which the file does not have")
        elif len(found) > 1:
            problems.append(f"the mapping names column {name!r}, which the file has "
                            f"{len(found)} of (columns {', '.join(map(str, found))}): a "
                            "mapping by name cannot tell them apart; rename them in the "
                            "file's header")
    return problems


def _validate_all(validators: Sequence[Callable[[Any], Any]], value: Any) -> None:
    """Run every validator and raise all their messages, as marshmallow does."""
    messages: list[Any] = []
    for check in validators:
        try:
            check(value)
        except ValidationError as exc:
            messages.extend(exc.messages if isinstance(exc.messages, list) else [exc.messages])
    if messages:
        raise ValidationError(messages)


def _length_bounds(field: fields.Field) -> tuple[int, int] | None:
    """``(shortest, longest)`` when the field's only rules are length limits, as
    for most text columns; ``None`` when it has other rules."""
    validators = list(field.validators)
    limits = [v for v in validators if type(v) is validate.Length and v.equal is None]
    if limits != validators:
        return None
    return (max((v.min for v in limits if v.min is not None), default=0),
            min((v.max for v in limits if v.max is not None), default=sys.maxsize))


def quoted(value: str) -> str:
    """A cell's value as a problem quotes it: in typographic quotes (a
    message starting with one is no formula, and needs no ``'`` in the
    problems' CSV), shortened when long (its line breaks counted as "\\n",
    whatever the file's), control characters escaped as Python writes them,
    so that a message stays one readable line."""
    value = line_breaks(value)
    if len(value) > QUOTED_LENGTH:
        value = value[:QUOTED_LENGTH - 1] + "…"
    if not value.isprintable():
        value = "".join(c if c.isprintable() else repr(c)[1:-1] for c in value)
    return f"“{value}”"


def _value(field: fields.Field) -> Callable[[str], Any]:
    """A text cell's converter: a choice is the field's own (its spelling), any
    other text the shortcut of :func:`_text`."""
    return field.deserialize if isinstance(field, Choice) else _text(field)


def _text(field: fields.Field) -> Callable[[str], str]:
    validators = list(field.validators)
    bounds = _length_bounds(field)

    def checked(value: str) -> str:
        value = line_breaks(value)
        # Within its length limits a value breaks no rule: the schema's own
        # validators run (and word the error) only when it is out of bounds.
        if bounds is None or not bounds[0] <= len(value) <= bounds[1]:
            _validate_all(validators, value)
        return value

    return checked


def _tidied(field: fields.List) -> Callable[[list[Any]], list[Any]] | None:
    """What the list field does to its items before its rules: tags drop a tag
    given again (:class:`TagList`)."""
    return distinct_tags if isinstance(field, TagList) else None


def _checked(field: fields.List) -> Callable[[list[Any]], list[Any]]:
    """The list field's own rules (how many, none twice) on items converted already."""
    validators = list(field.validators)
    tidy = _tidied(field)

    def check(items: list[Any]) -> list[Any]:
        if tidy is not None:
            items = tidy(items)
        _validate_all(validators, items)
        return items

    return check


def _passes_one_item(check: Callable[[Any], Any]) -> bool:
    """Whether ``check`` accepts every list of one item: a length limit that
    allows one, or the rule that no item is listed twice."""
    if check is distinct_items:
        return True
    return (type(check) is validate.Length and check.equal is None
            and (check.min or 0) <= 1 and (check.max is None or check.max >= 1))


def _listing(field: fields.List, item: Callable[[str], Any], whole: bool = True,
             separator: re.Pattern[str] = _ITEM_SEPARATOR) -> Callable[[str], list[Any]]:
    """A list cell's converter; with ``whole`` false, for one of several columns
    filling the list, its items only (the list's rules apply once they join).
    ``separator`` matches where one item ends and the next begins. A bad
    item's message quotes it."""
    validators = list(field.validators) if whole else []
    one_passes = all(_passes_one_item(v) for v in validators)
    tidy = _tidied(field) if whole else None

    def convert(value: str) -> list[Any]:
        # Cells arrive stripped and not empty, so one value needs no splitting,
        # and passes the list's own rules if they allow any one item.
        if separator.search(value) is None:
            if one_passes:
                try:
                    return [item(value)]
                except ValidationError as exc:
                    message = f"{quoted(value)}: {_flatten(exc.messages)}"
                    raise ValidationError({0: message}) from None  # type: ignore[dict-item]
            items = [value]
        else:
            items = [v.strip() for v in separator.split(value) if v.strip()]
        errors: dict[int, str] = {}
        out = []
        for i, raw in enumerate(items):
            try:
                out.append(item(raw))
            except ValidationError as exc:
                errors[i] = f"{quoted(raw)}: {_flatten(exc.messages)}"
        if errors:
            raise ValidationError(errors)  # type: ignore[arg-type]
        if tidy is not None:
            out = tidy(out)
        _validate_all(validators, out)
        return out

    return convert


class RowValidator:
    """Turns a CSV row into service input for one record type.

    ``owners`` maps a lower-cased email or name to a user id (or, for a name
    that names no one, why): the users the importing user may name as owner
    (everyone active, or only themselves, as ``may_set_owner`` says; it words
    the refusal of anyone else). ``stages`` maps a stage's name to its id, in
    the order a refusal lists them; a cell names one whatever its case.

    A problem with a cell quotes the value it is about (:func:`quoted`): the
    cell, a list's bad item, a part of a contact's whole name, or a lead's
    name joined from its parts.
    """

    def __init__(self, record_type: str, columns: Sequence[Column], custom: Sequence[Any],
                 owners: Mapping[str, int | str], stages: Mapping[str, int],
                 may_set_owner: bool, header_width: int | None = None,
                 unnamed: Sequence[int] = ()) -> None:
        schema: Schema = BASE_INPUTS[record_type]()
        self.columns = columns
        self.header_width = header_width
        # Columns with no name that nothing reads: a value under one would be
        # lost unsaid.
        self.unnamed = unnamed
        self.required = REQUIRED[record_type]
        self.converters: dict[str, Callable[[str], Any]] = {}
        bounds: dict[str, tuple[int, int] | None] = {}
        custom_by_name = {d.name: d for d in custom}
        # Fields that several columns fill, checked once their values join:
        # each with the rules of the whole and the columns' headers.
        self.joined: dict[str, tuple[Callable[[Any], Any], tuple[str, ...]]] = {
            name: (_checked(schema.fields[name]), tuple(c.header for c in columns
                                                         if c.field == name))
            for name in LIST_FIELDS if sum(c.field == name for c in columns) > 1}
        # The columns of a name that the record keeps otherwise (parts of a
        # lead's, a contact's whole), read as text and checked as what they fill.
        reshaped = [c for c in columns if c.field in NAME_FILLS[record_type]]
        # First name first, in whatever order the columns come.
        self.parts = ([p for p in NAME_PARTS if any(c.field == p for c in reshaped)]
                      if record_type == "lead" else [])
        if self.parts:
            self.joined[WHOLE_NAME] = (_text(schema.fields[WHOLE_NAME]),
                                       tuple(c.header for c in reshaped))
        self.whole = reshaped[0].header if reshaped and not self.parts else None
        self.part_checks = ([(name, _text(schema.fields[name])) for name in NAME_PARTS]
                            if self.whole is not None else [])
        self.required_header = " + ".join(c.header for c in columns
                                          if self.required in c.fills(record_type))
        self.combines = bool(self.joined or self.whole)
        for column in columns:
            name = column.field
            whole = name not in self.joined
            if name in NAME_FILLS[record_type]:
                conv = str  # checked as what it fills, below
                bounds[name] = (0, sys.maxsize)
            elif name == "emails":
                conv = _listing(schema.fields["emails"], fast_email,  # type: ignore[arg-type]
                                whole)
            elif name == "phones":
                conv = _listing(schema.fields["phones"], normalize_phone,  # type: ignore[arg-type]
                                whole, _PHONE_SEPARATOR)
            elif name in ("tags", "opt_outs"):
                inner = _value(schema.fields[name].inner)  # type: ignore[attr-defined]
                conv = _listing(schema.fields[name], inner, whole,  # type: ignore[arg-type]
                                _TAG_SEPARATOR if name == "tags" else _ITEM_SEPARATOR)
            elif name == RECORD_ID:
                conv = _record_id
            elif name == "stage":
                conv = self._lookup({n.lower(): i for n, i in stages.items()},
                                    f"Unknown stage. Must be one of: {listing(list(stages))}.")
            elif name == "owner":
                conv = self._lookup(owners, "Unknown user: no active user has this email "
                                    "or name." if may_set_owner else "You may not set the "
                                    "owner: name yourself, or leave the cell empty.")
            elif name.startswith("custom."):
                conv = self._custom(custom_field(custom_by_name[name[7:]], partial=False))
            else:
                conv = _value(schema.fields[name])
                bounds[name] = _length_bounds(schema.fields[name])
            self.converters[name] = conv
        # Per column: where to read, how to convert, which key receives it,
        # the length limits of a text column that has no other rule, and
        # whether its problem quotes the cell (a list's quotes its items).
        self.plan = [(c.index, c.header, self.converters[c.field], *_target(c.field),
                      bounds.get(c.field), c.field not in LIST_FIELDS) for c in columns]
        # The record's fields the columns fill (as input names them: stage_id,
        # custom.budget), each with its columns: for :meth:`blank_fields`.
        self.filled_by: dict[str, list[Column]] = {}
        for c in columns:
            for name in c.fills(record_type) if c.field != RECORD_ID else ():
                self.filled_by.setdefault(input_name(name), []).append(c)

    @staticmethod
    def _lookup(table: Mapping[str, int | str], message: str) -> Callable[[str], int]:
        def convert(value: str) -> int:
            found = table.get(value.strip().lower())
            if not isinstance(found, int):
                raise ValidationError(found or message)
            return found

        return convert

    @staticmethod
    def _custom(field: fields.Field) -> Callable[[str], Any]:
        return lambda value: field.deserialize(value)

    def convert(self, row: Sequence[str]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        """``(values, problems)``: values by field (``stage_id``, ``owner_id``,
        ``custom``), and ``(column header, message)`` for each bad cell."""
        values: dict[str, Any] = {}
        problems: list[tuple[str, str]] = []
        width = len(row)
        if self.header_width is not None and width > self.header_width:
            problems.extend(_beyond_header(row, self.header_width))
        if self.unnamed:
            problems.extend(_under_no_name(row, self.unnamed))
        for index, header, convert, key, custom_name, bounds, quotes in self.plan:
            if index >= width:
                continue
            raw = row[index].strip()
            if not raw:
                continue
            if raw[0] == "'":
                # What the quote kept ("'\r=1" from an export) is trimmed too,
                # as the schemas trim text typed in.
                raw = restore(raw).strip()
                if not raw:
                    continue
            if bounds is not None:  # text
                if "\r" in raw:
                    raw = line_breaks(raw)
                if bounds[0] <= len(raw) <= bounds[1]:
                    values[key] = raw  # plain text within its limits: the common case, inline
                    continue
            try:
                value = convert(raw)
            except ValidationError as exc:
                problems.append((header, f"{quoted(raw)}: {_flatten(exc.messages)}" if quotes
                                 else _flatten(exc.messages)))
                continue
            if key in self.joined:
                values.setdefault(key, []).extend(value)
            elif custom_name is None:
                values[key] = value
            else:
                values.setdefault("custom", {})[custom_name] = value
        if self.combines:
            self._combine(values, problems)
        if self.required not in values and self.required_header not in dict(problems):
            problems.append((self.required_header, "Missing data for required field."))
        return values, problems

    def blank_fields(self, row: Sequence[str]) -> list[str]:
        """The fields (as input names them) whose every column is blank in
        ``row``, as :meth:`convert` reads a cell: for an update that clears
        them (``blank_cells="clear"``)."""
        return [name for name, filling in self.filled_by.items()
                if all(_blank(row, c.index) for c in filling)]

    def columns_of(self, name: str) -> str:
        """The header of the column filling ``name`` (an input name), or
        of each column, joined by " + "."""
        return " + ".join(c.header for c in self.filled_by[name])

    def _combine(self, values: dict[str, Any], problems: list[tuple[str, str]]) -> None:
        """Check what several columns filled together, as one cell holding
        their values (a name's parts joined by a space, lists by ";") would be,
        and a whole name as its parts would be."""
        if self.parts:
            parts = [values.pop(p) for p in self.parts if p in values]
            if parts:
                values[WHOLE_NAME] = " ".join(parts)
        if self.whole is not None and WHOLE_NAME in values:
            for (name, check), part in zip(self.part_checks,
                                           split_name(values.pop(WHOLE_NAME)), strict=True):
                if part:
                    try:
                        values[name] = check(part)
                    except ValidationError as exc:
                        problems.append((self.whole, f"{name} {quoted(part)}: "
                                                     f"{_flatten(exc.messages)}"))
        flagged = {header for header, _ in problems}
        for key, (check, headers) in self.joined.items():
            # A bad item is the answer already, as the full schema gives it.
            if key not in values or flagged.intersection(headers):
                continue
            try:
                values[key] = check(values[key])
            except ValidationError as exc:
                # A name joined from its parts is quoted; a list's rules (how
                # many, none twice) are about no one item.
                value = values.pop(key)
                problems.append((" + ".join(headers), f"{quoted(value)}: {_flatten(exc.messages)}"
                                 if isinstance(value, str) else _flatten(exc.messages)))


def _record_id(value: str) -> int:
    if not (value.isascii() and value.isdigit() and 0 < int(value) < 2**63):
        raise ValidationError("Not a record's id: a whole number, as the export gives it.")
    return int(value)


def _beyond_header(row: Sequence[str], header_width: int) -> list[tuple[str, str]]:
    """A filled cell past the header's last column: read as nothing, it would be
    lost, and it often means a comma inside an unquoted cell shifted the row.
    Trailing empty cells (``a,b,,``) are fine."""
    for index in range(header_width, len(row)):
        if row[index].strip():
            return [(f"#{index + 1}", f"{quoted(row[index].strip())}: A cell beyond the "
                     f"header's {header_width} columns: "
                     "name its column in the header (in a CSV: is a separator inside a "
                     "cell not quoted?).")]
    return []


def _under_no_name(row: Sequence[str], unnamed: Sequence[int]) -> list[tuple[str, str]]:
    """A filled cell under a column whose header is blank. An empty one is
    fine: a spreadsheet's trailing separator (``Name,Email,``) makes one."""
    return [(f"#{index + 1}", f"{quoted(row[index].strip())}: A cell under a column with no "
             "name: name its column in the header, or choose to ignore the column on the "
             "import page.")
            for index in unnamed if index < len(row) and row[index].strip()]


def _blank(row: Sequence[str], index: int) -> bool:
    """Whether a cell holds nothing (past a short row's end, spaces, a quote
    kept nothing), as :meth:`RowValidator.convert` reads it."""
    raw = row[index].strip() if index < len(row) else ""
    return not (restore(raw).strip() if raw[:1] == "'" else raw)


def input_name(field: str) -> str:
    """The input's name of a column's ``field``: a stage's and an owner's are
    their ids (``stage_id``), a custom field's ``custom.<name>``."""
    key, custom_name = _target(field)
    return field if custom_name is not None else key


def _target(field: str) -> tuple[str, str | None]:
    if field == "stage":
        return "stage_id", None
    if field == "owner":
        return "owner_id", None
    if field.startswith("custom."):
        return "custom", field[7:]
    return field, None


def _flatten(messages: Any) -> str:
    if isinstance(messages, dict):
        return "; ".join(_flatten(v) for v in messages.values())
    if isinstance(messages, list):
        return " ".join(_flatten(m) for m in messages)
    return str(messages)

