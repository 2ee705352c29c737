"""Plugin record actions, timeline items, conversion steps and recycle-bin types in
the web UI, through the alpha test plugin."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from tests.fake_plugins import _descriptors
from tests.fake_plugins.alpha.hooks import AlphaItem

pytestmark = pytest.mark.plugins("alpha")


@pytest.fixture
def crm_extra_plugins():
    return {"alpha": _descriptors()["alpha"]}


def test_record_page_shows_actions_the_user_may_use(client, make_user, login, make_lead):
    sales = make_user("sales")
    login(client, sales)
    lead = make_lead(sales, full_name="Action Lead")
    text = client.get(f"/leads/{lead.id}").get_data(as_text=True)
    assert f'href="/alpha/ping?record_id={lead.id}">Alpha action</a>' in text
    assert "Alpha secret" not in text  # needs alpha.use, which sales lacks


def test_an_action_whose_url_does_not_build_is_skipped(client, make_user, login, make_lead,
                                                      monkeypatch):
    from crmcore import Action
    from crmcore.web import records

    monkeypatch.setattr(records.action_svc, "record_actions", lambda *a: [
        Action("Broken", "nowhere.at_all"), Action("Works", "alpha.ping", method="POST")])
    sales = make_user("sales")
    login(client, sales)
    lead = make_lead(sales)
    response = client.get(f"/leads/{lead.id}")
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert "Broken" not in text
    assert f'<form method="post" action="/alpha/ping?record_id={lead.id}"' in text


def test_admin_sees_the_permissioned_action(client, make_user, login, make_lead,
                                             make_contact):
    admin = make_user("admin")
    login(client, admin)
    lead = make_lead(admin)
    contact = make_contact(admin)
    for url in (f"/leads/{lead.id}", f"/contacts/{contact.id}"):
        text = client.get(url).get_data(as_text=True)
        assert "Alpha action" in text and "Alpha secret" in text, url


def test_plugin_timeline_items_join_the_core_ones(client, make_user, login, make_lead,
                                                  db_session):
    sales = make_user("sales", name="Sam Seller")
    login(client, sales)
    lead = make_lead(sales, full_name="Timeline Lead")
    db_session.add(AlphaItem(label="quote-7", lead_id=lead.id))
    db_session.commit()
    client.post(f"/leads/{lead.id}/comment", data={"body": "Core comment"})
    text = client.get(f"/leads/{lead.id}").get_data(as_text=True)
    timeline = text.split('<ol class="timeline">')[1]
    assert "alpha item quote-7" in timeline and "entry-plugin" in timeline
    # newest first: the comment, "created", then the plugin's item from 2000
    assert timeline.index("Core comment") < timeline.index("created") \
        < timeline.index("alpha item quote-7")
    assert "<strong>Sam Seller</strong>" in timeline


def test_conversion_steps_after_converting(client, make_user, login, make_lead):
    sales = make_user("sales")
    login(client, sales)
    lead = make_lead(sales, full_name="Conv Lead")
    response = client.post(f"/leads/{lead.id}/convert", data={"lifecycle_stage": "prospect"})
    assert response.status_code == 303
    contact_id = int(response.location.rsplit("/", 1)[1])
    text = client.get(response.location).get_data(as_text=True)
    assert "Next steps" in text
    assert f'action="/alpha/ping?record_id={contact_id}"' in text
    assert "Make an alpha quote" in text
    # shown once, right after converting
    assert "Make an alpha quote" not in client.get(response.location).get_data(as_text=True)


def test_recycle_bin_lists_and_restores_plugin_records(client, make_user, login, db_session):
    login(client, make_user("admin"))
    item = AlphaItem(label="binned-alpha", deleted_at=datetime(2024, 5, 1, tzinfo=UTC))
    db_session.add(item)
    db_session.commit()
    text = client.get("/recycle-bin").get_data(as_text=True)
    for label in ("Leads", "Contacts", "Alpha items"):
        assert f"<h2>{label}</h2>" in text
    assert "binned-alpha" in text
    assert client.post(f"/recycle-bin/alpha_item/{item.id}/restore").status_code == 303
    db_session.expire_all()
    assert db_session.get(AlphaItem, item.id).deleted_at is None
    assert "binned-alpha" not in client.get("/recycle-bin").get_data(as_text=True)
    # restoring it again: nothing in the bin
    assert client.post(f"/recycle-bin/alpha_item/{item.id}/restore").status_code == 404


def test_purging_plugin_records_needs_the_permission(client, make_user, login, db_session):
    item = AlphaItem(label="purge-me", deleted_at=datetime(2024, 5, 1, tzinfo=UTC))
    db_session.add(item)
    db_session.commit()
    item_id = item.id
    login(client, make_user("sales"))
    assert client.post(f"/recycle-bin/alpha_item/{item_id}/purge").status_code == 403
    login(client, make_user("admin"))
    assert client.post(f"/recycle-bin/alpha_item/{item_id}/purge").status_code == 303
    db_session.rollback()  # a fresh snapshot
    assert db_session.scalar(select(AlphaItem).where(AlphaItem.id == item_id)) is None
