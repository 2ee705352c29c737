"""The contact age view: order, filters, paging, bulk touch and bulk anonymize."""

from __future__ import annotations

import base64
import re

import pytest
from crmcore_plugins.gdpr.models import GdprAudit
from crmcore_plugins.gdpr.services.age import age_page
from crmcore_plugins.gdpr.services.anonymize import anonymize
from sqlalchemy import select

from crmcore.errors import Forbidden, ValidationFailed
from crmcore.models import Lead, LeadStage
from crmcore.services import records as svc
from tests.plugins.gdpr.conftest import age, make_contact, make_person

pytestmark = pytest.mark.plugins("gdpr")


def refs(response):
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    return re.findall(r'data-ref="([a-z]+:\d+)"', response.get_data(as_text=True))


@pytest.fixture
def aged(tx, admin, make_user):
    """lead a (300 days, owned by a sales user, won), contact b (200 days),
    lead c (40 days), contact d (today), and an anonymized lead (900 days)."""
    sales = make_user("sales", name="Sam Sales")
    a = make_person(tx, admin, name="Alice A", email="a@example.com", phone="+12025550101",
                    with_alpha=False)
    c = make_person(tx, admin, name="Carol C", email="c@example.com", phone="+12025550103",
                    with_alpha=False)
    gone = make_person(tx, admin, name="Gone G", email="g@example.com", phone="+12025550109",
                       with_alpha=False)
    b = make_contact(tx, admin, "Bob", "B", "b@example.com")
    d = make_contact(tx, admin, "Dan", "D", "d@example.com")
    with tx() as s:
        won = s.scalar(select(LeadStage.id).where(LeadStage.kind == "won"))
        svc.update(s, admin, svc.LEADS, s.get(Lead, a), {"owner_id": sales.id, "stage_id": won})
        anonymize(s, admin, "lead", gone)
    for record_type, record_id, days in (("lead", a, 300), ("contact", b, 200),
                                         ("lead", c, 40), ("lead", gone, 900)):
        age(tx, record_type, record_id, days)
    return {"a": f"lead:{a}", "b": f"contact:{b}", "c": f"lead:{c}", "d": f"contact:{d}",
            "sales": sales, "won": won}


def test_least_recently_touched_first_without_anonymized_records(admin_client, aged):
    assert refs(admin_client.get("/gdpr/")) == [aged[k] for k in "abcd"]


def test_filters(admin_client, aged):
    def ids(**query):
        return refs(admin_client.get("/gdpr/", query_string=query))

    assert ids(older_than=6) == [aged["a"], aged["b"]]
    assert ids(older_than=1) == [aged[k] for k in "abc"]
    assert ids(record_type="contact") == [aged["b"], aged["d"]]
    assert ids(owner_id=aged["sales"].id) == [aged["a"]]
    assert ids(stage_id=aged["won"]) == [aged["a"]]
    assert ids(stage_id=aged["won"], record_type="contact") == []
    bad = admin_client.get("/gdpr/", query_string={"older_than": "soon"})
    assert bad.status_code == 422 and "Not a valid integer." in bad.get_data(as_text=True)
    # Beyond PostgreSQL's INTEGER: a 400 page there, an empty list on SQLite.
    bad = admin_client.get("/gdpr/", query_string={"owner_id": "3000000000"})
    assert bad.status_code == 422 and "less than or equal to 2147483647" in bad.get_data(
        as_text=True)


def test_keyset_pages(tx, admin, aged):
    with tx() as s:
        first = age_page(s, admin, {}, limit=3)
        assert [r.ref for r in first.rows] == [aged[k] for k in "abc"]
        second = age_page(s, admin, {"cursor": first.next_cursor}, limit=3)
        assert [r.ref for r in second.rows] == [aged["d"]] and second.next_cursor is None
        # Garbage; a time UTC cannot hold (was a 500); an id beyond 64 bits.
        for raw in ("garbage", "9999-12-31T23:59:59-14:00|lead|1",
                    f"2026-01-01T00:00:00+00:00|lead|{2**70}"):
            cursor = base64.urlsafe_b64encode(raw.encode()).decode()
            with pytest.raises(ValidationFailed):
                age_page(s, admin, {"cursor": cursor})


def test_sales_users_with_the_permission_see_only_their_records(tx, app, aged):
    with tx() as s:
        sales = s.merge(aged["sales"])
        with pytest.raises(Forbidden):
            age_page(s, sales, {})
    registry = app.extensions["crm"].roles
    registry.grants["sales"] = registry.grants["sales"] | {"gdpr.manage"}
    with tx() as s:
        assert [r.ref for r in age_page(s, s.merge(aged["sales"]), {}).rows] == [
            aged["a"]]


def test_bulk_touch_resets_the_age_and_is_recorded(tx, admin, admin_client, aged):
    response = admin_client.post("/gdpr/bulk", data={"action": "touch",
                                                      "ids": [aged["a"], aged["b"]]},
                                 follow_redirects=True)
    assert "2 records touched" in response.get_data(as_text=True)
    assert refs(admin_client.get("/gdpr/")) == [aged[k] for k in "cdab"]
    with tx() as s:
        rows = list(s.scalars(select(GdprAudit).order_by(GdprAudit.id)))
        assert [(r.action, f"{r.record_type}:{r.record_id}", r.actor_id) for r in rows[-2:]] == [
            ("touch", aged["a"], admin.id), ("touch", aged["b"], admin.id)]
    timeline = admin_client.get(f"/leads/{aged['a'].split(':')[1]}").get_data(as_text=True)
    assert "touched" in timeline


def test_bulk_anonymize_asks_first_then_does_all(tx, admin_client, aged):
    chosen = [aged["a"], aged["b"]]
    confirm = admin_client.post("/gdpr/bulk", data={"action": "anonymize", "ids": chosen})
    text = confirm.get_data(as_text=True)
    assert confirm.status_code == 200 and "This cannot be undone." in text
    assert "Alice A" in text and "Bob B" in text
    assert refs(admin_client.get("/gdpr/")) == [aged[k] for k in "abcd"]  # nothing yet

    done = admin_client.post("/gdpr/bulk", data={"action": "anonymize", "ids": chosen,
                                                 "confirm": "1"}, follow_redirects=True)
    assert "2 records anonymized." in done.get_data(as_text=True)
    assert refs(admin_client.get("/gdpr/")) == [aged["c"], aged["d"]]


def test_bulk_input_errors_are_clear(admin_client, aged):
    for data, message in (({"action": "touch"}, "Select at least one record"),
                          ({"ids": [aged["a"]]}, "Choose an action."),
                          ({"action": "touch", "ids": ["invoice:1"]}, "Not a lead or contact."),
                          ({"action": "touch", "ids": ["lead:²"]}, "Not a lead or contact."),
                          # Beyond what int() reads (was a 500), and beyond 64 bits.
                          ({"action": "touch", "ids": ["lead:" + "9" * 5000]},
                           "Not a lead or contact."),
                          ({"action": "touch", "ids": [f"lead:{2**70}"]},
                           "Not a lead or contact.")):
        response = admin_client.post("/gdpr/bulk", data=data, follow_redirects=True)
        assert response.status_code == 200 and message in response.get_data(as_text=True)
