"""Leads, contacts and the recycle bin through the web UI."""

from __future__ import annotations

import html
import re

from sqlalchemy import select

from crmcore.models import Contact, Lead, LeadStage

XSS = "<script>window.__pwned=1</script><img src=x onerror=alert(1)>"


def lead_id_from(response) -> int:
    match = re.search(r"/leads/(\d+)$", response.location)
    assert match, response.location
    return int(match.group(1))


def test_create_lead_through_the_form(client, sales, db_session):
    response = client.post("/leads/new", data={
        "full_name": "Grace Hopper", "emails": "grace@example.com, g.hopper@example.com",
        "phones": "+1 202 555 0143", "company": "Navy", "source": "conference",
        "tags": "vip, cobol"})
    assert response.status_code == 303
    lead = db_session.get(Lead, lead_id_from(response))
    assert lead.emails == ["grace@example.com", "g.hopper@example.com"]
    assert lead.phones == ["+12025550143"]
    assert lead.tags == ["vip", "cobol"]
    assert lead.owner_id == sales.id
    page = client.get(response.location).get_data(as_text=True)
    assert "Grace Hopper" in page and "grace@example.com" in page and "created" in page


def test_a_phone_with_an_extension_shows_and_saves_again_with_it(client, sales, db_session):
    response = client.post("/leads/new", data={
        "full_name": "Ada", "phones": "(650) 253-0000 ext. 42, +1 202 555 0143"})
    assert response.status_code == 303
    lead = db_session.get(Lead, lead_id_from(response))
    assert lead.phones == ["+16502530000;ext=42", "+12025550143"]
    page = client.get(response.location).get_data(as_text=True)
    assert ('<dt>Phones</dt><dd><a href="tel:+16502530000;ext=42">+1 650-253-0000 ext. 42</a>, '
            '<a href="tel:+12025550143">+1 202-555-0143</a></dd>') in page
    form = client.get(f"/leads/{lead.id}/edit").get_data(as_text=True)
    shown = re.search(r'name="phones" type="text" value="([^"]*)"', form)
    assert shown and shown[1] == "+16502530000;ext=42, +12025550143"
    version = re.search(r'name="version" value="(\d+)"', form)[1]
    saved = client.post(f"/leads/{lead.id}/edit", data={
        "version": version, "full_name": "Ada", "phones": html.unescape(shown[1])})
    assert saved.status_code == 303
    db_session.refresh(lead)
    assert lead.phones == ["+16502530000;ext=42", "+12025550143"]


def test_create_lead_shows_field_errors(client, sales):
    response = client.post("/leads/new", data={
        "full_name": "", "emails": "not-an-email", "phones": "12"})
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert "Missing data for required field." in text
    assert 'id="emails-error"' in text and 'id="phones-error"' in text
    assert 'value="not-an-email"' in text  # what was typed is kept


def test_duplicate_email_is_reported(client, sales, make_lead):
    make_lead(sales, emails=["taken@example.com"])
    response = client.post("/leads/new", data={"full_name": "Copy", "emails": "taken@example.com"})
    assert response.status_code == 409
    text = response.get_data(as_text=True)
    assert "already belongs to another lead or contact" in text
    assert "This email is already known." in text


def test_sales_cannot_see_another_users_lead(client, sales, make_user, make_lead):
    other = make_user("sales")
    theirs = make_lead(other, full_name="Not yours")
    for url in (f"/leads/{theirs.id}", f"/leads/{theirs.id}/edit", "/leads/999999"):
        response = client.get(url)
        assert response.status_code == 404
        assert b"Not yours" not in response.data
    for url in (f"/leads/{theirs.id}/comment", f"/leads/{theirs.id}/delete",
                f"/leads/{theirs.id}/convert", f"/leads/{theirs.id}/edit"):
        assert client.post(url, data={"body": "x", "full_name": "Hijack"}).status_code == 404
    assert b"Not yours" not in client.get("/leads?mine=0").data


