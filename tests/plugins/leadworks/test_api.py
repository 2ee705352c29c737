"""The intake API: keys, duplicates, idempotency, batches, limits, owners,
emails handed over, statistics, privacy and the recycle bin."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path

import pytest
from crmcore_plugins.leadworks.models import (
    ApiKey,
    IdempotentRequest,
    Refusal,
    Submission,
    Upload,
)
from crmcore_plugins.leadworks.services import access, advertisers, stats
from crmcore_plugins.leadworks.services.owners import set_owner_rule
from sqlalchemy import func, select

from crmcore.auth.tokens import token_hash
from crmcore.db import transaction
from crmcore.models import Lead
from crmcore.services import privacy
from crmcore.services import records as svc

pytestmark = pytest.mark.plugins("mail", "leadworks")

URL = "/api/v1/leadworks/leads"
RAW = (b"Message-ID: <hello-1@advertiser.test>\r\nFrom: ada@example.com\r\n"
       b"To: sales@advertiser.test\r\nSubject: Interested in a quote\r\n"
       b"Date: Mon, 02 Nov 2026 10:00:00 +0000\r\n\r\nPlease call me back.\r\n")


def lead_count(sessions) -> int:
    with sessions() as s:
        return s.scalar(select(func.count()).select_from(Lead))


def test_a_lead_gets_label_source_and_marker(make_advertiser, make_key, key_client,
                                             api_client):
    api = key_client(make_key(make_advertiser("Acme Ads")))
    response = api.post(URL, json={"campaign": "Spring", "full_name": "Ada Lovelace",
                                   "emails": ["ada@example.com"]})
    assert response.status_code == 201, response.get_json()
    lead = api_client().get(f"/api/v1/leads/{response.get_json()['id']}").get_json()
    assert "external user" in lead["tags"]
    assert lead["source"] == "Leadworks: Acme Ads / Spring"
    assert lead["plugin_data"]["leadworks"]["campaign"] == "Spring"


def test_keys_are_hashed_and_wrong_revoked_or_deactivated_keys_get_401(
        sessions, make_advertiser, make_key, key_client):
    advertiser = make_advertiser()
    key = make_key(advertiser)
    with sessions() as s:
        stored = s.scalars(select(ApiKey.key_hash)).all()
    assert stored == [token_hash(key)] and key not in stored
    body = {"campaign": "c", "full_name": "A"}
    assert key_client("crm_wrong").post(URL, json=body).status_code == 401
    assert key_client(key).post(URL, json=body).status_code == 201
    with transaction(sessions) as s:
        advertisers.update_advertiser(s, None, s.merge(advertiser), {"is_active": False})
    response = key_client(key).post(URL, json=body)
    assert response.status_code == 401 and response.mimetype == "application/problem+json"
    with transaction(sessions) as s:
        advertisers.update_advertiser(s, None, s.merge(advertiser), {"is_active": True})
        key_row = s.scalar(select(ApiKey))
        access.revoke_key(s, None, s.merge(advertiser), key_row.id)
    assert key_client(key).post(URL, json=body).status_code == 401


def test_field_errors_are_the_lead_forms_own(make_advertiser, make_key, key_client):
    api = key_client(make_key(make_advertiser()))
    response = api.post(URL, json={"campaign": "", "full_name": "A", "emails": ["nope"]})
    assert response.status_code == 422
    assert set(response.get_json()["errors"]) == {"campaign"}
    response = api.post(URL, json={"campaign": "c", "emails": ["nope"], "phones": ["x"],
                                   "owner_id": 1, "source": "mine"})
    errors = response.get_json()["errors"]
    assert response.status_code == 422
    assert errors == {"owner_id": ["Unknown field."], "source": ["Unknown field."]}
    response = api.post(URL, json={"campaign": "c", "emails": ["nope"], "phones": ["x"]})
    assert set(response.get_json()["errors"]) == {"full_name", "emails", "phones"}


@pytest.mark.parametrize("variant", [" ADA@Example.com ", "ada@example.com", "Ada@EXAMPLE.COM"])
@pytest.mark.parametrize("existing", ["lead", "contact"])
def test_a_known_email_is_refused_revealing_nothing(variant, existing, sessions, make_user,
                                                    make_lead, make_advertiser, make_key,
                                                    key_client):
    owner = make_user("sales", name="Grace Owner")
    kind = svc.LEADS if existing == "lead" else svc.CONTACTS
    record = make_lead(owner, kind, emails=["ada@example.com"],
                       **({"full_name": "Secret Existing"} if existing == "lead"
                          else {"last_name": "Secret Existing"}))
    api = key_client(make_key(make_advertiser()))
    response = api.post(URL, json={"campaign": "c", "full_name": "New", "emails": [variant]})
    assert response.status_code == 409
    text = response.get_data(as_text=True)
    for leak in ("Secret", "Grace", owner.email, existing, f'"id": {record.id}',
                 f'"id":{record.id}'):
        assert leak not in text
    assert response.get_json()["errors"] == {"emails": ["This email is already known."]}
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Refusal)) == 1
        assert s.scalar(select(func.count()).select_from(Submission)) == 0


def test_binned_records_still_block_anonymized_ones_do_not(sessions, make_user, make_lead,
                                                          make_advertiser, make_key,
                                                          key_client):
    admin = make_user("admin")
    binned = make_lead(admin, emails=["binned@example.com"])
    gone = make_lead(admin, emails=["gone@example.com"])
    with transaction(sessions) as s:
        svc.soft_delete(s, s.merge(admin), svc.LEADS, [binned.id])
        _, person = privacy.find_person(s, s.merge(admin), "lead", gone.id)
        privacy.erase(s, s.merge(admin), person, [])
    api = key_client(make_key(make_advertiser()))
    assert api.post(URL, json={"campaign": "c", "full_name": "B",
                               "emails": ["binned@example.com"]}).status_code == 409
    assert api.post(URL, json={"campaign": "c", "full_name": "G",
                               "emails": ["gone@example.com"]}).status_code == 201


def test_idempotency_replays_refuses_other_bodies_and_requires_a_key(
        sessions, client, make_advertiser, make_key, key_client):
    key = make_key(make_advertiser())
    api = key_client(key)
    body = {"campaign": "c", "full_name": "Ada", "emails": ["ada@example.com"]}
    first = api.post(URL, json=body, key="same")
    again = api.post(URL, json=dict(reversed(list(body.items()))), key="same")
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert lead_count(sessions) == 1
    other = api.post(URL, json={**body, "full_name": "Eve"}, key="same")
    assert other.status_code == 422 and "Idempotency-Key" in other.get_json()["errors"]
    missing = client.post(URL, json=body, headers={"Authorization": f"Bearer {key}"})
    assert missing.status_code == 400 and "Idempotency-Key" in missing.get_json()["errors"]
    # A refusal is an answer too: replayed, and counted once.
    dup = {"campaign": "c", "full_name": "Ada 2", "emails": ["ada@example.com"]}
    assert api.post(URL, json=dup, key="dup").status_code == 409
    assert api.post(URL, json=dup, key="dup").headers["Idempotent-Replayed"] == "true"
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Refusal)) == 1
        assert s.scalar(select(func.count()).select_from(IdempotentRequest)) == 2


def test_batch_keeps_valid_items_or_creates_none(sessions, make_advertiser, make_key,
                                                 key_client):
    api = key_client(make_key(make_advertiser()))
    assert api.post(URL, json={"campaign": "c", "full_name": "Known",
                               "emails": ["known@example.com"]}).status_code == 201
    leads = [{"full_name": "Good", "emails": ["good@example.com"]},
             {"full_name": "", "emails": ["bad"]},
             {"full_name": "Known again", "emails": [" KNOWN@example.com"]},
             {"full_name": "Twice", "emails": ["twice@example.com"]},
             {"full_name": "Twice again", "emails": ["twice@example.com"]}]
    strict = api.post(URL + "/batch", json={"campaign": "c", "all_or_nothing": True,
                                            "leads": leads})
    assert strict.status_code == 422
    assert set(strict.get_json()["errors"]["leads"]) == {"1", "2", "4"}
    assert lead_count(sessions) == 1
    response = api.post(URL + "/batch", json={"campaign": "c", "leads": leads})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert [r["status"] for r in body["results"]] == [201, 422, 409, 201, 409]
    assert body["created"] == 2 and body["refused_duplicates"] == 2
    assert "full_name" in body["results"][1]["errors"]
    assert lead_count(sessions) == 3


def test_a_batch_item_whose_address_is_taken_meanwhile_rolls_back_alone(
        monkeypatch, sessions, mailbox, make_user, make_advertiser, make_key, key_client):
    """The check before the write misses an address another request takes in
    between: that item alone is refused; the others, their bookkeeping and
    their owners' emails stand."""
    from crmcore_plugins.leadworks.services import intake

    owner = make_user("sales", name="Owner")
    with transaction(sessions) as s:
        set_owner_rule(s, None, {"mode": "fixed", "user_ids": [owner.id]})
    api = key_client(make_key(make_advertiser()))
    assert api.post(URL, json={"campaign": "c", "full_name": "Taken",
                               "emails": ["taken@example.com"]}).status_code == 201
    monkeypatch.setattr(intake, "known_emails", lambda session, emails: set())
    leads = [{"full_name": "Before", "emails": ["before@example.com"]},
             {"full_name": "Taken again", "emails": ["taken@example.com"]},
             {"full_name": "After", "emails": ["after@example.com"]}]
    strict = api.post(URL + "/batch", json={"campaign": "c", "all_or_nothing": True,
                                            "leads": leads})
    assert strict.status_code == 409 and set(strict.get_json()["errors"]["leads"]) == {"1"}
    assert lead_count(sessions) == 1
    body = api.post(URL + "/batch", json={"campaign": "c", "leads": leads}).get_json()
    assert [r["status"] for r in body["results"]] == [201, 409, 201]
    assert body["refused_duplicates"] == 1
    assert body["results"][1]["errors"] == {"emails": ["This email is already known."]}
    assert lead_count(sessions) == 3
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Submission)) == 3
        assert s.scalar(select(func.count()).select_from(Refusal)) == 2
    texts = [m.get_content() for m in mailbox.wait(3)]
    assert any("Before" in t for t in texts) and any("After" in t for t in texts)
    assert not any("Taken again" in t for t in texts)


