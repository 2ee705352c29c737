"""CSV export, the duplicate warning on create forms, and merging records."""

from __future__ import annotations

import csv
import io
import re

import pytest
from sqlalchemy import select

from crmcore.db import transaction, utcnow
from crmcore.models import Contact, Lead, LeadStage
from crmcore.services import custom_fields as custom_svc


def rows_of(response):
    # Closing a streamed response ends its request (and its database session);
    # left to the garbage collector, an open session blocks the next test's schema
    # reset on PostgreSQL.
    try:
        text = response.get_data(as_text=True)
        assert text.startswith("\ufeffid,")  # for spreadsheets: UTF-8, said so
        return list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))
    finally:
        response.close()


# -- export ---------------------------------------------------------------------------------


def test_export_respects_filters_and_ownership(app, client, sales, make_user, make_lead):
    with transaction(app.extensions["crm"].sessions) as session:
        custom_svc.create_field(session, None, {"record_type": "lead", "name": "plan",
                                                "label": "Plan", "field_type": "text"})
    make_lead(sales, full_name="=cmd|' /C calc'!A0", source="fair", custom={"plan": "pro"})
    make_lead(sales, full_name="Web Lead", source="web")
    make_lead(make_user("sales"), full_name="Not Mine", source="fair")
    page = client.get("/leads?source=fair&sort=full_name").get_data(as_text=True)
    link = re.search(r'<a class="button" href="([^"]+)" download>Export CSV</a>', page)
    assert link
    href = link.group(1).replace("&amp;", "&")
    assert href.startswith("/leads/export.csv?") and "source=fair" in href and "mine=1" in href

    response = client.get(href)
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == 'attachment; filename="leads.csv"'
    rows = rows_of(response)
    assert [r["full_name"] for r in rows] == ["'=cmd|' /C calc'!A0"]  # neutralized
    assert rows[0]["custom.plan"] == "pro"

    everything = rows_of(client.get("/leads/export.csv?mine=0"))
    assert sorted(r["full_name"] for r in everything) == ["'=cmd|' /C calc'!A0", "Web Lead"]
    by_custom = rows_of(client.get("/leads/export.csv?custom.plan=pro"))
    assert len(by_custom) == 1
    assert client.get("/leads/export.csv?created_after=yesterday").status_code == 422


def test_export_contacts(client, sales, make_contact, make_user):
    make_contact(sales, last_name="Curie", company="+SUM(A1)")
    make_contact(make_user("sales"), last_name="Hidden")
    page = client.get("/contacts").get_data(as_text=True)
    assert 'href="/contacts/export.csv?mine=1&amp;sort=-created_at"' in page
    response = client.get("/contacts/export.csv?mine=0")
    assert response.headers["Content-Disposition"] == 'attachment; filename="contacts.csv"'
    rows = rows_of(response)
    assert [(r["last_name"], r["company"]) for r in rows] == [("Curie", "'+SUM(A1)")]


# -- duplicates ----------------------------------------------------------------------------


def test_duplicate_warning_then_confirmed_create(client, sales, make_lead, make_user,
                                                 db_session):
    existing = make_lead(sales, full_name="Ada Lovelace", company="Engines",
                         phones=["+1 202 555 0143"])
    make_lead(make_user("sales"), full_name="Ada Lovelace", company="Engines")  # not visible
    # same phone, written differently
    response = client.post("/leads/new", data={"full_name": "A. Lovelace",
                                               "phones": "(202) 555-0143"})
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert "may already exist" in text and f'href="/leads/{existing.id}"' in text
    assert 'name="confirm_duplicate" value="1"' in text
    assert 'value="A. Lovelace"' in text  # the form keeps what was typed
    # same name (any case) and company (any legal form)
    text = client.post("/leads/new", data={"full_name": "ADA LOVELACE",
                                           "company": "Engines"}).get_data(as_text=True)
    assert "may already exist" in text and text.count('href="/leads/') == 1
    text = client.post("/leads/new", data={"full_name": "ada lovelace",
                                           "company": "ENGINES, Ltd."}).get_data(as_text=True)
    assert "may already exist" in text and f'href="/leads/{existing.id}"' in text
    assert db_session.scalar(select(Lead).where(Lead.full_name == "ADA LOVELACE")) is None
    # other company, bad phone: no warning
    response = client.post("/leads/new", data={"full_name": "Ada Lovelace", "company": "Other",
                                               "phones": "12"})
    assert response.status_code == 422 and b"may already exist" not in response.data
    # confirmed: created
    response = client.post("/leads/new", data={"full_name": "ADA LOVELACE",
                                               "company": "Engines", "confirm_duplicate": "1"})
    assert response.status_code == 303
    db_session.rollback()  # a fresh snapshot
    assert db_session.scalar(select(Lead).where(Lead.full_name == "ADA LOVELACE")) is not None


