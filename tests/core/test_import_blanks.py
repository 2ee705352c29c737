"""``blank_cells="clear"``: a blank cell of a row that updates a record clears
the record's field, as the API's update empties it, and a revert gives the
value back; by default (``keep``) a blank cell changes nothing."""

from __future__ import annotations

import io
import re
import sqlite3

import pytest
from sqlalchemy import select

from crmcore.db import transaction
from crmcore.errors import ValidationFailed
from crmcore.models import Contact, ImportJob, Lead, OtherKey, TimelineEntry
from crmcore.services import custom_fields, imports
from crmcore.services import records as svc
from tests.api.conftest import assert_problem
from tests.api.test_imports import csv_file, post_import
from tests.core.csvfiles import write_csv
from tests.web.test_imports_ui import csv_bytes, submit, upload


def add_fields(app, admin, record_type="lead", *fields):
    """Custom fields ``(name, field type, required)`` of ``record_type``."""
    with transaction(app.extensions["crm"].sessions) as s:
        for name, field_type, required in fields:
            custom_fields.create_field(s, admin, {
                "record_type": record_type, "name": name, "label": name.title(),
                "field_type": field_type, "required": required})


def create(app, actor, kind=svc.LEADS, **data):
    with transaction(app.extensions["crm"].sessions) as s:
        return svc.create(s, s.merge(actor), kind, data).id


def held(app, model, record_id, *names):
    with app.extensions["crm"].sessions() as s:
        record = s.get(model, record_id)
        return {name: getattr(record, name) for name in names}


def other_keys(app, record_type, record_id):
    with app.extensions["crm"].sessions() as s:
        return set(s.scalars(select(OtherKey.value).where(
            OtherKey.record_type == record_type, OtherKey.record_id == record_id)))


@pytest.fixture
def admin(make_user):
    return make_user("admin")


@pytest.fixture
def full_lead(app, admin, make_user):
    """A lead holding a value in every field a file may clear."""
    add_fields(app, admin, "lead", ("budget", "number", False), ("due", "date", False),
               ("notes", "text", False))
    owner = make_user("sales")
    return create(app, admin, full_name="Ann Lee", emails=["ann@x.org", "ann@home.org"],
                  phones=["+1 202 555 0100", "+1 202 555 0101"], company="Acme",
                  location="Paris", source="Fair", tags=["vip", "2024"], owner_id=owner.id,
                  custom={"budget": 5, "due": "2024-01-02", "notes": "call back"})


FULL = ("company", "location", "source", "tags", "phones", "emails", "owner_id", "custom")
# Every column of the lead blank but its name and key email.
BLANK_FILE = (["Name", "Email", "Company", "Location", "Source", "Tags", "Phone", "Owner",
               "Budget", "Due", "Notes"],
              [["Ann Lee", "ann@x.org", "", " ", "", "", "", "", "", "", ""]])


@pytest.mark.parametrize("options", [{}, {"blank_cells": "keep"}], ids=["default", "keep"])
def test_by_default_a_blank_cell_leaves_the_records_value(app, tmp_path, run_import, admin,
                                                         full_lead, options):
    before = held(app, Lead, full_lead, *FULL)
    path = write_csv(tmp_path / "blank.csv", *BLANK_FILE)

    job = run_import(path, admin, on_duplicate="update", **options)

    assert (job.updated_count, job.unchanged_count) == (0, 1), job.message
    assert held(app, Lead, full_lead, *FULL) == before


