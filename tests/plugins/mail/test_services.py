"""The archive's services in real transactions: storing, linking to leads and
contacts (on import, on creation, on edits, merges and CSV imports), reading."""

from __future__ import annotations

import csv

import pytest
from crmcore_plugins.mail.models import MailAddress, MailLink, MailMessage
from crmcore_plugins.mail.parsing import MailReadError, parse_upload
from crmcore_plugins.mail.services.reading import get_message, messages_for
from crmcore_plugins.mail.services.store import Refusal, store_messages
from sqlalchemy import event, func, select

from crmcore.db import transaction
from crmcore.errors import NotFound
from crmcore.services import imports
from crmcore.services import records as rec
from tests.plugins.mail.builders import build_message

pytestmark = pytest.mark.plugins("mail")


def store(sessions, raws, source="import", **kwargs):
    with transaction(sessions) as session:
        return store_messages(session, raws, source, **kwargs)


def new_lead(sessions, emails, name="Ada Lovelace", actor=None):
    with transaction(sessions) as session:
        return rec.create(session, actor and session.merge(actor), rec.LEADS,
                          {"full_name": name, "emails": emails}).id


def links(sessions):
    with sessions() as session:
        return set(session.execute(select(MailLink.message_id, MailLink.record_type,
                                          MailLink.record_id)).all())


def test_store_counts_stored_duplicates_and_refusals(sessions):
    first = store(sessions, [build_message(message_id="<a@x>"), build_message(message_id="<a@x>"),
                             b"no headers here", build_message(message_id="<b@x>")],
                  labels=["one", "two", "three", "four"])

    assert (first.stored, first.duplicates) == (2, 1)
    assert first.refused == [Refusal("three", "Not an email message: it has no headers.")]
    assert len(first.message_ids) == 2

    again = store(sessions, [build_message(message_id="<b@x>")])
    assert (again.stored, again.duplicates, again.message_ids) == (0, 1, [first.message_ids[1]])
    with sessions() as session:
        message = session.scalar(select(MailMessage).where(MailMessage.message_id == "a@x"))
        assert message.source == "import"
        assert message.from_address == "ada@example.com"
        assert message.date.isoformat() == "2026-03-04T12:30:00+00:00"
        assert set(session.execute(select(MailAddress.address, MailAddress.role)
                                   .where(MailAddress.message_id == message.id)).all()) == {
            ("ada@example.com", "from"), ("sales@crm.test", "to")}


def test_import_links_to_existing_leads_and_contacts_by_any_address(sessions, make_user):
    lead_id = new_lead(sessions, ["other@example.com", "Ada@Example.com"])
    with transaction(sessions) as session:
        contact_id = rec.create(session, None, rec.CONTACTS,
                                {"last_name": "Byron", "emails": ["byron@example.com"]}).id
    unrelated = new_lead(sessions, ["nobody@example.com"], name="Nobody")

    result = store(sessions, [build_message(sender="ADA@example.com",
                                            cc=["byron@example.com"])])

    message_pk = result.message_ids[0]
    assert links(sessions) == {(message_pk, "lead", lead_id), (message_pk, "contact", contact_id)}
    with sessions() as session:
        assert [m.id for m in messages_for(session, "lead", lead_id)] == [message_pk]
        assert messages_for(session, "lead", unrelated) == []


def test_new_lead_gets_its_earlier_emails(sessions):
    result = store(sessions, [build_message(message_id="<1@x>"),
                              build_message(message_id="<2@x>", sender="me@crm.test",
                                            to=["ada@example.com"])])

    lead_id = new_lead(sessions, ["ada@example.com"])

    assert links(sessions) == {(pk, "lead", lead_id) for pk in result.message_ids}


def test_anonymized_and_deleted_records_get_no_new_mail(sessions, make_user):
    admin = make_user("admin")
    gone = new_lead(sessions, ["ada@example.com"])
    with transaction(sessions) as session:
        rec.soft_delete(session, session.merge(admin), rec.LEADS, [gone])

    store(sessions, [build_message()])

    assert links(sessions) == set()


def test_changed_emails_link_the_new_address_and_merges_move_links(sessions, make_user):
    admin = make_user("admin")
    lead_a = new_lead(sessions, ["first@example.com"])
    lead_b = new_lead(sessions, ["second@example.com"], name="Ada L.")
    stored = store(sessions, [build_message(message_id="<to-a@x>", sender="ada@example.com"),
                              build_message(message_id="<to-b@x>", sender="second@example.com")])
    to_a, to_b = stored.message_ids
    assert links(sessions) == {(to_b, "lead", lead_b)}

    with transaction(sessions) as session:
        lead = rec.get(session, None, rec.LEADS, lead_a)
        rec.update(session, None, rec.LEADS, lead, {"emails": ["first@example.com",
                                                               "ada@example.com"]})
    assert links(sessions) == {(to_a, "lead", lead_a), (to_b, "lead", lead_b)}

    from crmcore.services.merge import merge  # the core's merge, as the web page runs it

    with transaction(sessions) as session:
        merge(session, session.merge(admin), rec.LEADS, lead_a, [lead_b])
    assert links(sessions) == {(to_a, "lead", lead_a), (to_b, "lead", lead_a)}


