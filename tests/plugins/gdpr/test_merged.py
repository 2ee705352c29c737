"""Records merged into another are the same person: anonymizing the survivor
anonymizes them too, in the recycle bin or restored from it, through a merge of
merges, whoever may see them; nothing of them is left for an export to find."""

from __future__ import annotations

import json

import pytest
from crmcore_plugins.gdpr.models import GdprAudit, GdprMerge
from sqlalchemy import select

import crmcore.services.privacy as privacy
from crmcore.errors import ErasureFailed
from crmcore.models import Contact, Lead
from tests.plugins.gdpr.cli import runner
from tests.plugins.gdpr.test_anonymize import anonymize

pytestmark = pytest.mark.plugins("gdpr", "alpha")


@pytest.fixture
def api(api_client, admin):
    return api_client(admin)


def new_lead(api, name: str, email: str, **extra) -> int:
    response = api.post("/api/v1/leads", json={"full_name": name, "emails": [email], **extra})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def new_contact(api, first: str, last: str, email: str) -> int:
    response = api.post("/api/v1/contacts", json={"first_name": first, "last_name": last,
                                                  "emails": [email]})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def merge(api, plural: str, survivor: int, *others: int) -> None:
    response = api.post(f"/api/v1/{plural}/{survivor}/merge", json={"other_ids": list(others)})
    assert response.status_code == 200, response.get_json()


def export_by_email(app, email: str):
    return runner(app)("gdpr", "export", "--email", email)


def leads(tx, *ids: int) -> dict[int, tuple[str, list[str], bool, bool]]:
    with tx() as s:
        return {i: (lead.full_name, lead.emails, lead.deleted_at is not None,
                    lead.anonymized_at is not None) for i in ids if (lead := s.get(Lead, i))}


def test_the_merged_away_lead_in_the_bin_is_anonymized_with_the_survivor(app, tx, admin, api,
                                                                          admin_client):
    survivor = new_lead(api, "Up Person", "up-b@ex.com")
    other = new_lead(api, "Up Person", "up-a@ex.com", phones=["+12025550177"])
    merge(api, "leads", survivor, other)
    found = export_by_email(app, "up-a@ex.com")
    assert found.exit_code == 0 and {r["record_id"] for r in json.loads(
        found.stdout)["records"]} == {survivor, other}

    page = admin_client.get(f"/gdpr/leads/{survivor}/anonymize").get_data(as_text=True)
    assert "1 lead merged into this one" in page
    assert f"#{other} “Up Person” (in the recycle bin)" in page
    response = anonymize(admin_client, "lead", survivor)
    text = response.get_data(as_text=True)
    assert "The lead was anonymized" in text
    assert f"1 lead merged into it (#{other}) was anonymized with it." in text

    assert leads(tx, survivor, other) == {
        survivor: (f"Anonymized lead #{survivor}", [], False, True),
        other: (f"Anonymized lead #{other}", [], True, True)}
    with tx() as s:
        assert s.get(Lead, other).phones == []
        audits = [(a.action, a.via, a.actor_id, a.record_id)
                  for a in s.scalars(select(GdprAudit).order_by(GdprAudit.id))
                  if a.action == "anonymize"]
    assert audits == [("anonymize", "web", admin.id, survivor),
                      ("anonymize", "web", admin.id, other)]
    for email in ("up-a@ex.com", "up-b@ex.com"):
        result = export_by_email(app, email)
        assert result.exit_code == 1
        assert "No lead or contact has this email address." in result.output
        assert "Up Person" not in result.output


def test_a_merge_of_merges_is_anonymized_whole(tx, api, admin_client):
    first = new_lead(api, "Ann Chain", "chain-1@ex.com")
    second = new_lead(api, "Ann Chain", "chain-2@ex.com")
    third = new_lead(api, "Ann Chain", "chain-3@ex.com")
    fourth = new_lead(api, "Ann Chain", "chain-4@ex.com")
    merge(api, "leads", second, first)
    merge(api, "leads", third, second)
    merge(api, "leads", fourth, third)
    text = anonymize(admin_client, "lead", fourth).get_data(as_text=True)
    assert f"3 leads merged into it (#{third}, #{second}, #{first}) were anonymized" in text
    assert all(anonymized and name == f"Anonymized lead #{i}" and emails == []
               for i, (name, emails, _, anonymized) in leads(
                   tx, first, second, third, fourth).items())


def test_merged_away_contacts_are_anonymized_with_the_survivor(app, tx, api, admin_client):
    survivor = new_contact(api, "Cora", "Merge", "cora-b@ex.com")
    other = new_contact(api, "Cora", "Merge", "cora-a@ex.com")
    merge(api, "contacts", survivor, other)
    text = anonymize(admin_client, "contact", survivor).get_data(as_text=True)
    assert f"1 contact merged into it (#{other}) was anonymized with it." in text
    with tx() as s:
        contact = s.get(Contact, other)
        assert (contact.first_name, contact.last_name, contact.emails) == (
            "", f"Anonymized contact #{other}", [])
        assert contact.anonymized_at is not None and contact.deleted_at is not None
    result = export_by_email(app, "cora-a@ex.com")
    assert result.exit_code == 1 and "Cora" not in result.output


