"""CSV export: every visible, filtered record, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import event, select

from crmcore.db import transaction
from crmcore.services import custom_fields as cf
from crmcore.services import imports
from crmcore.services import records as svc
from crmcore.services import stages as stage_svc
from crmcore.services.cells import FORMULA_STARTS, neutralize, restore
from crmcore.services.exports import export_csv

pytestmark = pytest.mark.plugins()


@given(st.text())
def test_no_cell_starts_like_a_formula(value):
    safe = neutralize(value)
    assert not safe.startswith(FORMULA_STARTS)
    assert safe in (value, "'" + value)
    assert restore(safe) == value  # and an import reads back what was exported


def test_a_quote_typed_to_keep_a_value_as_text_comes_off():
    assert [restore(c) for c in ("'+12025550123", "'-5", "'x", "'", "O'Brien", "''=1")] == [
        "+12025550123", "-5", "'x", "'", "O'Brien", "'=1"]


def rows(chunks):
    return list(csv.reader(io.StringIO("".join(chunks))))


def test_export_streams_filtered_visible_records_with_custom_fields(app, make_user):
    admin, sales = make_user("admin"), make_user("sales")
    with transaction(app.extensions["crm"].sessions) as s:
        cf.create_field(s, admin, {"record_type": "lead", "name": "plan", "label": "Plan",
                                   "field_type": "text"})
        for i in range(7):
            svc.create(s, sales, svc.LEADS, {"full_name": f"Lead {i}", "source": "web",
                                             "custom": {"plan": "=HYPERLINK(\"x\")"}})
        svc.create(s, admin, svc.LEADS, {"full_name": "<script>alert(1)</script>",
                                         "company": "-2+3", "source": "web"})
        gone = svc.create(s, admin, svc.LEADS, {"full_name": "Deleted", "source": "web"})
        svc.soft_delete(s, admin, svc.LEADS, [gone.id])
    loaded = []

    def built(record, _context):
        loaded.append(record.id)

    event.listen(svc.LEADS.model, "load", built)
    try:
        with transaction(app.extensions["crm"].sessions) as s:
            everything = rows(export_csv(s, admin, svc.LEADS, {"source": "web"}, page_size=3))
            theirs = rows(export_csv(s, sales, svc.LEADS))
    finally:
        event.remove(svc.LEADS.model, "load", built)
    assert loaded == []  # read as rows of the exported columns, no record built
    header, *body = everything
    assert header[-1] == "custom.plan" and len(body) == 8
    assert "Deleted" not in {r[1] for r in body}
    scripted = next(r for r in body if r[1].startswith("<script"))
    assert scripted[1] == "<script>alert(1)</script>" and scripted[4] == "'-2+3"
    assert {r[-1] for r in body if r[1].startswith("Lead")} == {"'=HYPERLINK(\"x\")"}
    assert len(theirs) == 1 + 7


LEAD_FIELDS = ("full_name", "emails", "phones", "company", "login", "partner", "location",
               "source", "stage_id", "owner_id", "tags", "custom")
CONTACT_FIELDS = ("first_name", "last_name", "emails", "phones", "company", "street", "city",
                  "postal_code", "country", "lifecycle_stage", "opt_outs", "owner_id", "tags",
                  "custom")


def snapshot(app, kind, fields):
    with app.extensions["crm"].sessions() as s:
        return {r.emails[0]: {f: getattr(r, f) for f in fields}
                for r in s.scalars(select(kind.model).order_by(kind.model.id))}


@pytest.mark.parametrize("kind,fields,records", [
    (svc.LEADS, LEAD_FIELDS, [
        {"full_name": "-Dash Person", "emails": ["ada@x.org", "ada.work@x.org"],
         "phones": ["+12025550123", "(650) 253-0000 ext. 42", "+442079460000"],
         "company": "=Formula Co",
         "login": "@ada", "partner": "'quoted", "location": "+Plus", "source": "fair",
         "tags": ["vip", "=bad"], "stage": "Qualified",
         "custom": {"plan": "=cmd|' /C calc'!A0", "seats": -5.0, "renewal": "2027-01-31",
                    "vip": True}},
        {"full_name": "Plain", "emails": ["plain@x.org"]},
    ]),
    (svc.CONTACTS, CONTACT_FIELDS, [
        {"first_name": "Ada", "last_name": "-Lovelace", "emails": ["ada@x.org"],
         "phones": ["+12025550123"], "street": "@home", "city": "London",
         "postal_code": "SW1A 1AA", "country": "GB", "lifecycle_stage": "customer",
         "opt_outs": ["email", "sms"], "tags": ["+1"],
         "custom": {"plan": "-", "seats": 3.5, "renewal": "2026-12-01", "vip": False}},
        {"last_name": "Plain", "emails": ["plain@x.org"]},
    ]),
])
def test_an_export_imports_back_as_it_was(app, tmp_path, make_user, kind, fields, records):
    """Export, edit in a spreadsheet, import again: the export's own columns and
    values read back, formulas neutralized on the way out and restored on the
    way in, stage and owner by name."""
    admin, owner = make_user("admin"), make_user("sales")
    sessions = app.extensions["crm"].sessions
    with transaction(sessions) as s:
        for name, field_type in (("plan", "text"), ("seats", "number"), ("renewal", "date"),
                                 ("vip", "boolean")):
            cf.create_field(s, admin, {"record_type": kind.record_type, "name": name,
                                       "label": name.title(), "field_type": field_type})
        stages = {stage.name: stage.id for stage in stage_svc.list_stages(s)}
        for values in records:
            values = dict(values, owner_id=owner.id)
            if "stage" in values:
                values["stage_id"] = stages[values.pop("stage")]
            svc.create(s, admin, kind, values)
    before = snapshot(app, kind, (*fields, "version"))
    path = tmp_path / "export.csv"
    with transaction(sessions) as s:
        path.write_text("".join(export_csv(s, admin, kind)), encoding="utf-8")
    exported = list(csv.DictReader(path.open(encoding="utf-8")))
    assert {r["owner"] for r in exported} == {owner.email}
    if kind is svc.LEADS:
        assert [r["stage"] for r in exported] == ["New", "Qualified"]  # newest first
        # A number keeps its extension, and ";" still separates numbers (the
        # ' keeps a spreadsheet from reading a formula).
        assert exported[1]["phones"] == "'+12025550123; +16502530000;ext=42; +442079460000"

    def run(**options):
        with transaction(sessions) as s:
            job = imports.start(s, s.merge(admin), kind, path, path.name,
                                imports.ImportOptions(**options))
        return imports.run(sessions, job.id)

    again = run(on_duplicate="update")
    assert (again.status, again.errors, again.updated_count, again.unchanged_count) == (
        "done", [], 0, 2)
    assert snapshot(app, kind, (*fields, "version")) == before  # nothing to write
    with transaction(sessions) as s:
        svc.remove(s, admin, kind, list(s.scalars(select(kind.model.id))))
    fresh = run()
    assert (fresh.status, fresh.errors, fresh.created_count) == ("done", [], 2)
    assert snapshot(app, kind, fields) == {
        email: {f: v for f, v in values.items() if f != "version"}
        for email, values in before.items()}
