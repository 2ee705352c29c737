"""A merge of leads takes their submissions to the survivor: each advertiser
sees only its own submissions, as handed over and "merged", and the person's
privacy export and erase find them all."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from crmcore_plugins.leadworks.models import Submission
from crmcore_plugins.leadworks.services.owners import set_owner_rule
from sqlalchemy import select

from crmcore.db import transaction
from crmcore.models import LeadStage
from crmcore.services import privacy

pytestmark = pytest.mark.plugins("mail", "leadworks")

URL = "/api/v1/leadworks/leads"


@pytest.fixture
def sales(sessions, make_user) -> Any:
    """A sales user who owns every lead handed over, so may merge them."""
    user = make_user("sales", name="Sam Sales")
    with transaction(sessions) as s:
        set_owner_rule(s, None, {"mode": "fixed", "user_ids": [user.id]})
    return user


def hand_over(make_key, key_client, advertiser, full_name: str, email: str,
              campaign: str = "Spring") -> tuple[Any, int]:
    """The advertiser's API client, and the lead it handed over."""
    api = key_client(make_key(advertiser))
    response = api.post(URL, json={"campaign": campaign, "full_name": full_name,
                                   "emails": [email]})
    assert response.status_code == 201, response.get_json()
    return api, response.get_json()["id"]


def merge(client, survivor_id: int, *other_ids: int) -> None:
    response = client.post(f"/api/v1/leads/{survivor_id}/merge",
                           json={"other_ids": list(other_ids)})
    assert response.status_code == 200, response.get_json()


def listed(api) -> list[dict[str, Any]]:
    return api.get(URL).get_json()["items"]


def test_the_advertiser_sees_its_merged_lead_as_handed_over(
        sessions, sales, api_client, client, login, make_advertiser, make_key, key_client,
        make_portal_user):
    acme = make_advertiser("Acme")
    api, handed = hand_over(make_key, key_client, acme, "Ada L.", "ada@acme-list.com")
    staff = api_client(sales)
    with sessions() as s:
        qualified = s.scalar(select(LeadStage.id).where(LeadStage.name == "Qualified"))
    kept = staff.post("/api/v1/leads", json={
        "full_name": "Ada Lovelace", "emails": ["ada.lovelace@analytical.example"],
        "stage_id": qualified}).get_json()["id"]

    merge(staff, kept, handed)

    [item] = listed(api)
    # The survivor's name, stage and address are not what Acme handed over.
    assert (item["lead_id"], item["full_name"], item["email"], item["stage"]) == (
        handed, "Ada L.", "ada@acme-list.com", "merged")
    login(client, make_portal_user(acme))
    page = client.get("/leadworks/").get_data(as_text=True)
    assert "Ada L." in page and "merged" in page
    assert "Ada Lovelace" not in page and "Qualified" not in page
    assert "removed" not in page and "analytical.example" not in page


def test_two_advertisers_merged_into_one_of_their_leads_each_see_their_own(
        sessions, sales, api_client, client, login, make_advertiser, make_key, key_client,
        make_portal_user):
    """Merging into a lead that is itself a submission: the survivor then
    holds two (one per advertiser that handed the person over)."""
    acme, beta = make_advertiser("Acme"), make_advertiser("Beta")
    acme_api, acme_lead = hand_over(make_key, key_client, acme, "Grace Hopper",
                                    "grace@acme-list.com", campaign="Acme spring")
    beta_api, beta_lead = hand_over(make_key, key_client, beta, "G. Hopper",
                                    "hopper@beta-list.com", campaign="Beta fall")

    merge(api_client(sales), acme_lead, beta_lead)

    [acme_item], [beta_item] = listed(acme_api), listed(beta_api)
    assert acme_item["submission_id"] != beta_item["submission_id"]
    for item, handed in ((acme_item, (acme_lead, "Grace Hopper", "grace@acme-list.com",
                                      "Acme spring")),
                         (beta_item, (beta_lead, "G. Hopper", "hopper@beta-list.com",
                                      "Beta fall"))):
        assert (item["lead_id"], item["full_name"], item["email"], item["campaign"],
                item["stage"]) == (*handed, "merged")
    with sessions() as s:
        assert s.scalars(select(Submission.lead_id)).all() == [acme_lead, acme_lead]
    login(client, make_portal_user(beta))
    page = client.get("/leadworks/").get_data(as_text=True)
    assert "Beta fall" in page and "G. Hopper" in page
    assert "Grace Hopper" not in page and "acme-list.com" not in page
    assert "Acme spring" not in page and "removed" not in page


def test_the_move_is_one_statement_whatever_the_count(
        sales, api_client, make_advertiser, make_key, key_client, sql_statements):
    acme = make_advertiser("Acme")
    ids = [hand_over(make_key, key_client, acme, "Alan Turing", f"alan{i}@acme-list.com")[1]
           for i in range(4)]
    staff = api_client(sales)
    with sql_statements() as statements:
        merge(staff, ids[0], *ids[1:])
    assert len([s for s in statements if "leadworks_submissions" in s]) == 1


def test_a_purged_survivor_leaves_every_submission_removed(
        sessions, make_user, sales, api_client, make_advertiser, make_key, key_client):
    acme, beta = make_advertiser("Acme"), make_advertiser("Beta")
    acme_api, acme_lead = hand_over(make_key, key_client, acme, "Ada", "ada@acme-list.com")
    beta_api, beta_lead = hand_over(make_key, key_client, beta, "Ada", "ada@beta-list.com")
    merge(api_client(sales), beta_lead, acme_lead)
    admin = api_client(make_user("admin"))
    assert admin.delete(f"/api/v1/leads/{beta_lead}").status_code == 204
    assert admin.delete(f"/api/v1/recycle-bin/lead/{beta_lead}").status_code == 204

    for api in (acme_api, beta_api):
        [item] = listed(api)
        assert (item["lead_id"], item["full_name"], item["stage"]) == (None, "", "removed")
    with sessions() as s:
        assert s.scalars(select(Submission.lead_id)).all() == [None, None]


def test_the_survivors_privacy_export_and_erase_cover_every_submission(
        sessions, make_user, sales, api_client, make_advertiser, make_key, key_client,
        upload_csv):
    acme, beta = make_advertiser("Acme"), make_advertiser("Beta")
    upload = upload_csv(acme, "name,email\nAda,ada@acme-list.com\n", campaign="Spring")
    _, beta_lead = hand_over(make_key, key_client, beta, "Ada", "ada@beta-list.com",
                             campaign="Fall")
    with sessions() as s:
        acme_lead = s.scalar(select(Submission.lead_id).where(
            Submission.advertiser_id == acme.id))
    # The survivor came through the API: only the moved submission knows the upload.
    merge(api_client(sales), beta_lead, acme_lead)
    admin = make_user("admin")

    with transaction(sessions) as s:
        _, person = privacy.find_person(s, s.merge(admin), "lead", beta_lead)
        parts = {p.section: p.data for p in privacy.export(s, person)}
        privacy.erase(s, s.merge(admin), person, [])
    assert [(i["advertiser"], i["campaign"]) for i in parts["leadworks"]["submissions"]] == [
        ("Acme", "Spring"), ("Beta", "Fall")]
    assert not Path(upload.path).exists()