def test_a_copy_restored_from_the_bin_is_still_the_same_person(tx, api, admin_client):
    survivor = new_lead(api, "Rhea Stored", "rhea-b@ex.com")
    other = new_lead(api, "Rhea Stored", "rhea-a@ex.com")
    merge(api, "leads", survivor, other)
    restored = api.post(f"/api/v1/recycle-bin/lead/{other}/restore")
    assert restored.status_code == 200, restored.get_json()
    anonymize(admin_client, "lead", survivor)
    assert leads(tx, other)[other] == (f"Anonymized lead #{other}", [], False, True)


def test_copies_the_actor_may_not_see_are_anonymized_too(app, tx, api, make_user, client,
                                                        login):
    mine, theirs = make_user("sales"), make_user("sales")
    survivor = new_lead(api, "Vera Seen", "vera-b@ex.com", owner_id=mine.id)
    other = new_lead(api, "Vera Seen", "vera-a@ex.com", owner_id=theirs.id)
    merge(api, "leads", survivor, other)
    registry = app.extensions["crm"].roles
    registry.grants["sales"] = registry.grants["sales"] | {"gdpr.manage"}
    login(client, mine)
    assert client.get(f"/gdpr/leads/{other}/anonymize").status_code == 404
    text = anonymize(client, "lead", survivor).get_data(as_text=True)
    assert f"1 lead merged into it (#{other}) was anonymized with it." in text
    assert leads(tx, other)[other][3]
    with tx() as s:
        assert s.scalar(select(GdprAudit.actor_id).where(GdprAudit.record_id == other)) == mine.id


def test_a_copy_that_fails_to_erase_rolls_the_survivor_back(tx, api, admin_client,
                                                            monkeypatch):
    survivor = new_lead(api, "Fay Lure", "fay-b@ex.com")
    other = new_lead(api, "Fay Lure", "fay-a@ex.com")
    merge(api, "leads", survivor, other)
    erase = privacy.erase

    def failing(session, actor, person, fields):
        if person.record_id == other:
            raise ErasureFailed("The plugin 'alpha' failed to erase its data.")
        return erase(session, actor, person, fields)

    monkeypatch.setattr(privacy, "erase", failing)
    text = anonymize(admin_client, "lead", survivor).get_data(as_text=True)
    assert f"Lead #{other}, merged into #{survivor}: The plugin" in text.replace("&#39;", "'")
    assert {i: row[3] for i, row in leads(tx, survivor, other).items()} == {
        survivor: False, other: False}
    with tx() as s:
        assert s.scalar(select(GdprAudit.id)) is None


def test_bulk_and_sweep_say_how_many_merged_records_went_with_them(app, tx, api, admin,
                                                                   admin_client):
    from tests.plugins.gdpr.conftest import age
    from tests.plugins.gdpr.test_sweep import policy

    survivor = new_lead(api, "Bea Bulk", "bea-b@ex.com")
    other = new_lead(api, "Bea Bulk", "bea-a@ex.com")
    merge(api, "leads", survivor, other)
    response = admin_client.post("/gdpr/bulk", data={
        "action": "anonymize", "confirm": "1", "ids": [f"lead:{survivor}"]},
        follow_redirects=True)
    assert "1 record anonymized, and 1 record merged into them." in response.get_data(
        as_text=True)
    assert leads(tx, other)[other][3]

    swept = new_lead(api, "Sid Sweep", "sid-b@ex.com")
    gone = new_lead(api, "Sid Sweep", "sid-a@ex.com")
    merge(api, "leads", swept, gone)
    age(tx, "lead", swept, 400)
    policy(tx, admin, lead=12)
    result = runner(app)("gdpr", "sweep")
    assert "1 due, 1 anonymized (and 1 merged into them), 0 skipped" in result.output
    with tx() as s:
        assert [(a.via, a.record_id) for a in s.scalars(
            select(GdprAudit).where(GdprAudit.action == "anonymize").order_by(GdprAudit.id))
        ][-2:] == [("sweep", swept), ("sweep", gone)]


def test_purging_a_link_of_the_chain_keeps_the_chain(app, tx, api, admin_client):
    first = new_lead(api, "Pam Purge", "pam-1@ex.com")
    second = new_lead(api, "Pam Purge", "pam-2@ex.com")
    third = new_lead(api, "Pam Purge", "pam-3@ex.com")
    merge(api, "leads", second, first)
    merge(api, "leads", third, second)
    assert api.delete(f"/api/v1/recycle-bin/lead/{second}").status_code == 204
    with tx() as s:
        assert [(m.merged_id, m.survivor_id) for m in s.scalars(select(GdprMerge))] == [
            (first, third)]
    anonymize(admin_client, "lead", third)
    assert leads(tx, first)[first][3]


def test_a_purged_copys_id_given_to_a_new_lead_is_not_the_same_person(tx, api,
                                                                       admin_client):
    survivor = new_lead(api, "Old Kept", "old-b@ex.com")
    other = new_lead(api, "Old Gone", "old-a@ex.com")
    merge(api, "leads", survivor, other)
    assert api.delete(f"/api/v1/recycle-bin/lead/{other}").status_code == 204
    newcomer = new_lead(api, "New Person", "new@ex.com")  # SQLite: often the same id
    anonymize(admin_client, "lead", survivor)
    assert leads(tx, newcomer)[newcomer] == ("New Person", ["new@ex.com"], False, False)
