"""Only staff own records: an advertiser (an external portal user) made owner
of a lead would take it out of every sales user's list, so the service refuses
it whichever way it comes (form, API, bulk assign, import), per field."""

from __future__ import annotations

from typing import Any

import pytest
from crmcore_plugins.leadworks.services.owners import set_owner_rule
from sqlalchemy import select

import crmcore.services.imports as imports
from crmcore.db import transaction
from crmcore.models import Lead
from crmcore.services import records as svc
from crmcore.services.users import update_user

pytestmark = pytest.mark.plugins("mail", "leadworks")

EXTERNAL = "is an external user (Advertiser); choose a staff user."


@pytest.fixture
def advertiser_user(make_advertiser, make_portal_user) -> Any:
    return make_portal_user(make_advertiser("Acme Ads"), email="advertiser@example.com")


def test_the_api_refuses_an_external_owner_on_create_edit_and_bulk_assign(
        api_client, make_user, make_lead, advertiser_user):
    admin = api_client(make_user("admin"))
    response = admin.post("/api/v1/leads", json={"full_name": "Alan Hamilton",
                                                 "owner_id": advertiser_user.id})
    assert response.status_code == 422
    assert EXTERNAL in response.get_json()["errors"]["owner_id"][0]

    lead = make_lead(make_user("sales"))
    response = admin.patch(f"/api/v1/leads/{lead.id}", json={"owner_id": advertiser_user.id},
                           headers={"If-Match": f'"{lead.version}"'})
    assert response.status_code == 422
    assert EXTERNAL in response.get_json()["errors"]["owner_id"][0]

    response = admin.post("/api/v1/leads/bulk", json={
        "ids": [lead.id], "action": "assign", "value": advertiser_user.id})
    assert response.status_code == 422
    assert EXTERNAL in response.get_json()["errors"]["owner_id"][0]
    # A staff user is still fine.
    staff = make_user("sales")
    response = admin.post("/api/v1/leads/bulk", json={
        "ids": [lead.id], "action": "assign", "value": staff.id})
    assert response.status_code == 200, response.get_json()


def test_the_form_offers_and_takes_staff_owners_only(
        client, login, sessions, make_user, make_lead, advertiser_user):
    admin = make_user("admin", name="Ann Admin")
    lead = make_lead(make_user("sales", name="Sam Sales"))
    login(client, admin)
    for url, owner_select in (("/leads/new", '<select id="f-owner_id"'),
                        (f"/leads/{lead.id}/edit", '<select id="f-owner_id"'),
                        ("/leads", '<select name="owner_id" aria-label="New owner"')):
        page = client.get(url).get_data(as_text=True)
        owners = page.split(owner_select, 1)[1].split("</select>", 1)[0]
        assert "Sam Sales" in owners, url
        assert "advertiser@example.com" not in owners, url

    response = client.post("/leads/new", data={"full_name": "Alan Hamilton",
                                               "owner_id": str(advertiser_user.id)})
    assert response.status_code == 422
    assert EXTERNAL in response.get_data(as_text=True)
    with sessions() as s:
        assert s.scalar(select(Lead.id).where(Lead.owner_id == advertiser_user.id)) is None


def test_an_import_names_an_external_owner_as_the_rows_problem(
        app, sessions, tmp_path, make_user, advertiser_user):
    path = tmp_path / "leads.csv"
    path.write_text("Full name,Owner\nAlan Hamilton,advertiser@example.com\n", encoding="utf-8")
    admin = make_user("admin")
    with transaction(sessions) as s:
        job = imports.start(s, s.merge(admin), svc.LEADS, path, path.name,
                            imports.ImportOptions())
    job = imports.run(sessions, job.id)
    assert any(EXTERNAL in str(problem) for problem in job.errors), job.errors
    with sessions() as s:
        assert s.scalar(select(Lead.id).where(Lead.full_name == "Alan Hamilton")) is None


def test_the_owner_rule_skips_a_user_who_became_external(
        sessions, make_user, make_advertiser, make_key, key_client):
    chosen = make_user("sales")
    with transaction(sessions) as s:
        set_owner_rule(s, None, {"mode": "fixed", "user_ids": [chosen.id]})
        update_user(s, None, s.merge(chosen), {"role": "advertiser"})
    response = key_client(make_key(make_advertiser("Acme Ads"))).post(
        "/api/v1/leadworks/leads", json={"campaign": "Spring", "full_name": "Alan Hamilton"})
    assert response.status_code == 201, response.get_json()
    with sessions() as s:
        assert s.get(Lead, response.get_json()["id"]).owner_id is None
