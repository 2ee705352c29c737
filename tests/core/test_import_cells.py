"""What an import cell (and the same value through the API) means: columns
found by a custom field's name or label, choices in any case, tags, dates,
whole names, and problems that quote the cell they are about."""

from __future__ import annotations

import csv
import io
import re
from types import SimpleNamespace

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError
from sqlalchemy import select

from crmcore.cli import cli
from crmcore.db import transaction
from crmcore.models import Contact, Lead
from crmcore.schemas.records import input_schema, split_name
from crmcore.services import custom_fields as custom_svc
from crmcore.services import imports as import_svc
from crmcore.services import records as svc
from crmcore.services.import_rows import (
    HeaderProblems,
    RowValidator,
    _flatten,
    map_header,
    quoted,
)
from tests.core.test_import_rows import cells, items, read_cell, told


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


@pytest.mark.usefixtures("synchronous_jobs")
def test_dates_year_first_are_read_and_others_say_the_form_wanted(app, api_client):
    """QA #14: 2023-3-5 and a workbook's 2023-03-15 00:00:00 were "Not a valid
    date.", which did not say what would be."""
    add_fields(app, "lead", {"name": "signed", "label": "Signed", "field_type": "date"})
    api = api_client()
    made = api.post("/api/v1/leads", json={"full_name": "Api", "custom": {"signed": "2023-3-5"}})
    assert made.get_json()["custom"] == {"signed": "2023-03-05"}
    refused = api.post("/api/v1/leads", json={"full_name": "X",
                                              "custom": {"signed": "03/15/2023"}})
    assert refused.get_json()["errors"] == {"custom": {"signed": [
        "Not a valid date. Its day and month could come in either order: write it as "
        "YYYY-MM-DD (2023-03-15)."]}}
    job = upload(api, "leads", "Name,Signed\nA,2023-03-15 00:00:00\nB,2023/3/5\nC,15.03.2023\n"
                               "D,2023-03-15 13:45\nE,2023-02-30\n",
                 skip_bad_rows="true").get_json()
    assert [lead.custom for lead in records(app, Lead)][1:] == [{"signed": "2023-03-15"},
                                                                {"signed": "2023-03-05"}]
    assert [e["message"] for e in api.get(f"/api/v1/imports/{job['id']}").get_json()["errors"]
            ] == [
        "“15.03.2023”: Not a valid date. Its day and month could come in either order: write "
        "it as YYYY-MM-DD (2023-03-15).",
        "“2023-03-15 13:45”: Not a valid date. It has a time of day: write the date alone, "
        "as YYYY-MM-DD (2023-03-15).",
        "“2023-02-30”: Not a valid date. No such day."]


def test_a_whole_name_is_split_last_name_first_with_its_suffix_and_particles(
        app, crm, tmp_path, make_user):
    """QA #11: "Lovelace, Ada" was first name "Lovelace,", "Martin Luther King
    Jr." last name "Jr.", "Jan van der Berg" last name "Berg"."""
    path = tmp_path / "contacts.csv"
    path.write_text('Name,Email\n"Lovelace, Ada",a@x.org\nMartin Luther King Jr.,m@x.org\n'
                    'Jan van der Berg,j@x.org\n"King, Martin Luther, Jr.",k@x.org\n'
                    "Madonna,md@x.org\nVan Morrison,v@x.org\n")
    assert crm("contacts", "import", str(path)).exit_code == 0
    assert [(c.first_name, c.last_name) for c in records(app, Contact)] == [
        ("Ada", "Lovelace"), ("Martin Luther", "King Jr."), ("Jan", "van der Berg"),
        ("Martin Luther", "King Jr."), ("", "Madonna"), ("Van", "Morrison")]
    # Converting a lead splits its name the same way.
    admin = make_user("admin")
    with transaction(app.extensions["crm"].sessions) as s:
        lead = svc.create(s, admin, svc.LEADS, {"full_name": "de la Cruz, Maria"})
        contact = svc.convert_lead(s, admin, lead)
        assert (contact.first_name, contact.last_name) == ("Maria", "de la Cruz")


# -- problems quote their cell ----------------------------------------------------------------


