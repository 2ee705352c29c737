"""Anonymizing one person from the record page: permission, confirmation, the
erasure across the core and plugins, and what is left to find afterwards."""

from __future__ import annotations

import pytest
from crmcore_plugins.gdpr.models import GdprAudit
from sqlalchemy import func, select

from crmcore.models import Contact, EmailKey, Lead
from crmcore.services import records as svc
from tests.fake_plugins.alpha.hooks import AlphaItem
from tests.plugins.gdpr.conftest import EMAIL, NAME, PHONE, make_contact, make_person

pytestmark = pytest.mark.plugins("gdpr", "alpha")

SECRETS = ("Ada", "Lovelace", EMAIL, "2025550100", "Engines", "Grace Hopper", "Hopper",
           "grace@example.com")


def anonymize(client, record_type, record_id):
    plural = {"lead": "leads", "contact": "contacts"}[record_type]
    return client.post(f"/gdpr/{plural}/{record_id}/anonymize", follow_redirects=True)


def test_record_page_offers_the_actions_to_admins_only(tx, admin, admin_client, make_user,
                                                       login, app):
    lead_id = make_person(tx, admin)
    page = admin_client.get(f"/leads/{lead_id}").get_data(as_text=True)
    assert f"/gdpr/leads/{lead_id}/anonymize" in page and "Export personal data" in page
    assert 'href="/gdpr/"' in page  # the GDPR navigation entry

    sales = make_user("sales")
    with tx() as s:
        svc.update(s, admin, svc.LEADS, s.get(Lead, lead_id), {"owner_id": sales.id})
    other = app.test_client()
    login(other, sales)
    page = other.get(f"/leads/{lead_id}", base_url="https://localhost").get_data(as_text=True)
    assert "/gdpr/" not in page


def test_confirmation_says_it_cannot_be_undone_and_get_changes_nothing(tx, admin,
                                                                         admin_client):
    lead_id = make_person(tx, admin)
    page = admin_client.get(f"/gdpr/leads/{lead_id}/anonymize")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "This cannot be undone." in text
    assert "Email addresses" in text and "Alpha item label" in text
    with tx() as s:
        assert s.get(Lead, lead_id).anonymized_at is None


def test_sales_users_get_403_and_nothing_changes(tx, admin, make_user, client, login):
    lead_id = make_person(tx, admin)
    sales = make_user("sales")
    with tx() as s:
        svc.update(s, admin, svc.LEADS, s.get(Lead, lead_id), {"owner_id": sales.id})
    login(client, sales)
    for method, url in (("post", f"/gdpr/leads/{lead_id}/anonymize"),
                        ("get", f"/gdpr/leads/{lead_id}/anonymize"),
                        ("post", f"/gdpr/leads/{lead_id}/export"),
                        ("get", "/gdpr/"), ("get", "/gdpr/settings"), ("get", "/gdpr/audit"),
                        ("post", "/gdpr/bulk")):
        response = getattr(client, method)(url, data={"action": "touch",
                                                      "ids": [f"lead:{lead_id}"]})
        assert response.status_code == 403, (method, url)
        assert "You may not do this." in response.get_data(as_text=True)
    with tx() as s:
        assert s.get(Lead, lead_id).full_name == NAME
        assert s.scalar(select(func.count()).select_from(GdprAudit)) == 0


def test_unknown_records_are_404(admin_client):
    for url in ("/gdpr/leads/999/anonymize", "/gdpr/contacts/999/export"):
        assert admin_client.get(url).status_code == 404
        response = admin_client.post(url)
        assert response.status_code == 404
        assert "There is nothing here." in response.get_data(as_text=True)


