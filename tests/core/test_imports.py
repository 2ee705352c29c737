"""CSV import: check first, write in batches, report every bad row, revert."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import openpyxl
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError
from sqlalchemy import func, select

from crmcore.db import transaction, utcnow
from crmcore.errors import Conflict, NotFound, ValidationFailed
from crmcore.models import Contact, EmailKey, ImportChange, ImportJob, ImportProblem, Lead
from crmcore.schemas.users import normalize_email
from crmcore.services import imports
from crmcore.services import records as svc
from crmcore.services.import_rows import fast_email
from crmcore.services.imports import reverting as import_revert
from crmcore.services.imports import writing as import_write
from tests.core.csvfiles import write_csv
from tests.fake_plugins import _descriptors
from tests.fake_plugins.alpha import hooks as alpha

pytestmark = pytest.mark.plugins("alpha")


@pytest.fixture
def crm_extra_plugins():
    return {"alpha": _descriptors()["alpha"]}






def count(app, model=Lead):
    with app.extensions["crm"].sessions() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_import_creates_in_batches_with_one_event_per_batch(app, tmp_path, make_user,
                                                             run_import):
    admin = make_user("admin")
    rows = [[f"Person {i}", f" P{i}@Example.com ", "+1 202 555 0100", "Contacted", "a;b",
             "=HYPERLINK(1)"] for i in range(25)]
    path = write_csv(tmp_path / "in.csv", ["Name", "E-mail", "Phone", "Stage", "Tags",
                                           "Company"], rows)
    alpha.calls.clear()
    job = run_import(path, admin, batch_size=10)
    assert (job.status, job.created_count, job.total_rows) == ("done", 25, 25)
    created = [p for name, p in alpha.calls if name == "crm_leads_created"]
    assert [len(ids) for ids in created] == [10, 10, 5]
    with app.extensions["crm"].sessions() as s:
        lead = s.scalar(select(Lead).where(Lead.email_key == "p7@example.com"))
        assert lead.phones == ["+12025550100"] and lead.tags == ["a", "b"]
        assert lead.company == "=HYPERLINK(1)" and lead.owner_id == admin.id
        assert lead.score == 10 + 10 + 5 and lead.import_id == job.id
        assert s.scalar(select(func.count()).select_from(EmailKey)) == 25


def test_bad_rows_are_all_reported_and_nothing_is_written(app, tmp_path, make_user,
                                                          run_import):
    admin = make_user("admin")
    with transaction(app.extensions["crm"].sessions) as s:
        svc.create(s, admin, svc.CONTACTS, {"last_name": "Known", "emails": ["known@x.org"]})
    path = write_csv(tmp_path / "bad.csv", ["Full name", "Email", "Phone", "Owner"], [
        ["Good", "good@x.org", "", ""],
        ["", "not-an-email", "12", "nobody@x.org"],
        ["Again", "GOOD@x.org", "", ""],
        ["Taken", "known@x.org", "", ""],
    ])
    job = run_import(path, admin)
    assert job.status == "invalid" and count(app) == 0
    assert [tuple(e) for e in job.errors] == [
        (3, "Email", "“not-an-email”: An email address must have an @-sign."),
        (3, "Phone", "“12”: Not a valid phone number."),
        (3, "Owner", "“nobody@x.org”: Unknown user: no active user has this email or name."),
        (3, "Full name", "Missing data for required field."),
        (4, "Email", "The email good@x.org repeats row 2."),
        (5, "Email", "The email known@x.org already belongs to a contact in the CRM."),
    ]
    skipped = run_import(path, admin, skip_bad_rows=True)
    assert (skipped.status, skipped.created_count, skipped.error_count) == ("done", 1, 6)


def test_a_sales_user_may_name_only_themselves_as_owner_by_import(app, tmp_path, make_user,
                                                                   run_import):
    sales, other = make_user("sales"), make_user("sales")
    path = write_csv(tmp_path / "o.csv", ["name", "owner"],
                     [["Mine", sales.email.upper()], ["Theirs", other.email]])
    job = run_import(path, sales)
    assert job.errors == [[3, "owner", f"“{other.email}”: You may not set the owner: name "
                                       "yourself, or leave the cell empty."]]
    # As their own export has it: the owner column names them.
    mine = run_import(write_csv(tmp_path / "m.csv", ["name", "owner"], [["Mine", sales.email]]),
                      sales)
    assert (mine.status, mine.created_count) == ("done", 1)
    with app.extensions["crm"].sessions() as s:
        assert s.scalar(select(Lead.owner_id)) == sales.id


def test_update_policy_changes_existing_records_and_revert_brings_values_back(
        app, tmp_path, make_user, run_import):
    admin = make_user("admin")
    with transaction(app.extensions["crm"].sessions) as s:
        old = svc.create(s, admin, svc.LEADS, {"full_name": "Old Name", "company": "Old Co",
                                                "emails": ["same@x.org"]})
    path = write_csv(tmp_path / "u.csv", ["name", "email", "company"],
                     [["New Name", "SAME@x.org", "New Co"], ["Fresh", "fresh@x.org", ""]])
    job = run_import(path, admin, on_duplicate="update")
    assert (job.created_count, job.updated_count) == (1, 1)
    with app.extensions["crm"].sessions() as s:
        lead = svc.get(s, admin, svc.LEADS, old.id)
        assert (lead.full_name, lead.company) == ("New Name", "New Co")
    reverted = imports.revert(app.extensions["crm"].sessions, admin, job.id)
    assert reverted.message == "Reverted: deleted 1 record(s), restored 1."
    with app.extensions["crm"].sessions() as s:
        lead = svc.get(s, admin, svc.LEADS, old.id)
        assert (lead.full_name, lead.company, lead.emails) == ("Old Name", "Old Co",
                                                                ["same@x.org"])
        assert count(app) == 1
        assert s.scalar(select(func.count()).select_from(EmailKey)) == 1
    with pytest.raises(Conflict):
        imports.revert(app.extensions["crm"].sessions, admin, job.id)
    skip = run_import(path, admin, on_duplicate="skip")
    assert (skip.created_count, skip.skipped_count) == (1, 1)


def test_rows_a_record_holds_already_count_unchanged_and_are_not_reverted(
        app, tmp_path, make_user, run_import):
    """Re-importing an unchanged export with update said "updated 3", and its
    revert "restored 3", though one row changed."""
    admin = make_user("admin")
    rows = [[f"Person {i}", f"p{i}@x.org", "Co"] for i in range(3)]
    with transaction(app.extensions["crm"].sessions) as s:
        ids = [svc.create(s, admin, svc.LEADS, {"full_name": name, "emails": [email],
                                                "company": company}).id
               for name, email, company in rows]
    rows[1][2] = "New Co"
    path = write_csv(tmp_path / "again.csv", ["Name", "Email", "Company"],
                     [*rows, ["Fresh", "fresh@x.org", ""], ["Bad", "bad@", ""]])
    with app.extensions["crm"].sessions() as s:
        versions = s.scalars(select(Lead.version).order_by(Lead.id)).all()
    alpha.calls.clear()
    job = run_import(path, admin, on_duplicate="update", skip_bad_rows=True, batch_size=2)
    assert (job.created_count, job.updated_count, job.unchanged_count) == (1, 1, 2)
    assert job.message == ("Created 1, updated 1, unchanged 2, skipped 0, left out 1 bad "
                           "row(s).")
    assert [list(changes) for name, changes in alpha.calls
            if name == "crm_leads_updated"] == [[ids[1]]]
    with app.extensions["crm"].sessions() as s:
        assert s.scalar(select(func.count()).select_from(ImportChange)) == 1
        assert s.scalars(select(Lead.version).order_by(Lead.id)).all() == [
            versions[0], versions[1] + 1, versions[2], 1]
    reverted = imports.revert(app.extensions["crm"].sessions, admin, job.id)
    assert reverted.message == "Reverted: deleted 1 record(s), restored 1."
    with app.extensions["crm"].sessions() as s:
        assert s.scalars(select(Lead.company).order_by(Lead.id)).all() == ["Co"] * 3


def test_a_revert_goes_in_batches_and_tells_plugins_once_per_batch(
        app, tmp_path, make_user, run_import, monkeypatch):
    admin = make_user("admin")
    with transaction(app.extensions["crm"].sessions) as s:
        old = svc.create(s, admin, svc.LEADS, {"full_name": "Old", "emails": ["old@x.org"]})
    path = write_csv(tmp_path / "r.csv", ["name", "email", "company"],
                     [["Old", "old@x.org", "Acme"]]
                     + [[f"P{i}", f"p{i}@x.org", "Acme"] for i in range(7)])
    job = run_import(path, admin, on_duplicate="update")
    assert (job.created_count, job.updated_count) == (7, 1)
    monkeypatch.setattr(import_revert, "REVERT_BATCH", 3)
    alpha.calls.clear()

    imports.revert(app.extensions["crm"].sessions, admin, job.id)

    purged = events("crm_leads_purged")
    assert [len(ids) for ids, _ in purged] == [3, 3, 1]
    assert all(still == len(ids) for ids, still in purged)  # called before the rows go
    assert events("crm_leads_updated") == [{old.id: {"company": ("Acme", "")}}]
    with app.extensions["crm"].sessions() as s:
        assert count(app) == 1
        restored = s.get(Lead, old.id)
        # Scored again: the company's points went with the company.
        assert (restored.company, restored.score) == ("", 10)
        assert s.scalar(select(func.count()).select_from(EmailKey)) == 1


def events(name):
    return [payload for hook, payload in alpha.calls if hook == name]


def test_an_interrupted_revert_keeps_whole_batches_and_finishes_when_run_again(
        app, tmp_path, make_user, run_import, monkeypatch):
    admin = make_user("admin")
    sessions = app.extensions["crm"].sessions
    path = write_csv(tmp_path / "i.csv", ["name", "email"],
                     [[f"P{i}", f"p{i}@x.org"] for i in range(7)])
    job = run_import(path, admin)
    monkeypatch.setattr(import_revert, "REVERT_BATCH", 3)
    remove, calls = svc.remove, []

    def crash_on_the_second_batch(session, actor, kind, ids):
        calls.append(ids)
        if len(calls) == 2:
            raise RuntimeError("the process died")
        remove(session, actor, kind, ids)

    monkeypatch.setattr(svc, "remove", crash_on_the_second_batch)
    with pytest.raises(RuntimeError):
        imports.revert(sessions, admin, job.id)
    with sessions() as s:
        stopped = s.get(type(job), job.id)
        assert (stopped.status, stopped.reverted_count) == ("reverting", 3)
        assert stopped.message == ("The revert stopped after 3 record(s): RuntimeError: "
                                   "the process died. Revert again to finish it.")
        assert imports.revertible(stopped)  # stopped, not in flight: no need to wait
    assert count(app) == 4  # the first batch is gone, the second is whole
    monkeypatch.setattr(svc, "remove", remove)

    again = imports.revert(sessions, admin, job.id)

    assert again.message == "Reverted (resumed): deleted 4 more record(s), restored 0 more."
    assert count(app) == 0
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(EmailKey)) == 0


def test_an_update_by_import_merges_custom_fields_and_its_revert_puts_them_back_whole(
        app, tmp_path, make_user, run_import):
    from crmcore.services import custom_fields

    admin = make_user("admin")
    with transaction(app.extensions["crm"].sessions) as s:
        for name in ("budget", "region"):
            custom_fields.create_field(s, admin, {"record_type": "lead", "name": name,
                                                  "label": name, "field_type": "text"})
        old = svc.create(s, admin, svc.LEADS, {"full_name": "Old", "emails": ["old@x.org"],
                                                "custom": {"region": "north"}})
    path = write_csv(tmp_path / "c.csv", ["name", "email", "custom.budget"],
                     [["Old Renamed", "old@x.org", "big"]])
    job = run_import(path, admin, on_duplicate="update")
    assert (job.status, job.updated_count) == ("done", 1), job.message
    with app.extensions["crm"].sessions() as s:
        lead = s.get(Lead, old.id)
        assert lead.custom == {"region": "north", "budget": "big"}
        assert (lead.name_key, lead.version) == ("old renamed", old.version + 1)

    imports.revert(app.extensions["crm"].sessions, admin, job.id)

    with app.extensions["crm"].sessions() as s:
        lead = s.get(Lead, old.id)
        assert lead.custom == {"region": "north"}
        assert (lead.full_name, lead.name_key, lead.version) == ("Old", "old", old.version + 2)
        assert [e.body for e in svc.timeline(s, svc.LEADS, lead)][:2] == [
            f"Import #{job.id} reverted", f"Updated by import #{job.id}"]


def test_a_revert_keeps_what_was_changed_since_and_what_the_user_may_not_edit(
        app, tmp_path, make_user, run_import):
    """Deleting a created record someone has worked on since (an edit, a
    comment, a merge into it) would lose that work; giving an updated record
    its earlier values back would undo later changes. Records the reverting
    user may not edit are not theirs to delete or change."""
    from crmcore.services.merge import merge

    sales, other, admin = make_user("sales"), make_user("sales"), make_user("admin")
    sessions = app.extensions["crm"].sessions
    with transaction(sessions) as s:
        updated = svc.create(s, s.merge(sales), svc.LEADS, {
            "full_name": "Old Name", "emails": ["old@x.org"], "company": "OrigCo",
            "source": "fair"})
        by_hand = svc.create(s, s.merge(sales), svc.LEADS, {"full_name": "Ann by hand",
                                                             "emails": ["ann@home.org"]})
        svc.comment(s, s.merge(sales), svc.LEADS, by_hand, "Met at the fair")
    rows = [["New Name", "old@x.org", "ImportCo", "web"]] + [
        [f"Imported {n}", f"{n.lower()}@x.org", "", ""]
        for n in ("Ann", "Bo", "Cy", "Di", "Ed")]
    job = run_import(write_csv(tmp_path / "m.csv", ["name", "email", "company", "source"],
                               rows), sales, on_duplicate="update")
    assert (job.created_count, job.updated_count) == (5, 1), job.message
    with transaction(sessions) as s:
        me = s.merge(sales)
        ann, bo, cy, di, ed = (s.scalar(select(Lead).where(Lead.email_key == f"{n}@x.org"))
                               for n in ("ann", "bo", "cy", "di", "ed"))
        merge(s, me, svc.LEADS, ann.id, [by_hand.id])  # its history now lives on Ann
        svc.update(s, me, svc.LEADS, bo, {"company": "Bo's own"}, expected_version=bo.version)
        svc.comment(s, me, svc.LEADS, cy, "Called back")
        svc.update(s, s.merge(admin), svc.LEADS, di, {"owner_id": other.id},
                   expected_version=di.version)  # another user's now
        changed = s.get(Lead, updated.id)
        svc.update(s, me, svc.LEADS, changed, {"company": "UserEditCo"},
                   expected_version=changed.version)
        ids = {"ann": ann.id, "bo": bo.id, "cy": cy.id, "di": di.id, "ed": ed.id}

    done = imports.revert(sessions, sales, job.id)

    assert done.message == (
        "Reverted: deleted 1 record(s), restored 1. Kept 4 record(s) it created that were "
        "changed since (edited, commented on, merged into) or that you may not edit. Left 1 "
        "record(s) it updated as they are, wholly or in the fields changed since, or that you "
        "may not edit.")
    with sessions() as s:
        assert s.get(Lead, ids["ed"]) is None  # untouched since: deleted
        kept = s.get(Lead, ids["ann"])
        assert kept.emails == ["ann@x.org", "ann@home.org"]
        assert "Met at the fair" in [e.body for e in svc.timeline(s, svc.LEADS, kept)]
        assert s.get(Lead, ids["bo"]).company == "Bo's own"
        assert s.get(Lead, ids["cy"]) is not None and s.get(Lead, ids["di"]) is not None
        back = s.get(Lead, updated.id)
        # The import's name and source go; the company changed since stays.
        assert (back.full_name, back.source, back.company) == ("Old Name", "fair",
                                                               "UserEditCo")


def test_a_row_whose_email_was_taken_after_the_check_is_a_problem_not_a_skip(
        app, tmp_path, make_user, run_import, monkeypatch):
    """Another import or user may add a record between the check and the
    write: under the report policy its row is left out and listed, with its
    line, not counted as skipped."""
    admin = make_user("admin")
    sessions = app.extensions["crm"].sessions
    check = imports.check

    def meanwhile(*args, **kwargs):
        report = check(*args, **kwargs)
        with transaction(sessions) as s:
            svc.create(s, s.merge(admin), svc.LEADS, {"full_name": "Quicker",
                                                       "emails": ["bo@x.org"]})
        return report

    monkeypatch.setattr(imports, "check", meanwhile)
    path = write_csv(tmp_path / "late.csv", ["name", "email"],
                     [["Ann", "ann@x.org"], ["Bo", "bo@x.org"]])
    job = run_import(path, admin)
    assert (job.status, job.created_count, job.skipped_count) == ("done", 1, 0)
    assert job.error_count == 1 and job.errors == [[3, "email", (
        "The email bo@x.org already belongs to a lead in the CRM (since this file was "
        "checked).")]]
    assert job.message == ("Created 1, updated 0, skipped 0, left out 1 bad row(s). 1 of them "
                           "were good when checked, not when written: records were added or "
                           "deleted meanwhile (their problems say which).")
    with sessions() as s:  # kept with every other problem of the job
        assert s.execute(select(ImportProblem.row, ImportProblem.column_name,
                                ImportProblem.message)).all() == [tuple(e) for e in job.errors]


def test_wrong_encoding_and_broken_headers_are_refused_before_writing(app, tmp_path,
                                                                     make_user, run_import):
    admin = make_user("admin")
    latin = write_csv(tmp_path / "latin.csv", ["name", "email"],
                      [["Ok", "ok@x.org"], ["Zoë Müller", "z@x.org"]], encoding="latin-1")
    job = run_import(latin, admin)
    assert job.status == "invalid" and job.error_count == 1
    assert "not valid UTF-8 (also with BOM) text (line 3, byte 3)" in job.message
    assert count(app) == 0
    huge = write_csv(tmp_path / "huge.csv", ["name", "company"], [["Ok", "x" * 200_000]])
    job = run_import(huge, admin, skip_bad_rows=True)
    assert (job.status, job.error_count) == ("invalid", 1)
    assert job.message == ("The file is not valid CSV (line 2): a cell holds more than 131,072 "
                           "characters, more than any field takes (is a quote left open, "
                           "swallowing the rows after it?).")
    assert run_import(latin, admin, encoding="latin-1").created_count == 2
    # Far into the file (the file is decoded in blocks), and cut off mid-character.
    late = write_csv(tmp_path / "late.csv", ["name", "email"],
                     [[f"Person {i}", f"p{i}@x.org"] for i in range(3000)])
    late.write_bytes(late.read_bytes() + b"Zo\xeb,z@x.org\r\nLast,\xc3")
    job = run_import(late, admin)
    assert "not valid UTF-8 (also with BOM) text (line 3002, byte 3)" in job.message
    late.write_bytes(late.read_bytes().replace(b"Zo\xeb", b"Zoe"))
    assert "(line 3003, byte 6)" in run_import(late, admin).message
    assert count(app) == 2
    for header, message in [
        (["email", "shoe size"], "column 'shoe size' matches no field"),
        (["email"], "no column gives full_name (a column of first_name or full_name or "
                    "last_name would)"),
        (["name", "email", "Full name"], "several columns fill full_name: 'name', 'Full name'"),
        (["First name", "email", "Name"], "the name comes from one column (full_name) or from "
                                          "its parts (first_name and last_name), not both: "
                                          "'First name', 'Name'"),
        (["Last name", "Surname"], "several columns fill last_name"),
    ]:
        bad = run_import(write_csv(tmp_path / "h.csv", header, []), admin)
        assert bad.status == "invalid" and message in bad.message
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert "empty" in run_import(empty, admin).message
    mapped = write_csv(tmp_path / "m.csv", ["Who", "shoe size"], [["Mapped", "44"]])
    assert run_import(mapped, admin, mapping={"Who": "full_name", "shoe size": "-"}
                      ).created_count == 1
    typo = run_import(mapped, admin, mapping={"Whom": "full_name", "shoe size": "-"})
    assert typo.status == "invalid"
    assert "the mapping names column 'Whom', which the file does not have" in typo.message
    assert count(app) == 3
    # Mapped by name, both columns of a repeated name would go alike: one left out unsaid.
    twice = write_csv(tmp_path / "t.csv", ["Full Name", "Company", "Company"],
                      [["Twin", "RealCo", "old"]])
    for mapping in ({"Company": "-"}, {"Company ": "company"}):
        refused = run_import(twice, admin, mapping=mapping)
        assert refused.status == "invalid"
        assert (f"the mapping names column {next(iter(mapping))!r}, which the file has 2 of "
                "(columns 2, 3): a mapping by name cannot tell them apart; rename them "
                "in the file's header") in refused.message
    by_position = run_import(twice, admin, columns=["full_name", "company", "-"])
    assert (by_position.status, by_position.created_count) == ("done", 1)
    with app.extensions["crm"].sessions() as s:
        assert s.scalar(select(Lead.company).where(Lead.full_name == "Twin")) == "RealCo"


def test_a_header_refused_keys_the_mappings_problems_by_the_option_that_gave_it(app, tmp_path):
    """``mapping`` by name, ``columns`` by position (the import page's); the
    header's own problems under ``file``."""
    def refused(path, **options) -> dict:
        with pytest.raises(ValidationFailed) as err, app.extensions["crm"].sessions() as s:
            imports.check(s, None, svc.LEADS, path, imports.ImportOptions(**options))
        assert err.value.detail.startswith("The header does not fit: ")
        return err.value.errors

    path = write_csv(tmp_path / "p.csv", ["Full name", "Email"], [["Ada", "ada@x.org"]])
    assert refused(path, columns=["full_name"]) == {
        "columns": ["the mapping gives 1 column(s), the file has 2"]}
    assert refused(path, columns=["full_name", "mail"])["columns"][0] == (
        "column 'Email' matches no field (mapped to unknown field 'mail')")
    assert refused(path, columns=["company", "emails"]) == {"file": [
        "no column gives full_name (a column of first_name or full_name or last_name would)"]}
    # Matched by id: the file with no id column is the file's problem; its id
    # column mapped to another field, the mapping's.
    assert list(refused(path, match_by="id")) == ["file"]
    exported = write_csv(tmp_path / "e.csv", ["id", "Full name"], [["1", "Ada"]])
    assert refused(exported, match_by="id", mapping={"id": "company"}) == {"mapping": [
        "rows are matched by id, but no column is named id (as in an export of this list) "
        "or mapped to it"]}
    # Not matched by id, a column mapped to id maps to a field there is not.
    assert list(refused(exported, mapping={"Full name": "id"})) == ["mapping", "file"]


@pytest.mark.parametrize(("tail", "line", "problem"), [
    ('"Unclosed,u@x.org\r\nNext,n@x.org\r\n', 3, "a quoted cell is never closed"),
    ('"Quoted" name,q@x.org\r\n', 3, "',' expected after '\"'"),
    # No column stores NUL (PostgreSQL refuses the batch): the file is refused whole.
    ("Nul\x00,n@x.org\r\n", 3, "it contains the NUL character (U+0000)"),
])
def test_broken_quoting_is_refused_with_its_line_before_writing(app, tmp_path, make_user,
                                                                run_import, tail, line,
                                                                problem):
    admin = make_user("admin")
    path = write_csv(tmp_path / "q.csv", ["name", "email"], [["Fine", "f@x.org"]])
    path.write_text(path.read_text() + tail, newline="")
    for skip in (False, True):
        job = run_import(path, admin, skip_bad_rows=skip)
        assert job.status == "invalid", job.message
        assert f"The file is not valid CSV (line {line}): {problem}" in job.message
    assert count(app) == 0


def test_a_filled_cell_beyond_the_header_is_a_row_problem(app, tmp_path, make_user,
                                                          run_import):
    """It was dropped without a word: often an unquoted comma shifted the row."""
    admin = make_user("admin")
    path = tmp_path / "shifted.csv"
    path.write_text("name,email\r\nTrailing,t@x.org,,\r\nAcme, Inc.,a@x.org\r\n"
                    "Fine,f@x.org\r\n", newline="")
    job = run_import(path, admin)
    assert job.status == "invalid" and count(app) == 0
    assert job.errors == [[3, "#3", "“a@x.org”: A cell beyond the header's 2 columns: name its "
                                    "column in the header (in a CSV: is a separator inside a "
                                    "cell not quoted?)."],
                          [3, "email", "“Inc.”: An email address must have an @-sign."]]
    assert run_import(path, admin, skip_bad_rows=True).created_count == 2


def test_a_column_with_no_name_blocks_only_rows_that_fill_it(app, tmp_path, make_user,
                                                             run_import):
    """A spreadsheet's trailing separator (Name,Email,) refused the file whole:
    "column 3 has no name"."""
    admin = make_user("admin")
    path = tmp_path / "trailing.csv"
    path.write_text("Full Name,Email,\r\nTrail Comma,trail@x.org,\r\nFilled,f@x.org,lost?\r\n",
                    newline="")
    job = run_import(path, admin)
    assert job.status == "invalid" and count(app) == 0
    assert job.errors == [[3, "#3", "“lost?”: A cell under a column with no name: name its "
                                    "column in the header, or choose to ignore the column on "
                                    "the import page."]]
    assert run_import(path, admin, skip_bad_rows=True).created_count == 1
    # Mapped by position, as the import page does, it is ignored or read as asked.
    ignored = run_import(path, admin, columns=["full_name", "emails", "-"], on_duplicate="skip")
    assert (ignored.status, ignored.created_count, ignored.skipped_count) == ("done", 1, 1)
    read = run_import(path, admin, columns=["full_name", "emails", "company"],
                      on_duplicate="update")
    assert (read.status, read.error_count) == ("done", 0)
    with app.extensions["crm"].sessions() as s:
        assert s.scalar(select(Lead.company).where(Lead.email_key == "f@x.org")) == "lost?"
    assert count(app) == 2


def test_a_utf16_file_read_as_utf8_is_refused_with_a_hint(app, tmp_path, make_user,
                                                          run_import):
    # Without a BOM, UTF-16 decodes as UTF-8 text with NUL in every other character.
    path = tmp_path / "excel.csv"
    path.write_bytes("name,email\r\nAda,ada@x.org\r\n".encode("utf-16-le"))
    job = run_import(path, make_user("admin"))
    assert job.status == "invalid"
    assert job.message == ("The file is not valid CSV (line 1): it contains the NUL character "
                           "(U+0000). A file saved as UTF-16 has one in every other character: "
                           "save it as UTF-8.")
    # Read as UTF-16, a file without the byte order mark was a traceback.
    job = run_import(path, make_user("manager"), encoding="utf-16")
    assert job.status == "invalid"
    assert job.message == ("The file is not valid UTF-16 (Excel's Unicode Text) text (line 1): "
                           "UTF-16 stream does not start with BOM; give the encoding it was "
                           "saved in, or save it as UTF-8.")
    assert count(app) == 0



def cut_power_in_the_second_batch(monkeypatch, cut: BaseException | None = None):
    """The next import's second batch fails after its writes, before its
    commit (with ``cut``, a RuntimeError unless given); returns the real batch
    writer, to put back."""
    real = import_write._write_batch
    calls = []

    def dying(*args, **kwargs):
        calls.append(1)
        real(*args, **kwargs)
        if len(calls) == 2:
            raise cut or RuntimeError("power cut")

    monkeypatch.setattr(import_write, "_write_batch", dying)
    return real


@pytest.fixture
def interrupted(app, tmp_path, make_user, run_import, monkeypatch):
    """``(user, file, job)``: an import of 30 rows in batches of 10 whose second
    batch died before its commit."""
    admin = make_user("admin")
    path = write_csv(tmp_path / "big.csv", ["name", "email"],
                     [[f"P{i}", f"p{i}@x.org"] for i in range(30)])
    real = cut_power_in_the_second_batch(monkeypatch)
    with pytest.raises(RuntimeError):
        run_import(path, admin, batch_size=10)
    monkeypatch.setattr(import_write, "_write_batch", real)
    with app.extensions["crm"].sessions() as s:
        return admin, path, imports.list_jobs(s, admin).jobs[0]


def test_an_interrupted_import_keeps_whole_batches_and_resumes(app, interrupted):
    admin, _, job = interrupted
    assert count(app) == 10  # the second batch rolled back whole
    assert job.status == "failed" and "Resume it or revert it" in job.message
    sessions = app.extensions["crm"].sessions
    with pytest.raises(Conflict, match="is failed; nothing to run"):
        imports.run(sessions, job.id)  # only once someone asks for the resume
    done = imports.resume(sessions, admin, job.id)
    assert done.status == "done" and done.created_count == 30 and count(app) == 30
    with pytest.raises(Conflict, match="did not stop half-way"):
        imports.resume(sessions, admin, job.id)


def test_a_file_changed_since_the_import_stopped_is_not_resumed(app, interrupted):
    admin, path, job = interrupted
    # Rows added at the top: the written batches no longer end where they did.
    path.write_text("name,email\nNew,new@x.org\n" + path.read_text().split("\n", 1)[1])
    sessions = app.extensions["crm"].sessions
    with pytest.raises(Conflict, match="changed since the import started"):
        imports.resume(sessions, admin, job.id)
    assert count(app) == 10
    done = imports.revert(sessions, admin, job.id)  # what it wrote still goes
    assert done.status == "reverted" and count(app) == 0


def write_workbook(path: Path, header, rows):
    book = openpyxl.Workbook()
    for row in [header, *rows]:
        book.active.append([cell or None for cell in row])
    book.save(path)
    return path


@pytest.mark.parametrize("write", [write_csv, write_workbook])
def test_resuming_an_import_that_leaves_out_bad_rows_writes_each_good_row_once(
        app, tmp_path, make_user, run_import, monkeypatch, write):
    """The check's batches of good rows and the resume's batches, read again
    from the file (a CSV or a workbook), end at the same rows: a resume starts
    after the last batch committed, never inside it."""
    admin = make_user("admin")
    rows = [[f"P{i}", f"p{i}@x.org" if i % 2 else ""] for i in range(30)]
    rows[3][0] = rows[5][0] = ""  # two bad rows in the first batch
    path = write(tmp_path / "gaps", ["name", "email"], rows)
    real = cut_power_in_the_second_batch(monkeypatch)
    with pytest.raises(RuntimeError):
        run_import(path, admin, batch_size=10, skip_bad_rows=True)
    assert count(app) == 8  # the file's first 10 rows, less the 2 bad ones
    monkeypatch.setattr(import_write, "_write_batch", real)
    sessions = app.extensions["crm"].sessions
    with app.extensions["crm"].sessions() as s:
        job_id = imports.list_jobs(s, admin).jobs[0].id
    done = imports.resume(sessions, admin, job_id)
    assert (done.status, done.created_count, done.skipped_count) == ("done", 28, 0)
    with app.extensions["crm"].sessions() as s:
        names = s.scalars(select(Lead.full_name)).all()
    assert sorted(names) == sorted(f"P{i}" for i in range(30) if i not in (3, 5))


def test_rows_written_counts_data_rows_when_the_file_has_blank_lines(
        app, tmp_path, make_user, run_import, monkeypatch):
    """The progress counts the rows the written batches went through, blank
    lines aside, from the check's batches and from a resume's alike."""
    admin = make_user("admin")
    path = write_csv(tmp_path / "blank.csv", ["name", "email"],
                     [[f"P{i}", f"p{i}@x.org"] for i in range(30)])
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:4] + ["\r\n"] * 5 + lines[4:]), newline="")
    real = cut_power_in_the_second_batch(monkeypatch)
    with pytest.raises(RuntimeError):
        run_import(path, admin, batch_size=10)
    sessions = app.extensions["crm"].sessions
    with sessions() as s:
        job = imports.list_jobs(s, admin).jobs[0]
        # The first batch: the file's rows 2 to 16, five of them blank.
        assert (job.total_rows, job.processed_rows, imports.rows_written(job)) == (30, 16, 10)
        assert job.message.startswith("Stopped after 10 rows:")
    monkeypatch.setattr(import_write, "_write_batch", real)
    seen = []
    done = imports.resume(sessions, admin, job.id,
                          progress=lambda j: seen.append((imports.rows_written(j), j.message)))
    # QA: the message said "Checking the file." until the end.
    assert seen == [(20, "Writing the checked rows."), (30, "Writing the checked rows.")]
    assert done.created_count == 30


