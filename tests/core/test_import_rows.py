"""The import's fast row validator answers exactly as the full marshmallow
schema does: the same values for good rows, the same columns and messages for
bad ones."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError

from crmcore.schemas.records import ContactInput, LeadInput, split_name
from crmcore.services.cells import restore
from crmcore.services.import_rows import LIST_FIELDS, RowValidator, _flatten, map_header, quoted

HEADER = ["Full name", "Email", "Phone", "Company", "Tags", "Source", "Login"]
COLUMNS = map_header("lead", HEADER, {}, [])
FIELD_OF = {c.header: c.field for c in COLUMNS}
VALIDATOR = RowValidator("lead", COLUMNS, custom=[], owners={}, stages={}, may_set_owner=False)


def cells(*parts: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """A cell: one of ``parts``, or several joined by ';', maybe padded."""
    one = st.one_of(*parts)
    joined = st.lists(one, min_size=1, max_size=12).map(";".join)
    return st.tuples(st.sampled_from(["", " ", "\t"]), st.one_of(one, joined),
                     st.sampled_from(["", " "])).map("".join)


texts = st.one_of(st.text(max_size=30), st.sampled_from(["", "  ", "x" * 50, "x" * 51,
                                                          "x" * 100, "x" * 101, "x" * 200,
                                                          "x" * 201, "a\r\nb\rc",
                                                          # 201 long, 200 once "\n"
                                                          "x" * 99 + "\r\n" + "x" * 100]))
emails = st.one_of(st.emails().map(str), st.sampled_from(
    ["a@x.org", "A@X.org", "bad", "a@", "@x.org", "a..b@x.org", "zoë@exämple.org"]))
phones = st.sampled_from(["+12025550123", "(202) 555-0143", "202 555 0143", "123", "phone",
                          "+44 20 7946 0958", "+1202555012345678", "+12025550123;ext=42",
                          "(202) 555-0123 ext. 42", "202 555 0123 x7", "ext=42", "EXT=7",
                          "ext=", "+12025550123;ext=42;ext=43"])
rows = st.tuples(texts, cells(emails), cells(phones), texts,
                 cells(st.sampled_from(["vip", "VIP", "Vip", "", "t" * 50, "t" * 51, "a,b",
                                        "a, B", ",", "T" * 51 + ",x"]), st.text(max_size=8)),
                 texts, texts).map(list)


def told(data: dict, errors: dict) -> dict[str, str]:
    """The full schema's messages flattened by field, as the import words
    them: each quotes the value it is about, a list's bad item (by its
    position); a list's own rules (how many, none twice) quote nothing."""
    out = {}
    for field, messages in errors.items():
        if isinstance(messages, dict):
            out[field] = "; ".join(f"{quoted(data[field][i])}: {_flatten(m)}"
                                   for i, m in messages.items())
        elif field in data and field not in LIST_FIELDS:
            out[field] = f"{quoted(data[field])}: {_flatten(messages)}"
        else:
            out[field] = _flatten(messages)
    return out


def lead_answer(data: dict) -> tuple[dict, dict[str, str]]:
    """The full schema's values, or its messages by field (:func:`told`)."""
    try:
        return LeadInput().load(data), {}
    except ValidationError as exc:
        return {}, told(data, exc.messages)


def items(field: str, cell: str) -> list[str]:
    """A list cell's items as the import documents them: separated by ";"
    (a tags cell's by "," too), except that in a phone cell ";ext=" (any
    case) goes on with the number before it, as its extension."""
    if field == "tags":
        cell = cell.replace(",", ";")
    out: list[str] = []
    for i, piece in enumerate(cell.split(";")):
        if i and field == "phones" and piece.lower().startswith("ext="):
            out[-1] += ";" + piece
        else:
            out.append(piece)
    return [v.strip() for v in out if v.strip()]


def read_cell(raw: str) -> str:
    """A cell as the import documents reading it: trimmed, without the ' an
    export puts before a formula character, and trimmed again."""
    return restore(raw.strip()).strip()


