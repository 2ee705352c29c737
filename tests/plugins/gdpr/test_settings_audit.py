"""The admin settings page, the audit log (which holds no personal data), the
plugin's hooks and its migration."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from crmcore_plugins.gdpr.models import GdprAudit, GdprRetention
from crmcore_plugins.gdpr.services.settings import erase_keys, retention
from crmcore_plugins.gdpr.services.sweep import sweep
from sqlalchemy import select, update

from crmcore.db import Base, utcnow
from tests.plugins.gdpr.cli import runner
from tests.plugins.gdpr.conftest import EMAIL, NAME, PHONE, age, make_person

pytestmark = pytest.mark.plugins("gdpr", "alpha")


def checkboxes(html):
    return {m.group(1): m.group(0) for m in re.finditer(
        r'<input type="checkbox" name="erase" value="([^"]+)"[^>]*>', html)}


def test_settings_list_every_declared_field_and_default_to_erasing(admin_client):
    html = admin_client.get("/gdpr/settings").get_data(as_text=True)
    boxes = checkboxes(html)
    assert {"lead.full_name", "lead.emails", "contact.name", "contact.address",
            "alpha_item.label"} <= set(boxes)
    assert "disabled" in boxes["lead.full_name"] and "checked" in boxes["lead.full_name"]
    assert all("checked" in box for box in boxes.values())  # privacy by default
    assert 'id="fields-alpha_item"' in html


def test_saving_settings_keeps_the_choice_and_is_audited(tx, admin, admin_client):
    response = admin_client.post("/gdpr/settings", data={
        "erase": ["lead.emails", "contact.emails"], "retention_lead": "24",
        "retention_contact": ""}, follow_redirects=True)
    html = response.get_data(as_text=True)
    assert "The GDPR settings were saved." in html
    boxes = checkboxes(html)
    assert "checked" in boxes["lead.emails"] and "checked" not in boxes["lead.company"]
    assert 'value="24"' in html
    with tx() as s:
        assert retention(s) == {"lead": 24}
        assert erase_keys(s) == {"lead.full_name", "contact.name", "lead.emails",
                                          "contact.emails"}
        row = s.scalar(select(GdprAudit))
        assert row.action == "settings" and "retention.lead" in row.fields
        assert "lead.company" in row.fields


def test_bad_settings_are_refused_field_by_field_and_nothing_is_saved(tx, admin_client):
    response = admin_client.post("/gdpr/settings", data={
        "erase": ["lead.shoe_size"], "retention_lead": "0", "retention_contact": "soon"})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'id="retention_lead-error">Must be greater than or equal to 1' in html
    assert 'id="retention_contact-error">Not a valid integer.' in html
    assert "Unknown: lead.shoe_size." in html
    assert 'value="soon"' in html  # what was typed stays in the form
    with tx() as s:
        assert s.scalar(select(GdprRetention)) is None
        assert s.scalar(select(GdprAudit)) is None


def test_audit_log_records_who_and_what_and_holds_no_personal_data(app, tx, admin,
                                                                   admin_client):
    lead_id = make_person(tx, admin)
    other = make_person(tx, admin, name="Bea Old", email="bea@example.com",
                        phone="+12025550111")
    admin_client.post("/gdpr/bulk", data={"action": "touch", "ids": [f"lead:{lead_id}"]})
    admin_client.post(f"/gdpr/leads/{lead_id}/export", data={"format": "zip"})
    admin_client.post(f"/gdpr/leads/{lead_id}/anonymize")
    admin_client.post("/gdpr/settings", data={"erase": ["lead.emails"], "retention_lead": "1"})
    age(tx, "lead", other, 100)
    sweep(app.extensions["crm"].sessions)

    with tx() as s:
        rows = list(s.scalars(select(GdprAudit).order_by(GdprAudit.id)))
    assert [(r.action, r.record_id) for r in rows] == [
        ("touch", lead_id), ("export", lead_id), ("anonymize", lead_id),
        ("settings", None), ("anonymize", other), ("sweep", None)]
    assert [r.actor_id for r in rows] == [admin.id] * 4 + [None, None]
    for row in rows:
        stored = " ".join(str(getattr(row, c.key)) for c in GdprAudit.__table__.columns)
        for secret in (NAME, "Ada", "Lovelace", EMAIL, PHONE, "2025550100", "Bea",
                       "bea@example.com", "2025550111", "Engines"):
            assert secret not in stored, (row.action, secret)

    html = admin_client.get("/gdpr/audit").get_data(as_text=True)
    assert html.count("<tr>") == 7  # the header and six entries
    assert "Grace Admin" in html and "System" in html


def test_audit_log_filters(tx, admin, admin_client, make_user):
    lead_id = make_person(tx, admin)
    admin_client.post("/gdpr/bulk", data={"action": "touch", "ids": [f"lead:{lead_id}"]})
    admin_client.post(f"/gdpr/leads/{lead_id}/anonymize")
    with tx() as s:
        s.execute(update(GdprAudit).where(GdprAudit.action == "touch")
                  .values(at=utcnow() - timedelta(days=10)))

    def actions(**query):
        html = admin_client.get("/gdpr/audit", query_string=query).get_data(as_text=True)
        return re.findall(r"<td>(touch|export|anonymize|sweep|settings)</td>", html)

    assert actions() == ["anonymize", "touch"]
    assert actions(action="touch") == ["touch"]
    assert actions(record_type="contact") == []
    assert actions(actor_id=admin.id) == ["anonymize", "touch"]
    assert actions(actor_id=make_user("manager").id) == []
    today = utcnow().date()
    assert actions(date_from=str(today - timedelta(days=1))) == ["anonymize"]
    assert actions(date_to=str(today - timedelta(days=5))) == ["touch"]
    # The last day there is: no day after it to bound the period (was a 500).
    assert actions(date_to="9999-12-31") == ["anonymize", "touch"]
    bad = admin_client.get("/gdpr/audit", query_string={"date_from": "yesterday"})
    assert bad.status_code == 422 and "Not a valid date." in bad.get_data(as_text=True)
    for name in ("actor_id", "record_id", "cursor"):
        bad = admin_client.get("/gdpr/audit", query_string={name: "3000000000"})
        assert bad.status_code == 422, name
        assert "less than or equal to 2147483647" in bad.get_data(as_text=True)


def test_the_commands_are_under_crm_gdpr(app):
    output = runner(app)("gdpr", "--help").output
    assert "sweep" in output and "export" in output


def _ours(obj, name, type_, reflected, compare_to):
    return type_ != "table" or name.startswith("gdpr_")


def test_migration_matches_the_models(app):
    with app.extensions["crm"].engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": _ours})
        assert compare_metadata(context, Base.metadata) == []
