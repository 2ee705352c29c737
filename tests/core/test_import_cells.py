"""What an import cell (and the same value through the API) means: columns
found by a custom field's name or label, choices in any case, tags, dates,
whole names, and problems that quote the cell they are about."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import select

from crmcore.db import transaction
from crmcore.models import Contact, Lead
from crmcore.services import custom_fields as custom_svc
from crmcore.services import imports as import_svc


@pytest.fixture
def synchronous_jobs(monkeypatch):
    """Each import runs inside the request that starts it."""
    monkeypatch.setattr("crmcore.jobs.dispatch_import", import_svc.run)


def add_fields(app, record_type, *definitions):
    with transaction(app.extensions["crm"].sessions) as s:
        for definition in definitions:
            custom_svc.create_field(s, None, {"record_type": record_type, **definition})


def upload(api, kind: str, text: str, **form: str):
    return api.post(f"/api/v1/{kind}/imports", content_type="multipart/form-data",
                    data={**form, "file": (io.BytesIO(text.encode()), "people.csv")})


def records(app, model):
    with app.extensions["crm"].sessions() as s:
        return list(s.scalars(select(model).order_by(model.id)))


# -- what a value means, through the API and the import alike ------------------------------


@pytest.mark.usefixtures("synchronous_jobs")
def test_choices_match_whatever_their_case_and_keep_their_spelling(app, api_client):
    """QA #15: lifecycle "Lead" and the choice "silver" were refused."""
    add_fields(app, "contact", {"name": "tier", "label": "Tier", "field_type": "choice",
                                "choices": ["Gold", "Silver"]})
    api = api_client()
    made = api.post("/api/v1/contacts", json={
        "last_name": "Api", "lifecycle_stage": "Customer", "opt_outs": ["EMAIL", "Sms"],
        "custom": {"tier": "GOLD"}})
    assert made.status_code == 201, made.get_data(as_text=True)
    assert upload(api, "contacts", "Last name,Lifecycle stage,Opt outs,custom.tier\n"
                                   "File,Lead,Fax; post,silver\n").status_code == 202
    assert [(c.lifecycle_stage, c.opt_outs, c.custom) for c in records(app, Contact)] == [
        ("customer", ["email", "sms"], {"tier": "Gold"}),
        ("lead", ["fax", "post"], {"tier": "Silver"})]
    refused = api.post("/api/v1/contacts", json={"last_name": "X", "lifecycle_stage": "Lead!"})
    assert refused.get_json()["errors"] == {
        "lifecycle_stage": ["Must be one of: lead, prospect, customer."]}


@pytest.mark.usefixtures("synchronous_jobs")
def test_a_tag_given_twice_in_another_case_is_kept_once_and_commas_separate_tags(
        app, api_client):
    """QA #15: "VIP; vip" stored two tags, "a,b" one tag "a,b"."""
    api = api_client()
    made = api.post("/api/v1/leads", json={"full_name": "Api", "tags": ["VIP", "vip", "Gold"]})
    assert made.get_json()["tags"] == ["VIP", "Gold"]
    assert upload(api, "leads", 'Name,Tags\nFile,"vip; VIP, fair,Gold"\n').status_code == 202
    assert [lead.tags for lead in records(app, Lead)] == [["VIP", "Gold"],
                                                          ["vip", "fair", "Gold"]]
    refused = api.post("/api/v1/leads", json={"full_name": "X", "tags": ["a,b"]})
    assert refused.get_json()["errors"] == {"tags": {"0": [
        "A tag cannot hold “,” (it separates tags in a file and in the record form)."]}}
