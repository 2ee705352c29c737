"""How an import matches rows to people already in the CRM, and what a row
creating one must give: other addresses of records, an id column from another
system, required custom fields, owners named by name, and rows repeating a
bad one."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from crmcore.cli import cli
from crmcore.db import transaction
from crmcore.models import Contact, Lead
from crmcore.services import custom_fields, imports
from crmcore.services import records as svc
from tests.core.csvfiles import write_csv

pytestmark = pytest.mark.plugins()




@pytest.fixture
def sessions(app):
    return app.extensions["crm"].sessions




@pytest.fixture
def admin(make_user):
    return make_user("admin")


@pytest.fixture
def create(sessions, admin):
    """Create a record as ``actor`` (the admin by default); returns its id."""
    def make(kind: svc.Kind = svc.LEADS, actor: Any = None, **values: Any) -> int:
        with transaction(sessions) as s:
            return svc.create(s, s.merge(actor or admin), kind, values).id

    return make


def people(sessions) -> dict[int, tuple[str, list[str]]]:
    with sessions() as s:
        return {r.id: (r.full_name, r.emails) for r in s.scalars(select(Lead))}


# -- another address of a record -----------------------------------------------


def test_a_records_other_address_is_already_in_the_crm(sessions, admin, create, run_import,
                                                       tmp_path):
    """QA F9: only a record's first email is a key; a row giving a lead's second
    address was a new person ("Carol Again" beside Carol)."""
    carol = create(full_name="Carol Base", emails=["carol@acme.com", "carol.private@gmail.com"])
    create(svc.CONTACTS, last_name="Dee", emails=["dee@acme.com", "dee.home@gmail.com"])
    path = write_csv(tmp_path / "again.csv", ["Name", "Email"], [
        ["Carol Again", "Carol.Private@gmail.com"], ["Dee Again", "dee.home@gmail.com"],
        ["New", "new@x.org"]])

    skipped = run_import(path, admin, on_duplicate="skip")
    assert (skipped.created_count, skipped.skipped_count) == (1, 2), skipped.message
    assert sorted(name for name, _ in people(sessions).values()) == ["Carol Base", "New"]

    reported = run_import(path, admin, dry_run=True)
    assert reported.errors == [
        [2, "Email", "The email carol.private@gmail.com is another address of a lead in the "
                     "CRM."],
        [3, "Email", "The email dee.home@gmail.com is another address of a contact in the "
                     "CRM."],
        [4, "Email", "The email new@x.org already belongs to a lead in the CRM."]]

    path = write_csv(tmp_path / "update.csv", ["Name", "Email", "Company"], [
        ["Carol Base", "carol.private@gmail.com", "Acme"]])
    updated = run_import(path, admin, on_duplicate="update")
    assert (updated.updated_count, updated.created_count) == (1, 0), updated.message
    with sessions() as s:
        lead = s.get(Lead, carol)
        assert (lead.company, lead.email_key) == ("Acme", "carol@acme.com")
        assert lead.emails == ["carol@acme.com", "carol.private@gmail.com"]


def test_an_update_through_an_other_address_needs_one_record_to_update(
        sessions, admin, make_user, create, run_import, tmp_path):
    sales = make_user("sales")
    one = create(full_name="One", emails=["one@x.org", "shared@x.org"])
    two = create(full_name="Two", emails=["two@x.org", "shared@x.org"])
    mine = create(actor=sales, full_name="Mine", emails=["mine@x.org", "ours@x.org"])
    create(full_name="Theirs", emails=["theirs@x.org", "ours@x.org"])
    create(svc.CONTACTS, last_name="Contact", emails=["c@x.org", "c.home@x.org"])
    path = write_csv(tmp_path / "u.csv", ["Name", "Email", "Company"], [
        ["Someone", "shared@x.org", "A"], ["Contact", "c.home@x.org", "B"]])

    job = run_import(path, admin, on_duplicate="update")
    assert job.errors == [
        [2, "Email", f"The email shared@x.org is another address of several leads (#{one}, "
                     f"#{two}): the row cannot tell which to update. Give it that lead's "
                     "first email, or import by id."],
        [3, "Email", "The email c.home@x.org is another address of a contact in the CRM."]]
    # Of the two leads holding it, one is the sales user's own: the one to update.
    ours = write_csv(tmp_path / "ours.csv", ["Name", "Email", "Company"],
                     [["Mine", "ours@x.org", "Mine Co"]])
    assert run_import(ours, sales, on_duplicate="update").updated_count == 1
    with sessions() as s:
        assert s.get(Lead, mine).company == "Mine Co"
    theirs = write_csv(tmp_path / "theirs.csv", ["Name", "Email"], [["T", "theirs@x.org"]])
    with transaction(sessions) as s:
        svc.update(s, s.merge(admin), svc.LEADS, s.get(Lead, mine), {"emails": ["mine@x.org"]})
    refused = run_import(ours, sales, on_duplicate="update")
    assert refused.errors == [[2, "Email", "The email ours@x.org is another address of a lead "
                                           "you may not update: another user's, or one in the "
                                           "recycle bin."]]
    assert run_import(theirs, sales, on_duplicate="update").errors[0][2] == (
        "The email theirs@x.org belongs to a lead you may not update: another user's, or one "
        "in the recycle bin.")


@pytest.mark.parametrize("batch_size", [1, 2000])
def test_two_rows_of_one_record_update_it_once(sessions, admin, create, run_import, tmp_path,
                                               batch_size):
    carol = create(full_name="Carol", emails=["carol@x.org", "carol.2@x.org", "carol.3@x.org"])
    for first, second in (("carol@x.org", "carol.2@x.org"), ("carol.2@x.org", "carol@x.org"),
                          ("carol.2@x.org", "carol.3@x.org")):
        path = write_csv(tmp_path / "twice.csv", ["Name", "Email", "Company"], [
            ["Carol", first, "First"], ["Carol", second, "Second"]])
        job = run_import(path, admin, on_duplicate="update", batch_size=batch_size,
                         dry_run=True)
        assert job.errors == [[3, "Email", f"Row 2 updates this lead (#{carol}) already."]]
    job = run_import(path, admin, on_duplicate="update", skip_bad_rows=True)
    assert (job.updated_count, job.error_count) == (1, 1)
    with sessions() as s:
        assert s.get(Lead, carol).company == "First"


def test_a_key_email_wins_over_an_other_address(sessions, admin, create, run_import, tmp_path):
    key = create(full_name="Key", emails=["key@x.org"])
    create(full_name="Other", emails=["other@x.org", "key@x.org"])
    path = write_csv(tmp_path / "k.csv", ["Name", "Email", "Company"], [["Key", "key@x.org", "K"]])
    job = run_import(path, admin, on_duplicate="update")
    assert (job.updated_count, job.errors) == (1, [])
    with sessions() as s:
        assert s.get(Lead, key).company == "K"


def test_the_write_looks_for_other_addresses_again(sessions, admin, create, run_import,
                                                   tmp_path, monkeypatch):
    """A record saved between the check and the write with a row's address as
    its second: the write skips that row as the check would have."""
    check = imports.check
    saved = [("quick@x.org", "bo@x.org"), ("quicker@x.org", "di@x.org")]

    def meanwhile(*args: Any, **kwargs: Any) -> imports.Report:
        report = check(*args, **kwargs)
        create(full_name="Quicker", emails=list(saved.pop(0)))
        return report

    monkeypatch.setattr(imports, "check", meanwhile)
    path = write_csv(tmp_path / "late.csv", ["name", "email"],
                     [["Ann", "ann@x.org"], ["Bo", "bo@x.org"]])
    job = run_import(path, admin, on_duplicate="skip")
    assert (job.created_count, job.skipped_count) == (1, 1), job.message
    reported = run_import(write_csv(tmp_path / "late2.csv", ["name", "email"],
                                    [["Cy", "cy@x.org"], ["Di", "di@x.org"]]), admin)
    assert reported.created_count == 1 and reported.errors == [[3, "email", (
        "The email di@x.org is another address of a lead in the CRM (since this file was "
        "checked).")]]


# -- an id column from another system --------------------------------------------


def test_rows_naming_someone_else_by_id_are_problems(sessions, admin, create, run_import,
                                                     tmp_path):
    """QA #10: a Pipedrive export's ID column overwrote unrelated leads."""
    ann = create(full_name="Ann Lee", emails=["ann@x.org", "ann.lee@home.org"])
    bob = create(full_name="Bob Brown", emails=["bob@x.org"])
    cy = create(full_name="Cy", emails=[])
    foreign = write_csv(tmp_path / "pipedrive.csv", ["ID", "Name", "Email", "Organization"], [
        [ann, "Zed Foreign", "zed@foreign.com", "Foreign Ltd"],
        [bob, "Yan Foreign", "yan@foreign.com", "Foreign Ltd"],
        [cy, "Cyrus", "", ""]])
    problems = [
        [2, "ID", f"The lead #{ann} is “Ann Lee” (ann@x.org); this row names someone else — "
                  "is the id column from another system? Import by email instead, or correct "
                  "the id."],
        [3, "ID", f"The lead #{bob} is “Bob Brown” (bob@x.org); this row names someone "
                  "else — is the id column from another system? Import by email instead, or "
                  "correct the id."],
        [4, "ID", f"The lead #{cy} is “Cy”; this row names someone else — is the id column "
                  "from another system? Import by email instead, or correct the id."]]
    dry = run_import(foreign, admin, on_duplicate="update", match_by="id", dry_run=True)
    assert (dry.updated_count, dry.errors) == (0, problems)
    for policy in ("update", "skip", "report"):
        job = run_import(foreign, admin, on_duplicate=policy, match_by="id")
        assert (job.status, job.errors) == ("invalid", problems)
    assert people(sessions)[ann] == ("Ann Lee", ["ann@x.org", "ann.lee@home.org"])

    # An edited export changes the name or an email, not both; the same name
    # in other case and spacing is the record's.
    edited = write_csv(tmp_path / "edited.csv", ["id", "full_name", "emails", "company"], [
        [ann, "Ann Smith", "ANN.LEE@home.org", "Wed"],
        [bob, "  bob   BROWN ", "robert@new.org", "New job"],
        [cy, "cy", "", "Cy Co"]])
    job = run_import(edited, admin, on_duplicate="update", match_by="id")
    assert (job.status, job.updated_count) == ("done", 3), job.errors
    found = people(sessions)
    assert found[ann] == ("Ann Smith", ["ann.lee@home.org"])
    assert found[bob] == ("bob   BROWN", ["robert@new.org"])