def test_manager_sees_all_leads(client, make_user, login, make_lead):
    seller = make_user("sales")
    lead = make_lead(seller, full_name="Seller lead")
    login(client, make_user("manager"))
    assert b"Seller lead" not in client.get("/leads").data  # "My leads" by default
    assert b"Seller lead" in client.get("/leads?mine=0").data
    assert client.get(f"/leads/{lead.id}").status_code == 200


def test_edit_lead_and_timeline_shows_change(client, sales, make_lead, db_session):
    lead = make_lead(sales, full_name="Old Name")
    stages = {s.name: s.id for s in db_session.scalars(select(LeadStage))}
    form = client.get(f"/leads/{lead.id}/edit").get_data(as_text=True)
    assert 'name="version" value="1"' in form
    response = client.post(f"/leads/{lead.id}/edit", data={
        "version": "1", "full_name": "New Name", "stage_id": str(stages["Qualified"])})
    assert response.status_code == 303
    page = client.get(f"/leads/{lead.id}").get_data(as_text=True)
    assert "New Name" in page
    assert re.search(r"full_name</span>:\s*<span class=\"old\">Old Name</span> →\s*"
                     r"<span class=\"new\">New Name</span>", page)
    assert re.search(r"<span class=\"old\">New</span> →\s*<span class=\"new\">Qualified</span>",
                     page)


def test_stale_edit_is_a_conflict_and_overwrites_nothing(client, sales, make_lead, db_session):
    lead = make_lead(sales, full_name="Original")
    assert client.post(f"/leads/{lead.id}/edit", data={
        "version": "1", "full_name": "First save"}).status_code == 303
    response = client.post(f"/leads/{lead.id}/edit", data={
        "version": "1", "full_name": "Stale save"})
    assert response.status_code == 409
    assert (b"This lead was changed since you opened it (in another tab, or by someone "
            b"else); nothing was saved.") in response.data
    db_session.rollback()  # a fresh snapshot
    assert db_session.get(Lead, lead.id).full_name == "First save"


def test_xss_in_a_lead_name_is_escaped(client, sales, make_lead):
    lead = make_lead(sales, full_name=XSS)
    client.post(f"/leads/{lead.id}/comment", data={"body": XSS})
    for url in ("/leads", f"/leads/{lead.id}", f"/leads/{lead.id}/edit", "/"):
        text = client.get(url).get_data(as_text=True)
        assert "<script>window.__pwned" not in text, url
        assert "<img src=x" not in text, url
        assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" \
            in text, url


def test_comment_delete_restore_purge(client, make_user, login, make_lead, db_session):
    admin = make_user("admin")
    login(client, admin)
    lead = make_lead(admin, full_name="Binned Lead")
    assert client.post(f"/leads/{lead.id}/comment", data={"body": "Called, no answer"}) \
        .status_code == 303
    assert "Called, no answer" in client.get(f"/leads/{lead.id}").get_data(as_text=True)
    assert client.post(f"/leads/{lead.id}/comment", data={"body": ""}).status_code == 303
    assert client.post(f"/leads/{lead.id}/delete").status_code == 303
    assert client.get(f"/leads/{lead.id}").status_code == 404
    assert b"Binned Lead" in client.get("/recycle-bin").data
    assert client.post(f"/recycle-bin/lead/{lead.id}/restore").status_code == 303
    assert client.get(f"/leads/{lead.id}").status_code == 200
    client.post(f"/leads/{lead.id}/delete")
    assert client.post(f"/recycle-bin/lead/{lead.id}/purge").status_code == 303
    assert b"Binned Lead" not in client.get("/recycle-bin").data
    db_session.rollback()  # a fresh snapshot
    assert db_session.get(Lead, lead.id) is None


def test_sales_may_restore_but_not_purge(client, sales, make_lead, make_user):
    lead = make_lead(sales, full_name="Mine")
    theirs = make_lead(make_user("sales"), full_name="Theirs")
    client.post(f"/leads/{lead.id}/delete")
    page = client.get("/recycle-bin").get_data(as_text=True)
    assert "Mine" in page and "Delete for good" not in page
    assert client.post(f"/recycle-bin/lead/{lead.id}/purge").status_code == 403
    assert client.post(f"/recycle-bin/lead/{theirs.id}/restore").status_code == 404
    assert client.post(f"/recycle-bin/lead/{lead.id}/restore").status_code == 303
    assert client.post("/recycle-bin/bogus/1/restore").status_code == 404


