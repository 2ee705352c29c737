"""``crm_*_kept_apart``: plugins hear of every pair a user says are different
people, inside the transaction, also a pair kept apart already."""

from __future__ import annotations

import pytest

from crmcore.services import records as svc
from crmcore.services.duplicates import mark_distinct
from crmcore.services.records import CONTACTS, LEADS
from tests.fake_plugins import _descriptors
from tests.fake_plugins.alpha import hooks as alpha

pytestmark = pytest.mark.plugins("alpha")


@pytest.fixture
def crm_extra_plugins():
    return {"alpha": _descriptors()["alpha"]}


def test_hook_crm_leads_kept_apart_and_crm_contacts_kept_apart(tx, make_user):
    admin = make_user("admin")
    with tx() as s:
        leads = [svc.create(s, admin, LEADS, {"full_name": "Kept Apart"}).id for _ in range(3)]
        contacts = [svc.create(s, admin, CONTACTS, {"last_name": "Apart"}).id for _ in range(2)]
    alpha.calls.clear()
    with tx() as s:
        assert mark_distinct(s, admin, LEADS, list(reversed(leads))) == 3
        mark_distinct(s, admin, CONTACTS, contacts)
    low, middle, high = leads
    assert ("crm_leads_kept_apart", [(low, middle), (low, high), (middle, high)]) in alpha.calls
    assert ("crm_contacts_kept_apart", [tuple(contacts)]) in alpha.calls

    alpha.calls.clear()
    with tx() as s:
        assert mark_distinct(s, admin, LEADS, [low, high]) == 0
    assert ("crm_leads_kept_apart", [(low, high)]) in alpha.calls