def test_a_contacts_name_is_compared_whole_as_its_parts_give_it(sessions, admin, create,
                                                                run_import, tmp_path):
    ada = create(svc.CONTACTS, first_name="Ada", last_name="Lovelace",
                 emails=["ada@x.org"])
    path = write_csv(tmp_path / "c.csv", ["id", "last_name", "email", "city"], [
        [ada, "LOVELACE", "countess@x.org", "London"]])
    job = run_import(path, admin, kind=svc.CONTACTS, on_duplicate="update", match_by="id")
    assert (job.updated_count, job.errors) == (1, [])
    path = write_csv(tmp_path / "d.csv", ["id", "first_name", "last_name", "email"], [
        [ada, "Grace", "Hopper", "grace@x.org"]])
    job = run_import(path, admin, kind=svc.CONTACTS, on_duplicate="update", match_by="id")
    assert job.errors[0][:2] == [2, "id"] and job.errors[0][2].startswith(
        f"The contact #{ada} is “Ada LOVELACE” (countess@x.org); this row names someone else")


# -- required custom fields ------------------------------------------------------


@pytest.fixture
def region(sessions):
    with transaction(sessions) as s:
        custom_fields.create_field(s, None, {
            "record_type": "lead", "name": "region", "label": "Region",
            "field_type": "choice", "choices": ["EMEA", "AMER"], "required": True})


