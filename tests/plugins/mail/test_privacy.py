"""The privacy contract: the archive declares, exports and erases a person's mail,
driven through the core's privacy service as the gdpr plugin drives it."""

from __future__ import annotations

import pytest
from crmcore_plugins.mail.models import MailAddress, MailAttachment, MailLink, MailMessage
from crmcore_plugins.mail.services.reading import messages_for
from crmcore_plugins.mail.services.store import store_messages
from sqlalchemy import func, select

from crmcore.db import transaction
from crmcore.services import privacy
from crmcore.services import records as rec
from tests.plugins.mail.builders import build_message

pytestmark = pytest.mark.plugins("mail")

ALL = frozenset({"mail_message.body", "mail_message.addresses", "mail_message.attachments"})


@pytest.fixture
def person_mail(app):
    """Ada's lead, two messages of hers (one with an attachment that a third,
    unrelated message shares) and one forwarded to her lead by Leadworks."""
    sessions = app.extensions["crm"].sessions
    with transaction(sessions) as session:
        lead = rec.create(session, None, rec.LEADS,
                          {"full_name": "Ada Lovelace", "emails": ["ada@example.com"]})
        store_messages(session, [
            build_message(message_id="<1@x>", subject="Call ada@example.com",
                          text="Regards, ADA@example.com",
                          attachments=[("cv.pdf", "application/pdf", b"ada's cv"),
                                       ("logo.png", "image/png", b"shared logo")]),
            build_message(message_id="<2@x>", sender="me@crm.test", to=["ada@example.com"],
                          text="Dear Ada Lovelace, thanks."),
            build_message(message_id="<3@x>", sender="bob@example.com", to=["me@crm.test"],
                          attachments=[("logo.png", "image/png", b"shared logo")]),
        ], "import")
        store_messages(session, [build_message(
            message_id="<fw@x>", sender="advertiser@ads.test", to=["me@crm.test"])],
            "leadworks", link_to=[("lead", lead.id)])
    return {"sessions": sessions, "lead": lead.id,
            "folder": app.extensions["crm"].instance / "mail" / "attachments"}


def files(folder):
    return sorted(p.read_bytes() for p in folder.rglob("*") if p.is_file())


def test_personal_fields_are_declared(app):
    with app.extensions["crm"].sessions() as session:
        keys = {f.key for f in privacy.personal_fields(session)}
    assert keys >= ALL


def test_export_holds_messages_and_attachment_files(person_mail):
    with person_mail["sessions"]() as session:
        _, person = privacy.find_person(session, None, "lead", person_mail["lead"])
        parts = [p for p in privacy.export(session, person) if p.section == "mail"]

    assert len(parts) == 1
    messages = {m["message_id"]: m for m in parts[0].data["messages"]}
    assert set(messages) == {"1@x", "2@x", "fw@x"}  # by address, and by link
    assert messages["1@x"]["subject"] == "Call ada@example.com"
    assert messages["2@x"]["to"] == ["ada@example.com"]
    assert "Regards" in messages["1@x"]["text"]
    cv = messages["1@x"]["attachments"][0]
    assert cv["filename"] == "cv.pdf" and parts[0].files[cv["file"]] == b"ada's cv"
    assert sorted(parts[0].files.values()) == [b"ada's cv", b"shared logo"]


def test_erasing_everything_deletes_messages_and_unshared_files(person_mail):
    sessions = person_mail["sessions"]
    with transaction(sessions) as session:
        _, person = privacy.find_person(session, None, "lead", person_mail["lead"])
        privacy.erase(session, None, person, ALL)

    with sessions() as session:
        assert list(session.scalars(select(MailMessage.message_id))) == ["3@x"]
        assert session.scalar(select(func.count()).select_from(MailLink)) == 0
        assert list(session.scalars(select(MailAttachment.filename))) == ["logo.png"]
    # The logo stays: message 3 still has it. Ada's CV is gone from disk.
    assert files(person_mail["folder"]) == [b"shared logo"]

    with transaction(sessions) as session:  # twice is harmless
        privacy.erase(session, None, person, ALL)
    assert files(person_mail["folder"]) == [b"shared logo"]


def test_erasing_addresses_and_attachments_keeps_the_rest(person_mail):
    sessions = person_mail["sessions"]
    with transaction(sessions) as session:
        _, person = privacy.find_person(session, None, "lead", person_mail["lead"])
        privacy.erase(session, None, person, {"mail_message.addresses",
                                              "mail_message.attachments"})

    with sessions() as session:
        first = session.scalar(select(MailMessage).where(MailMessage.message_id == "1@x"))
        assert first.from_address == "[erased]"
        assert first.subject == "Call [erased]" and "Regards, [erased]" in first.text_body
        second = session.scalar(select(MailMessage).where(MailMessage.message_id == "2@x"))
        assert second.to_addresses == ["[erased]"] and second.from_address == "me@crm.test"
        assert session.scalar(select(func.count()).select_from(MailAddress)
                              .where(MailAddress.address == "ada@example.com")) == 0
        assert list(session.scalars(select(MailAttachment.filename))) == ["logo.png"]
    assert files(person_mail["folder"]) == [b"shared logo"]


def test_erasing_bodies_only(person_mail):
    sessions = person_mail["sessions"]
    with transaction(sessions) as session:
        _, person = privacy.find_person(session, None, "lead", person_mail["lead"])
        privacy.erase(session, None, person, {"mail_message.body"})

    with sessions() as session:
        first = session.scalar(select(MailMessage).where(MailMessage.message_id == "1@x"))
        assert (first.subject, first.text_body, first.html_body) == ("[erased]", "", "")
        assert first.from_address == "ada@example.com"
        untouched = session.scalar(select(MailMessage).where(MailMessage.message_id == "3@x"))
        assert untouched.subject == "Hello"


def test_the_name_is_scrubbed_from_texts_whatever_is_selected(person_mail):
    sessions = person_mail["sessions"]
    with transaction(sessions) as session:
        _, person = privacy.find_person(session, None, "lead", person_mail["lead"])
        privacy.erase(session, None, person, set())  # the mandatory name only

    with sessions() as session:
        second = session.scalar(select(MailMessage).where(MailMessage.message_id == "2@x"))
        assert second.text_body.strip() == "Dear [erased], thanks."
        assert second.to_addresses == ["ada@example.com"]


def test_an_anonymized_lead_gets_no_new_mail(person_mail):
    sessions = person_mail["sessions"]
    with transaction(sessions) as session:
        _, person = privacy.find_person(session, None, "lead", person_mail["lead"])
        privacy.erase(session, None, person, set())  # the name only; emails stay

    with transaction(sessions) as session:
        pk = store_messages(session, [build_message(message_id="<late@x>")],
                            "import").message_ids[0]
        assert messages_for(session, "lead", person_mail["lead"])
        assert pk not in [m.id for m in messages_for(session, "lead",
                                                     person_mail["lead"])]


def test_a_rolled_back_erase_keeps_the_files(person_mail):
    sessions = person_mail["sessions"]
    with pytest.raises(RuntimeError), transaction(sessions) as session:
        _, person = privacy.find_person(session, None, "lead", person_mail["lead"])
        privacy.erase(session, None, person, ALL)
        raise RuntimeError("the anonymization failed elsewhere")

    assert files(person_mail["folder"]) == [b"ada's cv", b"shared logo"]