@pytest.mark.usefixtures("synchronous_jobs")
def test_a_problem_quotes_the_cell_and_the_stages_a_stage_must_be(app, api_client):
    """QA #14: "Unknown stage." did not say which stages there are, and most
    problems did not say what the cell held."""
    api = api_client()
    long_company = "Acme " * 50
    job = upload(api, "leads", "Name,Email,Stage,Company\n"
                               f"Ada,\"=HYPERLINK(\"\"x\"\")\",Qualifed,{long_company}\n"
                 ).get_json()
    problems = api.get(f"/api/v1/imports/{job['id']}/problems.csv").get_data(as_text=True)
    stages = ", ".join(s["name"] for s in api.get("/api/v1/stages").get_json()["items"])
    assert list(csv.reader(io.StringIO(problems)))[1:] == [
        ["2", "Email", "“=HYPERLINK(\"x\")”: An email address must have an @-sign."],
        ["2", "Stage", f"“Qualifed”: Unknown stage. Must be one of: {stages}."],
        ["2", "Company", f"“{long_company[:39]}…”: Longer than maximum length 200."]]


def test_a_quote_is_one_line_and_short():
    assert quoted("a\r\nb\tc") == "“a\\nb\\tc”"
    assert quoted("x" * 41) == "“" + "x" * 39 + "…”"
    # Shortened as read: a file's "\r\n" is one line break.
    assert quoted("a\r\n" + "x" * 38) == quoted("a\n" + "x" * 38) == "“a\\n" + "x" * 38 + "”"


# -- the fast validator answers as the schema, for contacts and custom fields ----------------

CUSTOM = [SimpleNamespace(name="tier", label="Customer tier", field_type="choice",
                          choices=["Gold", "Silver", "Bronze"], required=False),
          SimpleNamespace(name="signed", label="Signed on", field_type="date", choices=[],
                          required=False),
          SimpleNamespace(name="vip", label="VIP", field_type="boolean", choices=[],
                          required=False)]
HEADER = ["Last name", "Lifecycle stage", "Opt outs", "Tags", "Country", "Customer tier",
          "Signed on", "VIP"]
COLUMNS = map_header("contact", HEADER, {}, CUSTOM)
FIELD_OF = {c.header: c.field for c in COLUMNS}
VALIDATOR = RowValidator("contact", COLUMNS, custom=CUSTOM, owners={}, stages={},
                         may_set_owner=False)
SCHEMA = input_schema(SimpleNamespace(crm_schema_fields=lambda record_type: []), "contact",
                      custom_fields=CUSTOM)
choices = st.sampled_from(["lead", "Lead", "PROSPECT", "customer ", "leads", "", "gold",
                           "Silver", "bronze", "BRONZE"])
dates = st.sampled_from(["2023-03-15", "2023-3-5", "2023/03/15", "2023-03-15 00:00:00",
                         "2023-03-15T00:00", "20230315", "03/15/2023", "15.03.2023",
                         "2023-02-30", "2023-03-15 13:45", "x", "2023-13-01"])
rows = st.tuples(
    st.sampled_from(["Lee", "", "x" * 101]), choices,
    cells(st.sampled_from(["email", "EMAIL", "Sms", "fax", "pigeon", ""])),
    cells(st.sampled_from(["vip", "VIP", "a,b", "t" * 51, ""]), st.text(max_size=6)),
    st.sampled_from(["GB", "gb", "GBR", ""]), choices, dates,
    st.sampled_from(["yes", "No", "1", "maybe", ""])).map(list)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(rows)
@example(["Lee", "Lead", "EMAIL;email", "VIP; vip,x", "gb", "silver", "2023-3-5", "yes"])
def test_contact_and_custom_cells_answer_as_the_full_schema(row):
    values, problems = VALIDATOR.convert(row)
    data: dict = {}
    for header, raw in zip(HEADER, row, strict=True):
        field, cell = FIELD_OF[header], read_cell(raw)
        if not cell:
            continue
        if field.startswith("custom."):
            data.setdefault("custom", {})[field[7:]] = cell
        else:
            data[field] = items(field, cell) if field in ("opt_outs", "tags") else cell
    try:
        expected, errors = SCHEMA.load(data), {}
    except ValidationError as exc:
        expected, errors = {}, exc.messages
    custom_errors = errors.pop("custom", {})
    answer = {**told(data, errors), **{
        f"custom.{name}": f"{quoted(data['custom'][name])}: {_flatten(messages)}"
        for name, messages in custom_errors.items()}}
    assert {FIELD_OF[header]: message for header, message in problems} == answer
    if not problems:
        assert values == expected


def test_split_name_reads_a_comma_suffixes_and_particles():
    assert [split_name(name) for name in (
        "Lovelace, Ada", "Gates, Bill III", "King, Jr.", "Maria de la Cruz", "Ada  Lovelace,",
        "de Gaulle", "Smith, John, Paul", "")] == [
        ("Ada", "Lovelace"), ("Bill", "Gates III"), ("", "King Jr."), ("Maria", "de la Cruz"),
        ("Ada", "Lovelace"), ("", "de Gaulle"), ("Smith, John,", "Paul"), ("", "")]