@pytest.mark.usefixtures("region")
def test_a_new_record_needs_its_required_custom_fields(sessions, admin, create, run_import,
                                                       tmp_path, api_client):
    """QA F6: the API refuses a lead without a required custom field; the import
    created it with ``custom {}``."""
    api = api_client(admin)
    refused = api.post("/api/v1/leads", json={"full_name": "No Region"})
    assert refused.status_code == 422
    assert refused.get_json()["errors"] == {"custom": ["Missing data for required field."]}
    known = create(full_name="Known", emails=["known@x.org"], custom={"region": "EMEA"})

    no_column = write_csv(tmp_path / "r.csv", ["Name", "Email"], [
        ["No Region", "noregion@x.org"], ["Known Again", "known@x.org"]])
    problem = [2, "custom.region", "Missing data for required field: a new lead needs its "
                                   "Region; the file has no column for it."]
    job = run_import(no_column, admin, on_duplicate="update")
    assert (job.status, job.errors) == ("invalid", [problem])
    dry = run_import(no_column, admin, on_duplicate="update", dry_run=True)
    assert (dry.created_count, dry.updated_count, dry.errors) == (0, 1, [problem])
    # An update need not give it, as the API's partial update need not.
    done = run_import(no_column, admin, on_duplicate="update", skip_bad_rows=True)
    assert (done.created_count, done.updated_count, done.error_count) == (0, 1, 1)

    blank = write_csv(tmp_path / "b.csv", ["Name", "Email", "Region"], [
        ["Blank", "blank@x.org", ""], ["Given", "given@x.org", "AMER"]])
    job = run_import(blank, admin, mapping={"Region": "custom.region"}, skip_bad_rows=True)
    assert job.errors == [[2, "Region", "Missing data for required field: a new lead needs "
                                        "its Region."]]
    with sessions() as s:
        assert {lead.full_name: lead.custom for lead in s.scalars(select(Lead))} == {
            "Known Again": {"region": "EMEA"}, "Given": {"region": "AMER"}}
        assert s.get(Lead, known).full_name == "Known Again"
    # Code-set defaults count (a plugin importing on someone's behalf).
    defaulted = run_import(no_column, admin, defaults={"custom": {"region": "EMEA"}})
    assert defaulted.errors == [[3, "Email", "The email known@x.org already belongs to a lead "
                                             "in the CRM."]]


