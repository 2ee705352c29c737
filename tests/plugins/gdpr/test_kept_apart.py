"""QA: a merged-away contact restored and edited into someone else was
anonymized with its survivor. Restoring alone keeps the merge (the copy still
holds the person's data), the confirmation page names every record that goes
with the survivor, and saying the two are different people ("not
duplicates") forgets the merge between them."""

from __future__ import annotations

import pytest
from crmcore_plugins.gdpr.models import GdprMerge
from sqlalchemy import select

from crmcore.models import Contact, Lead
from tests.plugins.gdpr.test_anonymize import anonymize
from tests.plugins.gdpr.test_merged import merge, new_contact, new_lead

pytestmark = pytest.mark.plugins("gdpr", "alpha")


@pytest.fixture
def api(api_client, admin):
    return api_client(admin)


def restore(api, record_type: str, record_id: int) -> None:
    response = api.post(f"/api/v1/recycle-bin/{record_type}/{record_id}/restore")
    assert response.status_code == 200, response.get_json()


def keep_apart(api, plural: str, *ids: int) -> None:
    response = api.post(f"/api/v1/{plural}/duplicates/distinct", json={"ids": list(ids)})
    assert response.status_code == 200, response.get_json()


def links(tx, record_type: str) -> set[tuple[int, int]]:
    with tx() as s:
        return set(s.execute(select(GdprMerge.merged_id, GdprMerge.survivor_id).where(
            GdprMerge.record_type == record_type)).all())


def test_a_restored_copy_marked_not_a_duplicate_is_not_anonymized(tx, api, admin_client):
    survivor = new_contact(api, "Quirinus", "Pools", "q.pools@kappa.example")
    other = new_contact(api, "Quirin", "Pools", "quirin@kappa.example")
    merge(api, "contacts", survivor, other)
    restore(api, "contact", other)
    with tx() as s:
        version = s.get(Contact, other).version
    edited = api.patch(f"/api/v1/contacts/{other}",
                       json={"emails": ["pools.quirinus@kappa.example"], "city": "Different Town"},
                       headers={"If-Match": f'"{version}"'})
    assert edited.status_code == 200, edited.get_json()

    # Restored alone, it is still taken for the same person, and named as such.
    page = admin_client.get(f"/gdpr/contacts/{survivor}/anonymize").get_data(as_text=True)
    assert f"#{other} “Quirin Pools” — <strong>restored from the recycle bin</strong>" in page
    assert "Not the same person" in page

    keep_apart(api, "contacts", survivor, other)
    assert links(tx, "contact") == set()
    page = admin_client.get(f"/gdpr/contacts/{survivor}/anonymize").get_data(as_text=True)
    assert "merged into this one" not in page
    text = anonymize(admin_client, "contact", survivor).get_data(as_text=True)
    assert "merged into it" not in text
    with tx() as s:
        kept = s.get(Contact, other)
        assert (kept.first_name, kept.emails, kept.anonymized_at) == (
            "Quirin", ["pools.quirinus@kappa.example"], None)


def test_the_confirmation_pages_button_keeps_the_two_apart(tx, api, admin_client):
    survivor = new_lead(api, "Ida Button", "ida-b@ex.com")
    other = new_lead(api, "Ida Button", "ida-a@ex.com")
    merge(api, "leads", survivor, other)
    restore(api, "lead", other)
    page = admin_client.get(f"/gdpr/leads/{survivor}/anonymize").get_data(as_text=True)
    assert f'value="{survivor},{other}"' in page
    response = admin_client.post("/leads/duplicates/distinct",
                                 data={"ids": f"{survivor},{other}", "record": str(survivor)})
    assert response.status_code == 303
    assert links(tx, "lead") == set()


def test_keeping_apart_cuts_the_merged_ones_link_and_what_hangs_on_it(tx, api):
    """A chain C → B → A (C merged into B, B into A): keeping B and A apart
    detaches B with C, which was merged into B; keeping C and A apart (no
    direct link) detaches C alone."""
    a = new_lead(api, "Chain Person", "chain-a@ex.com")
    b = new_lead(api, "Chain Person", "chain-b@ex.com")
    c = new_lead(api, "Chain Person", "chain-c@ex.com")
    merge(api, "leads", b, c)
    merge(api, "leads", a, b)
    restore(api, "lead", b)
    restore(api, "lead", c)
    assert links(tx, "lead") == {(c, b), (b, a)}

    keep_apart(api, "leads", c, a)
    assert links(tx, "lead") == {(b, a)}

    merge(api, "leads", b, c)
    restore(api, "lead", c)
    keep_apart(api, "leads", a, b)
    assert links(tx, "lead") == {(c, b)}


def test_restoring_alone_keeps_the_link(tx, api):
    survivor = new_lead(api, "Rhea Kept", "rhea-k-b@ex.com")
    other = new_lead(api, "Rhea Kept", "rhea-k-a@ex.com")
    merge(api, "leads", survivor, other)
    restore(api, "lead", other)
    assert links(tx, "lead") == {(other, survivor)}
    with tx() as s:
        assert s.get(Lead, other).deleted_at is None
