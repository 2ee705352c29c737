"""Custom fields: the admin page, the record forms, record pages and list filters."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import select

from crmcore.db import transaction
from crmcore.models import Contact, CustomField, Lead
from crmcore.services import custom_fields as custom_svc


@pytest.fixture
def define(app):
    """Create a custom field definition through the service."""

    def make(record_type="lead", **data):
        data = {"record_type": record_type, "label": data.get("name", "x").title(), **data}
        with transaction(app.extensions["crm"].sessions) as session:
            return custom_svc.create_field(session, None, data)

    return make


@pytest.mark.parametrize("role", ["sales", "manager"])
def test_custom_fields_admin_needs_permission(client, make_user, login, define, role):
    field = define(name="budget", field_type="number")
    login(client, make_user(role))
    assert client.get("/admin/custom-fields").status_code in (403, 404)
    assert client.post("/admin/custom-fields", data={
        "record_type": "lead", "name": "sneaky", "label": "Sneaky",
        "field_type": "text"}).status_code in (403, 404)
    assert client.post(f"/admin/custom-fields/{field.id}", data={"label": "X"}) \
        .status_code in (403, 404)
    assert client.post(f"/admin/custom-fields/{field.id}/delete").status_code in (403, 404)


def test_admin_creates_edits_and_deletes_custom_fields(client, make_user, login, db_session):
    login(client, make_user("admin"))
    page = client.get("/admin/custom-fields").get_data(as_text=True)
    assert "Custom fields" in page and "No custom fields." in page
    response = client.post("/admin/custom-fields", data={
        "record_type": "lead", "name": "plan", "label": "Plan", "field_type": "choice",
        "choices": "free, pro, enterprise", "required": "1", "position": "3"})
    assert response.status_code == 303
    field = db_session.scalar(select(CustomField).where(CustomField.name == "plan"))
    assert (field.record_type, field.choices, field.required, field.position) == (
        "lead", ["free", "pro", "enterprise"], True, 3)
    assert "enterprise" in client.get("/admin/custom-fields").get_data(as_text=True)

    # per-field errors, and what was typed is kept
    bad = client.post("/admin/custom-fields", data={
        "record_type": "lead", "name": "Bad Name", "label": "", "field_type": "color"})
    assert bad.status_code == 422
    text = bad.get_data(as_text=True)
    assert 'id="name-error">Lower-case letters, digits and _; start with a letter.' in text
    assert 'id="field_type-error"' in text and 'id="label-error"' in text
    assert 'value="Bad Name"' in text
    no_choices = client.post("/admin/custom-fields", data={
        "record_type": "contact", "name": "tier", "label": "Tier", "field_type": "choice"})
    assert no_choices.status_code == 422 and b"List at least one choice." in no_choices.data
    taken = client.post("/admin/custom-fields", data={
        "record_type": "lead", "name": "plan", "label": "Plan again", "field_type": "text"})
    assert taken.status_code == 409 and b"Already in use." in taken.data

    edited = client.post(f"/admin/custom-fields/{field.id}", data={
        "label": "Price plan", "choices": "free, pro", "position": "1"})
    assert edited.status_code == 303
    db_session.rollback()  # a fresh snapshot
    field_id = field.id
    field = db_session.get(CustomField, field_id)
    assert (field.label, field.choices, field.required, field.position) == (
        "Price plan", ["free", "pro"], False, 1)
    emptied = client.post(f"/admin/custom-fields/{field_id}", data={
        "label": "Price plan", "choices": "", "position": "1"})
    assert emptied.status_code == 422 and b"List at least one choice." in emptied.data

    assert client.post(f"/admin/custom-fields/{field_id}/delete").status_code == 303
    db_session.rollback()
    assert db_session.get(CustomField, field_id) is None
    assert client.post(f"/admin/custom-fields/{field_id}/delete").status_code == 404
    assert client.post(f"/admin/custom-fields/{field_id}", data={"label": "x"}) \
        .status_code == 404


def test_a_field_added_again_must_fit_the_values_records_hold(client, make_user, login,
                                                              define, make_lead, db_session):
    admin = make_user("admin")
    login(client, admin)
    notes = define(name="notes", field_type="text")
    budget = define(name="budget", field_type="number")
    make_lead(admin, full_name="Vague", custom={"notes": "about 5k", "budget": 5000})
    for field in (notes, budget):
        assert client.post(f"/admin/custom-fields/{field.id}/delete").status_code == 303

    refused = client.post("/admin/custom-fields", data={
        "record_type": "lead", "name": "notes", "label": "Notes", "field_type": "number"})
    assert refused.status_code == 409
    assert ('id="field_type-error">1 lead holds a value of an earlier “notes” field that is '
            'not a number (e.g. “about 5k”): re-create it as text, or pick another name.') \
        in refused.get_data(as_text=True)
    assert db_session.scalar(select(CustomField).where(CustomField.name == "notes")) is None

    # Every stored budget is a number: a number field comes back with them,
    # and the form that shows one saves it.
    assert client.post("/admin/custom-fields", data={
        "record_type": "lead", "name": "budget", "label": "Budget",
        "field_type": "number"}).status_code == 303
    lead = db_session.scalar(select(Lead).where(Lead.full_name == "Vague"))
    assert 'name="custom.budget" value="5000"' in client.get(f"/leads/{lead.id}/edit") \
        .get_data(as_text=True)
    saved = client.post(f"/leads/{lead.id}/edit", data={
        "version": "1", "full_name": "Vague", "custom.budget": "5000"})
    assert saved.status_code == 303, saved.get_data(as_text=True)
    db_session.rollback()
    assert db_session.get(Lead, lead.id).custom == {"notes": "about 5k", "budget": 5000}


def test_a_choice_that_records_hold_cannot_be_removed(client, make_user, login, define,
                                                      make_lead, db_session):
    admin = make_user("admin")
    login(client, admin)
    plan = define(name="plan", field_type="choice", choices=["free", "pro", "team"])
    make_lead(admin, custom={"plan": "pro"})
    refused = client.post(f"/admin/custom-fields/{plan.id}", data={
        "label": "Plan", "choices": "free, team", "position": "0"})
    assert refused.status_code == 409
    assert ('id="choices-error">Still held: “pro” by 1 lead. Keep it among the choices, or '
            'change those leads first.') in refused.get_data(as_text=True)
    assert db_session.get(CustomField, plan.id).choices == ["free", "pro", "team"]
    assert client.post(f"/admin/custom-fields/{plan.id}", data={
        "label": "Plan", "choices": "free, pro", "position": "0"}).status_code == 303
    db_session.rollback()
    assert db_session.get(CustomField, plan.id).choices == ["free", "pro"]


def test_custom_fields_in_the_lead_form(client, sales, define, db_session):
    define(name="budget", field_type="number", label="Budget")
    define(name="plan", field_type="choice", choices=["free", "pro"], label="Plan")
    define(name="renewal", field_type="date", label="Renewal")
    define(name="vip", field_type="boolean", label="VIP")
    define(name="notes", field_type="text", label="Notes", required=True)
    form = client.get("/leads/new").get_data(as_text=True)
    assert 'name="custom.budget"' in form and '<select id="f-custom-plan" name="custom.plan">' \
        in form
    assert 'type="date"' in form and 'type="checkbox" value="true"' in form

    bad = client.post("/leads/new", data={
        "full_name": "Custom Lead", "custom.budget": "lots", "custom.plan": "gold",
        "custom.renewal": "someday"})
    assert bad.status_code == 422
    text = bad.get_data(as_text=True)
    assert re.search(r'id="custom-budget-error">Not a valid number.', text)
    assert 'id="custom-plan-error">Must be one of: free, pro.' in text
    assert 'id="custom-renewal-error">Not a valid date.' in text
    assert 'id="custom-notes-error">Missing data for required field.' in text
    assert 'value="lots"' in text  # what was typed is kept

    response = client.post("/leads/new", data={
        "full_name": "Custom Lead", "custom.budget": "12.5", "custom.plan": "pro",
        "custom.renewal": "2025-03-01", "custom.vip": "true", "custom.notes": "hi"})
    assert response.status_code == 303, response.get_data(as_text=True)
    lead_id = int(response.location.rsplit("/", 1)[1])
    lead = db_session.get(Lead, lead_id)
    assert lead.custom == {"budget": 12.5, "plan": "pro", "renewal": "2025-03-01",
                           "vip": True, "notes": "hi"}
    page = client.get(f"/leads/{lead_id}").get_data(as_text=True)
    assert "<dt>Budget</dt><dd>12.5</dd>" in page and "<dt>VIP</dt><dd>yes</dd>" in page
    assert "<dt>Renewal</dt><dd>2025-03-01</dd>" in page

    edit = client.get(f"/leads/{lead_id}/edit").get_data(as_text=True)
    assert 'value="12.5"' in edit and '<option value="pro" selected>' in edit
    assert 'name="custom.vip" type="checkbox" value="true" checked' in edit
    # unchecking, emptying and changing
    response = client.post(f"/leads/{lead_id}/edit", data={
        "version": "1", "full_name": "Custom Lead", "custom.budget": "",
        "custom.plan": "free", "custom.renewal": "2025-03-01", "custom.notes": "hi"})
    assert response.status_code == 303, response.get_data(as_text=True)
    db_session.rollback()
    assert db_session.get(Lead, lead_id).custom == {
        "budget": None, "plan": "free", "renewal": "2025-03-01", "vip": False, "notes": "hi"}
    # a required field cannot be emptied
    response = client.post(f"/leads/{lead_id}/edit", data={
        "version": "2", "full_name": "Custom Lead", "custom.notes": ""})
    assert response.status_code == 422
    assert b'id="custom-notes-error">Missing data for required field.' in response.data


def test_custom_fields_in_the_contact_form(client, sales, define, db_session):
    define("contact", name="segment", field_type="choice", choices=["smb", "ent"],
           label="Segment")
    response = client.post("/contacts/new", data={
        "last_name": "Lamarr", "lifecycle_stage": "lead", "custom.segment": "ent"})
    assert response.status_code == 303
    contact_id = int(response.location.rsplit("/", 1)[1])
    assert db_session.get(Contact, contact_id).custom == {"segment": "ent"}
    assert "<dt>Segment</dt><dd>ent</dd>" in client.get(f"/contacts/{contact_id}") \
        .get_data(as_text=True)
    bad = client.post(f"/contacts/{contact_id}/edit", data={
        "version": "1", "last_name": "Lamarr", "custom.segment": "huge"})
    assert bad.status_code == 422 and b'id="custom-segment-error"' in bad.data


def test_lists_filter_by_custom_fields(client, sales, define, make_lead):
    define(name="plan", field_type="choice", choices=["free", "pro"], label="Plan")
    define(name="vip", field_type="boolean", label="VIP")
    define(name="budget", field_type="number", label="Budget")
    make_lead(sales, full_name="Pro Lead", custom={"plan": "pro", "vip": True, "budget": 10})
    make_lead(sales, full_name="Free Lead", custom={"plan": "free", "vip": False})
    make_lead(sales, full_name="Bare Lead")
    page = client.get("/leads").get_data(as_text=True)
    assert '<select id="filter-custom-plan" name="custom.plan">' in page
    pro = client.get("/leads?custom.plan=pro").get_data(as_text=True)
    assert "Pro Lead" in pro and "Free Lead" not in pro and "Bare Lead" not in pro
    assert '<option value="pro" selected>' in pro
    not_vip = client.get("/leads?custom.vip=false").get_data(as_text=True)
    assert "Free Lead" in not_vip and "Pro Lead" not in not_vip
    by_number = client.get("/leads?custom.budget=10").get_data(as_text=True)
    assert "Pro Lead" in by_number and "Free Lead" not in by_number
    # A value the field can never hold is named, as the form names it.
    bad = client.get("/leads?custom.budget=ten")
    assert bad.status_code == 422 and b"Not a valid number: write it" in bad.data
    for query, message in (("custom.vip=maybe", "Not a valid boolean."),
                           ("custom.budget=nan", "Special numeric values"),
                           ("custom.plan=gold", "Must be one of: free, pro.")):
        bad = client.get(f"/leads?{query}")
        assert bad.status_code == 422 and message in bad.get_data(as_text=True), query


def test_list_query_count_stays_fixed_with_custom_fields(page_queries, sales, define,
                                                         make_lead):
    make_lead(sales, full_name="Only one")
    before = page_queries("/leads")
    define(name="plan", field_type="choice", choices=["free", "pro"])
    define(name="vip", field_type="boolean")
    make_lead(sales, full_name="First pro", custom={"plan": "pro"})
    few = page_queries("/leads?custom.plan=pro")
    for i in range(30):
        make_lead(sales, full_name=f"Lead {i}", custom={"plan": "pro", "vip": bool(i % 2)})
    many = page_queries("/leads?custom.plan=pro")
    assert few == many
    assert page_queries("/leads") == before  # definitions: one query either way



def change_lines(page: str) -> list[str]:
    """The timeline's change lines, newest first, as text: ``field: old → new``."""
    return [" ".join(html.unescape(re.sub(r"<[^>]+>", "", line)).split())
            for line in re.findall(r'<li><span class="field-name">.*?</li>', page, re.S)]


