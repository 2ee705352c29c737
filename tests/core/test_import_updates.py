"""What an import's update keeps of a record, and what its revert gives back:
a file found by email knows only some of a person's addresses and phones, and
a revert undoes custom fields one by one."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from crmcore.db import transaction
from crmcore.models import Contact, ImportChange, Lead, OtherKey
from crmcore.services import custom_fields, imports
from crmcore.services import records as svc
from tests.core.csvfiles import write_csv

KEEPS = [("lead", svc.LEADS, Lead, {"full_name": "Bob Base"}),
         ("contact", svc.CONTACTS, Contact, {"first_name": "Bob", "last_name": "Base"})]


def lists(app, model, record_id):
    """A record's emails and phones, and its rows in ``other_keys``."""
    with app.extensions["crm"].sessions() as s:
        record = s.get(model, record_id)
        others = set(s.scalars(select(OtherKey.value).where(
            OtherKey.record_type == record.__tablename__[:-1],
            OtherKey.record_id == record_id)))
        return record.emails, record.phones, others


@pytest.mark.parametrize(("_", "kind", "model", "name"), KEEPS, ids=[k[0] for k in KEEPS])
def test_a_row_found_by_email_keeps_every_address_and_phone_and_its_revert_the_lists(
        app, tmp_path, make_user, run_import, _, kind, model, name):
    """QA: a file from another CRM, with one Email and one Phone column, took
    every second address and phone off the records it updated."""
    admin = make_user("admin")
    with transaction(app.extensions["crm"].sessions) as s:
        bob = svc.create(s, admin, kind, {
            **name, "emails": ["bob@acme.com", "bob.private@gmail.com"],
            "phones": ["+1 202 555 0100", "+1 202 555 0101"]}).id
    before = (["bob@acme.com", "bob.private@gmail.com"], ["+12025550100", "+12025550101"],
              {"bob.private@gmail.com", "+12025550101"})
    assert lists(app, model, bob) == before
    # Its key, another address, and a phone it does not have.
    path = write_csv(tmp_path / "other-crm.csv", ["Name", "Email", "Phone", "Company"], [
        ["Bob Base", "BOB@acme.com; bob.work@acme.com", "(202) 555-0102", "Acme"]])

    dry = run_import(path, admin, kind=kind, on_duplicate="update", dry_run=True)
    assert (dry.updated_count, dry.unchanged_count) == (1, 0), dry.message
    job = run_import(path, admin, kind=kind, on_duplicate="update")

    assert (job.updated_count, job.unchanged_count) == (1, 0), job.message
    # The key first, the file's other addresses, then the record's; the
    # file's phone (the newer one) first, then the record's.
    assert lists(app, model, bob) == (
        ["bob@acme.com", "bob.work@acme.com", "bob.private@gmail.com"],
        ["+12025550102", "+12025550100", "+12025550101"],
        {"bob.work@acme.com", "bob.private@gmail.com", "+12025550100", "+12025550101"})
    reverted = imports.revert(app.extensions["crm"].sessions, admin, job.id)
    assert reverted.message == "Reverted: deleted 0 record(s), restored 1."
    assert lists(app, model, bob) == before


def test_a_phone_the_record_has_moves_first_and_what_it_holds_already_changes_nothing(
        app, tmp_path, make_user, run_import):
    admin = make_user("admin")
    with transaction(app.extensions["crm"].sessions) as s:
        bob = svc.create(s, admin, svc.LEADS, {
            "full_name": "Bob", "emails": ["bob@acme.com", "bob.private@gmail.com"],
            "phones": ["+1 202 555 0100", "+1 202 555 0101"]}).id
    # The record's second phone, written as people write it, is its newer one.
    newer = write_csv(tmp_path / "newer.csv", ["Name", "Email", "Phone"],
                      [["Bob", "bob@acme.com", "202-555-0101"]])
    job = run_import(newer, admin, on_duplicate="update")
    assert job.updated_count == 1, job.message
    assert lists(app, svc.LEADS.model, bob) == (
        ["bob@acme.com", "bob.private@gmail.com"], ["+12025550101", "+12025550100"],
        {"bob.private@gmail.com", "+12025550100"})
    # Its key and its first phone, no more: nothing to write, as the dry run
    # says too.
    held = write_csv(tmp_path / "held.csv", ["Name", "Email", "Phone"],
                     [["Bob", "bob@acme.com", "+1 202 555 0101"]])
    for dry_run in (True, False):
        again = run_import(held, admin, on_duplicate="update", dry_run=dry_run)
        assert (again.updated_count, again.unchanged_count) == (0, 1), again.message
    with app.extensions["crm"].sessions() as s:
        assert s.scalar(select(ImportChange.id).where(ImportChange.import_id == again.id)) \
            is None