def test_a_taken_email_or_invalid_input_is_refused_before_any_duplicate_warning(
        client, sales, make_lead):
    make_lead(sales, full_name="Ada Lovelace", company="Engines", emails=["ada@engines.org"])
    lead = make_lead(sales, full_name="Ada Byron", company="Engines")
    for url, data in (
            ("/leads/new", {"full_name": "ada lovelace", "company": "Engines",
                            "emails": "ADA@engines.org"}),
            (f"/leads/{lead.id}/edit", {"version": "1", "full_name": "Ada Lovelace",
                                        "company": "Engines", "emails": "ada@engines.org"}),
            ("/contacts/new", {"first_name": "Ada", "last_name": "Lovelace",
                               "company": "Engines", "lifecycle_stage": "lead",
                               "emails": "ada@engines.org"})):
        response = client.post(url, data=data)
        assert response.status_code == 409, url
        text = response.get_data(as_text=True)
        assert "The email ada@engines.org already belongs to another lead or contact." in text
        assert "may already exist" not in text and "may be the same person" not in text
    response = client.post("/leads/new", data={"full_name": "Ada Lovelace",
                                               "company": "Engines", "phones": "12"})
    assert response.status_code == 422 and b"may already exist" not in response.data
    # An email after the first is no key: taken by another, it is only a warning.
    response = client.post("/leads/new", data={"full_name": "ada lovelace", "company": "Engines",
                                               "emails": "new@engines.org, ada@engines.org"})
    assert response.status_code == 200 and b"may already exist" in response.data


def test_duplicate_warning_for_contacts(client, sales, make_contact):
    make_contact(sales, first_name="Marie", last_name="Curie", company="Radium")
    response = client.post("/contacts/new", data={"first_name": "marie", "last_name": "curie",
                                                  "company": "Radium",
                                                  "lifecycle_stage": "lead"})
    assert response.status_code == 200 and b"may already exist" in response.data
    response = client.post("/contacts/new", data={"first_name": "marie", "last_name": "curie",
                                                  "company": "Radium", "lifecycle_stage": "lead",
                                                  "confirm_duplicate": "1"})
    assert response.status_code == 303


# -- merge ---------------------------------------------------------------------------------


def test_merge_two_leads(client, sales, make_lead, db_session):
    stages = {s.name: s.id for s in db_session.scalars(select(LeadStage))}
    keep = make_lead(sales, full_name="Grace Hopper", company="Navy",
                     emails=["grace@example.com"], source="fair", tags=["a"])
    other = make_lead(sales, full_name="Grace Hopper", company="Navy",
                      emails=["g.hopper@example.com"], source="web", tags=["b"],
                      stage_id=stages["Qualified"])
    page = client.get(f"/leads/{keep.id}").get_data(as_text=True)
    assert "Possible duplicates" in page
    assert '<span class="why">similar name and company</span>' in page
    assert f'href="/leads/{keep.id}/merge/{other.id}">Merge…</a>' in page

    form = client.get(f"/leads/{keep.id}/merge/{other.id}").get_data(as_text=True)
    assert f'name="source" value="{keep.id}" checked' in form
    assert f'name="source" value="{other.id}">' in form
    assert "Qualified" in form

    response = client.post(f"/leads/{keep.id}/merge/{other.id}", data={
        "source": str(other.id), "stage_id": str(other.id), "full_name": str(keep.id)})
    assert response.status_code == 303
    assert response.location.endswith(f"/leads/{keep.id}")
    db_session.rollback()  # a fresh snapshot
    survivor = db_session.get(Lead, keep.id)
    assert survivor.source == "web" and survivor.stage_id == stages["Qualified"]
    assert survivor.emails == ["grace@example.com", "g.hopper@example.com"]
    assert survivor.tags == ["a", "b"]
    assert db_session.get(Lead, other.id).deleted_at is not None
    assert client.get(f"/leads/{other.id}").status_code == 404
    # By id too: the survivor may have the same name (QA: two "Priya Natarajan").
    assert re.search(rf'<td class="num">#{other.id}</td>\s*<td>Grace Hopper</td>',
                     client.get("/recycle-bin").get_data(as_text=True))
    page = client.get(f"/leads/{keep.id}").get_data(as_text=True)
    assert "Merged #" in page and "Possible duplicates" not in page


