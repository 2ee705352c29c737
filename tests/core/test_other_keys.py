"""A record's phones and addresses after the first are kept as other keys, so
that the duplicate checks find a person by any of them: every way a record's
phones and addresses change keeps them right."""

from __future__ import annotations

import csv
import json

import pytest
from sqlalchemy import select, text

from crmcore.db import transaction
from crmcore.models import OtherKey
from crmcore.services import imports, privacy
from crmcore.services import records as svc
from crmcore.services.merge import merge
from crmcore.types import Person

pytestmark = pytest.mark.plugins()

ADA = {"full_name": "Ada Lovelace", "phones": ["+12025550101", "+12025550102"],
       "emails": ["ada@example.com", "countess@example.com"]}


def other_keys(app) -> set[tuple[str, int, str]]:
    with app.extensions["crm"].sessions() as session:
        return set(session.execute(select(OtherKey.record_type, OtherKey.record_id,
                                          OtherKey.value)))


@pytest.fixture
def sessions(app):
    return app.extensions["crm"].sessions


def test_saving_a_record_keeps_its_other_keys(app, sessions, make_user):
    admin = make_user("admin")
    with transaction(sessions) as session:
        lead = svc.create(session, admin, svc.LEADS, ADA)
    assert other_keys(app) == {("lead", lead.id, "+12025550102"),
                               ("lead", lead.id, "countess@example.com")}
    with transaction(sessions) as session:
        svc.update(session, admin, svc.LEADS, session.get(svc.LEADS.model, lead.id),
                   {"phones": ["+12025550102"], "emails": ["ada@example.com",
                                                           "ada@lovelace.org"]})
    assert other_keys(app) == {("lead", lead.id, "ada@lovelace.org")}
    with transaction(sessions) as session:  # a change elsewhere leaves them be
        svc.update(session, admin, svc.LEADS, session.get(svc.LEADS.model, lead.id),
                   {"company": "Engines"})
    assert other_keys(app) == {("lead", lead.id, "ada@lovelace.org")}
    with transaction(sessions) as session:  # many at once, as imports and reverts do
        svc.apply_many(session, admin, svc.LEADS,
                       [(lead.id, {"phones": ["+12025550103", "+12025550104"]})], "By hand")
    assert other_keys(app) == {("lead", lead.id, "ada@lovelace.org"),
                               ("lead", lead.id, "+12025550104")}


def test_converting_merging_erasing_and_purging_move_or_drop_them(app, sessions, make_user):
    admin = make_user("admin")
    with transaction(sessions) as session:
        lead = svc.create(session, admin, svc.LEADS, ADA)
        contact = svc.convert_lead(session, admin, lead)
        twin = svc.create(session, admin, svc.CONTACTS, {
            "first_name": "Ada", "last_name": "King", "phones": ["+12025550109"],
            "emails": ["king@example.com", "ada.king@example.com"]})
    assert other_keys(app) == {("contact", contact.id, "+12025550102"),
                               ("contact", contact.id, "countess@example.com"),
                               ("contact", twin.id, "ada.king@example.com")}
    with transaction(sessions) as session:
        merge(session, admin, svc.CONTACTS, contact.id, [twin.id])
    # The survivor has the twin's phone and addresses after its own.
    assert other_keys(app) == {("contact", contact.id, value) for value in (
        "+12025550102", "+12025550109", "countess@example.com", "king@example.com",
        "ada.king@example.com")}
    with transaction(sessions) as session:  # the twin comes back with its keys
        svc.restore(session, admin, svc.CONTACTS, [twin.id])
    assert ("contact", twin.id, "ada.king@example.com") in other_keys(app)
    with transaction(sessions) as session:
        svc.soft_delete(session, admin, svc.CONTACTS, [twin.id])
        svc.purge(session, admin, svc.CONTACTS, [twin.id])
        privacy.erase(session, admin, Person("contact", contact.id, (), (), ()), ["contact.phones"])
    assert other_keys(app) == set()
    with transaction(sessions) as session:
        other = svc.create(session, admin, svc.LEADS, {**ADA, "emails": ["x@example.com",
                                                                        "y@example.com"]})
        svc.soft_delete(session, admin, svc.LEADS, [other.id])
    assert other_keys(app) == {("lead", other.id, "+12025550102"),
                               ("lead", other.id, "y@example.com")}
    with transaction(sessions) as session:
        svc.purge(session, admin, svc.LEADS, [other.id])
    assert other_keys(app) == set()


def test_an_import_and_its_revert_keep_them(app, sessions, make_user, tmp_path):
    admin = make_user("admin")
    with transaction(sessions) as session:
        old = svc.create(session, admin, svc.LEADS, ADA)
    path = tmp_path / "people.csv"
    with open(path, "w", newline="") as fh:
        csv.writer(fh).writerows([
            ["Full name", "Email", "Phone"],
            ["Ada Lovelace", "ada@example.com;ada@lovelace.org", "+12025550101"],
            ["Grace Hopper", "grace@navy.mil", "+12025550201;+12025550202"],
            ["Alan Turing", "alan@example.com", "+12025550301"]])
    with transaction(sessions) as session:
        job = imports.start(session, session.merge(admin), svc.LEADS, path, path.name,
                            imports.ImportOptions(on_duplicate="update"))
    job = imports.run(sessions, job.id)
    assert (job.created_count, job.updated_count) == (2, 1)
    with sessions() as session:
        grace = session.scalar(select(svc.LEADS.model.id).where(
            svc.LEADS.model.email_key == "grace@navy.mil"))
    # Found by email, Ada keeps the address and phone the file does not name.
    assert other_keys(app) == {("lead", old.id, "ada@lovelace.org"),
                               ("lead", old.id, "countess@example.com"),
                               ("lead", old.id, "+12025550102"),
                               ("lead", grace, "+12025550202")}

    imports.revert(sessions, admin, job.id)

    assert other_keys(app) == {("lead", old.id, "+12025550102"),
                               ("lead", old.id, "countess@example.com")}


def test_upgrading_gives_stored_records_their_other_keys(old_install):
    engine, migrate = old_install
    migrate("core_0016")
    with engine.begin() as conn:
        stage = conn.scalar(text("SELECT min(id) FROM lead_stages"))
        for phones, emails in ((["+12025550101", "+12025550102"], ["a@x.org"]),
                               (["+12025550103"], ["b@x.org", "c@x.org"]),
                               ([], [])):
            conn.execute(text(
                "INSERT INTO leads (full_name, name_key, login, partner, location, source,"
                " score, stage_id, emails, phones, company, tags, custom, plugin_data,"
                " version) VALUES ('X', 'x', '', '', '', '', 0, :s, :e, :p, '', '[]', '{}',"
                " '{}', 1)"), {"s": stage, "e": json.dumps(emails), "p": json.dumps(phones)})

    migrate()

    with engine.connect() as conn:
        assert set(conn.execute(text(
            "SELECT record_type, record_id, value FROM other_keys"))) == {
            ("lead", 1, "+12025550102"), ("lead", 2, "c@x.org")}