def test_an_edited_export_matched_by_id_gives_the_exact_lists(app, tmp_path, make_user,
                                                              run_import):
    """An export's cell lists every address and phone: one taken out of it is
    removed. A row without an id, found by email, keeps the record's."""
    admin = make_user("admin")
    with transaction(app.extensions["crm"].sessions) as s:
        ada, bob = (svc.create(s, admin, svc.LEADS, {
            "full_name": n, "emails": [f"{n}@acme.com", f"{n}@home.org"],
            "phones": ["+1 202 555 0100", "+1 202 555 0101"]}).id for n in ("ada", "bob"))
    path = write_csv(tmp_path / "export.csv", ["id", "full_name", "emails", "phones"], [
        [ada, "ada", "ada@acme.com", "+12025550101"],
        ["", "bob", "bob@acme.com", "+12025550102"]])

    dry = run_import(path, admin, on_duplicate="update", match_by="id", dry_run=True)
    assert (dry.updated_count, dry.unchanged_count) == (2, 0), dry.message
    job = run_import(path, admin, on_duplicate="update", match_by="id")

    assert job.updated_count == 2, job.message
    assert lists(app, Lead, ada) == (["ada@acme.com"], ["+12025550101"], set())
    assert lists(app, Lead, bob) == (
        ["bob@acme.com", "bob@home.org"], ["+12025550102", "+12025550100", "+12025550101"],
        {"bob@home.org", "+12025550100", "+12025550101"})
    imports.revert(app.extensions["crm"].sessions, admin, job.id)
    for record_id, name in ((ada, "ada"), (bob, "bob")):
        assert lists(app, Lead, record_id) == (
            [f"{name}@acme.com", f"{name}@home.org"], ["+12025550100", "+12025550101"],
            {f"{name}@home.org", "+12025550101"})


@pytest.fixture
def rev(app, make_user):
    """An admin and a lead with custom fields budget 4 and notes "n0"."""
    admin = make_user("admin")
    with transaction(app.extensions["crm"].sessions) as s:
        for name, field_type, choices in (("budget", "number", []), ("notes", "text", []),
                                          ("tier", "choice", ["Gold", "Silver"])):
            custom_fields.create_field(s, admin, {"record_type": "lead", "name": name,
                                                  "label": name.title(),
                                                  "field_type": field_type, "choices": choices})
        lead = svc.create(s, admin, svc.LEADS, {"full_name": "Rev Test", "emails": ["rev@x.com"],
                                                 "custom": {"budget": 4, "notes": "n0"}})
    return admin, lead.id


def custom_after_revert(app, tmp_path, run_import, rev, edit):
    """Import budget 5 and tier Gold onto the lead, have a user ``edit`` its
    custom fields, revert: the revert's message and the lead's custom fields."""
    admin, lead_id = rev
    path = write_csv(tmp_path / "custom.csv", ["Name", "Email", "custom.budget", "custom.tier"],
                     [["Rev Test", "rev@x.com", "5", "Gold"]])
    job = run_import(path, admin, on_duplicate="update")
    assert job.updated_count == 1, job.message
    sessions = app.extensions["crm"].sessions
    with transaction(sessions) as s:
        svc.update(s, s.merge(admin), svc.LEADS, s.get(Lead, lead_id), {"custom": edit})
    reverted = imports.revert(sessions, admin, job.id)
    with sessions() as s:
        return reverted.message, s.get(Lead, lead_id).custom


def test_a_revert_gives_back_the_custom_fields_no_one_changed_since(app, tmp_path,
                                                                    run_import, rev):
    """QA: a user's edit of another custom field kept all of the import's."""
    message, custom = custom_after_revert(app, tmp_path, run_import, rev,
                                          {"notes": "edited by user"})
    assert message == "Reverted: deleted 0 record(s), restored 1."
    # Budget back to what it was, tier (which the import added) gone again.
    assert custom == {"budget": 4, "notes": "edited by user"}


def test_a_revert_keeps_a_custom_field_changed_since_and_gives_back_the_others(
        app, tmp_path, run_import, rev):
    message, custom = custom_after_revert(app, tmp_path, run_import, rev, {"tier": "Silver"})
    assert message == ("Reverted: deleted 0 record(s), restored 1. Left 1 record(s) it updated "
                       "as they are, wholly or in the fields changed since, or that you may not "
                       "edit.")
    assert custom == {"budget": 4, "notes": "n0", "tier": "Silver"}