def test_a_merged_record_whose_address_the_survivor_took_stays_in_the_bin_and_says_why(
        client, sales, make_lead, db_session):
    keep = make_lead(sales, full_name="Lorraine Bains", emails=["lorraine@hvh.example"])
    other = make_lead(sales, full_name="Lorraine Baines", emails=["lbaines@hvh.example"],
                      phones=["+12025559102"])
    assert client.post(f"/leads/{keep.id}/merge/{other.id}", data={
        "emails": str(other.id)}).status_code == 303
    db_session.rollback()
    assert db_session.get(Lead, keep.id).emails == ["lbaines@hvh.example",
                                                     "lorraine@hvh.example"]
    refused = client.post(f"/recycle-bin/lead/{other.id}/restore")
    assert refused.status_code == 409
    page = refused.get_data(as_text=True)
    assert (f"The lead #{other.id} cannot come back: its email lbaines@hvh.example belongs "
            f"to lead #{keep.id} now") in page
    assert "Lorraine Baines" in page  # still listed in the bin, to purge or leave
    db_session.rollback()
    assert db_session.get(Lead, other.id).deleted_at is not None


def test_merge_refuses_records_the_user_cannot_see(client, sales, make_lead, make_user):
    mine = make_lead(sales, full_name="Mine", company="X")
    theirs = make_lead(make_user("sales"), full_name="Mine", company="X")
    for url in (f"/leads/{mine.id}/merge/{theirs.id}", f"/leads/{theirs.id}/merge/{mine.id}",
                f"/leads/{mine.id}/merge/999999"):
        assert client.get(url).status_code == 404, url
        assert client.post(url, data={}).status_code == 404, url
    assert "Possible duplicates" not in client.get(f"/leads/{mine.id}").get_data(as_text=True)


def test_a_merge_of_records_merged_meanwhile_says_so(client, sales, make_lead):
    """QA: the same two leads merged from two tabs, each into the other: the
    second answered a bare 404."""
    a = make_lead(sales, full_name="Twin", company="X")
    b = make_lead(sales, full_name="Twin", company="X")
    assert client.post(f"/leads/{a.id}/merge/{b.id}", data={}).status_code == 303
    second = client.post(f"/leads/{b.id}/merge/{a.id}", data={})
    assert second.status_code == 303 and second.location.endswith(f"/leads/{a.id}")
    assert (f"#{b.id} is in the recycle bin already (merged, or deleted, meanwhile); nothing "
            "was merged.") in client.get(second.location).get_data(as_text=True)


def test_an_anonymized_lead_takes_no_edit_and_says_why(app, client, sales, make_lead):
    lead = make_lead(sales, full_name="Anonymized lead #1")
    with transaction(app.extensions["crm"].sessions) as s:
        s.get(Lead, lead.id).anonymized_at = utcnow()
    refused = client.post(f"/leads/{lead.id}/edit", data={
        "version": str(lead.version), "full_name": "Gina Gdpr", "emails": "gina@x.example"})
    page = refused.get_data(as_text=True)
    assert refused.status_code == 409
    assert ("This lead was anonymized: it stands for nobody and takes no one&#39;s data. Add "
            "a new lead instead.") in page and "changed since you" not in page


def test_merge_with_a_bad_choice_is_reported(client, sales, make_lead):
    a = make_lead(sales, full_name="Same", phones=["+1 202 555 0143"])
    b = make_lead(sales, full_name="Other", phones=["+1 202 555 0143"])
    for choice in ("999999", str(2**70)):
        response = client.post(f"/leads/{a.id}/merge/{b.id}", data={"source": choice})
        assert response.status_code == 422 and b"Pick one of the merged records." in response.data
    assert client.get(f"/leads/{b.id}").status_code == 200  # nothing merged
    # Not a number at all ("²" passes str.isdigit, not int): this record's value.
    assert client.post(f"/leads/{a.id}/merge/{b.id}", data={"source": "²"}).status_code == 303