def test_convert_lead(client, sales, make_lead, db_session):
    lead = make_lead(sales, full_name="Alan Turing", emails=["alan@example.com"])
    response = client.post(f"/leads/{lead.id}/convert", data={"lifecycle_stage": "customer"})
    assert response.status_code == 303
    contact_id = int(response.location.rsplit("/", 1)[1])
    contact = db_session.get(Contact, contact_id)
    assert (contact.first_name, contact.last_name, contact.lifecycle_stage) == (
        "Alan", "Turing", "customer")
    assert b"Converted to" in client.get(f"/leads/{lead.id}").data


def test_bulk_actions(client, sales, make_lead, db_session):
    a, b, c = (make_lead(sales, full_name=n) for n in ("A", "B", "C"))
    stage = db_session.scalar(select(LeadStage).where(LeadStage.name == "Won"))
    assert client.post("/leads/bulk", data={"ids": [a.id, b.id], "action": "stage",
                                            "stage_id": stage.id}).status_code == 303
    assert client.post("/leads/bulk", data={"ids": [a.id, c.id], "action": "tag",
                                            "tag": "hot"}).status_code == 303
    assert client.post("/leads/bulk", data={"ids": [c.id], "action": "delete"}).status_code == 303
    # sales may not reassign: refused with a message, nothing changed
    client.post("/leads/bulk", data={"ids": [a.id], "action": "assign", "owner_id": sales.id})
    db_session.rollback()  # a fresh snapshot
    rows = {lead.full_name: lead for lead in db_session.scalars(select(Lead))}
    assert rows["A"].stage_id == rows["B"].stage_id == stage.id
    assert rows["A"].tags == ["hot"] and rows["B"].tags == []
    assert rows["C"].deleted_at is not None
    assert "You may not set the owner." in client.get("/leads").get_data(as_text=True)


def test_numbers_larger_than_the_database_stores_are_4xx(client, sales, make_lead,
                                                         db_session):
    lead = make_lead(sales, full_name="Kept")
    huge = 2**70
    # Beyond PostgreSQL's INTEGER, within SQLite's: the same answer on both.
    assert client.get("/leads/3000000000").status_code == 404
    assert client.get(f"/leads/{huge}").status_code == 404
    refused = client.post("/leads/bulk", data={"ids": [huge], "action": "tag", "tag": "x"})
    assert refused.status_code == 400
    assert b"larger than the CRM stores" in refused.data
    db_session.rollback()
    assert db_session.get(Lead, lead.id).tags == []


def test_list_filters_and_next_page(client, sales, make_lead):
    for i in range(55):
        make_lead(sales, full_name=f"Lead {i:02d}", source="web" if i % 2 else "fair")
    first = client.get("/leads?sort=full_name").get_data(as_text=True)
    assert "Lead 00" in first and "Lead 49" in first and "Lead 50" not in first
    next_url = html.unescape(re.search(r'href="([^"]+)" rel="next"', first).group(1))
    second = client.get(next_url).get_data(as_text=True)
    assert "Lead 50" in second and "Lead 54" in second and "Lead 49" not in second
    assert 'rel="next"' not in second
    filtered = client.get("/leads?source=fair&q=lead+1").get_data(as_text=True)
    assert "Lead 10" in filtered and "Lead 11" not in filtered and "Lead 20" not in filtered
    bad = client.get("/leads?created_after=yesterday")
    assert bad.status_code == 422 and b"Use YYYY-MM-DD." in bad.data