def test_the_timeline_shows_the_custom_values_that_changed(client, sales, define, make_lead):
    define(name="budget", field_type="number")
    define(name="notes_x", field_type="text")
    define(name="plan", field_type="text")
    define(name="vip", field_type="boolean")
    lead = make_lead(sales, full_name="Custom Lead", custom={"budget": 100, "notes_x": "same"})
    response = client.post(f"/leads/{lead.id}/edit", data={
        "version": "1", "full_name": "Custom Lead", "custom.budget": "150",
        "custom.notes_x": "same", "custom.vip": "true"})
    assert response.status_code == 303, response.get_data(as_text=True)
    assert change_lines(client.get(f"/leads/{lead.id}").get_data(as_text=True)) == [
        "budget: 100 → 150", "vip: empty → yes"]

    # Merged: the survivor keeps its notes_x and gains the other's plan.
    other = make_lead(sales, full_name="Custom Lead",
                      custom={"notes_x": "other", "plan": "<i>pro</i>"})
    assert client.post(f"/leads/{lead.id}/merge/{other.id}").status_code == 303
    page = client.get(f"/leads/{lead.id}").get_data(as_text=True)
    assert change_lines(page) == ["plan: empty → <i>pro</i>",
                                  "budget: 100 → 150", "vip: empty → yes"]
    assert '<span class="new">&lt;i&gt;pro&lt;/i&gt;</span>' in page