def full_answer(row: list[str]) -> tuple[dict, dict[str, str]]:
    data = {}
    for header, raw in zip(HEADER, row, strict=True):
        # A cell exported with a ' before a formula character imports without it.
        field, cell = FIELD_OF[header], read_cell(raw)
        if cell:
            data[field] = items(field, cell) if field in LIST_FIELDS else cell
    return lead_answer(data)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(rows)
@example(["", "", "", "", "", "", ""])
@example(["Ann", "a@x.org;A@X.ORG", "", "", "", "", ""])
@example(["Ann", ";".join(f"a{i}@x.org" for i in range(11)), "", "", "", "", ""])
@example(["Ann", "", "+12025550123;(202) 555-0123", "", "a;;b; ;c", "", ""])
@example(["", "'@A.ac", "'+12025550123", "''", "'=1", "", ""])
@example(["Ann", "", "+12025550123;ext=42; (202) 555-0123 x42;+12025550123", "", "", "", ""])
@example(["Ann", "", "+12025550123;ext=42; +12025550123 ext. 42", "", "", "", ""])
@example(["Ann", "", "ext=42;+12025550123;;ext=42", "", "", "", ""])
def test_the_fast_validator_answers_as_the_full_schema(row):
    values, problems = VALIDATOR.convert(row)
    expected_values, expected_errors = full_answer(row)
    assert {FIELD_OF[header]: message for header, message in problems} == expected_errors
    if not problems:
        assert values == expected_values


# A lead's name in parts and lists in several columns, as other tools export
# them: the answer is the full schema's for the joined values.
SPLIT = ["First name", "Last name", "Email", "Email 2", "Phone", "Mobile phone", "Company"]
SPLIT_COLUMNS = map_header("lead", SPLIT, {}, [])
SPLIT_VALIDATOR = RowValidator("lead", SPLIT_COLUMNS, custom=[], owners={}, stages={},
                               may_set_owner=False)
split_rows = st.tuples(texts, texts, cells(emails), cells(emails), cells(phones),
                       cells(phones), texts).map(list)


def joined_answer(row: list[str]) -> tuple[dict, dict[str, str]]:
    first, last, *rest = (read_cell(cell) for cell in row)
    # Each column's items, in column order: a column's "ext=" is no extension
    # of the column before it.
    lists = {"emails": [v for c in rest[0:2] for v in items("emails", c)],
             "phones": [v for c in rest[2:4] for v in items("phones", c)]}
    data = {k: values for k, values in lists.items() if values}
    if first or last:
        data["full_name"] = " ".join(p for p in (first, last) if p)
    if rest[4]:
        data["company"] = rest[4]
    return lead_answer(data)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(split_rows)
@example(["", "", "", "", "", "", ""])
@example(["Ann", "Lee", "a@x.org", "A@X.ORG", "", "", ""])
@example(["", "Lee", ";".join(f"a{i}@x.org" for i in range(6)),
          ";".join(f"b{i}@x.org" for i in range(5)), "", "", ""])
@example(["x" * 100, "y" * 100, "", "", "+12025550123", "(202) 555-0143", ""])
@example(["Ann", "", "bad", "a@", "123", "+12025550123", ""])
@example(["Ann", "", "", "", "+12025550123;ext=42", "(202) 555-0123 x42", ""])
@example(["Ann", "", "", "", "+12025550123", "ext=42", ""])
@example(["0\r\n0", "x" * 200, "", "", "", "", ""])  # quoted as read: "\r\n" is one break
def test_columns_that_join_answer_as_the_full_schema_on_the_joined_values(row):
    values, problems = SPLIT_VALIDATOR.convert(row)
    expected_values, expected_errors = joined_answer(row)
    field_of = {c.header: c.fills("lead")[0] for c in SPLIT_COLUMNS}
    for field in ("full_name", "emails", "phones"):
        field_of[" + ".join(c.header for c in SPLIT_COLUMNS if field in c.fills("lead"))] = field
    answered: dict[str, list[str]] = {}
    for header, message in problems:  # a list's bad items, column by column
        answered.setdefault(field_of[header], []).append(message)
    assert {field: "; ".join(messages) for field, messages in answered.items()} == expected_errors
    if not problems:
        assert values == expected_values


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(split_rows, st.integers(min_value=0, max_value=len(SPLIT)))
@example(["", " ", "'", "' ", "a@x.org", "", "\t"], 7)
@example(["Ann", "", "", "", "", "", ""], 3)
def test_a_blank_field_is_one_whose_every_column_reads_empty_and_gives_no_value(row, width):
    """What ``blank_cells="clear"`` clears: a field whose columns all read empty
    as the import documents reading a cell (a short row's missing cells too),
    and so one the row gives no value."""
    row = row[:width]
    cell = {header: read_cell(row[i]) if i < len(row) else ""
            for i, header in enumerate(SPLIT)}
    filled_by = {"full_name": ("First name", "Last name"), "emails": ("Email", "Email 2"),
                 "phones": ("Phone", "Mobile phone"), "company": ("Company",)}
    blank = SPLIT_VALIDATOR.blank_fields(row)
    assert set(blank) == {field for field, headers in filled_by.items()
                          if not any(cell[h] for h in headers)}
    values, problems = SPLIT_VALIDATOR.convert(row)
    assert not set(blank) & set(values)
    # No cell of theirs is bad: the name's columns are only said to be missing.
    blank_headers = {h for field in blank for h in filled_by[field]}
    assert all(message == "Missing data for required field."
               for header, message in problems if set(header.split(" + ")) & blank_headers)