def test_the_merge_page_offers_custom_fields_and_refuses_a_record_changed_since(
        app, client, sales, make_lead, db_session):
    with transaction(app.extensions["crm"].sessions) as s:
        custom_svc.create_field(s, None, {"record_type": "lead", "name": "budget",
                                          "label": "Yearly budget", "field_type": "number"})
    keep = make_lead(sales, full_name="Kim Lee", custom={"budget": 100})
    other = make_lead(sales, full_name="Kim Lee", custom={"budget": 200})
    url = f"/leads/{keep.id}/merge/{other.id}"
    page = client.get(url).get_data(as_text=True)
    assert re.search(r'<th scope="row">Yearly budget</th>', page)
    assert f'name="custom.budget" value="{other.id}">' in page
    form = dict(re.findall(r'<input type="hidden" name="(version-\d+)" value="(\d+)">', page))
    assert form == {f"version-{keep.id}": str(keep.version),
                    f"version-{other.id}": str(other.version)}

    with transaction(app.extensions["crm"].sessions) as s:
        s.get(Lead, other.id).company = "Changed in another tab"
    refused = client.post(url, data={**form, "company": str(other.id)})
    assert refused.status_code == 409
    assert f"#{other.id} changed since you looked" in refused.get_data(as_text=True)
    assert "Changed in another tab" in refused.get_data(as_text=True)  # shown afresh

    page = refused.get_data(as_text=True)
    form = dict(re.findall(r'<input type="hidden" name="(version-\d+)" value="(\d+)">', page))
    assert client.post(url, data={**form, "custom.budget": str(other.id)}).status_code == 303
    db_session.rollback()
    assert db_session.get(Lead, keep.id).custom == {"budget": 200}


def test_merge_two_contacts(client, sales, make_contact, db_session):
    keep = make_contact(sales, first_name="Lise", last_name="Meitner", city="Berlin")
    other = make_contact(sales, first_name="Lise", last_name="Meitner", city="Stockholm")
    assert f"/contacts/{keep.id}/merge/{other.id}" in client.get(f"/contacts/{keep.id}") \
        .get_data(as_text=True)
    response = client.post(f"/contacts/{keep.id}/merge/{other.id}", data={"city": other.id})
    assert response.status_code == 303
    db_session.rollback()
    assert db_session.get(Contact, keep.id).city == "Stockholm"
    assert db_session.get(Contact, other.id).deleted_at is not None


def test_duplicate_warning_whatever_the_accents(client, sales, make_lead):
    make_lead(sales, full_name="Bea Müller", company="Acme")
    text = client.post("/leads/new", data={"full_name": "BEA MULLER",
                                           "company": "Acme"}).get_data(as_text=True)
    assert "may already exist" in text


@pytest.mark.parametrize("typed", ["Jon Smith", "Smith, John", "Dr. John A. Smith",
                                   "Johnny Smith", "Jhon Smith"])
def test_duplicate_warning_for_names_that_sound_alike(client, sales, make_lead, typed):
    existing = make_lead(sales, full_name="John Smith", company="Globex Networks Inc.")
    text = client.post("/leads/new", data={"full_name": typed,
                                           "company": "GLOBEX NETWORK"}).get_data(as_text=True)
    assert "may already exist" in text and f'href="/leads/{existing.id}"' in text


def test_no_warning_for_names_that_only_sound_alike(client, sales, make_lead, make_contact):
    make_lead(sales, full_name="Robert Smith", company="Acme")
    make_contact(sales, first_name="Li", last_name="Wei", company="Acme")
    response = client.post("/leads/new", data={"full_name": "Hubert Smith", "company": "Acme"})
    assert response.status_code == 303
    response = client.post("/contacts/new", data={"first_name": "Lu", "last_name": "Wei",
                                                  "company": "Acme", "lifecycle_stage": "lead"})
    assert response.status_code == 303


def test_duplicate_warning_for_another_phone_or_address(client, sales, make_lead):
    existing = make_lead(sales, full_name="Grace Hopper", emails=["grace@navy.mil"],
                         phones=["+1 202 555 0199"])
    for data in ({"phones": "+1 202 555 0100, (202) 555-0199"},
                 {"emails": "amazing@navy.mil, GRACE@navy.mil"}):
        text = client.post("/leads/new", data={"full_name": "Amazing Grace", **data}
                           ).get_data(as_text=True)
        assert "may already exist" in text and f'href="/leads/{existing.id}"' in text, data


