"""Hooks through which plugins extend records: score, actions, timeline,
conversion steps, recycle bin and merge."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from crmcore.errors import Conflict, Forbidden, NotFound, ValidationFailed
from crmcore.services import actions, recycle_bin
from crmcore.services import records as svc
from crmcore.services.duplicates import merge_candidates
from crmcore.services.merge import merge
from crmcore.services.records import CONTACTS, LEADS
from crmcore.services.timeline import full_timeline
from tests.fake_plugins import _descriptors
from tests.fake_plugins.alpha import hooks as alpha

pytestmark = pytest.mark.plugins("alpha")


@pytest.fixture
def crm_extra_plugins():
    return {"alpha": _descriptors()["alpha"]}


@pytest.fixture
def admin(make_user):
    return make_user("admin")


def test_hook_crm_lead_score_parts_sums_every_plugin(tx, admin):
    with tx() as s:
        plain = svc.create(s, admin, LEADS, {"full_name": "Plain"})
        rich = svc.create(s, admin, LEADS, {"full_name": "Rich", "emails": ["r@example.com"],
                                             "phones": ["+12025550100"], "company": "Co",
                                             "alpha_campaign": "x"})
        assert (plain.score, rich.score) == (0, 10 + 10 + 5 + 7)
        svc.update(s, admin, LEADS, plain, {"company": "Now"})
        assert plain.score == 5
        page = svc.list_records(s, admin, LEADS, sort="-score")
        assert [r.full_name for r in page.items] == ["Rich", "Plain"]


def test_hook_crm_record_actions_drops_what_the_user_may_not_use(tx, admin, make_user):
    sales = make_user("sales")
    with tx() as s:
        lead = svc.create(s, sales, LEADS, {"full_name": "A"})
        assert [a.label for a in actions.record_actions(s, admin, "lead", lead)] == [
            "Alpha action", "Alpha secret"]
        assert [a.label for a in actions.record_actions(s, sales, "lead", lead)] == [
            "Alpha action"]


def test_hook_crm_timeline_items_merge_with_core_entries(tx, admin):
    with tx() as s:
        lead = svc.create(s, admin, LEADS, {"full_name": "T"})
        s.add(alpha.AlphaItem(label="one", lead_id=lead.id))
        svc.comment(s, admin, LEADS, lead, "hello")
    with tx() as s:
        rows = full_timeline(s, LEADS, lead)
        assert [(r.kind, r.source) for r in rows] == [
            ("comment", "core"), ("created", "core"), ("alpha", "plugin")]
        assert rows[0].actor == admin.name and rows[-1].body == "alpha item one"


def test_hook_crm_conversion_steps_are_offered_after_conversion(tx, admin):
    with tx() as s:
        lead = svc.create(s, admin, LEADS, {"full_name": "C"})
        contact = svc.convert_lead(s, admin, lead)
        steps = actions.conversion_steps(s, admin, lead, contact.id)
        assert [(a.label, a.method) for a in steps] == [("Make an alpha quote", "POST")]


def test_hook_crm_recycle_bin_types_lists_restores_and_purges_plugin_records(
        tx, admin, make_user):
    sales = make_user("sales")
    with tx() as s:
        s.add(alpha.AlphaItem(label="gone", deleted_at=datetime.now(UTC)))
        lead = svc.create(s, admin, LEADS, {"full_name": "Binned"})
        svc.soft_delete(s, admin, LEADS, [lead.id])
    with tx() as s:
        listing = recycle_bin.list_bin(s, admin)
        assert [r.label for r in listing["alpha_item"][1]] == ["gone"]
        assert [r.label for r in listing["lead"][1]] == ["Binned"]
        item_id = listing["alpha_item"][1][0].id
        assert recycle_bin.restore(s, admin, "alpha_item", [item_id]) == 1
        with pytest.raises(NotFound):
            recycle_bin.restore(s, admin, "alpha_item", [item_id])
        with pytest.raises(NotFound):
            recycle_bin.restore(s, admin, "nonsense", [1])
    with tx() as s, pytest.raises(Forbidden):
        recycle_bin.purge(s, sales, "lead", [lead.id])
    with tx() as s:
        assert recycle_bin.purge(s, admin, "lead", [lead.id]) == 1
    with tx() as s:
        assert recycle_bin.list_bin(s, admin)["lead"][1] == []


def test_hook_crm_leads_merged_moves_everything_to_the_survivor(tx, admin):
    with tx() as s:
        keep = svc.create(s, admin, LEADS, {"full_name": "Ada L", "emails": ["ada@example.com"],
                                             "tags": ["a"], "company": ""})
        dup = svc.create(s, admin, LEADS, {"full_name": "Ada Lovelace",
                                            "emails": ["ada2@example.com"],
                                            "phones": ["+12025550111"], "tags": ["b"],
                                            "company": "Analytical", "alpha_campaign": "z"})
        svc.comment(s, admin, LEADS, dup, "from the duplicate")
        s.add(alpha.AlphaItem(label="dup's", lead_id=dup.id))
    alpha.calls.clear()
    with tx() as s:
        survivor = merge(s, admin, LEADS, keep.id, [dup.id],
                         {"full_name": dup.id, "company": dup.id})
        assert survivor.full_name == "Ada Lovelace" and survivor.company == "Analytical"
        assert survivor.emails == ["ada@example.com", "ada2@example.com"]
        assert survivor.phones == ["+12025550111"] and survivor.tags == ["a", "b"]
        assert survivor.plugin_data == {"alpha_campaign": "z"}
    assert ("crm_leads_merged", (keep.id, [dup.id])) in alpha.calls
    with tx() as s:
        kinds = [r.body for r in full_timeline(s, LEADS, svc.get(s, admin, LEADS, keep.id))]
        assert "from the duplicate" in kinds and "alpha item dup's" in kinds
        with pytest.raises(NotFound):
            svc.get(s, admin, LEADS, dup.id)
        # the duplicate's address is free again only for the duplicate itself
        with pytest.raises(Conflict):
            svc.create(s, admin, CONTACTS, {"last_name": "X", "emails": ["ada@example.com"]})
    with tx() as s:
        assert recycle_bin.restore(s, admin, "lead", [dup.id]) == 1
        assert svc.get(s, admin, LEADS, dup.id).email_key == "ada2@example.com"


def test_hook_crm_contacts_merged_and_its_refusals(tx, admin, make_user):
    one, other = make_user("sales"), make_user("sales")
    with tx() as s:
        a = svc.create(s, one, CONTACTS, {"last_name": "Same", "company": "Co",
                                           "phones": ["+12025550123"]})
        b = svc.create(s, one, CONTACTS, {"last_name": "Same", "company": "Co"})
        theirs = svc.create(s, other, CONTACTS, {"last_name": "Same", "company": "Co"})
        assert {c.record.id for c in merge_candidates(s, one, CONTACTS, a)} == {b.id}
    with tx() as s, pytest.raises(NotFound):
        merge(s, one, CONTACTS, a.id, [theirs.id])
    with tx() as s, pytest.raises(ValidationFailed) as err:
        merge(s, one, CONTACTS, a.id, [b.id], {"password": a.id, "city": 999})
    assert set(err.value.errors) == {"password", "city"}
    with tx() as s, pytest.raises(ValidationFailed):
        merge(s, one, CONTACTS, a.id, [a.id])
    with tx() as s:
        merge(s, one, CONTACTS, a.id, [b.id])
    assert ("crm_contacts_merged", (a.id, [b.id])) in alpha.calls
