"""Subject access and portability: everything about one person, from the record
page (JSON or ZIP) and from ``crm gdpr export --email``."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from crmcore_plugins.gdpr.models import GdprAudit
from sqlalchemy import select

from tests.plugins.gdpr.cli import runner
from tests.plugins.gdpr.conftest import EMAIL, NAME, PHONE, make_contact, make_person


def sections(document):
    [record] = document["records"]
    return {part["section"]: part for part in record["parts"]}


@pytest.mark.plugins("gdpr", "alpha")
def test_json_export_holds_every_piece(tx, admin, admin_client):
    lead_id = make_person(tx, admin)
    page = admin_client.get(f"/gdpr/leads/{lead_id}/export")
    assert page.status_code == 200 and "Download ZIP" in page.get_data(as_text=True)

    response = admin_client.post(f"/gdpr/leads/{lead_id}/export", data={"format": "json"})
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert f"personal-data-lead-{lead_id}.json" in response.headers["Content-Disposition"]
    assert response.headers["Cache-Control"] == "no-store"
    document = json.loads(response.get_data())
    assert document["format"] == "crmcore-gdpr-export/1"
    parts = sections(document)
    record = parts["lead"]["data"]["record"]
    assert (record["full_name"], record["emails"], record["phones"]) == (NAME, [EMAIL], [PHONE])
    assert record["company"] == "Analytical Engines"
    timeline = parts["lead"]["data"]["timeline"]
    assert [e["kind"] for e in timeline] == ["created", "changed", "comment"]
    assert timeline[1]["changes"]["company"] == ["Engines Ltd", "Analytical Engines"]
    assert timeline[2]["body"] == f"Called {NAME} on {PHONE}"
    assert parts["alpha"]["data"] == ["Ada's file"]
    assert parts["alpha"]["files"] == [f"files/lead-{lead_id}/alpha/alpha-1.txt"]

    with tx() as s:
        row = s.scalar(select(GdprAudit))
        assert (row.action, row.record_type, row.record_id, row.fields, row.count) == (
            "export", "lead", lead_id, ["alpha", "lead"], 1)


@pytest.mark.plugins("gdpr", "alpha")
def test_zip_export_holds_the_json_and_the_files(tx, admin, admin_client):
    lead_id = make_person(tx, admin)
    response = admin_client.post(f"/gdpr/leads/{lead_id}/export", data={"format": "zip"})
    assert response.status_code == 200 and response.mimetype == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.get_data()))
    path = f"files/lead-{lead_id}/alpha/alpha-1.txt"
    assert sorted(archive.namelist()) == [path, "personal-data.json"]
    assert archive.read(path) == b"Ada's file"
    document = json.loads(archive.read("personal-data.json"))
    assert sections(document)["lead"]["data"]["record"]["full_name"] == NAME


@pytest.mark.plugins("gdpr")
def test_cli_export_by_email_covers_every_record_of_the_address(app, tx, admin, tmp_path):
    lead_id = make_person(tx, admin, with_alpha=False)
    contact_id = make_contact(tx, admin, "Ada", "King", "other@example.com")
    crm = runner(app)
    with tx() as s:
        from crmcore.models import Contact
        from crmcore.services import records as svc

        # A second address on the contact: matched too, whatever its position.
        svc.update(s, admin, svc.CONTACTS, s.get(Contact, contact_id),
                   {"emails": ["other@example.com", "ADA@example.com"]})

    result = crm("gdpr", "export", "--email", "Ada@Example.com")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    found = [(r["record_type"], r["record_id"]) for r in document["records"]]
    assert found == [("lead", lead_id), ("contact", contact_id)]

    target = tmp_path / "ada.zip"
    result = crm("gdpr", "export", "--email", EMAIL, "--zip", str(target))
    assert result.exit_code == 0, result.output
    assert zipfile.ZipFile(target).namelist() == ["personal-data.json"]
    # A folder that does not exist was a traceback; the audit log does not
    # claim that export.
    nowhere = tmp_path / "no-such-folder" / "ada.zip"
    result = crm("gdpr", "export", "--email", EMAIL, "--zip", str(nowhere))
    assert result.exit_code == 1
    assert f"Cannot write {nowhere}: No such file or directory." in result.output
    with tx() as s:
        rows = list(s.scalars(select(GdprAudit).order_by(GdprAudit.id)))
    assert [(r.action, r.via, r.actor_id, r.record_id) for r in rows] == [
        ("export", "cli", None, lead_id), ("export", "cli", None, contact_id)] * 2


@pytest.mark.plugins("gdpr")
def test_cli_export_answers_clearly_for_unknown_and_anonymized_people(app, tx, admin):
    crm = runner(app)
    result = crm("gdpr", "export", "--email", "nobody@example.com")
    assert result.exit_code == 1
    assert "No lead or contact has this email address." in result.output
    assert "Not an email address." in crm("gdpr", "export", "--email", "nope").output

    lead_id = make_person(tx, admin, with_alpha=False)
    from crmcore_plugins.gdpr.services.anonymize import anonymize
    from crmcore_plugins.gdpr.services.settings import save_settings

    with tx() as s:
        save_settings(s, admin, {"erase": []})  # keep the address on the record
    with tx() as s:
        anonymize(s, admin, "lead", lead_id)
    result = crm("gdpr", "export", "--email", EMAIL)
    assert result.exit_code == 1 and "already anonymized" in result.output
