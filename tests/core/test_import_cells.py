"""What an import cell (and the same value through the API) means: columns
found by a custom field's name or label, choices in any case, tags, dates,
whole names, and problems that quote the cell they are about."""

from __future__ import annotations

import io
import re
from types import SimpleNamespace

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from crmcore.cli import cli
from crmcore.db import transaction
from crmcore.models import Contact, Lead
from crmcore.services import custom_fields as custom_svc
from crmcore.services import imports as import_svc
from crmcore.services.import_rows import HeaderProblems, map_header


@pytest.fixture
def crm(app):
    """``crm ARGS`` run in-process on the app's database and instance."""
    runtime = app.extensions["crm"]
    env = {"CRM_INSTANCE_PATH": str(runtime.instance),
           "CRM_DATABASE_URL": runtime.engine.url.render_as_string(hide_password=False),
           "CRM_PLUGINS": "none"}

    def run(*args: str) -> Result:
        return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)

    return run


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


# -- columns named as a custom field ------------------------------------------------------


def test_the_cli_fills_a_custom_field_from_a_column_named_as_it_or_its_label(app, crm,
                                                                            tmp_path):
    """QA F10: "Budget" for the custom field budget (label "Budget") was
    "column 'Budget' matches no field" outside the web page."""
    add_fields(app, "lead", {"name": "budget", "label": "Budget", "field_type": "number"},
               {"name": "tier", "label": "Customer tier", "field_type": "choice",
                "choices": ["Gold", "Silver"]})
    path = tmp_path / "leads.csv"
    path.write_text("Name,Email,Budget,Customer Tier\nAda,ada@x.org,5,silver\n")
    done = crm("leads", "import", str(path))
    assert done.exit_code == 0, done.output
    [lead] = records(app, Lead)
    assert lead.custom == {"budget": 5.0, "tier": "Silver"}


@pytest.mark.usefixtures("synchronous_jobs")
def test_a_column_whose_name_fits_two_fields_is_for_the_mapping_to_say(app, api_client):
    add_fields(app, "lead", {"name": "company_size", "label": "Company", "field_type": "text"},
               {"name": "region", "label": "Area", "field_type": "text"},
               {"name": "area", "label": "Zone", "field_type": "text"})
    api = api_client()
    text = "Name,Company,Area\nAda,Engines,North\n"
    refused = upload(api, "leads", text)
    assert refused.status_code == 422
    assert refused.get_json()["errors"] == {"file": [
        "column 'Company' could fill company or custom.company_size: map it to one (or "
        "ignore it)",
        "column 'Area' could fill custom.region or custom.area: map it to one (or ignore it)"]}
    mapped = upload(api, "leads", text, mapping='{"Company": "custom.company_size", '
                                                '"Area": "custom.area"}')
    assert mapped.status_code == 202, mapped.get_data(as_text=True)
    [lead] = records(app, Lead)
    assert (lead.company, lead.custom) == ("", {"company_size": "Engines", "area": "North"})


def test_a_header_spelled_as_the_export_writes_it_is_that_field():
    """An export's own columns read back, whatever custom fields are labelled."""
    labelled = [SimpleNamespace(name="remark", label="tags")]
    assert [c.field for c in map_header("lead", ["full_name", "tags", "custom.remark"], {},
                                        labelled)] == ["full_name", "tags", "custom.remark"]
    with pytest.raises(HeaderProblems, match="column 'Tags' could fill tags or custom.remark"):
        map_header("lead", ["full_name", "Tags"], {}, labelled)


def test_the_mapping_page_guesses_owner_columns_and_says_which_fields_a_name_fits(
        app, client, make_user, login):
    add_fields(app, "contact", {"name": "area", "label": "City", "field_type": "text"})
    login(client, make_user("sales"))
    header = "Name,Contact owner,Lead Owner,Record owner,Sales rep,Owner,City"
    page = client.post("/contacts/import", content_type="multipart/form-data", data={
        "encoding": "utf-8-sig", "on_duplicate": "report", "action": "check",
        "file": (io.BytesIO(f"{header}\r\nAda,a@x.org,,,,,\r\n".encode()), "c.csv")})
    html = page.get_data(as_text=True)
    chosen = [re.search(r'<option value="([^"]*)" selected>', body)[1] for body in
              re.findall(r'<select id="map-\d+" name="map-\d+">(.*?)</select>', html, re.S)]
    assert chosen == ["full_name", *["owner"] * 5, "-"]
    assert "The column's name fits several fields (city, custom.area): choose one." in html


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
