"""gdpr_0002 remembers the merges made before it, read from the core's timeline,
and goes down and up again."""

from __future__ import annotations

import pytest
from crmcore_plugins.gdpr.models import GdprMerge
from sqlalchemy import select

from crmcore import alembic_branches
from crmcore.models import Lead
from tests.plugins.gdpr.test_anonymize import anonymize
from tests.plugins.gdpr.test_merged import merge, new_contact, new_lead
from tests.plugins.gdpr.test_settings_audit import test_migration_matches_the_models as matches
from tests.plugins.leadworks.test_migrations import downgrade

pytestmark = pytest.mark.plugins("gdpr", "alpha")


def merges(tx) -> set[tuple[str, int, int]]:
    with tx() as s:
        return {(m.record_type, m.merged_id, m.survivor_id) for m in s.scalars(select(GdprMerge))}


def test_0002_finds_the_merges_made_before_it(app, tx, api_client, admin, admin_client):
    api = api_client(admin)
    first = new_lead(api, "Bo Before", "bo-1@ex.com")
    second = new_lead(api, "Bo Before", "bo-2@ex.com")
    third = new_lead(api, "Bo Before", "bo-3@ex.com")
    merge(api, "leads", second, first)
    merge(api, "leads", third, second)
    # A contact numbered as the survivor, to catch the trap below.
    contacts = [new_contact(api, "Cy", "Before", "cy-0@ex.com")]
    while contacts[-1] < third:
        contacts.append(new_contact(api, "Cy", "Before", f"cy-{len(contacts)}@ex.com"))
    merge(api, "contacts", contacts[1], contacts[0])
    # A merged-away lead restored and converted: its contact's timeline starts
    # with a copy of the lead's, "Merged into #<lead>" included. That is no
    # merge of contacts.
    assert api.post(f"/api/v1/recycle-bin/lead/{second}/restore").status_code == 200
    converted = api.post(f"/api/v1/leads/{second}/convert", json={})
    assert converted.status_code == 201, converted.get_json()
    convert_id = converted.get_json()["id"]
    expected = {("lead", first, second), ("lead", second, third),
                ("contact", contacts[0], contacts[1])}
    assert merges(tx) == expected

    engine = app.extensions["crm"].engine
    [branch] = alembic_branches.branches(app.extensions["crm"].hook, "gdpr")
    downgrade(engine, branch, "gdpr_0001")
    assert alembic_branches.upgrade(engine, branch) == ["gdpr_0002"]
    matches(app)
    assert merges(tx) == expected
    assert ("contact", convert_id, third) not in merges(tx)

    anonymize(admin_client, "lead", third)
    with tx() as s:
        assert all(s.get(Lead, i).anonymized_at for i in (first, second, third))