def test_anonymized_people_are_found_nowhere(tx, admin, admin_client, api_client):
    lead_id = make_person(tx, admin)
    contact_id = make_contact(tx, admin, "Grace", "Hopper", "grace@example.com")
    with tx() as s:
        svc.comment(s, admin, svc.CONTACTS, s.get(Contact, contact_id),
                    "Grace Hopper prefers mail")
        svc.soft_delete(s, admin, svc.CONTACTS, [contact_id])

    response = anonymize(admin_client, "lead", lead_id)
    assert "The lead was anonymized" in response.get_data(as_text=True)
    response = anonymize(admin_client, "contact", contact_id)  # from the recycle bin
    assert "The contact was anonymized" in response.get_data(as_text=True)

    api = api_client(admin)
    pages: dict[str, str] = {}

    def read(label, response):
        # Streamed (CSV) responses are read at once, inside their request.
        assert response.status_code == 200, label
        pages[label] = response.get_data(as_text=True)

    read("web leads", admin_client.get("/leads?mine=0"))
    read("web lead", admin_client.get(f"/leads/{lead_id}"))
    read("web contacts", admin_client.get("/contacts?mine=0"))
    read("web leads csv", admin_client.get("/leads/export.csv"))
    read("web contacts csv", admin_client.get("/contacts/export.csv"))
    read("web bin", admin_client.get("/recycle-bin"))
    read("gdpr age", admin_client.get("/gdpr/"))
    read("gdpr audit", admin_client.get("/gdpr/audit"))
    read("api leads", api.get("/api/v1/leads"))
    read("api lead", api.get(f"/api/v1/leads/{lead_id}"))
    read("api timeline", api.get(f"/api/v1/leads/{lead_id}/timeline"))
    read("api contacts", api.get("/api/v1/contacts"))
    read("api leads csv", api.get("/api/v1/leads/export.csv"))
    read("api contacts csv", api.get("/api/v1/contacts/export.csv"))
    read("api bin", api.get("/api/v1/recycle-bin?type=contact"))
    # Restored, the anonymized contact shows nothing of the person either.
    assert api.post(f"/api/v1/recycle-bin/contact/{contact_id}/restore").status_code == 200
    read("api contact", api.get(f"/api/v1/contacts/{contact_id}"))
    read("api contact timeline", api.get(f"/api/v1/contacts/{contact_id}/timeline"))
    read("web contact", admin_client.get(f"/contacts/{contact_id}"))
    for label, text in pages.items():
        for secret in SECRETS:
            assert secret not in text, (label, secret)
    # Searching by any part of the old identity finds nothing (the pages echo the
    # query itself, so look at the results).
    for query in ("ada", "Lovelace", EMAIL, PHONE, "+1202", "grace", "Hopper"):
        for plural in ("leads", "contacts"):
            page = admin_client.get(f"/{plural}", query_string={"q": query, "mine": "0"})
            assert f"No {plural} match." in page.get_data(as_text=True), (plural, query)
            found = api.get(f"/api/v1/{plural}", query_string={"q": query})
            assert found.get_json()["items"] == [], (plural, query)
    assert f"Anonymized lead #{lead_id}" in pages["web leads"]
    assert f"Anonymized contact #{contact_id}" in pages["web bin"]

    with tx() as s:
        assert s.scalar(select(AlphaItem.label)) == "erased"  # the plugin's part
        assert s.scalar(select(func.count()).select_from(EmailKey)) == 0
        lead = s.get(Lead, lead_id)
        assert lead.stage_id and lead.created_at and lead.anonymized_at  # kept for statistics
    # The address no longer blocks a new lead.
    created = api.post("/api/v1/leads", json={"full_name": "Ada Again", "emails": [EMAIL]})
    assert created.status_code == 201, created.get_json()


def test_anonymizing_twice_is_harmless_and_says_so(tx, admin, admin_client):
    lead_id = make_person(tx, admin)
    anonymize(admin_client, "lead", lead_id)
    with tx() as s:
        first = s.get(Lead, lead_id)
        first_state = (first.full_name, first.anonymized_at, first.version)

    again = anonymize(admin_client, "lead", lead_id)
    assert again.status_code == 200
    assert "was already anonymized on" in again.get_data(as_text=True)
    page = admin_client.get(f"/gdpr/leads/{lead_id}/anonymize")
    assert page.status_code == 200 and "already anonymized" in page.get_data(as_text=True)
    export = admin_client.post(f"/gdpr/leads/{lead_id}/export", data={"format": "json"},
                               follow_redirects=True)
    assert export.status_code == 200 and export.mimetype == "text/html"
    assert "was already anonymized on" in export.get_data(as_text=True)
    with tx() as s:
        lead = s.get(Lead, lead_id)
        assert (lead.full_name, lead.anonymized_at, lead.version) == first_state
        actions = list(s.scalars(select(GdprAudit.action)))
    assert actions == ["anonymize"]
    # The record page no longer offers the actions.
    assert "/gdpr/leads/" not in admin_client.get(f"/leads/{lead_id}").get_data(as_text=True)


def test_a_failing_plugin_rolls_everything_back_and_is_named(app, tx, admin, admin_client):
    lead_id = make_person(tx, admin)
    app.config["ALPHA_ERASE_FAILS"] = True
    response = anonymize(admin_client, "lead", lead_id)
    text = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "The plugin &#39;alpha&#39; failed to erase its data" in text
    assert "This cannot be undone." in text  # back on the confirmation page
    with tx() as s:
        lead = s.get(Lead, lead_id)
        assert (lead.full_name, lead.emails, lead.anonymized_at) == (NAME, [EMAIL], None)
        assert s.scalar(select(EmailKey.record_id).where(EmailKey.email == EMAIL)) == lead_id
        assert s.scalar(select(AlphaItem.label)) == "Ada's file"
        assert s.scalar(select(func.count()).select_from(GdprAudit)) == 0

    app.config["ALPHA_ERASE_FAILS"] = False
    assert "The lead was anonymized" in anonymize(admin_client, "lead",
                                                   lead_id).get_data(as_text=True)


def test_fields_the_admin_keeps_are_kept(tx, admin, admin_client):
    lead_id = make_person(tx, admin)
    saved = admin_client.post("/gdpr/settings", data={"erase": ["lead.emails", "lead.phones"]})
    assert saved.status_code == 303
    anonymize(admin_client, "lead", lead_id)
    with tx() as s:
        lead = s.get(Lead, lead_id)
        assert lead.full_name == f"Anonymized lead #{lead_id}"
        assert (lead.emails, lead.phones) == ([], [])
        assert lead.company == "Analytical Engines"
        assert s.scalar(select(AlphaItem.label)) == "Ada's file"
        fields = s.scalar(select(GdprAudit.fields).where(GdprAudit.action == "anonymize"))
    assert fields == ["lead.emails", "lead.full_name", "lead.phones"]