def test_a_revert_gives_no_key_back_to_a_record_merged_away_since(app, tmp_path, make_user,
                                                                   run_import):
    """QA: reverting an update after B was merged into A put B's key email back
    on the binned B without claiming it; restored, B then shared that key
    with A, two live leads with one key email."""
    from crmcore.errors import Conflict
    from crmcore.models import EmailKey
    from crmcore.services.merge import merge

    admin = make_user("admin")
    sessions = app.extensions["crm"].sessions
    people = [["Ann", "ann@x.org", "Orig"], ["Bob", "bob@x.org", "Orig"]]
    run_import(write_csv(tmp_path / "new.csv", ["Name", "Email", "Company"], people), admin)
    update = run_import(write_csv(tmp_path / "upd.csv", ["Name", "Email", "Company"],
                                  [[n, e, "Updated"] for n, e, _ in people]),
                        admin, on_duplicate="update")
    with transaction(sessions) as s:
        ann, bob = (s.scalar(select(Lead.id).where(Lead.email_key == e)) for e in
                    ("ann@x.org", "bob@x.org"))
        merge(s, s.merge(admin), svc.LEADS, ann, [bob], choices={"emails": bob})

    reverted = imports.revert(sessions, admin, update.id)

    # Ann's addresses changed since, by the merge: they stay as they are.
    assert reverted.message == ("Reverted: deleted 0 record(s), restored 2. Left 1 record(s) "
                                "it updated as they are, wholly or in the fields changed since, "
                                "or that you may not edit.")
    with sessions() as s:
        merged_away = s.get(Lead, bob)
        assert (merged_away.company, merged_away.email_key) == ("Orig", None)
        assert s.scalar(select(EmailKey.record_id).where(EmailKey.email == "bob@x.org")) == ann
        assert s.scalars(select(OtherKey.value).where(OtherKey.record_id == bob)).all() == []
    with pytest.raises(Conflict, match=f"belongs to lead #{ann} now"), \
            transaction(sessions) as s:
        svc.restore(s, s.merge(admin), svc.LEADS, [bob])


def test_a_revert_leaves_a_record_anonymized_since(app, tmp_path, make_user, run_import):
    """QA: a revert gave an anonymized lead its earlier source back: an
    anonymized record takes no edit."""
    from crmcore.services import privacy

    admin = make_user("admin")
    sessions = app.extensions["crm"].sessions
    run_import(write_csv(tmp_path / "new.csv", ["Name", "Email", "Source"],
                         [["Ann", "ann@x.org", "web"]]), admin)
    update = run_import(write_csv(tmp_path / "upd.csv", ["Name", "Email", "Source"],
                                  [["Ann", "ann@x.org", "fair"]]), admin, on_duplicate="update")
    with transaction(sessions) as s:
        ann = s.scalar(select(Lead.id).where(Lead.email_key == "ann@x.org"))
        me = s.merge(admin)
        _, person = privacy.find_person(s, me, "lead", ann)
        privacy.erase(s, me, person, [])

    reverted = imports.revert(sessions, admin, update.id)

    assert reverted.message == ("Reverted: deleted 0 record(s), restored 0. Left 1 record(s) "
                                "it updated as they are, wholly or in the fields changed since, "
                                "or that you may not edit.")
    with sessions() as s:
        assert s.get(Lead, ann).source == "fair"


def test_a_revert_resumed_in_its_restores_counts_what_it_did_more(app, tmp_path, make_user,
                                                                   run_import, monkeypatch):
    """QA: a resumed revert said "deleted 254000" of 300,000, the records the
    stopped one deleted left out; records the stopped one gave back counted
    as changed since."""
    from crmcore.services.imports import reverting

    admin = make_user("admin")
    sessions = app.extensions["crm"].sessions
    people = [[f"P{i}", f"p{i}@x.org", "Orig"] for i in range(5)]
    run_import(write_csv(tmp_path / "new.csv", ["Name", "Email", "Company"], people), admin)
    rows = [[n, e, "Updated"] for n, e, _ in people] + [["New", "new@x.org", "Orig"]]
    update = run_import(write_csv(tmp_path / "upd.csv", ["Name", "Email", "Company"], rows),
                        admin, on_duplicate="update")
    monkeypatch.setattr(reverting, "REVERT_BATCH", 2)
    apply_many, calls = svc.apply_many, []

    def crash_in_the_second_batch(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("the process died")
        return apply_many(*args, **kwargs)

    monkeypatch.setattr(svc, "apply_many", crash_in_the_second_batch)
    with pytest.raises(RuntimeError):
        imports.revert(sessions, admin, update.id)
    monkeypatch.setattr(svc, "apply_many", apply_many)

    again = imports.revert(sessions, admin, update.id)

    assert again.message == "Reverted (resumed): deleted 0 more record(s), restored 3 more."
    with sessions() as s:
        assert set(s.scalars(select(Lead.company))) == {"Orig"}


def test_a_blank_cell_leaves_the_records_value(app, tmp_path, make_user, run_import, client,
                                               login):
    """As the import page and `crm leads import --help` say: an update does
    not clear a field whose cell is blank."""
    admin = make_user("admin")
    with transaction(app.extensions["crm"].sessions) as s:
        ann = svc.create(s, admin, svc.LEADS, {"full_name": "Ann", "emails": ["ann@x.org"],
                                               "company": "Acme", "tags": ["vip"]}).id
    path = write_csv(tmp_path / "blank.csv", ["Name", "Email", "Company", "Tags"],
                     [["Ann", "ann@x.org", "", " "]])

    job = run_import(path, admin, on_duplicate="update")

    assert (job.updated_count, job.unchanged_count) == (0, 1), job.message
    with app.extensions["crm"].sessions() as s:
        assert (s.get(Lead, ann).company, s.get(Lead, ann).tags) == ("Acme", ["vip"])
    login(client, admin)
    page = client.get("/leads/import")
    assert "A blank cell changes nothing" in page.get_data(as_text=True)