def test_a_resume_leaves_out_what_the_check_left_out(app, tmp_path, make_user, run_import,
                                                     monkeypatch):
    """QA: a resume checked each row alone, so a later row repeating an
    earlier row's email updated that row's lead (or was counted twice)."""
    admin = make_user("admin")
    rows = [[f"P{i}", f"p{i}@x.org"] for i in range(30)]
    rows[24] = ["Second P0", "p0@x.org"]  # file row 26 repeats row 2
    path = write_csv(tmp_path / "big.csv", ["name", "email"], rows)
    real = cut_power_in_the_second_batch(monkeypatch)
    with pytest.raises(RuntimeError):
        run_import(path, admin, batch_size=10, on_duplicate="update", skip_bad_rows=True)
    monkeypatch.setattr(import_write, "_write_batch", real)
    sessions = app.extensions["crm"].sessions
    with sessions() as s:
        job = imports.list_jobs(s, admin).jobs[0]
    done = imports.resume(sessions, admin, job.id)
    assert (done.created_count, done.updated_count, done.error_count) == (29, 0, 1), done.message
    assert done.errors == [[26, "email", "The email p0@x.org repeats row 2."]]
    with sessions() as s:
        assert s.scalar(select(Lead.full_name).where(Lead.email_key == "p0@x.org")) == "P0"