def test_clear_empties_text_lists_owner_and_custom_fields_and_a_revert_gives_them_back(
        app, tmp_path, run_import, admin, full_lead):
    before = held(app, Lead, full_lead, *FULL)
    path = write_csv(tmp_path / "blank.csv", *BLANK_FILE)

    dry = run_import(path, admin, on_duplicate="update", blank_cells="clear", dry_run=True)
    assert (dry.updated_count, dry.unchanged_count, dry.error_count) == (1, 0, 0), dry.message
    assert held(app, Lead, full_lead, *FULL) == before
    job = run_import(path, admin, on_duplicate="update", blank_cells="clear")

    assert (job.updated_count, job.unchanged_count) == (1, 0), job.message
    # Found by email: its other address stays; its phones go with the blank
    # Phone column, and their other keys with them.
    assert held(app, Lead, full_lead, *FULL) == {
        "company": "", "location": "", "source": "", "tags": [], "phones": [],
        "emails": ["ann@x.org", "ann@home.org"], "owner_id": None,
        "custom": {"budget": None, "due": None, "notes": None}}
    assert other_keys(app, "lead", full_lead) == {"ann@home.org"}
    with app.extensions["crm"].sessions() as s:
        diff = s.scalars(select(TimelineEntry.changes).where(
            TimelineEntry.record_id == full_lead,
            TimelineEntry.body == f"Updated by import #{job.id}")).one()
    assert diff["company"] == ["Acme", ""] and diff["tags"] == [["vip", "2024"], []]
    assert diff["owner_id"][1] is None and diff["phones"][1] == []

    reverted = imports.revert(app.extensions["crm"].sessions, admin, job.id)

    assert reverted.message == "Reverted: deleted 0 record(s), restored 1."
    assert held(app, Lead, full_lead, *FULL) == before
    assert other_keys(app, "lead", full_lead) == {"ann@home.org", "+12025550101"}


def test_clear_empties_a_contacts_fields_and_matched_by_id_its_lists(app, tmp_path,
                                                                     run_import, admin):
    contact = create(app, admin, svc.CONTACTS, first_name="Ada", last_name="Lovelace",
                     emails=["ada@x.org"], phones=["+1 202 555 0100"], street="1 Main St",
                     city="London", postal_code="N1 9GU", country="GB",
                     opt_outs=["email"], tags=["vip"])
    path = write_csv(tmp_path / "export.csv",
                     ["id", "First name", "Last name", "Email", "Phone", "Street", "City",
                      "Postal code", "Country", "Opt outs", "Tags"],
                     [[contact, "", "Lovelace", "ada@x.org", "", "", "", "", "", "", ""]])

    job = run_import(path, admin, kind=svc.CONTACTS, on_duplicate="update", match_by="id",
                     blank_cells="clear")

    assert job.updated_count == 1, (job.message, job.errors)
    assert held(app, Contact, contact, "first_name", "last_name", "emails", "phones",
                "street", "city", "postal_code", "country", "opt_outs", "tags") == {
        "first_name": "", "last_name": "Lovelace", "emails": ["ada@x.org"], "phones": [],
        "street": "", "city": "", "postal_code": "", "country": "", "opt_outs": [],
        "tags": []}
    with app.extensions["crm"].sessions() as s:
        assert s.get(Contact, contact).name_key == "lovelace"


def test_a_field_the_record_must_have_is_a_problem_of_its_row_and_column(
        app, tmp_path, run_import, admin):
    add_fields(app, admin, "lead", ("segment", "text", True))
    ann = create(app, admin, full_name="Ann", emails=["ann@x.org"], custom={"segment": "A"})
    create(app, admin, full_name="Bob", emails=["bob@x.org"], custom={"segment": "B"})
    path = write_csv(tmp_path / "blank.csv", ["Name", "Email", "Stage", "Segment"], [
        ["Ann", "ann@x.org", "", "A"], ["Bob", "bob@x.org", "New", ""],
        ["", "cy@x.org", "New", "C"]])

    job = run_import(path, admin, on_duplicate="update", blank_cells="clear")

    assert job.status == "invalid"
    assert job.errors == [
        [2, "Stage", "A lead must have a stage: a blank cell cannot clear it."],
        [3, "Segment", "Segment is required: a blank cell cannot clear it."],
        [4, "Name", "Missing data for required field."]]
    # Matched by id, the first email is how imports find the record.
    export = write_csv(tmp_path / "export.csv", ["id", "Name", "Email", "Segment"],
                       [[ann, "Ann", "", "A"]])
    job = run_import(export, admin, on_duplicate="update", match_by="id", blank_cells="clear")
    assert job.errors == [[2, "Email", "The first email is how imports find a lead: a blank "
                                       "cell cannot clear it."]]


