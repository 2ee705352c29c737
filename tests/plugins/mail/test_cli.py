"""`crm mail import`: every kind of mailbox, idempotency, broken and oversized input."""

from __future__ import annotations

import mailbox

import pytest
from crmcore_plugins.mail.models import MailAttachment, MailMessage
from sqlalchemy import func, select

from tests.plugins.mail.builders import build_message

pytestmark = pytest.mark.plugins("mail")


def count_messages(sessions) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(MailMessage))


def write_mbox(path, raws):
    box = mailbox.mbox(path)
    for raw in raws:
        box.add(raw)
    box.flush()
    box.close()


def test_mbox_import_twice_imports_nothing_new(crm, sessions, tmp_path):
    path = tmp_path / "inbox.mbox"
    write_mbox(path, [build_message(message_id=f"<m{n}@example.com>") for n in range(3)])

    first = crm("mail", "import", str(path))
    second = crm("mail", "import", str(path))

    assert first.exit_code == 0, first.output
    assert "imported 3, already in the archive 0, refused 0" in first.output
    assert second.exit_code == 0
    assert "imported 0, already in the archive 3, refused 0" in second.output
    assert count_messages(sessions) == 3


def test_maildir_import(crm, sessions, tmp_path):
    box = mailbox.Maildir(tmp_path / "Maildir")
    box.add(build_message(message_id="<a@example.com>"))
    box.add(build_message(message_id="<b@example.com>"))
    box.close()

    result = crm("mail", "import", str(tmp_path / "Maildir"))

    assert result.exit_code == 0, result.output
    assert "imported 2, already in the archive 0, refused 0" in result.output
    with sessions() as session:
        assert set(session.scalars(select(MailMessage.message_id))) == {"a@example.com",
                                                                       "b@example.com"}


def test_single_eml_and_folder_of_eml_with_the_same_message_id(crm, sessions, tmp_path):
    single = tmp_path / "one.eml"
    single.write_bytes(build_message(message_id="< same@example.com >"))
    folder = tmp_path / "folder"
    folder.mkdir()
    # The same Message-ID in two files (another copy, other bytes) is one message.
    (folder / "a.eml").write_bytes(build_message(message_id="<same@example.com>",
                                                 subject="copy"))
    (folder / "b.EML").write_bytes(build_message(message_id="<other@example.com>"))
    (folder / "notes.txt").write_text("not mail")

    result = crm("mail", "import", str(single), str(folder))

    assert result.exit_code == 0, result.output
    assert "imported 2, already in the archive 1, refused 0" in result.output
    with sessions() as session:
        subjects = dict(session.execute(select(MailMessage.message_id, MailMessage.subject)).all())
    assert subjects == {"same@example.com": "Hello", "other@example.com": "Hello"}


def test_message_without_message_id_is_imported_once(crm, sessions, tmp_path):
    path = tmp_path / "noid.eml"
    path.write_bytes(build_message(message_id=None))

    crm("mail", "import", str(path))
    again = crm("mail", "import", str(path))

    assert "imported 0, already in the archive 1" in again.output
    with sessions() as session:
        assert session.scalar(select(MailMessage.message_id)).startswith("sha256:")


def test_malformed_and_oversized_input_is_refused_with_reasons(crm, sessions, tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "good.eml").write_bytes(build_message(message_id="<good@example.com>"))
    (folder / "garbage.eml").write_bytes(b"\x00\x01\x02 this is no email at all")
    (folder / "broken.eml").write_bytes(b'To: <<<>>>@@, "\nFrom: x\n\nbody')
    (folder / "empty.eml").write_bytes(b"")
    big = build_message(message_id="<big@example.com>", text="x" * (1024 * 1024 + 10))
    (folder / "big.eml").write_bytes(big)

    result = crm("mail", "import", str(folder), CRM_MAIL_MAX_MESSAGE_MB="1")

    assert result.exit_code == 0, result.output
    assert "imported 1, already in the archive 0, refused 4" in result.output
    lines = result.output.splitlines()
    assert any("garbage.eml" in line and "no headers" in line for line in lines)
    assert any("broken.eml" in line and "Unreadable headers" in line for line in lines)
    assert any("empty.eml" in line and "empty" in line for line in lines)
    assert any("big.eml" in line and "over the limit of 1.0 MB" in line for line in lines)
    assert "Traceback" not in result.output
    assert count_messages(sessions) == 1


def test_oversized_attachment_is_left_out(crm, sessions, tmp_path):
    path = tmp_path / "att.eml"
    path.write_bytes(build_message(attachments=[
        ("small.txt", "text/plain", b"small"),
        ("huge.bin", "application/octet-stream", b"\0" * (1024 * 1024 + 1))]))

    result = crm("mail", "import", str(path), CRM_MAIL_MAX_ATTACHMENT_MB="1")

    assert "imported 1" in result.output
    assert "attachment 'huge.bin' is 1.0 MB, over the limit of 1.0 MB; left out" in result.output
    with sessions() as session:
        assert list(session.scalars(select(MailAttachment.filename))) == ["small.txt"]


def test_nothing_readable_exits_1(crm, tmp_path):
    empty = tmp_path / "empty-folder"
    empty.mkdir()

    result = crm("mail", "import", str(tmp_path / "missing.mbox"), str(empty))

    assert result.exit_code == 1
    assert f"refused {tmp_path / 'missing.mbox'}: no such file or folder" in result.output
    assert "no Maildir and no .eml files" in result.output
    assert "imported 0, already in the archive 0, refused 2" in result.output


def test_nul_in_a_message_is_stored_as_a_replacement_character(crm, sessions, tmp_path):
    """PostgreSQL stores no NUL in text; it refused the whole batch of messages."""
    path = tmp_path / "nul.eml"
    path.write_bytes(b"From: Ann <ann@x.test>\r\nTo: bob@x.test\r\nMessage-ID: <nul@x.test>\r\n"
                     b"Subject: =?utf-8?q?Hi=00there?=\r\nContent-Type: text/plain\r\n"
                     b"Content-Transfer-Encoding: quoted-printable\r\n\r\nbody=00end\r\n")
    result = crm("mail", "import", str(path))
    assert result.exit_code == 0, result.output
    assert "imported 1, already in the archive 0, refused 0" in result.output
    with sessions() as session:
        message = session.scalars(select(MailMessage)).one()
    assert message.subject == "Hi\ufffdthere"
    assert message.text_body.startswith("body\ufffdend")


def test_odd_dates_and_eight_bit_addresses_are_stored(crm, sessions, tmp_path):
    """A Date UTC cannot hold and latin-1 bytes in an address stopped the import
    with a traceback (the latter only when the insert refused the address)."""
    path = tmp_path / "odd.mbox"
    write_mbox(path, [b"From: j\xe9r\xf4me@b\xe9.test\r\nTo: bob@x.test\r\n"
                      b"Message-ID: <odd@x.test>\r\n"
                      b"Date: Fri, 31 Dec 9999 23:00:00 -1400\r\n\r\nhi\r\n"])
    result = crm("mail", "import", str(path))
    assert result.exit_code == 0, result.output
    assert "imported 1, already in the archive 0, refused 0" in result.output
    with sessions() as session:
        message = session.scalars(select(MailMessage)).one()
    assert (message.from_address, message.to_addresses, message.date) == ("", ["bob@x.test"],
                                                                           None)
