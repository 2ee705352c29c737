"""An address held by a record in the recycle bin: the refusal says where it
is, to whom may see that record, and nothing about another's record."""

from __future__ import annotations

import re
from typing import Any

from crmcore.db import transaction
from crmcore.services import merge as merge_svc
from crmcore.services import records as svc


def bin_lead(app: Any, owner: Any, lead_id: int) -> None:
    with transaction(app.extensions["crm"].sessions) as session:
        svc.soft_delete(session, session.merge(owner), svc.LEADS, [lead_id])


def test_own_binned_lead_is_named_in_the_form_and_the_api(app, client, sales, make_lead,
                                                          api_client):
    lead = make_lead(sales, emails=["binned@b.example"])
    bin_lead(app, sales, lead.id)
    expected = (f"The email binned@b.example belongs to lead #{lead.id} in the recycle bin: "
                "restore it, or ask an administrator to purge it from the bin first.")
    form = client.post("/leads/new", data={"full_name": "Again", "emails": "binned@b.example"})
    assert form.status_code == 409
    assert expected in form.get_data(as_text=True)
    api = api_client(sales).post("/api/v1/leads", json={"full_name": "Again",
                                                        "emails": ["binned@b.example"]})
    assert api.status_code == 409
    assert api.get_json()["detail"] == expected


def test_an_admin_is_told_to_purge_it(app, make_user, make_lead, api_client):
    admin = make_user("admin")
    lead = make_lead(make_user("sales"), emails=["binned@b.example"])
    bin_lead(app, admin, lead.id)
    response = api_client(admin).post("/api/v1/contacts", json={
        "last_name": "Again", "emails": ["binned@b.example"]})
    assert response.status_code == 409
    assert response.get_json()["detail"] == (
        f"The email binned@b.example belongs to lead #{lead.id} in the recycle bin: "
        "restore it, or purge it from the bin first.")


def test_another_users_record_is_not_described_binned_or_not(app, client, sales, make_user,
                                                              make_lead):
    other = make_user("sales")
    live = make_lead(other, emails=["live@b.example"])
    binned = make_lead(other, emails=["binned@b.example"])
    bin_lead(app, other, binned.id)
    pages = [client.post("/leads/new", data={"full_name": "Copy", "emails": email})
             for email in ("live@b.example", "binned@b.example")]
    assert [page.status_code for page in pages] == [409, 409]
    alerts = [re.findall(r'<p class="alert" role="alert">(.*?)</p>', page.get_data(as_text=True))
              for page in pages]
    assert alerts == [[f"The email {email} already belongs to another lead or contact: one "
                       "you may not see, or one in the recycle bin. Ask someone who sees all "
                       "records."] for email in ("live@b.example", "binned@b.example")]
    assert f"#{live.id}" not in pages[0].get_data(as_text=True)
    assert f"#{binned.id}" not in pages[1].get_data(as_text=True)


def test_an_edit_taking_a_binned_records_address_is_told_so_too(app, client, sales,
                                                                make_lead):
    binned = make_lead(sales, full_name="Old", emails=["binned@b.example"])
    bin_lead(app, sales, binned.id)
    lead = make_lead(sales, full_name="New")
    response = client.post(f"/leads/{lead.id}/edit", data={
        "version": "1", "full_name": "New", "emails": "binned@b.example"})
    assert response.status_code == 409
    assert f"belongs to lead #{binned.id} in the recycle bin" in response.get_data(as_text=True)


def test_a_restore_refused_names_the_holder_only_to_whom_may_see_it(app, client, sales,
                                                                    make_user, make_lead):
    other = make_user("sales")
    theirs = make_lead(other, full_name="Theirs", emails=["t@b.example"])
    mine = make_lead(sales, full_name="Mine", emails=["m@b.example"])
    with transaction(app.extensions["crm"].sessions) as session:
        merge_svc.merge(session, None, svc.LEADS, theirs.id, [mine.id],
                        choices={"emails": mine.id})
    refused = client.post(f"/recycle-bin/lead/{mine.id}/restore")
    assert refused.status_code == 409
    page = refused.get_data(as_text=True)
    assert (f"The lead #{mine.id} cannot come back: its email m@b.example belongs to another "
            "lead or contact now") in page
    assert f"#{theirs.id}" not in page