def test_link_to_attaches_messages_whatever_their_addresses(sessions):
    lead_id = new_lead(sessions, ["ada@example.com"])
    raws = parse_upload("forwarded.mbox", b"".join(
        b"From advertiser@ads.test Mon Mar  2 10:00:00 2026\n" + build_message(
            message_id=f"<fw{n}@ads.test>", sender="advertiser@ads.test",
            to=["crm@crm.test"]) + b"\n" for n in range(2)))

    result = store(sessions, raws, "leadworks", link_to=[("lead", lead_id)])

    assert result.stored == 2
    assert links(sessions) == {(pk, "lead", lead_id) for pk in result.message_ids}
    # Handing the same emails over again links nothing twice.
    assert store(sessions, raws, "leadworks", link_to=[("lead", lead_id)]).duplicates == 2
    assert len(links(sessions)) == 2


def test_parse_upload_refuses_what_holds_no_mail():
    assert parse_upload("one.eml", build_message()) == [build_message()]
    for name, data, reason in [("x.pdf", b"%PDF-1.4", "upload an .eml or .mbox file"),
                               ("x.eml", b"  ", "the file is empty"),
                               ("x.mbox", b"no From line", "no messages in this mbox file")]:
        with pytest.raises(MailReadError) as caught:
            parse_upload(name, data)
        assert caught.value.detail == f"{name}: {reason}."


def test_get_message_only_through_a_visible_record(sessions, make_user):
    owner, other, manager = make_user("sales"), make_user("sales"), make_user("manager")
    lead_id = new_lead(sessions, ["ada@example.com"], actor=owner)
    linked, unlinked = store(sessions, [
        build_message(message_id="<l@x>"),
        build_message(message_id="<u@x>", sender="stranger@example.com")]).message_ids

    with sessions() as session:
        assert get_message(session, owner, linked).id == linked
        assert get_message(session, manager, linked).id == linked
        for actor, pk in [(other, linked), (owner, unlinked), (manager, unlinked),
                          (owner, 999_999)]:
            with pytest.raises(NotFound):
                get_message(session, actor, pk)
    assert lead_id


def test_csv_import_of_many_leads_links_in_a_few_queries(app, sessions, tmp_path, make_user):
    admin = make_user("admin")
    store(sessions, [build_message(message_id=f"<n{n}@x>", sender=f"person{n}@example.com")
                     for n in range(0, 1200, 100)])
    path = tmp_path / "leads.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["full_name", "email"])
        writer.writerows([f"Person {n}", f"person{n}@example.com"] for n in range(1200))
    statements = []
    engine = app.extensions["crm"].engine

    def count(conn, cursor, statement, *args):
        if "mail_addresses" in statement or "mail_links" in statement:
            statements.append(statement)

    with transaction(sessions) as session:
        job = imports.start(session, session.merge(admin), rec.LEADS, path, path.name,
                            imports.ImportOptions(mapping={"full_name": "full_name",
                                                           "email": "emails"}))
    event.listen(engine, "before_cursor_execute", count)
    try:
        done = imports.run(sessions, job.id)
    finally:
        event.remove(engine, "before_cursor_execute", count)

    assert done.status == "done", done.message
    assert len(links(sessions)) == 12
    # The batch's addresses matched to the archive in one query, the links
    # written in one insert: never one query per lead.
    assert len(statements) == 2, statements
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(MailLink)) == 12


def test_purged_records_take_their_links_with_them(sessions, make_user):
    """A purged lead's links go with it: nothing of it stays behind, and the
    next lead, with an id of its own, shows none of its mail."""
    admin = make_user("admin")
    store(sessions, [build_message(message_id="<p@x>", sender="ada@example.com")])
    lead_id = new_lead(sessions, ["ada@example.com"])
    assert links(sessions)
    with transaction(sessions) as session:
        rec.soft_delete(session, session.merge(admin), rec.LEADS, [lead_id])
        rec.purge(session, session.merge(admin), rec.LEADS, [lead_id])

    assert links(sessions) == set()
    newer = new_lead(sessions, ["bob@example.com"], name="Bob Stranger")
    assert newer > lead_id
    with sessions() as session:
        assert messages_for(session, "lead", newer) == []


def test_a_reverted_import_takes_its_records_links_with_them(sessions, tmp_path, make_user):
    admin = make_user("admin")
    store(sessions, [build_message(message_id=f"<r{n}@x>", sender=f"person{n}@example.com")
                     for n in range(3)])
    path = tmp_path / "leads.csv"
    path.write_text("full_name,email\n" + "".join(
        f"Person {n},person{n}@example.com\n" for n in range(5)))
    with transaction(sessions) as session:
        job = imports.start(session, session.merge(admin), rec.LEADS, path, path.name,
                            imports.ImportOptions(mapping={"full_name": "full_name",
                                                           "email": "emails"}))
    assert imports.run(sessions, job.id).status == "done"
    assert len(links(sessions)) == 3

    imports.revert(sessions, admin, job.id)

    assert links(sessions) == set()
