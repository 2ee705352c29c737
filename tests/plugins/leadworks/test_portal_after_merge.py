"""QA: an advertiser whose lead staff merged with the CRM's own record of the
person sees what it handed over and "merged", in the portal and the API,
whichever record survived: never the other record's name, address or stage.
What the submission keeps of the person goes with the person."""

from __future__ import annotations

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
HANDED = ("Quentin Blake", "quentin.blake@acme-list.example")
OURS = ("Alan Hamilton", "alan.hamilton@customer.example")


@pytest.fixture
def scene(sessions, make_user, api_client, make_advertiser, make_key, key_client,
          make_portal_user) -> dict[str, Any]:
    """Acme hands over Quentin Blake; the CRM's own Alan Hamilton is a won deal."""
    manager = make_user("manager")
    with transaction(sessions) as s:
        set_owner_rule(s, None, {"mode": "fixed", "user_ids": [manager.id]})
        won = s.scalar(select(LeadStage.id).where(LeadStage.kind == "won"))
    staff = api_client(manager)
    ours = staff.post("/api/v1/leads", json={"full_name": OURS[0], "emails": [OURS[1]],
                                             "stage_id": won}).get_json()["id"]
    acme = make_advertiser("Acme Ads")
    api = key_client(make_key(acme))
    answer = api.post(URL, json={"campaign": "Business lines", "full_name": HANDED[0],
                                 "emails": [HANDED[1]]})
    assert answer.status_code == 201, answer.get_json()
    return {"staff": staff, "api": api, "ours": ours, "handed": answer.get_json()["id"],
            "portal_user": make_portal_user(acme, email="advertiser@example.com")}


def merge(staff, survivor_id: int, other_id: int, **choices: int) -> None:
    response = staff.post(f"/api/v1/leads/{survivor_id}/merge",
                          json={"other_ids": [other_id], "choices": choices})
    assert response.status_code == 200, response.get_json()


def assert_sees_only_what_it_handed_over(scene, client, login) -> None:
    [item] = scene["api"].get(URL).get_json()["items"]
    assert (item["lead_id"], item["full_name"], item["email"], item["stage"]) == (
        scene["handed"], *HANDED, "merged")
    login(client, scene["portal_user"])
    page = client.get("/leadworks/").get_data(as_text=True)
    assert HANDED[0] in page and HANDED[1] in page and "merged" in page
    for leak in (*OURS, "Won", f"#{scene['ours']}"):
        assert leak not in page, leak


def test_its_lead_merged_into_ours_shows_as_handed_over(scene, client, login):
    merge(scene["staff"], scene["ours"], scene["handed"])
    assert_sees_only_what_it_handed_over(scene, client, login)


def test_ours_merged_into_its_lead_shows_as_handed_over_too(scene, client, login):
    """The other direction: its lead survives, taking our name and stage."""
    merge(scene["staff"], scene["handed"], scene["ours"], full_name=scene["ours"],
          stage_id=scene["ours"], emails=scene["ours"])
    assert_sees_only_what_it_handed_over(scene, client, login)


def test_a_lead_never_merged_still_shows_live(scene, client, login):
    [item] = scene["api"].get(URL).get_json()["items"]
    assert (item["lead_id"], item["full_name"], item["email"], item["stage"]) == (
        scene["handed"], *HANDED, "New")


def test_erasing_the_person_blanks_what_the_submission_kept(
        scene, sessions, make_user, client, login):
    merge(scene["staff"], scene["ours"], scene["handed"])
    admin = make_user("admin")
    with transaction(sessions) as s:
        _, person = privacy.find_person(s, s.merge(admin), "lead", scene["ours"])
        [part] = [p for p in privacy.export(s, person) if p.section == "leadworks"]
        privacy.erase(s, s.merge(admin), person, [])
    assert [(i["full_name"], i["email"]) for i in part.data["submissions"]] == [HANDED]
    with sessions() as s:
        assert s.execute(select(Submission.handed_name, Submission.handed_email)).all() == [
            ("", "")]
    [item] = scene["api"].get(URL).get_json()["items"]
    assert (item["full_name"], item["email"], item["stage"]) == ("", "", "merged")


def test_purging_the_lead_blanks_what_the_submission_kept(scene, sessions, make_user,
                                                          api_client):
    merge(scene["staff"], scene["ours"], scene["handed"])
    admin = api_client(make_user("admin"))
    assert admin.delete(f"/api/v1/leads/{scene['ours']}").status_code == 204
    assert admin.delete(f"/api/v1/recycle-bin/lead/{scene['ours']}").status_code == 204
    with sessions() as s:
        assert s.execute(select(Submission.lead_id, Submission.handed_name,
                                Submission.handed_email)).all() == [(None, "", "")]
    [item] = scene["api"].get(URL).get_json()["items"]
    assert (item["lead_id"], item["full_name"], item["stage"]) == (None, "", "removed")