def test_duplicate_warning_for_anothers_second_phone_or_address(client, sales, make_lead):
    existing = make_lead(sales, full_name="Grace Hopper", emails=["grace@navy.mil",
                                                                  "amazing@navy.mil"],
                         phones=["+1 202 555 0199", "+1 202 555 0100"])
    for data, why in (({"phones": "(202) 555-0100"}, "same phone +1 202-555-0100"),
                      ({"emails": "AMAZING@navy.mil"}, "same email amazing@navy.mil")):
        text = client.post("/leads/new", data={"full_name": "G. Murray", **data}
                           ).get_data(as_text=True)
        assert "may already exist" in text and f'href="/leads/{existing.id}"' in text, data
        assert f'<span class="why">{why}</span>' in text


def test_a_likely_duplicate_another_user_owns_is_told_by_its_number_only(
        client, sales, make_user, make_lead):
    """QA: a sales user who sees only their own leads was not warned of the
    same person under a colleague: the team had them twice."""
    colleague = make_user("sales")
    theirs = make_lead(colleague, full_name="Guido McCarthy", company="Umbrella ISP",
                       phones=["+1 303 555 0499"])
    mine = make_lead(sales, full_name="Guido M.", phones=["+1 303 555 0100"])
    for data in ({"full_name": "Guido McCarthy", "company": "Umbrella ISP"},
                 {"full_name": "G. Mc", "phones": "(303) 555-0499"}):
        text = client.post("/leads/new", data=data).get_data(as_text=True)
        assert ('<p id="unseen-duplicates"><strong>Another lead that another user owns looks '
                "like the same person</strong>") in text, data
        assert "may already exist" not in text and f"/leads/{theirs.id}" not in text
        assert "Umbrella ISP</a>" not in text and "Create anyway" in text
    # An edit to the same phone is warned too, and saves once confirmed.
    edit = {"version": str(mine.version), "full_name": "Guido M.", "phones": "(303) 555-0499"}
    text = client.post(f"/leads/{mine.id}/edit", data=edit).get_data(as_text=True)
    assert 'id="unseen-duplicates"' in text and "ask a manager before saving this" in text
    assert client.post(f"/leads/{mine.id}/edit",
                       data={**edit, "confirm_duplicate": "1"}).status_code == 303
    assert client.post("/leads/new", data={
        "full_name": "Someone Else", "company": "Acme"}).status_code == 303


def test_several_phones_or_addresses_in_common_are_named_once_each(client, sales, make_lead):
    existing = make_lead(sales, full_name="Grace Hopper",
                         emails=["grace@navy.mil", "amazing@navy.mil", "gh@navy.mil"],
                         phones=["+1 202 555 0199", "+1 202 555 0100"])
    text = client.post("/leads/new", data={
        "full_name": "G. Murray", "phones": "(202) 555-0100, (202) 555-0199",
        "emails": "murray@navy.mil, gh@navy.mil, amazing@navy.mil"}).get_data(as_text=True)
    assert f'href="/leads/{existing.id}"' in text
    assert ('<span class="why">same phones +1 202-555-0100, +1 202-555-0199; '
            "same emails amazing@navy.mil, gh@navy.mil</span>") in text


def test_an_edit_that_makes_a_likely_duplicate_is_warned_before_saving(client, sales,
                                                                         make_lead):
    existing = make_lead(sales, full_name="Grace Hopper", phones=["+1 202 555 0199"])
    lead = make_lead(sales, full_name="Amazing Grace", phones=["+1 202 555 0100"])
    edit = {"version": str(lead.version), "full_name": "Amazing Grace",
            "phones": "(202) 555-0199"}

    text = client.post(f"/leads/{lead.id}/edit", data=edit).get_data(as_text=True)

    assert "This lead may be the same person as:" in text and "Save anyway" in text
    assert f'href="/leads/{existing.id}"' in text
    assert '<span class="why">same phone +1 202-555-0199</span>' in text
    with client.application.extensions["crm"].sessions() as session:
        assert session.get(Lead, lead.id).phones == ["+12025550100"]  # nothing saved yet
    saved = client.post(f"/leads/{lead.id}/edit", data={**edit, "confirm_duplicate": "1"})
    assert saved.status_code == 303


def test_an_edit_is_not_warned_of_duplicates_the_record_had_already(client, sales, make_lead):
    make_lead(sales, full_name="Grace Hopper", company="Navy")
    lead = make_lead(sales, full_name="Grace Hopper", company="Navy")
    response = client.post(f"/leads/{lead.id}/edit", data={
        "version": str(lead.version), "full_name": "Grace Hopper", "company": "Navy",
        "source": "fair"})
    assert response.status_code == 303