# A contact's name in one column splits as split_name says (before its last
# word, at a comma, ...).
WHOLE = map_header("contact", ["Name", "Company"], {}, [])
WHOLE_VALIDATOR = RowValidator("contact", WHOLE, custom=[], owners={}, stages={},
                               may_set_owner=False)
names = st.one_of(texts, st.lists(st.sampled_from(["Ada", "de", "x" * 100, "y" * 101, "Zoë",
                                                   "van", "Jr.", "III", ",", "Lovelace,"]),
                                  max_size=5).map(" ".join))


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(names, texts)
@example("Ada Lovelace", "")
@example("Madonna", "")
@example("x" * 101 + " " + "y" * 101, "")
@example("'\t0", "")
def test_a_contacts_whole_name_answers_as_the_full_schema_on_its_parts(name, company):
    values, problems = WHOLE_VALIDATOR.convert([name, company])
    cell, data = read_cell(name), {}
    if cell:
        # Split as the import documents it (what a restored cell's leading tab
        # leaves is no part of the name).
        data = {k: v for k, v in zip(("first_name", "last_name"), split_name(cell), strict=True)
                if v}
    if read_cell(company):
        data["company"] = read_cell(company)
    try:
        expected, errors = ContactInput().load(data), {}
    except ValidationError as exc:
        expected, errors = {}, exc.messages
    if "last_name" not in data:  # no name at all: the column is reported, not a part
        name_errors = [_flatten(errors.pop("last_name"))]
    else:  # a part's problem quotes it
        name_errors = [f"{field} {quoted(data[field])}: {_flatten(errors.pop(field))}"
                       for field in ("first_name", "last_name") if field in errors]
    assert [m for h, m in problems if h == "Name"] == name_errors
    assert {h: m for h, m in problems if h != "Name"} == {
        "Company": m for m in told(data, errors).values()}
    if not problems:
        assert values == expected


def test_a_leads_name_parts_join_first_name_first_whatever_the_column_order():
    columns = map_header("lead", ["Surname", "Email", "Given name"], {}, [])
    validator = RowValidator("lead", columns, custom=[], owners={}, stages={},
                             may_set_owner=False)
    assert validator.convert(["Lovelace", "", "Ada"]) == ({"full_name": "Ada Lovelace"}, [])
    assert validator.convert(["", "", ""]) == (
        {}, [("Surname + Given name", "Missing data for required field.")])


def test_a_mapping_names_columns_whatever_their_case():
    """QA: --map foo=- against a header "Foo" said the file had no such
    column, though headers match fields whatever their case."""
    columns = map_header("lead", ["Name", "Foo", "E-Mail"], {"foo": "-", "e-mail ": "emails"},
                         [])
    assert [(c.header, c.field) for c in columns] == [("Name", "full_name"),
                                                       ("E-Mail", "emails")]
    with pytest.raises(ValueError, match="which the file has 2 of"):
        map_header("lead", ["Name", "Email", "email"], {"EMAIL": "emails"}, [])