def test_contacts_crud(client, sales, db_session):
    response = client.post("/contacts/new", data={
        "first_name": "Katherine", "last_name": "Johnson", "emails": "kj@example.com",
        "street": "1 Langley Rd", "city": "Hampton", "postal_code": "23681", "country": "US",
        "lifecycle_stage": "customer", "opt_outs": ["email", "sms"]})
    assert response.status_code == 303, response.data
    contact_id = int(response.location.rsplit("/", 1)[1])
    contact = db_session.get(Contact, contact_id)
    assert contact.opt_outs == ["email", "sms"] and contact.city == "Hampton"
    page = client.get(f"/contacts/{contact_id}").get_data(as_text=True)
    assert "Katherine Johnson" in page and "email, sms" in page
    response = client.post(f"/contacts/{contact_id}/edit", data={
        "version": "1", "first_name": "Katherine", "last_name": "Johnson",
        "emails": "kj@example.com", "country": "USA", "lifecycle_stage": "customer"})
    assert response.status_code == 422 and b"Two-letter ISO code." in response.data
    response = client.post(f"/contacts/{contact_id}/edit", data={
        "version": "1", "first_name": "Kate", "last_name": "Johnson",
        "emails": "kj@example.com", "lifecycle_stage": "customer", "opt_outs": ["post"]})
    assert response.status_code == 303
    db_session.rollback()  # a fresh snapshot
    assert db_session.get(Contact, contact_id).opt_outs == ["post"]
    assert client.post(f"/contacts/{contact_id}/comment", data={"body": "hi"}).status_code == 303
    assert b"Kate Johnson" in client.get("/contacts").data
    assert client.post(f"/contacts/{contact_id}/delete").status_code == 303
    assert client.get(f"/contacts/{contact_id}").status_code == 404
    assert client.post(f"/recycle-bin/contact/{contact_id}/restore").status_code == 303
    assert client.get(f"/contacts/{contact_id}").status_code == 200


def test_dashboard_counts_and_activity(client, sales, make_lead, make_user):
    make_lead(sales, full_name="Dash One")
    make_lead(sales, full_name="Dash Two")
    make_lead(make_user("sales"), full_name="Someone Else")
    text = client.get("/").get_data(as_text=True)
    assert re.search(r">New</a></th>\s*<td class=\"num\">2</td>", text)
    assert "Dash One" in text and "Someone Else" not in text


def test_no_state_change_on_get(client, sales, make_lead):
    lead = make_lead(sales)
    for url in (f"/leads/{lead.id}/delete", f"/leads/{lead.id}/comment", "/logout",
                f"/recycle-bin/lead/{lead.id}/restore"):
        assert client.get(url).status_code == 405
    assert client.get(f"/leads/{lead.id}").status_code == 200


def test_head_shows_the_form_and_changes_nothing(client, sales, make_lead, db_session):
    # Flask routes HEAD to the GET-and-POST views, and Flask-WTF lets it past CSRF.
    lead, other = make_lead(sales), make_lead(sales, full_name="Ada Lovelace")
    for url, form in (("/leads/new", {"full_name": "Via Head"}),
                      (f"/leads/{lead.id}/edit", {"full_name": "Via Head", "version": "1"}),
                      (f"/leads/{lead.id}/merge/{other.id}", {}),
                      ("/account/password", {"current_password": "x", "new_password": "y" * 12,
                                             "confirm_password": "y" * 12})):
        assert client.open(url, method="HEAD", data=form).status_code == 200, url
    assert db_session.scalars(select(Lead.full_name).order_by(Lead.id)).all() == [
        "Ada Lovelace", "Ada Lovelace"]
    assert db_session.scalar(select(Lead.deleted_at).where(Lead.id == other.id)) is None


def test_lead_list_query_count_is_fixed(page_queries, client, sales, make_lead, make_user):
    other = make_user("sales")
    for i in range(5):
        make_lead(sales, full_name=f"Q {i}", tags=["t"])
    few = page_queries("/leads")
    for i in range(35):
        make_lead(sales if i % 2 else other, full_name=f"R {i}", tags=["t"])
    many = page_queries("/leads")
    assert few == many
    manager = make_user("manager")
    client.post("/logout")
    from crmcore.testing import DEFAULT_PASSWORD

    client.post("/login", data={"email": manager.email, "password": DEFAULT_PASSWORD})
    assert page_queries("/leads?mine=0") == page_queries("/leads?mine=0&tag=none")