def test_a_contacts_lifecycle_stage_and_an_owner_the_user_may_not_set_are_problems(
        app, tmp_path, run_import, make_user):
    sales = make_user("sales")
    create(app, sales, svc.CONTACTS, last_name="Lee", emails=["lee@x.org"])
    path = write_csv(tmp_path / "blank.csv", ["Last name", "Email", "Lifecycle stage", "Owner"],
                     [["Lee", "lee@x.org", "", ""]])

    job = run_import(path, sales, kind=svc.CONTACTS, on_duplicate="update",
                     blank_cells="clear")

    assert job.errors == [
        [2, "Lifecycle stage", "A contact must have a lifecycle stage: a blank cell cannot "
                               "clear it."],
        [2, "Owner", "You may not set the owner: a blank cell cannot clear it."]]


def test_a_created_record_is_created_as_ever(app, tmp_path, run_import, admin):
    path = write_csv(tmp_path / "new.csv", ["Name", "Email", "Stage", "Owner", "Tags"],
                     [["Cy", "cy@x.org", "", "", ""]])

    job = run_import(path, admin, on_duplicate="update", blank_cells="clear")

    assert job.created_count == 1, (job.message, job.errors)
    with app.extensions["crm"].sessions() as s:
        lead = s.scalars(select(Lead)).one()
        assert (lead.owner_id, lead.tags, lead.stage_id) == (admin.id, [],
                                                             svc._default_stage(s))


def test_a_column_not_in_the_file_or_ignored_clears_nothing(app, tmp_path, run_import, admin,
                                                            full_lead):
    before = held(app, Lead, full_lead, *FULL)
    path = write_csv(tmp_path / "some.csv", ["Name", "Email", "Company"],
                     [["Ann Lee", "ann@x.org", ""]])

    job = run_import(path, admin, on_duplicate="update", blank_cells="clear",
                     mapping={"Company": "-"})

    assert (job.updated_count, job.unchanged_count) == (0, 1), job.message
    assert held(app, Lead, full_lead, *FULL) == before


def test_a_field_of_several_columns_is_cleared_only_when_all_are_blank(app, tmp_path,
                                                                       run_import, admin):
    ann = create(app, admin, full_name="Ann Lee", emails=["ann@x.org"],
                 phones=["+1 202 555 0100"])
    one = write_csv(tmp_path / "one.csv", ["First name", "Last name", "Email", "Phone",
                                           "Phone 2"],
                    [["", "Lee", "ann@x.org", "", "(202) 555-0102"]])

    job = run_import(one, admin, on_duplicate="update", blank_cells="clear")

    assert job.updated_count == 1, (job.message, job.errors)
    # The name is its last name's column; the phone column filled joins.
    assert held(app, Lead, ann, "full_name", "phones") == {
        "full_name": "Lee", "phones": ["+12025550102", "+12025550100"]}
    both = write_csv(tmp_path / "both.csv", ["Name", "Email", "Phone", "Phone 2"],
                     [["Lee", "ann@x.org", "", " "]])
    job = run_import(both, admin, on_duplicate="update", blank_cells="clear")
    assert job.updated_count == 1, (job.message, job.errors)
    assert held(app, Lead, ann, "phones")["phones"] == []


def test_a_dry_run_counts_a_row_clearing_only_empty_fields_as_unchanged(app, tmp_path,
                                                                        run_import, admin):
    add_fields(app, admin, "lead", ("budget", "number", False))
    create(app, admin, full_name="Ann", emails=["ann@x.org"])
    create(app, admin, full_name="Bob", emails=["bob@x.org"], company="Acme",
           custom={"budget": 3})
    path = write_csv(tmp_path / "blank.csv", ["Name", "Email", "Company", "Tags", "Budget"],
                     [["Ann", "ann@x.org", "", "", ""], ["Bob", "bob@x.org", "", "", ""]])

    dry = run_import(path, admin, on_duplicate="update", blank_cells="clear", dry_run=True)

    assert dry.message == ("Checked 2 row(s): an import would create 0, update 1, leave 1 "
                           "unchanged and skip 0; 0 problem(s). Nothing was written.")
    job = run_import(path, admin, on_duplicate="update", blank_cells="clear")
    assert (job.updated_count, job.unchanged_count) == (1, 1), job.message
    with app.extensions["crm"].sessions() as s:
        assert [(lead.company, lead.custom) for lead in s.scalars(
            select(Lead).order_by(Lead.id))] == [("", {}), ("", {"budget": None})]