@pytest.mark.parametrize("file_kept", [True, False])
def test_an_import_stopped_by_its_process_may_go_on_at_once(app, tmp_path, make_user,
                                                           run_import, monkeypatch, file_kept):
    """Ctrl-C, or the SIGTERM a service manager sends a worker (which raises
    it), marks the job stopped: it looked busy for ten minutes before."""
    admin = make_user("admin")
    path = write_csv(tmp_path / "big.csv", ["name", "email"],
                     [[f"P{i}", f"p{i}@x.org"] for i in range(30)])
    real = cut_power_in_the_second_batch(monkeypatch, KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        run_import(path, admin, batch_size=10)
    monkeypatch.setattr(import_write, "_write_batch", real)
    sessions = app.extensions["crm"].sessions
    with sessions() as s:
        job = imports.list_jobs(s, admin).jobs[0]
    if file_kept:
        assert job.message == ("Stopped after 10 rows: its process was stopped. Resume it or "
                               "revert it.")
        assert imports.resume(sessions, admin, job.id).created_count == 30
        return
    path.unlink()
    with transaction(sessions) as s:  # the next stop finds the file gone
        s.get(ImportJob, job.id).status = "resume_queued"
    with pytest.raises(ValidationFailed):
        imports.run(sessions, job.id)
    with sessions() as s:
        assert s.get(ImportJob, job.id).message == (
            "Stopped after 10 rows: Cannot read big.csv: No such file or directory. Its file "
            "is gone: revert it.")


def test_ctrl_c_inside_the_drivers_write_marks_the_job_stopped_at_once(
        app, tmp_path, make_user, run_import, monkeypatch):
    """QA: Ctrl-C while SQLite wrote a batch's rows held its write lock until
    the interrupted statement was freed: the job's bookkeeping waited 30 s
    for it, failed ("database is locked"), and left the job running."""
    import time

    from crmcore.services import bulk

    admin = make_user("admin")
    path = write_csv(tmp_path / "big.csv", ["name", "email"],
                     [[f"P{i}", f"p{i}@x.org"] for i in range(30)])
    real, batches = bulk._tuples, []

    class Interrupted(list):
        """Rows whose reading is interrupted after a few, inside the driver."""

        def __iter__(self):
            yield from list.__iter__(self[:3])
            raise KeyboardInterrupt

    def tuples(table, rows, shared, sqlite):
        names, params = real(table, rows, shared, sqlite)
        if table.name == "leads":
            batches.append(1)
            if len(batches) == 2:
                return names, Interrupted(params)
        return names, params

    monkeypatch.setattr(bulk, "_tuples", tuples)
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        run_import(path, admin, batch_size=10)
    assert time.monotonic() - started < 10
    monkeypatch.setattr(bulk, "_tuples", real)
    sessions = app.extensions["crm"].sessions
    with sessions() as s:
        job = imports.list_jobs(s, admin).jobs[0]
    assert (job.status, job.message) == (
        "failed", "Stopped after 10 rows: its process was stopped. Resume it or revert it.")
    assert count(app) == 10
    assert imports.resume(sessions, admin, job.id).created_count == 30


def test_a_jobs_message_gives_the_drivers_words_not_the_statement():
    """QA: a stopped job's message quoted the whole COPY statement."""
    from sqlalchemy.exc import IntegrityError

    class UniqueViolation(Exception):
        pass

    driver = UniqueViolation('duplicate key value violates unique constraint "pk_email_keys"\n'
                             "DETAIL:  Key (email)=(a@x.org) already exists.")
    assert imports.stopped_by(IntegrityError("COPY email_keys (email) FROM STDIN", None,
                                             driver)) == (
        'UniqueViolation: duplicate key value violates unique constraint "pk_email_keys"')


def test_an_import_stopped_while_checking_is_checked_again_on_resume(
        app, tmp_path, make_user, run_import, monkeypatch):
    """QA: Ctrl-C during the check left the job invalid, which no resume takes."""
    admin = make_user("admin")
    path = write_csv(tmp_path / "big.csv", ["name", "email"],
                     [[f"P{i}", f"p{i}@x.org"] for i in range(30)])
    check = imports.check

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(imports, "check", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_import(path, admin)
    monkeypatch.setattr(imports, "check", check)
    sessions = app.extensions["crm"].sessions
    with sessions() as s:
        job = imports.list_jobs(s, admin).jobs[0]
    assert (job.status, job.message) == (
        "validating", "The check stopped: its process was stopped. Resume it.")
    assert imports.resume(sessions, admin, job.id).created_count == 30


def test_a_check_counts_its_problems_as_it_finds_them(app, tmp_path, make_user, run_import,
                                                      monkeypatch):
    """QA: a job stopped during its check said "problems 0" while the
    problems of its first batches were kept; a resume finds them again,
    none twice."""
    admin = make_user("admin")
    path = write_csv(tmp_path / "bad.csv", ["name", "email"],
                     [[f"P{i}", "bad" if i % 2 else f"p{i}@x.org"] for i in range(30)])
    check = imports.check

    def stopped_after_a_batch(*args, store, **kwargs):
        def once(problems):
            store(problems)
            raise KeyboardInterrupt

        return check(*args, store=once, **kwargs)

    monkeypatch.setattr(imports, "check", stopped_after_a_batch)
    with pytest.raises(KeyboardInterrupt):
        run_import(path, admin, batch_size=10, skip_bad_rows=True)
    monkeypatch.setattr(imports, "check", check)
    sessions = app.extensions["crm"].sessions
    with sessions() as s:
        job = imports.list_jobs(s, admin).jobs[0]
        assert (job.status, job.error_count) == ("validating", 5)
    done = imports.resume(sessions, admin, job.id)
    assert (done.created_count, done.error_count) == (15, 15)
    with sessions() as s:
        assert [row for row, _, _ in imports.problems(s, admin, job.id)] == list(
            range(3, 32, 2))


def test_only_an_import_that_stopped_is_resumed_and_only_once(app, tmp_path, make_user):
    """A running import whose process is alive is refused; once it has not
    moved for STALLED_AFTER it is resumed, by a worker too (resume_queued)."""
    from crmcore import jobs

    sessions, user = app.extensions["crm"].sessions, make_user("sales")
    path = write_csv(tmp_path / "a.csv", ["Full name"], [["Ada"], ["Bob"]])
    with transaction(sessions) as s:
        job = imports.start(s, s.merge(user), svc.LEADS, path, path.name,
                            imports.ImportOptions())
        job.status, job.total_rows, job.progress_at = "running", 2, utcnow()
        job_id, free = job.id, job.progress_at + imports.STALLED_AFTER
    with transaction(sessions) as s, pytest.raises(Conflict, match="still moving") as refused:
        imports.queue_resume(s, s.merge(user), job_id)
    # Said when: a killed process cannot tell.
    assert (f"If its process has died, it can be taken over from {free:%Y-%m-%d %H:%M:%S} UTC, "
            "10 minutes after it last moved.") in refused.value.detail
    with transaction(sessions) as s:
        s.get(ImportJob, job_id).progress_at = utcnow() - timedelta(minutes=11)
    with transaction(sessions) as s:
        assert imports.queue_resume(s, s.merge(user), job_id).status == "resume_queued"
    with transaction(sessions) as s, pytest.raises(Conflict, match="still moving"):
        imports.queue_resume(s, s.merge(user), job_id)  # asked for already
    assert imports.next_queued(sessions) == (job_id, "resume_queued")
    assert jobs.work(sessions, once=True, echo=lambda _line: None) == 1
    with sessions() as s:
        job = s.get(ImportJob, job_id)
        assert (job.status, job.created_count) == ("done", 2)
    assert count(app) == 2


@pytest.mark.parametrize("match_by", ["email", "id"])
def test_a_dry_run_counts_the_rows_that_would_change_nothing(app, tmp_path, make_user,
                                                              run_import, match_by):
    """QA: an unedited export's dry run said "would update 192"; its import
    then updated none (unchanged 192)."""
    admin = make_user("admin")
    with transaction(app.extensions["crm"].sessions) as s:
        ids = [svc.create(s, s.merge(admin), svc.LEADS, {
            "full_name": name, "emails": [f"{name.lower()}@x.org"], "company": "Acme"}).id
            for name in ("Ada", "Bob", "Cy")]
    path = write_csv(tmp_path / "export.csv", ["id", "name", "email", "company"],
                     [[ids[0], "Ada", "ada@x.org", "Acme"],
                      [ids[1], "Bob", "bob@x.org", "Beta"],  # the one edit
                      [ids[2], "Cy", "cy@x.org", "Acme"],
                      ["", "Dee", "dee@x.org", "Acme"]])
    options = {"on_duplicate": "update", "match_by": match_by}
    dry = run_import(path, admin, dry_run=True, **options)
    assert (dry.created_count, dry.updated_count, dry.unchanged_count) == (1, 1, 2)
    assert dry.message == ("Checked 4 row(s): an import would create 1, update 1, leave 2 "
                           "unchanged and skip 0; 0 problem(s). Nothing was written.")
    done = run_import(path, admin, **options)
    assert (done.created_count, done.updated_count, done.unchanged_count) == (1, 1, 2)


def test_a_dry_run_starts_one_import_even_asked_twice_at_once(app, tmp_path, make_user,
                                                               monkeypatch):
    """Each ask made an import of the checked file: every person twice."""
    import time

    from tests.core.test_concurrency import at_once

    sessions, user = app.extensions["crm"].sessions, make_user("sales")
    path = write_csv(tmp_path / "a.csv", ["Full name"], [["Ada"], ["Bob"]])
    with transaction(sessions) as s:
        dry_run = imports.start(s, s.merge(user), svc.LEADS, path, path.name,
                                imports.ImportOptions(dry_run=True)).id
    assert imports.run(sessions, dry_run).status == "checked"
    start = imports.start

    def slow_start(*args, **kwargs):
        time.sleep(0.3)  # both asks inside, had the first not locked the dry run
        return start(*args, **kwargs)

    monkeypatch.setattr(imports, "start", slow_start)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def ask() -> None:
        barrier.wait()
        try:
            with transaction(sessions) as s:
                outcomes.append(f"#{imports.import_checked(s, s.merge(user), dry_run).id}")
        except Conflict as exc:
            outcomes.append(exc.detail)

    at_once(ask, (), ())
    started = sorted(outcomes)[0]
    assert sorted(outcomes) == [started, (
        f"Dry run #{dry_run} was imported already, as import {started} (queued); "
        "importing it again would add its rows twice.")], outcomes
    with sessions() as s:
        assert f"#{s.get(ImportJob, dry_run).started_import_id}" == started
        assert s.scalar(select(func.count()).select_from(ImportJob)) == 2


def test_contacts_import(app, tmp_path, make_user, run_import):
    admin = make_user("admin")
    path = write_csv(tmp_path / "c.csv", ["First name", "Last name", "Email", "ZIP",
                                          "Opt outs", "Stage"],
                     [["Ada", "Lovelace", "ada@x.org", "SW1A 1AA", "sms;email", "customer"]])
    job = run_import(path, admin, kind=svc.CONTACTS)
    assert job.created_count == 1
    with app.extensions["crm"].sessions() as s:
        contact = svc.list_records(s, admin, svc.CONTACTS).items[0]
        assert (contact.postal_code, contact.opt_outs, contact.lifecycle_stage) == (
            "SW1A 1AA", ["sms", "email"], "customer")


def test_bad_options_are_refused():
    with pytest.raises(ValidationFailed) as err:
        imports.ImportOptions(on_duplicate="merge", encoding="klingon").check()
    assert set(err.value.errors) == {"on_duplicate", "encoding"}


def full_answer(value):
    try:
        return ("ok", normalize_email(value))
    except ValidationError:
        return ("error", None)


def fast_answer(value):
    try:
        return ("ok", fast_email(value))
    except ValidationError:
        return ("error", None)


emails = st.one_of(
    st.emails().map(str),
    st.builds(lambda a, b, c: f"{a}@{b}.{c}",
              st.text("abcXYZ09._+-", min_size=0, max_size=12),
              st.text("abc09-.", min_size=0, max_size=10),
              st.sampled_from(["com", "org", "invalid", "local", "c", "co.uk", "123"])),
    st.text(max_size=30),
)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(emails)
@example("a..b@x.org")
@example(".a@x.org")
@example("a@-x.org")
@example("A@X.ORG ")
@example("a@localhost")
@example("x" * 65 + "@x.org")
def test_fast_email_gives_the_full_validators_answer(value):
    assert fast_answer(value) == full_answer(value)


def test_queued_imports_run_once_in_a_thread_or_a_worker(app, tmp_path, make_user,
                                                         monkeypatch):
    import time

    from crmcore import jobs

    admin = make_user("admin")
    sessions = app.extensions["crm"].sessions
    path = write_csv(tmp_path / "q.csv", ["name"], [["Queued"]])

    def queue():
        with transaction(sessions) as s:
            return imports.start(s, s.merge(admin), svc.LEADS, path, "q.csv",
                                 imports.ImportOptions()).id

    def queue_revert(job_id):
        with transaction(sessions) as s:
            imports.queue_revert(s, s.merge(admin), job_id)

    def wait_for(job_id, status):
        for _ in range(100):
            with sessions() as s:
                if imports.get_job(s, None, job_id).status == status:
                    return
            time.sleep(0.05)
        raise AssertionError(f"import #{job_id} never became {status}")

    monkeypatch.setenv("CRM_BACKGROUND", "worker")
    first, second = queue(), queue()
    jobs.dispatch_import(sessions, first)  # worker mode: left in the queue
    assert imports.next_queued(sessions) == (first, "queued")
    lines = []
    assert jobs.work(sessions, once=True, echo=lines.append) == 2
    assert lines[1] == (f"import #{first}: done. Created 1, updated 0, skipped 0, "
                        "left out 0 bad row(s).")
    with pytest.raises(Conflict):
        imports.run(sessions, second)  # finished: nobody may run it again
    # A worker that saw the job queued just before another claimed it says so.
    seen = iter([(first, "queued"), None])
    lines.clear()
    with monkeypatch.context() as patch:
        patch.setattr(imports, "next_queued", lambda _sessions: next(seen))
        assert jobs.work(sessions, once=True, echo=lines.append) == 0
    assert lines == [f"import #{first}: starting",
                     f"import #{first}: left to another worker (Import #{first} is done; "
                     "nothing to run.)"]
    queue_revert(first)
    jobs.dispatch_revert(sessions, first)  # left in the queue too
    assert imports.next_queued(sessions) == (first, "revert_queued")
    lines.clear()
    assert jobs.work(sessions, once=True, echo=lines.append) == 1
    assert lines == [f"import #{first}: reverting",
                     f"import #{first}: reverted. Reverted: deleted 1 record(s), restored 0."]
    with pytest.raises(Conflict):
        imports.run_revert(sessions, first)  # only a queued revert runs

    monkeypatch.setenv("CRM_BACKGROUND", "thread")
    third = queue()
    jobs.dispatch_import(sessions, third)
    wait_for(third, "done")
    queue_revert(third)
    jobs.dispatch_revert(sessions, third)
    wait_for(third, "reverted")
    assert count(app) == 1  # the second import's lead


def test_a_revert_in_flight_cannot_start_twice_and_a_stalled_one_can_finish(
        app, tmp_path, make_user, run_import):
    admin, sales = make_user("admin"), make_user("sales")
    sessions = app.extensions["crm"].sessions
    path = write_csv(tmp_path / "f.csv", ["name", "email"],
                     [[f"P{i}", f"p{i}@x.org"] for i in range(5)])
    job = run_import(path, admin)

    def queue_revert(user):
        with transaction(sessions) as s:
            return imports.queue_revert(s, s.merge(user), job.id).status

    def set_job(**values):
        with transaction(sessions) as s:
            for name, value in values.items():
                setattr(s.get(type(job), job.id), name, value)

    with pytest.raises(NotFound):
        queue_revert(sales)  # not theirs, and they may not see everyone's
    assert queue_revert(admin) == "revert_queued"
    with pytest.raises(Conflict, match="is being reverted"):
        queue_revert(admin)  # waiting for a worker
    set_job(status="reverting")
    with pytest.raises(Conflict, match="is being reverted"):
        queue_revert(admin)  # running: its batches move on every second
    set_job(progress_at=utcnow() - imports.STALLED_AFTER - timedelta(seconds=1))
    assert queue_revert(admin) == "revert_queued"  # its process is gone
    done = imports.run_revert(sessions, job.id)
    assert (done.status, done.reverted_by, done.reverted_count) == ("reverted", admin.id, 5)
    assert count(app) == 0
    with pytest.raises(Conflict, match="already reverted"):
        queue_revert(admin)

    running = run_import(write_csv(tmp_path / "g.csv", ["name"], [["Q"]]), admin)
    job = running
    set_job(status="running", progress_at=utcnow())
    with pytest.raises(Conflict, match="still running"):
        queue_revert(admin)
    set_job(progress_at=utcnow() - timedelta(hours=1))
    assert queue_revert(admin) == "revert_queued"


def test_clean_uploads_keeps_what_live_jobs_need(app, tmp_path, make_user):
    import os
    import time

    admin = make_user("admin")
    sessions = app.extensions["crm"].sessions
    instance = tmp_path / "inst"
    folder = imports.uploads_dir(instance)
    folder.mkdir(parents=True)
    old = time.time() - 10 * 86400
    paths = {}
    for name in ("done", "queued", "stray", "fresh"):
        paths[name] = write_csv(folder / f"{name}.csv", ["name"], [["X"]])
        if name != "fresh":
            os.utime(paths[name], (old, old))
    outside = write_csv(tmp_path / "cli.csv", ["name"], [["X"]])
    os.utime(outside, (old, old))
    with transaction(sessions) as s:
        for name in ("done", "queued"):
            job = imports.start(s, s.merge(admin), svc.LEADS, paths[name], name,
                                imports.ImportOptions())
            job.status = "done" if name == "done" else "queued"
    removed = imports.clean_uploads(sessions, instance, days=7)
    assert sorted(p.name for p in removed) == ["done.csv", "stray.csv"]
    assert paths["queued"].exists() and paths["fresh"].exists() and outside.exists()


def test_an_import_on_someones_behalf_limits_columns_and_sets_defaults(app, tmp_path,
                                                                       run_import):
    """What a portal plugin uses: the file may fill only some fields, and code
    sets the rest on every created record."""
    defaults = {"source": "Partner X", "tags": ["external user"],
                "plugin_data": {"partner": {"batch": 7}}}
    ok = write_csv(tmp_path / "ok.csv", ["Name", "E-mail"], [["Ada", "ada@example.com"]])
    job = run_import(ok, fields=["full_name", "emails"], defaults=defaults)
    assert (job.status, job.created_count) == ("done", 1)
    with app.extensions["crm"].sessions() as s:
        lead = s.scalar(select(Lead))
        assert (lead.source, lead.tags, lead.plugin_data) == (
            "Partner X", ["external user"], {"partner": {"batch": 7}})
    sneaky = write_csv(tmp_path / "sneaky.csv", ["Name", "Owner"], [["Bob", "x@example.com"]])
    with pytest.raises(ValidationFailed) as err, app.extensions["crm"].sessions() as s:
        imports.check(s, None, svc.LEADS, sneaky,
                      imports.ImportOptions(fields=["full_name", "emails"]))
    assert "Owner" in err.value.errors["file"][0]


def test_create_applies_code_set_defaults_over_the_input(app, make_user):
    with transaction(app.extensions["crm"].sessions) as s:
        lead = svc.create(s, None, svc.LEADS, {"full_name": "Ada", "source": "typed"},
                          defaults={"source": "Partner X", "tags": ["external user"],
                                    "plugin_data": {"partner": 1}})
        assert (lead.source, lead.tags, lead.plugin_data) == (
            "Partner X", ["external user"], {"partner": 1})


def test_the_check_holds_no_write_lock_and_shows_its_progress(app, tmp_path, make_user,
                                                              monkeypatch):
    """While a large file is checked, the CRM takes other writes at once (SQLite
    has one write lock for the whole database) and the job is seen validating,
    with the rows read so far."""
    sessions = app.extensions["crm"].sessions
    user = make_user("sales")
    path = write_csv(tmp_path / "big.csv", ["Full name", "Email"],
                     [[f"Person {i}", f"p{i}@example.com"] for i in range(30)])
    monkeypatch.setattr(imports, "HEARTBEAT_SECONDS", 0)
    seen = []

    def meanwhile(rows: int) -> None:
        with sessions() as other:
            other.connection().exec_driver_sql(
                "PRAGMA busy_timeout=500" if other.bind.dialect.name == "sqlite"
                else "SET LOCAL lock_timeout = 500")
            svc.create(other, None, svc.LEADS, {"full_name": f"Meanwhile {rows}"})
            other.commit()
        with sessions() as other:
            job = other.get(ImportJob, job_id)
            seen.append((job.status, job.total_rows))

    real_heartbeat = imports._heartbeat

    def heartbeat(sessions_, job_id_, *args, **kwargs):
        beat = real_heartbeat(sessions_, job_id_, *args, **kwargs)
        return lambda rows: (beat(rows), meanwhile(rows))[0]

    monkeypatch.setattr(imports, "_heartbeat", heartbeat)
    with transaction(sessions) as s:
        job_id = imports.start(s, s.merge(user), svc.LEADS, path, path.name,
                               imports.ImportOptions(batch_size=10)).id
    job = imports.run(sessions, job_id)
    assert (job.status, job.created_count) == ("done", 30)
    assert seen == [("validating", 10), ("validating", 20), ("validating", 30)]
    assert count(app) == 33


def test_a_check_whose_process_died_is_seen_stalled_and_runs_again(app, tmp_path, make_user):
    sessions = app.extensions["crm"].sessions
    path, user = write_csv(tmp_path / "a.csv", ["Full name"], [["Ada"]]), make_user("sales")
    with transaction(sessions) as s:
        job = imports.start(s, s.merge(user), svc.LEADS, path, path.name,
                            imports.ImportOptions())
        job.status, job.progress_at = "validating", utcnow()
        job_id = job.id
    with pytest.raises(Conflict, match="is validating"):
        imports.run(sessions, job_id)  # still checking somewhere else
    with pytest.raises(Conflict, match="still moving"):
        imports.resume(sessions, None, job_id)
    with transaction(sessions) as s:
        job = s.get(ImportJob, job_id)
        assert not imports.stalled(job)
        job.progress_at = utcnow() - imports.STALLED_AFTER - timedelta(seconds=1)
        assert imports.stalled(job) and imports.resumable(job)
        assert not imports.revertible(job)  # it wrote nothing
    with pytest.raises(Conflict, match="is validating"):
        imports.run(sessions, job_id)  # only once someone asks for it
    assert imports.resume(sessions, None, job_id).status == "done"
    assert count(app) == 1


def test_a_check_that_breaks_ends_the_job_and_writes_nothing(app, tmp_path, make_user,
                                                             monkeypatch):
    sessions = app.extensions["crm"].sessions
    path, user = write_csv(tmp_path / "a.csv", ["Full name"], [["Ada"]]), make_user("sales")
    with transaction(sessions) as s:
        job_id = imports.start(s, s.merge(user), svc.LEADS, path, path.name,
                               imports.ImportOptions()).id

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(imports, "check", broken)
    with pytest.raises(OSError):
        imports.run(sessions, job_id)
    with sessions() as s:
        job = s.get(ImportJob, job_id)
        assert job.status == "invalid" and not imports.revertible(job)
        assert job.message == "The check stopped: OSError: disk full. Import the file again."
    assert count(app) == 0


def test_a_contacts_whole_name_splits_before_its_last_word(app, tmp_path, make_user,
                                                            run_import):
    admin = make_user("admin")
    path = write_csv(tmp_path / "c.csv", ["Name", "Email"], [
        ["Ada King Lovelace", "ada@x.org"], ["Madonna", "m@x.org"], ["", "nobody@x.org"]])
    job = run_import(path, admin, kind=svc.CONTACTS)
    assert job.status == "invalid"
    assert job.errors == [[4, "Name", "Missing data for required field."]]
    job = run_import(path, admin, kind=svc.CONTACTS, skip_bad_rows=True)
    assert "Created 2, updated 0, skipped 0, left out 1 bad row(s)." in job.message
    with app.extensions["crm"].sessions() as s:
        assert [(c.first_name, c.last_name) for c in s.scalars(
            select(Contact).order_by(Contact.id))] == [("Ada King", "Lovelace"), ("", "Madonna")]


@pytest.mark.parametrize(("line", "found"), [
    ("Name,Email,Company\r\n", ","),
    ("Name;Email;Company\r\n", ";"),
    ("Name\tEmail\r\n", "\t"),
    ('"Name; title",Email\r\n', ","),  # what is quoted does not count
    ('"Name, title";"Email, work"\r\n', ";"),
    ("Name\r\n", ","),  # one column: a comma, as any reader would take it
    ("Name;Email,Company;Phone\r\n", ";"),
])
def test_the_header_row_tells_the_delimiter(line, found):
    assert imports.detect_delimiter(line) == found


def leads_by_id(app):
    with app.extensions["crm"].sessions() as s:
        leads = {lead.id: (lead.full_name, lead.emails, lead.email_key)
                 for lead in s.scalars(select(Lead))}
        keys = dict(s.execute(select(EmailKey.email, EmailKey.record_id)).all())
    return leads, keys


def test_rows_matched_by_id_may_change_the_first_email_and_revert_it(app, tmp_path,
                                                                     make_user, run_import):
    admin = make_user("admin")
    with transaction(app.extensions["crm"].sessions) as s:
        ada = svc.create(s, s.merge(admin), svc.LEADS, {"full_name": "Ada",
                                                        "emails": ["ada@x.org", "a2@x.org"]}).id
        bob = svc.create(s, s.merge(admin), svc.LEADS, {"full_name": "Bob",
                                                        "emails": ["bob@x.org"]}).id
    path = write_csv(tmp_path / "export.csv", ["id", "full_name", "emails", "score"], [
        [ada, "Ada", "ada@new.org; a2@x.org", "10"],  # the first email changed
        [bob, "Bob B.", "bob@x.org", "0"],
        ["", "Cy", "cy@x.org", ""],  # no id: a new lead, or matched by its email
        [9999, "Ghost", "ghost@x.org", ""],
        [ada, "Ada", "ada.2@x.org", ""],
        [bob, "Bob", "ada@new.org", ""],
        ["12a", "Dee", "dee@x.org", ""]])
    refused = run_import(path, admin, on_duplicate="update", match_by="id")
    assert refused.status == "invalid"
    assert refused.errors == [
        [5, "id", "No lead #9999 that you may update (another user's, one in the recycle "
                  "bin, an anonymized one, or none at all): leave the id empty to add the row "
                  "as a new lead."],
        [6, "id", f"Row 2 updates this lead (#{ada}) already."],
        [7, "emails", "The email ada@new.org repeats row 2."],
        [8, "id", "“12a”: Not a record's id: a whole number, as the export gives it."]]
    # Matched by email, as before, the edited row would be a new lead.
    by_email = run_import(path, admin, on_duplicate="update", skip_bad_rows=True,
                          dry_run=True)
    assert (by_email.created_count, by_email.updated_count) == (5, 1)

    job = run_import(path, admin, on_duplicate="update", match_by="id", skip_bad_rows=True)
    assert (job.status, job.created_count, job.updated_count) == ("done", 1, 2), job.message
    leads, keys = leads_by_id(app)
    assert leads[ada] == ("Ada", ["ada@new.org", "a2@x.org"], "ada@new.org")
    assert leads[bob] == ("Bob B.", ["bob@x.org"], "bob@x.org")
    assert keys["ada@new.org"] == ada and "ada@x.org" not in keys
    with transaction(app.extensions["crm"].sessions) as s:  # the old address is free again
        other = svc.create(s, s.merge(admin), svc.LEADS, {"full_name": "Other",
                                                          "emails": ["ada@x.org"]}).id
    # Taken since: the revert stops before that batch, with the reason.
    with pytest.raises(Conflict):
        imports.revert(app.extensions["crm"].sessions, admin, job.id)
    assert leads_by_id(app)[0][ada][2] == "ada@new.org"
    with transaction(app.extensions["crm"].sessions) as s:
        svc.update(s, s.merge(admin), svc.LEADS, s.get(Lead, other), {"emails": ["o@x.org"]})
    reverted = imports.revert(app.extensions["crm"].sessions, admin, job.id)
    assert reverted.status == "reverted", reverted.message
    leads, keys = leads_by_id(app)
    assert leads[ada] == ("Ada", ["ada@x.org", "a2@x.org"], "ada@x.org")
    assert leads[bob] == ("Bob", ["bob@x.org"], "bob@x.org")
    assert keys["ada@x.org"] == ada and "ada@new.org" not in keys and "cy@x.org" not in keys


def test_matching_by_id_keeps_to_editable_records_and_free_addresses(app, tmp_path,
                                                                    make_user, run_import):
    admin, sales = make_user("admin"), make_user("sales")
    with transaction(app.extensions["crm"].sessions) as s:
        theirs = svc.create(s, s.merge(admin), svc.LEADS, {"full_name": "Theirs",
                                                           "emails": ["t@x.org"]}).id
        mine = svc.create(s, s.merge(sales), svc.LEADS, {"full_name": "Mine",
                                                         "emails": ["m@x.org"]}).id
    path = write_csv(tmp_path / "ids.csv", ["ID", "Name", "Email"], [
        [theirs, "Taken over", "t@x.org"], [mine, "Mine", "t@x.org"]])
    job = run_import(path, sales, on_duplicate="update", match_by="id")
    assert job.errors == [
        [2, "ID", f"No lead #{theirs} that you may update (another user's, one in the "
                  "recycle bin, an anonymized one, or none at all): leave the id empty to add "
                  "the row as a new lead."],
        [3, "Email", "The email t@x.org already belongs to another lead or contact."]]
    path = write_csv(tmp_path / "ids.csv", ["ID", "Name", "Email"], [[mine, "Mine", "t@x.org"]])
    assert run_import(path, sales, on_duplicate="update", match_by="id").errors == [
        [2, "Email", "The email t@x.org already belongs to another lead or contact."]]
    assert run_import(path, sales, on_duplicate="report", match_by="id").errors[0][2] == (
        "The email t@x.org already belongs to another lead or contact.")
    path = write_csv(tmp_path / "ids.csv", ["ID", "Name", "Email"], [[mine, "Mine", "n@x.org"]])
    assert run_import(path, sales, on_duplicate="report", match_by="id").errors == [
        [2, "ID", f"The lead #{mine} is already in the CRM."]]
    assert run_import(path, sales, on_duplicate="skip", match_by="id").skipped_count == 1
    # QA: an update by id wrote a person's data into an anonymized record.
    with transaction(app.extensions["crm"].sessions) as s:
        s.get(Lead, mine).anonymized_at = utcnow()
    job = run_import(path, sales, on_duplicate="update", match_by="id")
    assert job.updated_count == 0 and "an anonymized one" in job.errors[0][2]
    no_id = write_csv(tmp_path / "no-id.csv", ["Name", "Email"], [["Mine", "n@x.org"]])
    refused = run_import(no_id, sales, on_duplicate="update", match_by="id")
    assert "rows are matched by id, but no column is named id" in refused.message
    with pytest.raises(ValidationFailed) as bad:
        imports.ImportOptions(match_by="name").check()
    assert bad.value.errors == {"match_by": ["One of: email, id."]}


def test_an_edited_export_may_swap_two_leads_first_emails(app, tmp_path, make_user,
                                                          run_import):
    admin = make_user("admin")
    with transaction(app.extensions["crm"].sessions) as s:
        one, two, three = (svc.create(s, s.merge(admin), svc.LEADS, {
            "full_name": n, "emails": [f"{n}@x.org"]}).id for n in ("one", "two", "three"))
    path = write_csv(tmp_path / "swap.csv", ["id", "full_name", "emails"], [
        [one, "one", "two@x.org"], [two, "two", "one@x.org"]])

    assert run_import(path, admin, on_duplicate="update", match_by="id",
                      dry_run=True).errors == []
    job = run_import(path, admin, on_duplicate="update", match_by="id")

    assert (job.status, job.updated_count) == ("done", 2), job.errors
    leads, keys = leads_by_id(app)
    assert (leads[one][2], leads[two][2]) == ("two@x.org", "one@x.org")
    assert (keys["two@x.org"], keys["one@x.org"], keys["three@x.org"]) == (one, two, three)
    reverted = imports.revert(app.extensions["crm"].sessions, admin, job.id)
    assert reverted.status == "reverted", reverted.message
    assert leads_by_id(app)[1] == {"one@x.org": one, "two@x.org": two, "three@x.org": three}
    # Three in a ring, too.
    path = write_csv(tmp_path / "ring.csv", ["id", "full_name", "emails"], [
        [one, "one", "two@x.org"], [two, "two", "three@x.org"], [three, "three", "one@x.org"]])
    assert run_import(path, admin, on_duplicate="update", match_by="id").status == "done"
    assert leads_by_id(app)[1] == {"two@x.org": one, "three@x.org": two, "one@x.org": three}


def test_records_may_trade_key_emails_in_one_batch(app, make_user):
    admin = make_user("admin")
    sessions = app.extensions["crm"].sessions
    with transaction(sessions) as s:
        one, two = (svc.create(s, s.merge(admin), svc.LEADS, {"full_name": n, "emails": [e]}).id
                    for n, e in (("One", "one@x.org"), ("Two", "two@x.org")))
        svc.create(s, s.merge(admin), svc.CONTACTS, {"last_name": "C", "emails": ["c@x.org"]})
    with transaction(sessions) as s:
        svc.apply_many(s, None, svc.LEADS, [(one, {"emails": ["two@x.org"]}),
                                            (two, {"emails": ["one@x.org"]})], "trade",
                       rekey=True)
    leads, keys = leads_by_id(app)
    assert (leads[one][2], leads[two][2]) == ("two@x.org", "one@x.org")
    assert (keys["two@x.org"], keys["one@x.org"]) == (one, two)
    with pytest.raises(Conflict), transaction(sessions) as s:
        svc.apply_many(s, None, svc.LEADS, [(one, {"emails": ["c@x.org"]})], "taken",
                       rekey=True)
    assert leads_by_id(app) == (leads, keys)  # nothing written
