"""Lead and contact services: ownership, duplicates, events, timeline, bin, conversion."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from crmcore.db import transaction
from crmcore.errors import Conflict, Forbidden, NotFound, ValidationFailed, Vetoed
from crmcore.models import Lead
from crmcore.services import records as svc
from crmcore.services.records import CONTACTS, LEADS
from tests.fake_plugins import _descriptors
from tests.fake_plugins.alpha import hooks as alpha


@pytest.fixture
def crm_extra_plugins():
    return {"alpha": _descriptors()["alpha"]}


@pytest.fixture(autouse=True)
def clear_calls():
    alpha.calls.clear()


def tx(app):
    return transaction(app.extensions["crm"].sessions)


def events(name):
    return [payload for hook, payload in alpha.calls if hook == name]


@pytest.mark.plugins("alpha")
def test_hook_crm_leads_created_runs_in_transaction_and_after_commit(app, make_user):
    sales = make_user("sales")
    with tx(app) as s:
        lead = svc.create(s, sales, LEADS, {"full_name": "Ada Lovelace",
                                             "emails": [" Ada@Example.COM "],
                                             "phones": ["+1 202 555 0143"],
                                             "alpha_campaign": "spring"})
        assert events("crm_leads_created") == [[lead.id]]
        assert not [c for c in alpha.calls if c[0] == "crm_after_commit" and
                    "crm_leads_created" in c[1]]
    assert ("crm_after_commit", ["crm_leads_created"]) in alpha.calls
    assert lead.emails == ["ada@example.com"] and lead.phones == ["+12025550143"]
    assert lead.owner_id == sales.id and lead.plugin_data == {"alpha_campaign": "spring"}


@pytest.mark.plugins("alpha")
def test_a_veto_rolls_everything_back_and_replays_nothing(app, make_user):
    admin = make_user("admin")
    app.config["ALPHA_VETO"] = True
    with app.app_context(), pytest.raises(Vetoed), tx(app) as s:
        svc.create(s, admin, LEADS, {"full_name": "Nobody", "emails": ["no@example.com"]})
    with tx(app) as s:
        assert svc.list_records(s, admin, LEADS).items == []
        # the key email was released with the rollback
    app.config["ALPHA_VETO"] = False
    with app.app_context(), tx(app) as s:
        svc.create(s, admin, LEADS, {"full_name": "Somebody", "emails": ["no@example.com"]})
    assert not any(c[0] == "crm_after_commit" and "crm_leads_created" in c[1]
                   for c in alpha.calls[:1])


@pytest.mark.plugins("alpha")
def test_key_email_is_unique_across_leads_and_contacts_ignoring_case(app, make_user):
    admin = make_user("admin")
    with tx(app) as s:
        svc.create(s, admin, LEADS, {"full_name": "One", "emails": ["dup@example.com"]})
    with pytest.raises(Conflict, match="already belongs"), tx(app) as s:
        svc.create(s, admin, CONTACTS, {"last_name": "Two", "emails": ["  DUP@example.com"]})
    with pytest.raises(Conflict), tx(app) as s:
        svc.create(s, admin, LEADS, {"full_name": "Three", "emails": ["Dup@Example.com"]})


@pytest.mark.plugins("alpha")
def test_sales_see_only_their_own_and_may_not_set_owner(app, make_user):
    one, two, manager = make_user("sales"), make_user("sales"), make_user("manager")
    with tx(app) as s:
        lead = svc.create(s, one, LEADS, {"full_name": "Mine"})
    with tx(app) as s:
        with pytest.raises(NotFound):
            svc.get(s, two, LEADS, lead.id)
        assert svc.list_records(s, two, LEADS).items == []
        assert [r.id for r in svc.list_records(s, manager, LEADS).items] == [lead.id]
    with pytest.raises(ValidationFailed) as err, tx(app) as s:
        svc.create(s, one, LEADS, {"full_name": "X", "owner_id": two.id})
    assert err.value.errors == {"owner_id": ["You may not set the owner."]}
    with tx(app) as s:
        svc.update(s, manager, LEADS, svc.get(s, manager, LEADS, lead.id), {"owner_id": two.id})
    with tx(app) as s:
        assert svc.get(s, two, LEADS, lead.id).owner_id == two.id


@pytest.mark.plugins("alpha")
def test_hook_crm_leads_updated_and_crm_leads_stage_changed_with_timeline(app, make_user):
    admin = make_user("admin")
    with tx(app) as s:
        lead = svc.create(s, admin, LEADS, {"full_name": "Grace", "company": "Navy"})
        old_stage = lead.stage_id
    with tx(app) as s:
        lead = svc.get(s, admin, LEADS, lead.id)
        svc.update(s, admin, LEADS, lead, {"company": "Yale", "stage_id": old_stage + 1},
                   expected_version=lead.version)
    assert events("crm_leads_updated") == [{lead.id: {"company": ("Navy", "Yale"),
                                                      "stage_id": (old_stage, old_stage + 1)}}]
    assert events("crm_leads_stage_changed") == [[(lead.id, old_stage, old_stage + 1)]]
    with tx(app) as s:
        entries = svc.timeline(s, LEADS, lead)
        assert [e.kind for e in entries] == ["changed", "created"]
        assert entries[0].changes["company"] == ["Navy", "Yale"]
        assert entries[0].actor_id == admin.id


@pytest.mark.plugins("alpha")
def test_stale_version_is_refused(app, make_user):
    admin = make_user("admin")
    with tx(app) as s:
        lead = svc.create(s, admin, LEADS, {"full_name": "Stale"})
    with tx(app) as s:
        svc.update(s, admin, LEADS, svc.get(s, admin, LEADS, lead.id), {"company": "A"},
                   expected_version=1)
    with pytest.raises(Conflict, match="changed since you read it"), tx(app) as s:
        svc.update(s, admin, LEADS, svc.get(s, admin, LEADS, lead.id), {"company": "B"},
                   expected_version=1)


@pytest.mark.plugins("alpha")
def test_hook_crm_leads_deleted_and_crm_leads_restored_through_the_bin(app, make_user):
    admin = make_user("admin")
    with tx(app) as s:
        lead = svc.create(s, admin, LEADS, {"full_name": "Binned", "emails": ["b@example.com"]})
    with tx(app) as s:
        assert svc.soft_delete(s, admin, LEADS, [lead.id]) == 1
    assert events("crm_leads_deleted") == [[lead.id]]
    with tx(app) as s:
        assert svc.list_records(s, admin, LEADS).items == []
        assert svc.list_records(s, admin, LEADS, {"q": "binned"}).items == []
        with pytest.raises(NotFound):
            svc.get(s, admin, LEADS, lead.id)
        assert svc.restore(s, admin, LEADS, [lead.id]) == 1
    assert events("crm_leads_restored") == [[lead.id]]
    with tx(app) as s:
        assert svc.get(s, admin, LEADS, lead.id).emails == ["b@example.com"]


@pytest.mark.plugins("alpha")
def test_hook_crm_contacts_created_crm_contacts_updated_crm_contacts_deleted_crm_contacts_restored(
    app, make_user
):
    admin = make_user("admin")
    with tx(app) as s:
        c = svc.create(s, admin, CONTACTS, {"first_name": "Alan", "last_name": "Turing",
                                             "postal_code": "SW1A 1AA", "opt_outs": ["sms"]})
    with tx(app) as s:
        svc.update(s, admin, CONTACTS, svc.get(s, admin, CONTACTS, c.id),
                   {"lifecycle_stage": "customer"})
        svc.soft_delete(s, admin, CONTACTS, [c.id])
        svc.restore(s, admin, CONTACTS, [c.id])
    assert events("crm_contacts_created") == [[c.id]]
    assert events("crm_contacts_updated") == [{c.id: {"lifecycle_stage": ("lead", "customer")}}]
    assert events("crm_contacts_deleted") == [[c.id]]
    assert events("crm_contacts_restored") == [[c.id]]


@pytest.mark.plugins("alpha")
def test_hook_crm_leads_purged_and_crm_contacts_purged_through_the_bin(app, make_user):
    admin = make_user("admin")
    with tx(app) as s:
        lead = svc.create(s, admin, LEADS, {"full_name": "Gone", "emails": ["g@example.com"]})
        svc.comment(s, admin, LEADS, lead, "called")
        converted = svc.create(s, admin, LEADS, {"full_name": "Grace Hopper"})
        contact = svc.convert_lead(s, admin, converted)
    with tx(app) as s:
        svc.soft_delete(s, admin, LEADS, [lead.id])
        svc.soft_delete(s, admin, CONTACTS, [contact.id])
    with tx(app) as s:
        assert svc.purge(s, admin, LEADS, [lead.id, converted.id]) == 1  # the second is live
        assert svc.purge(s, admin, CONTACTS, [contact.id]) == 1
    assert events("crm_leads_purged") == [([lead.id], 1)]
    assert events("crm_contacts_purged") == [[contact.id]]
    with tx(app) as s:
        assert s.get(Lead, lead.id) is None
        assert svc.timeline(s, LEADS, lead) == []
        assert s.get(Lead, converted.id).converted_contact_id is None
        # The address is free again.
        svc.create(s, admin, LEADS, {"full_name": "New", "emails": ["g@example.com"]})


@pytest.mark.plugins("alpha")
def test_hook_crm_lead_converted_keeps_history_and_fields(app, make_user):
    admin = make_user("admin")
    with tx(app) as s:
        lead = svc.create(s, admin, LEADS, {"full_name": "Katherine Johnson",
                                             "emails": ["kj@example.com"], "tags": ["vip"]})
        svc.comment(s, admin, LEADS, lead, "called her")
    with tx(app) as s:
        contact = svc.convert_lead(s, admin, svc.get(s, admin, LEADS, lead.id), "customer")
    assert events("crm_lead_converted") == [(lead.id, contact.id)]
    with tx(app) as s:
        contact = svc.get(s, admin, CONTACTS, contact.id)
        assert (contact.first_name, contact.last_name) == ("Katherine", "Johnson")
        assert contact.emails == ["kj@example.com"] and contact.tags == ["vip"]
        assert contact.lifecycle_stage == "customer"
        assert "comment" in [e.kind for e in svc.timeline(s, CONTACTS, contact)]
        with pytest.raises(Conflict):
            svc.convert_lead(s, admin, svc.get(s, admin, LEADS, lead.id))


@pytest.mark.plugins("alpha")
def test_bulk_update_sends_one_batch_event(app, make_user):
    admin = make_user("admin")
    with tx(app) as s:
        ids = [svc.create(s, admin, LEADS, {"full_name": f"L{i}"}).id for i in range(5)]
    alpha.calls.clear()
    with tx(app) as s:
        assert svc.bulk_update(s, admin, LEADS, ids, {"add_tags": ["hot"]}) == 5
    assert len(events("crm_leads_updated")) == 1 and len(events("crm_leads_updated")[0]) == 5
    with tx(app) as s:
        assert len(svc.list_records(s, admin, LEADS, {"tag": "hot"}).items) == 5
        assert svc.list_records(s, admin, LEADS, {"tag": "cold"}).items == []


@pytest.mark.plugins()
@pytest.mark.parametrize("sort", ["created_at", "-created_at", "full_name", "-full_name",
                                  "score", "-score", "-updated_at"])
def test_keyset_pages_walk_runs_of_equal_values_in_order(app, make_user, sort):
    """Many records share a sort value (an import batch shares its timestamp):
    every page starts right after the cursor, inside a run or past it."""
    admin = make_user("admin")
    moments = [datetime(2026, 1, d, tzinfo=UTC) for d in (1, 2, 3)]
    with tx(app) as s:
        for i in range(23):
            lead = svc.create(s, admin, LEADS, {"full_name": f"Person {i % 3}",
                                                "company": "Acme" if i % 4 else ""})
            lead.created_at = lead.updated_at = moments[i % 3 if i < 20 else 0]
    field = sort.lstrip("-")
    with tx(app) as s:
        everything = s.scalars(select(Lead)).all()
        expected = [lead.id for lead in sorted(everything, key=lambda r: (getattr(r, field), r.id),
                                               reverse=sort.startswith("-"))]
        seen, cursor = [], None
        while True:
            page = svc.list_records(s, admin, LEADS, sort=sort, cursor=cursor, limit=4)
            seen += [r.id for r in page.items]
            cursor = page.next_cursor
            if not cursor:
                break
    assert seen == expected


@pytest.mark.plugins("alpha")
def test_keyset_pages_cover_every_record_once(app, make_user):
    admin = make_user("admin")
    with tx(app) as s:
        for i in range(23):
            svc.create(s, admin, LEADS, {"full_name": f"Person {i:02d}"})
    seen, cursor = [], None
    with tx(app) as s:
        while True:
            page = svc.list_records(s, admin, LEADS, sort="full_name", cursor=cursor, limit=5)
            seen += [r.full_name for r in page.items]
            cursor = page.next_cursor
            if not cursor:
                break
        assert seen == sorted(f"Person {i:02d}" for i in range(23))
        assert [r.full_name for r in
                svc.list_records(s, admin, LEADS, {"q": "person 1"}).items][:1] == ["Person 19"]
        with pytest.raises(ValidationFailed):
            svc.list_records(s, admin, LEADS, {"password": "x"})
        with pytest.raises(ValidationFailed):
            svc.list_records(s, admin, LEADS, sort="password")


@pytest.mark.plugins("alpha")
def test_hook_crm_user_created(app, make_user):
    user = make_user("sales")
    assert events("crm_user_created") == [[user.id]]


@pytest.mark.plugins("alpha")
def test_bad_input_names_each_field(app, make_user):
    admin = make_user("admin")
    with pytest.raises(ValidationFailed) as err, tx(app) as s:
        svc.create(s, admin, LEADS, {"full_name": "", "emails": ["nope"], "phones": ["12"],
                                     "stage_id": 999, "role": "admin", "alpha_campaign": "x" * 20})
    assert set(err.value.errors) >= {"full_name", "emails", "phones", "role", "alpha_campaign"}


@pytest.mark.plugins("alpha")
def test_external_users_see_and_create_no_core_records(app, make_user, api_client):
    admin, partner = make_user("admin"), make_user("alpha_partner")
    with tx(app) as s:
        lead = svc.create(s, admin, LEADS, {"full_name": "Internal only"})
    with tx(app) as s:
        assert svc.list_records(s, partner, LEADS).items == []
        with pytest.raises(NotFound):
            svc.get(s, partner, LEADS, lead.id)
        with pytest.raises(Forbidden):
            svc.create(s, partner, LEADS, {"full_name": "Sneaky"})
    # The API refuses their tokens outright (tests/api/test_features.py).
    api = api_client(partner)
    for response in (api.get("/api/v1/leads"), api.get(f"/api/v1/leads/{lead.id}"),
                     api.post("/api/v1/leads", json={"full_name": "Sneaky"})):
        assert response.status_code == 401
        assert response.headers["Content-Type"] == "application/problem+json"