def test_the_option_is_checked():
    with pytest.raises(ValidationFailed) as refused:
        imports.ImportOptions(blank_cells="empty").check()
    assert refused.value.errors == {"blank_cells": ["One of: keep, clear."]}


def test_the_cli_takes_blank_cells(crm, tmp_path):
    assert crm("init", CRM_PLUGINS="none").exit_code == 0
    people = write_csv(tmp_path / "people.csv", ["Name", "Email", "Company"],
                       [["Ada", "ada@x.org", "Acme"]])
    assert "Created 1," in crm("leads", "import", str(people), CRM_PLUGINS="none").output
    blank = write_csv(tmp_path / "blank.csv", ["Name", "Email", "Company"],
                      [["Ada", "ada@x.org", ""]])
    kept = crm("leads", "import", "--on-duplicate", "update", str(blank), CRM_PLUGINS="none")
    assert "updated 0, unchanged 1," in kept.output
    cleared = crm("contacts", "import", "--help", CRM_PLUGINS="none")
    assert "--blank-cells [keep|clear]" in cleared.output
    cleared = crm("leads", "import", "--on-duplicate", "update", "--blank-cells", "clear",
                  str(blank), CRM_PLUGINS="none")
    assert "updated 1," in cleared.output
    refused = crm("leads", "import", "--blank-cells", "empty", str(blank), CRM_PLUGINS="none")
    assert refused.exit_code == 2 and "'empty' is not one of 'keep', 'clear'" in refused.output
    with sqlite3.connect(crm.db_file) as db:
        assert db.execute("SELECT company FROM leads").fetchall() == [("",)]


@pytest.fixture
def synchronous_jobs(monkeypatch):
    """Each job runs in the request that queues it."""
    monkeypatch.setattr("crmcore.jobs.dispatch_import", imports.run)
    monkeypatch.setattr("crmcore.jobs.dispatch_revert", imports.run_revert)


@pytest.mark.usefixtures("synchronous_jobs")
def test_the_api_takes_blank_cells(app, api_client, admin):
    api = api_client(admin)
    ann = create(app, admin, full_name="Ann", emails=["ann@x.org"], company="Acme")
    refused = post_import(api, csv_file("Name,Email,Company", "Ann,ann@x.org,"),
                          on_duplicate="update", blank_cells="empty")
    assert assert_problem(refused, 422, "blank_cells")["errors"]["blank_cells"] == [
        "Must be one of: keep, clear."]
    with app.extensions["crm"].sessions() as s:
        assert s.scalar(select(ImportJob.id)) is None

    response = post_import(api, csv_file("Name,Email,Company", "Ann,ann@x.org,"),
                           on_duplicate="update", blank_cells="clear")

    assert response.status_code == 202, response.get_data(as_text=True)
    job = api.get(response.headers["Location"]).get_json()
    assert (job["blank_cells"], job["updated_count"]) == ("clear", 1), job
    assert held(app, Lead, ann, "company") == {"company": ""}


@pytest.mark.usefixtures("synchronous_jobs")
def test_the_import_page_offers_blank_cells_and_posts_it(app, client, login, admin):
    ann = create(app, admin, full_name="Ann", emails=["ann@x.org"], tags=["vip"])
    login(client, admin)
    form = client.get("/leads/import").get_data(as_text=True)
    assert re.search(r'<select id="blank_cells" name="blank_cells">', form)
    assert 'name="csrf_token"' in form

    page = upload(client, csv_bytes("Name,Email,Tags", "Ann,ann@x.org,"),
                  on_duplicate="update", blank_cells="clear").get_data(as_text=True)

    # The mapping step keeps the choice, and posts it with the mapping.
    assert re.search(r'<select id="blank_cells".*?<option value="clear" selected>', page, re.S)
    response = submit(client, page, "import")
    assert response.status_code == 303, response.get_data(as_text=True)
    done = client.get(response.headers["Location"]).get_data(as_text=True)
    assert re.search(r'id="count-updated">1<', done)
    assert "<dt>Blank cells</dt><dd>clear the record&#39;s value</dd>" in done
    assert held(app, Lead, ann, "tags") == {"tags": []}
    assert client.post("/leads/import", data={
        "blank_cells": "empty", "file": (io.BytesIO(b"Name\nAnn\n"), "a.csv")},
        content_type="multipart/form-data").status_code == 400