def test_oversized_bodies_batches_and_messages_get_413(app, make_advertiser, make_key,
                                                       key_client):
    api = key_client(make_key(make_advertiser()))
    app.config.update(LEADWORKS_MAX_BODY_BYTES=2000, LEADWORKS_BATCH_MAX=2)
    response = api.post(URL, json={"campaign": "c", "full_name": "x" * 5000})
    assert response.status_code == 413 and response.mimetype == "application/problem+json"
    response = api.post(URL + "/batch", json={"campaign": "c", "leads": [{"full_name": "a"}] * 3})
    assert response.status_code == 413
    response = api.post(URL, json={"campaign": "c", "full_name": "A",
                                   "messages": ["not an email at all"]})
    assert response.status_code == 422 and "messages" in response.get_json()["errors"]


def test_too_many_requests_from_one_key_get_429(app, make_advertiser, make_key, key_client):
    app.config["LEADWORKS_RATE_LIMIT"] = "2 per minute"
    api = key_client(make_key(make_advertiser()))
    other = key_client(make_key(make_advertiser("Other")))
    statuses = [api.get(URL).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert api.get(URL).headers["Retry-After"]
    assert other.get(URL).status_code == 200


def test_owner_rule_fixed_and_round_robin_with_email(sessions, mailbox, make_user,
                                                     make_advertiser, make_key, key_client,
                                                     api_client):
    first, second = make_user("sales", name="First"), make_user("sales", name="Second")
    api = key_client(make_key(make_advertiser()))
    with transaction(sessions) as s:
        set_owner_rule(s, None, {"mode": "fixed", "user_ids": [second.id]})
    one = api.post(URL, json={"campaign": "c", "full_name": "Fixed"}).get_json()["id"]
    with transaction(sessions) as s:
        set_owner_rule(s, None, {"mode": "round_robin", "user_ids": [first.id, second.id]})
    batch = api.post(URL + "/batch", json={"campaign": "c", "leads": [
        {"full_name": f"RR {i}"} for i in range(3)]}).get_json()
    ids = [r["id"] for r in batch["results"]]
    with sessions() as s:
        owners = dict(s.execute(select(Lead.id, Lead.owner_id)).all())
    assert owners[one] == second.id
    assert [owners[i] for i in ids] == [first.id, second.id, first.id]
    messages = mailbox.wait(3)
    assert {m["To"] for m in messages} == {first.email, second.email}
    assert any("RR 0" in m.get_content() for m in messages)
    timeline = api_client().get(f"/api/v1/leads/{one}/timeline").get_json()
    entries = timeline.get("items", timeline) if isinstance(timeline, dict) else timeline
    assert any(e["kind"] == "assigned" and "Second" in e["body"] for e in entries)


def test_messages_handed_over_appear_on_the_lead_timeline(make_advertiser, make_key,
                                                          key_client, api_client):
    api = key_client(make_key(make_advertiser()))
    response = api.post(URL, json={"campaign": "c", "full_name": "Ada",
                                   "emails": ["ada@example.com"],
                                   "messages": [RAW.decode(),
                                                {"base64": base64.b64encode(RAW).decode()}]})
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["messages"]["stored"] == 1
    lead_id = response.get_json()["id"]
    text = api_client().get(f"/api/v1/leads/{lead_id}/timeline").get_data(as_text=True)
    assert "Interested in a quote" in text


def test_statistics_count_leads_and_refusals_per_advertiser_and_campaign(
        sessions, make_user, make_advertiser, make_key, key_client):
    acme, beta = make_advertiser("Acme"), make_advertiser("Beta")
    a, b = key_client(make_key(acme)), key_client(make_key(beta))
    a.post(URL, json={"campaign": "Spring", "full_name": "1", "emails": ["1@x.com"]})
    a.post(URL, json={"campaign": "Spring", "full_name": "2", "emails": ["2@x.com"]})
    a.post(URL, json={"campaign": "Fall", "full_name": "3", "emails": ["3@x.com"]})
    b.post(URL, json={"campaign": "Spring", "full_name": "4", "emails": ["1@X.com"]})
    with sessions() as s:
        rows = stats.stats(s, None, None, None)
    assert [(r.advertiser, r.campaign, r.leads, r.refused) for r in rows] == [
        ("Acme", "Fall", 1, 0), ("Acme", "Spring", 2, 0), ("Beta", "Spring", 0, 1)]
    with sessions() as s:
        assert stats.stats(s, None, datetime(2000, 1, 1, tzinfo=UTC),
                           datetime(2000, 1, 2, tzinfo=UTC)) == []


def test_the_statistics_page_filters_whole_days(app, client, make_user, login,
                                                make_advertiser, make_key, key_client):
    key_client(make_key(make_advertiser("Acme"))).post(
        URL, json={"campaign": "Spring", "full_name": "1", "emails": ["1@x.com"]})
    login(client, make_user("admin"))
    today = datetime.now(UTC).date().isoformat()

    def page(query: str) -> tuple[int, str]:
        response = client.get(f"/leadworks/admin/stats?{query}")
        return response.status_code, response.get_data(as_text=True)

    # The last day there is: no day after it to end the period (was a 500).
    for query in (f"from={today}&to={today}", "to=9999-12-31", "from=0001-01-01"):
        status, text = page(query)
        assert status == 200 and "Spring" in text, query
    status, text = page("to=2000-01-01")
    assert status == 200 and "Spring" not in text
    for query in ("from=yesterday", "to=2026-01-01T10:00"):
        status, text = page(query)
        assert status == 422 and "A date as YYYY-MM-DD." in text, query


def test_privacy_export_and_erase_and_the_recycle_bin(sessions, make_user, make_advertiser,
                                                     make_key, key_client, api_client):
    admin = make_user("admin")
    advertiser = make_advertiser("Acme")
    api = key_client(make_key(advertiser))
    lead_id = api.post(URL, json={"campaign": "Spring", "full_name": "Ada",
                                  "emails": ["ada@example.com"]}).get_json()["id"]
    with sessions() as s:
        _, person = privacy.find_person(s, s.merge(admin), "lead", lead_id)
        parts = {p.section: p.data for p in privacy.export(s, person)}
    assert parts["leadworks"]["submissions"][0]["advertiser"] == "Acme"
    with transaction(sessions) as s:
        privacy.erase(s, s.merge(admin), person, [])
        privacy.erase(s, s.merge(admin), person, [])  # idempotent
    admin_api = api_client(admin)
    with transaction(sessions) as s:
        advertisers.delete_advertiser(s, None, s.merge(advertiser))
    assert api.get(URL).status_code == 401
    listed = admin_api.get("/api/v1/recycle-bin?type=leadworks_advertiser").get_json()
    assert [i["id"] for i in listed["items"]] == [advertiser.id]
    restored = admin_api.post(f"/api/v1/recycle-bin/leadworks_advertiser/{advertiser.id}/restore")
    assert restored.status_code in (200, 204), restored.get_data(as_text=True)
    assert api.get(URL).status_code == 200
    with transaction(sessions) as s:
        advertisers.delete_advertiser(s, None, s.merge(advertiser))
    purged = admin_api.delete(f"/api/v1/recycle-bin/leadworks_advertiser/{advertiser.id}")
    assert purged.status_code in (200, 204), purged.get_data(as_text=True)
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Submission)) == 0
        assert s.get(Lead, lead_id) is not None  # the lead itself stays in the CRM


def test_erasing_a_person_deletes_the_upload_their_row_came_in(sessions, make_user,
                                                              make_advertiser, upload_csv):
    admin = make_user("admin")
    upload = upload_csv(make_advertiser("Acme"), "name,email\nAda,ada@example.com\n")
    with sessions() as s:
        lead_id, import_id = s.execute(select(Submission.lead_id, Submission.import_id)).one()
    assert import_id == upload.job_id and Path(upload.path).exists()
    with transaction(sessions) as s:
        _, person = privacy.find_person(s, s.merge(admin), "lead", lead_id)
        privacy.erase(s, s.merge(admin), person, [])
    with sessions() as s:
        assert s.get(Upload, upload.id).path == ""
    assert not Path(upload.path).exists()
