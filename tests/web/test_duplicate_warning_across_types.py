"""The create and edit forms warn of a record of the other type (a contact for
a lead, a lead for a contact) holding one of the phones or addresses typed."""

from __future__ import annotations

import html
import re


def test_a_new_lead_is_warned_of_a_contact_with_its_phone_or_address(client, sales,
                                                                     make_contact, make_lead):
    contact = make_contact(sales, first_name="Jo", last_name="Stern", company="Y",
                           emails=["js.main@y.example", "js.second@y.example"],
                           phones=["+4930 1234567"])

    for data in ({"full_name": "J. Stern", "emails": "js.second@y.example"},
                 {"full_name": "Someone", "phones": "+4930 1234567"}):
        response = client.post("/leads/new", data=data)
        assert response.status_code == 200, data
        text = response.get_data(as_text=True)
        assert "This lead may already be a contact (the same phone or address):" in text
        assert f'href="/contacts/{contact.id}">Contact #{contact.id} Jo Stern</a>' in text
        assert 'name="confirm_duplicate" value="1"' in text
    assert "same phone +49 30 1234567" in html.unescape(text)

    created = client.post("/leads/new", data={"full_name": "Someone", "phones": "+4930 1234567",
                                               "confirm_duplicate": "1"})
    assert created.status_code == 303
    # An edit warns only of what it adds: the lead has this phone already.
    lead_id = int(created.location.rsplit("/", 1)[1])
    version = re.search(r'name="version" value="(\d+)"',
                        client.get(f"/leads/{lead_id}/edit").get_data(as_text=True))[1]
    edited = client.post(f"/leads/{lead_id}/edit", data={
        "version": version, "full_name": "Someone", "phones": "+4930 1234567"})
    assert edited.status_code == 303
    # Nor does a name alone tell across types.
    response = client.post("/leads/new", data={"full_name": "Jo Stern", "company": "Y"})
    assert response.status_code == 303
    make_lead(sales, full_name="Lee", phones=["+4930 7654321"])
    response = client.post("/contacts/new", data={"last_name": "Lee", "phones": "+4930 7654321",
                                                  "lifecycle_stage": "lead"})
    assert response.status_code == 200
    assert "This contact may already be a lead" in response.get_data(as_text=True)


def test_a_sales_user_learns_only_how_many_of_others_records(client, sales, make_user,
                                                            make_contact):
    theirs = make_contact(make_user("sales"), first_name="Jo", last_name="Secret",
                          company="Hidden Co", emails=["main@z.example", "second@z.example"],
                          phones=["+4930 5550000"])
    response = client.post("/leads/new", data={"full_name": "New", "emails": "second@z.example",
                                               "phones": "+4930 5550000"})
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert "A contact that another user owns has the same phone or address" in text
    assert "Secret" not in text and "Hidden Co" not in text and "main@z.example" not in text
    assert f"/contacts/{theirs.id}" not in text