@pytest.mark.usefixtures("region")
def test_a_row_that_updated_when_checked_and_creates_when_written_needs_them(
        sessions, admin, create, run_import, tmp_path, monkeypatch):
    gone = create(full_name="Gone", emails=["gone@x.org"], custom={"region": "EMEA"})
    check = imports.check

    def meanwhile(*args: Any, **kwargs: Any) -> imports.Report:
        report = check(*args, **kwargs)
        with transaction(sessions) as s:
            svc.remove(s, None, svc.LEADS, [gone])
        return report

    monkeypatch.setattr(imports, "check", meanwhile)
    path = write_csv(tmp_path / "g.csv", ["Name", "Email"], [["Gone", "gone@x.org"]])
    job = run_import(path, admin, on_duplicate="update")
    assert (job.created_count, job.updated_count) == (0, 0)
    assert job.errors == [[2, "custom.region", "Missing data for required field: a new lead "
                                               "needs its Region; the file has no column for "
                                               "it (since this file was checked)."]]


# -- bad rows claim no email -----------------------------------------------------


def test_a_good_row_after_a_bad_one_with_its_email_is_imported(sessions, admin, run_import,
                                                               tmp_path):
    """QA #17c: with --skip-bad-rows, the good row repeating a bad row's email
    was left out too, so that person was not imported at all."""
    path = write_csv(tmp_path / "rep.csv", ["Name", "Email", "Phone"], [
        ["Ann", "ann@x.org", "12"], ["Ann", "ann@x.org", "+12025550100"],
        ["Ann Again", "ANN@x.org", ""]])
    refused = run_import(path, admin)
    assert refused.errors == [[2, "Phone", "“12”: Not a valid phone number."],
                              [4, "Email", "The email ann@x.org repeats row 3."]]
    job = run_import(path, admin, skip_bad_rows=True, batch_size=1)
    assert (job.created_count, job.error_count) == (1, 2)
    assert list(people(sessions).values()) == [("Ann", ["ann@x.org"])]


# -- the owner by name -----------------------------------------------------------


def test_the_owner_column_takes_a_users_name(sessions, admin, make_user, run_import, tmp_path):
    """QA #13: other tools export the owner's name, not their email."""
    ada = make_user("sales", name="Ada Lovelace")
    make_user("sales", email="lee.1@x.org", name="Lee Smith")
    make_user("sales", email="lee.2@x.org", name="Lee Smith")
    gone = make_user("sales", name="Gone User")
    with transaction(sessions) as s:
        s.merge(gone).is_active = False
    path = write_csv(tmp_path / "o.csv", ["Name", "Owner"], [
        ["One", "ada lovelace"], ["Two", "Lee Smith"], ["Three", "Gone User"],
        ["Four", "nobody@x.org"], ["Five", ada.email.upper()]])
    job = run_import(path, admin)
    unknown = "Unknown user: no active user has this email or name."
    assert job.errors == [
        [3, "Owner", "“Lee Smith”: Several users have this name (2): give the owner's email "
                     "instead (lee.1@x.org, lee.2@x.org)."],
        [4, "Owner", f"“Gone User”: {unknown}"], [5, "Owner", f"“nobody@x.org”: {unknown}"]]
    done = run_import(path, admin, skip_bad_rows=True)
    assert done.created_count == 2
    with sessions() as s:
        assert set(s.scalars(select(Lead.owner_id))) == {ada.id}
    # A sales user may name only themselves, by name too.
    mine = write_csv(tmp_path / "m.csv", ["Name", "Owner"], [["Mine", "Ada Lovelace"],
                                                             ["Theirs", "Lee Smith"]])
    job = run_import(mine, ada)
    assert job.errors == [[3, "Owner", "“Lee Smith”: You may not set the owner: name yourself, "
                                       "or leave the cell empty."]]


# -- through the command line ----------------------------------------------------


def test_the_command_line_reports_them_in_a_dry_run(sessions, create, crm_config, tmp_path):
    ann = create(full_name="Ann Lee", emails=["ann@x.org", "ann.2@x.org"])
    path = write_csv(tmp_path / "ids.csv", ["ID", "Name", "Email"], [
        [ann, "Zed Foreign", "zed@foreign.com"]])
    env = {"CRM_INSTANCE_PATH": crm_config["INSTANCE_PATH"],
           "CRM_DATABASE_URL": crm_config["DATABASE_URL"], "CRM_PLUGINS": "none"}

    def crm(*args: str) -> Any:
        return CliRunner().invoke(cli, [*args, str(path)], env=env, catch_exceptions=False)

    dry = crm("leads", "import", "--dry-run", "--match-by", "id", "--on-duplicate", "update")
    assert dry.exit_code == 1
    assert f"row 2, column ID: The lead #{ann} is “Ann Lee” (ann@x.org)" in dry.output
    assert "would create 0, update 0 and skip 0; 1 problem(s)" in dry.output
    write_csv(path, ["Name", "Email"], [["Ann Again", "ann.2@x.org"]])
    skipped = crm("leads", "import", "--on-duplicate", "skip")
    assert skipped.exit_code == 0, skipped.output
    assert "Created 0, updated 0, skipped 1" in skipped.output
    with sessions() as s:
        assert s.scalars(select(Contact)).all() == []
        assert [lead.full_name for lead in s.scalars(select(Lead))] == ["Ann Lee"]
