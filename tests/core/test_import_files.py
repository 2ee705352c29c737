"""Reading an import's file as people save it: a workbook's hidden sheets, its
zero-padded numbers, phones that Excel kept as numbers, and UTF-16 text, through
the command line, the web page, the API and the service."""

from __future__ import annotations

import contextlib
import io
import re
import sqlite3
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from click.testing import CliRunner
from marshmallow import ValidationError
from sqlalchemy import select

from crmcore.cli import cli
from crmcore.models import Contact, Lead
from crmcore.schemas.records import normalize_phone
from crmcore.services import imports, workbooks
from crmcore.services import records as svc

pytestmark = pytest.mark.plugins()


def workbook(path: Path, sheets: dict[str, list[list[Any]]], hidden: dict[str, str] | None = None,
             formats: dict[str, str] | None = None) -> Path:
    """A workbook of ``sheets`` (title: rows, in order); ``hidden`` gives sheets
    their state ("hidden" or "veryHidden"), ``formats`` cells their number format."""
    book = openpyxl.Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
        sheet.sheet_state = (hidden or {}).get(title, "visible")
    for reference, code in (formats or {}).items():
        title, cell = reference.split("!")
        book[title][cell].number_format = code
    book.active = next(i for i, s in enumerate(book.worksheets) if s.sheet_state == "visible")
    book.save(path)
    return path


def hidden_first(path: Path) -> Path:
    """QA's workbook: an old list, hidden, before the leads people see."""
    return workbook(path, {"Old list 2019": [["Name", "Email"], ["Stale Sam", "stale@old.com"]],
                           "Leads": [["Name", "Email"], ["Fresh Fay", "fresh@new.com"]]},
                    hidden={"Old list 2019": "hidden"})




@pytest.fixture
def crm(tmp_path):
    """``crm(*args, **env)``: the command line on an instance of its own (SQLite)."""
    env = {"CRM_INSTANCE_PATH": str(tmp_path / "instance"),
           "CRM_DATABASE_URL": f"sqlite:///{tmp_path / 'crm.sqlite3'}", "CRM_PLUGINS": "none"}

    def run(*args: str, **extra: str) -> Any:
        return CliRunner().invoke(cli, list(args), env={**env, **extra}, catch_exceptions=False)

    assert run("init").exit_code == 0
    run.db_file = tmp_path / "crm.sqlite3"
    return run


@pytest.fixture
def synchronous_jobs(monkeypatch):
    """Each import runs inside the request that queues it."""
    monkeypatch.setattr("crmcore.jobs.dispatch_import", imports.run)


def sqlite(crm) -> contextlib.closing[sqlite3.Connection]:
    """The command line's database."""
    return contextlib.closing(sqlite3.connect(crm.db_file))


def names(app, model=Lead) -> list[str]:
    column = model.full_name if model is Lead else model.last_name
    with app.extensions["crm"].sessions() as s:
        return list(s.scalars(select(column).order_by(model.id)))


# -- hidden sheets -----------------------------------------------------------------------


def test_an_import_reads_the_first_sheet_not_hidden_and_a_hidden_one_by_name(
        app, tmp_path, run_import):
    path = workbook(tmp_path / "book.xlsx", {
        "Old list 2019": [["Name", "Email"], ["Stale Sam", "stale@old.com"]],
        "Lookup": [["Name", "Email"], ["Very Hidden", "very@hidden.com"]],
        "Leads": [["Name", "Email"], ["Fresh Fay", "fresh@new.com"]]},
        hidden={"Old list 2019": "hidden", "Lookup": "veryHidden"})
    assert run_import(path).created_count == 1
    assert names(app) == ["Fresh Fay"]
    for wanted, name in (("old list 2019", "Stale Sam"), ("Lookup", "Very Hidden")):
        job = run_import(path, sheet=wanted)
        assert (job.status, job.created_count) == ("done", 1), job.message
        assert names(app)[-1] == name


def test_a_refused_sheet_says_it_was_read_and_hidden_ones_passed_over_once(tmp_path,
                                                                             run_import):
    path = workbook(tmp_path / "book.xlsx", {
        "Old": [["Name", "Email"], ["Stale Sam", "stale@old.com"]],
        "Notes": [["Called them all on Monday"]],
        "Leads": [["Name", "Email"], ["Fresh Fay", "fresh@new.com"]]}, hidden={"Old": "hidden"})
    note = ("Read from the sheet “Notes”, the first not hidden; the workbook also has “Leads” "
            "and the hidden sheet “Old”, read only when named.")
    job = run_import(path)
    assert job.status == "invalid" and job.message.endswith(f" ({note})")
    assert job.message.count("Read from") == 1
    named = run_import(path, sheet="old", mapping={"Name": "-"})  # no name: refused
    assert named.status == "invalid" and named.message.endswith(
        " (Read from the hidden sheet “Old”; the workbook also has “Notes”, “Leads”.)")


def test_the_cli_imports_the_visible_sheet_and_says_the_sheet_note_once(crm, tmp_path):
    path = hidden_first(tmp_path / "leads.xlsx")
    done = crm("leads", "import", str(path))
    assert "import #1 done: Created 1," in done.output, done.output
    # QA's workbook: a hidden sheet of junk first, named here.
    path = workbook(tmp_path / "contacts.xlsx", {"raw": [["junk"], ["x"]], "Contacts": [
        ["Name", "Email"], ["Visible Vera", "vera@example.com"]]}, hidden={"raw": "hidden"})
    refused = crm("contacts", "import", str(path), "--sheet", "raw", "--dry-run")
    assert refused.exit_code == 1
    # Both problems, then the note once; nothing repeated, glued, under "file:".
    assert refused.output.rstrip().endswith(
        "column 'junk' matches no field; no column gives last_name (a column of full_name or "
        "last_name would). Fields: city, company, country, emails, first_name, full_name, "
        "last_name, lifecycle_stage, opt_outs, owner, phones, postal_code, street, tags. "
        "(Read from the hidden sheet “raw”; the workbook also has “Contacts”.)"), refused.output
    assert refused.output.count("Read from") == 1 and "  file:" not in refused.output


@pytest.mark.usefixtures("synchronous_jobs")
def test_the_api_imports_the_visible_sheet(app, api_client, tmp_path):
    data = hidden_first(tmp_path / "leads.xlsx").read_bytes()
    response = api_client().post("/api/v1/leads/imports", data={
        "file": (io.BytesIO(data), "leads.xlsx")}, content_type="multipart/form-data")
    assert response.status_code == 202, response.get_data(as_text=True)
    assert names(app) == ["Fresh Fay"]


def test_the_web_mapping_page_reads_the_visible_sheet_and_marks_hidden_ones(
        app, client, make_user, login, tmp_path):
    login(client, make_user("sales"))
    data = hidden_first(tmp_path / "leads.xlsx").read_bytes()
    html = client.post("/leads/import", data={
        "encoding": "utf-8-sig", "on_duplicate": "report", "action": "check",
        "file": (io.BytesIO(data), "leads.xlsx")},
        content_type="multipart/form-data").get_data(as_text=True)
    assert "Read from the sheet “Leads”" in html and "Fresh Fay" in html
    assert "Stale Sam" not in html
    choice = re.search(r'<select id="sheet".*?</select>', html, re.S).group(0)
    assert re.findall(r'<option value="([^"]*)"( selected)?>([^<]*)</option>', choice) == [
        ("Old list 2019", "", "Old list 2019 (hidden)"), ("Leads", " selected", "Leads")]


# -- numbers in a format of zeros --------------------------------------------------------


def test_a_number_in_a_format_of_zeros_reads_as_the_sheet_shows_it(tmp_path):
    rows = [["Name", "Zip", "Zip+4", "Phone", "Code"],
            ["Zip Zero", 2134, 12345678, 151234567, 7],
            ["Plz Dresden", 1067, 1067, 0, 12.5],
            ["Big Zip", 123456, True, -5, 42]]
    formats = {"People!B2": "00000", "People!B3": "00000", "People!B4": "00000",
               "People!C2": "00000-0000",  # Excel's Zip Code + 4
               "People!C3": '"D-"00000', "People!C4": "00000",  # a boolean stays one
               "People!D2": "0000000000",  # a phone kept as a number
               "People!D3": '00;-00;"none"',  # zero has a section of its own
               "People!D4": "00000",  # a negative number is read as it is
               "People!E2": "[$-407]00", "People!E3": "00", "People!E4": "0"}
    path = workbook(tmp_path / "zips.xlsx", {"People": rows}, formats=formats)
    with workbooks.sheet_rows(path) as (_, _, header, rows, _):
        assert header == ["Name", "Zip", "Zip+4", "Phone", "Code"]
        assert list(rows) == [["Zip Zero", "02134", "01234-5678", "0151234567", "07"],
                              ["Plz Dresden", "01067", "D-01067", "0", "12.5"],
                              # "'" as for any cell starting like a formula
                              ["Big Zip", "123456", "true", "'-5", "42"]]


def test_zip_codes_kept_as_numbers_import_with_their_leading_zero(app, tmp_path, run_import):
    """QA: 2134 formatted 00000 (Excel shows 02134) was imported as "2134"."""
    path = workbook(tmp_path / "contacts.xlsx", {"Contacts": [
        ["First name", "Last name", "Email", "Postal code"],
        ["Zip", "Zero", "zip@example.com", 2134], ["Plz", "Dresden", "plz@example.de", 1067]]},
        formats={"Contacts!D2": "00000", "Contacts!D3": "00000"})
    assert run_import(path, kind=svc.CONTACTS).created_count == 2
    with app.extensions["crm"].sessions() as s:
        assert s.execute(select(Contact.last_name, Contact.postal_code).order_by(
            Contact.id)).all() == [("Zero", "02134"), ("Dresden", "01067")]


# -- UTF-16 text -------------------------------------------------------------------------

# As Excel saves "Unicode Text": UTF-16 with its byte order mark, cells separated by tabs.
UNICODE_TEXT = "Name\tEmail\tCompany\r\nÜnal Yılmaz\tunal@example.tr\tİstanbul A.Ş.\r\n" \
               "李雷\tlilei@example.cn\t公司, Ltd\r\n"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be"])  # with its BOM; big-endian too
def test_excels_unicode_text_imports_without_naming_its_encoding(app, crm, tmp_path,
                                                                 encoding):
    path = tmp_path / "Unicode Text.txt"
    data = UNICODE_TEXT.encode(encoding)
    path.write_bytes(data if encoding == "utf-16" else "\ufeff".encode(encoding) + data)
    done = crm("leads", "import", str(path))
    assert "import #1 done: Created 2," in done.output, done.output
    with sqlite(crm) as db:
        assert db.execute("SELECT full_name, company FROM leads ORDER BY id").fetchall() == [
            ("Ünal Yılmaz", "İstanbul A.Ş."), ("李雷", "公司, Ltd")]


@pytest.mark.usefixtures("synchronous_jobs")
def test_the_api_imports_unicode_text(app, api_client):
    response = api_client().post("/api/v1/leads/imports", data={
        "file": (io.BytesIO(UNICODE_TEXT.encode("utf-16")), "people.txt")},
        content_type="multipart/form-data")
    assert response.status_code == 202, response.get_data(as_text=True)
    assert names(app) == ["Ünal Yılmaz", "李雷"]


@pytest.mark.usefixtures("synchronous_jobs")
def test_the_web_page_reads_unicode_text_as_utf16_and_offers_it(app, client, make_user, login):
    login(client, make_user("sales"))
    assert '<option value="utf-16"' in client.get("/leads/import").get_data(as_text=True)
    page = client.post("/leads/import", data={
        "encoding": "utf-8-sig", "on_duplicate": "report", "action": "import",
        "file": (io.BytesIO(UNICODE_TEXT.encode("utf-16")), "people.txt")},
        content_type="multipart/form-data")
    html = page.get_data(as_text=True)
    assert page.status_code == 200, html
    assert "Read as UTF-16 (Excel&#39;s Unicode Text), cells separated by tabs" in html
    assert "İstanbul A.Ş." in html and "公司, Ltd" in html
    form = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html))
    form.update({f"map-{i}": field for i, field in enumerate(["full_name", "emails", "company"])})
    form.update(encoding="utf-16", delimiter="tab", on_duplicate="report", action="import")
    response = client.post("/leads/import/mapping", data=form)
    assert response.status_code == 303, response.get_data(as_text=True)
    assert names(app) == ["Ünal Yılmaz", "李雷"]


# -- phones Excel kept as numbers --------------------------------------------------------

AMBIGUOUS = ("Could be +49 1511 2345678 or +49 491 5112345678: write it with + and the "
             "country code.")


@pytest.mark.parametrize(("region", "written", "stored"), [
    # National numbers as people (and Excel, dropping a leading 0) write them.
    ("US", "2025550123", "+12025550123"), ("US", "4155552671", "+14155552671"),
    ("US", "12025550123", "+12025550123"), ("US", "+1 202-555-0123", "+12025550123"),
    ("CA", "6135550142", "+16135550142"),
    ("GB", "2079460958", "+442079460958"), ("GB", "7911123456", "+447911123456"),
    ("GB", "07911 123456", "+447911123456"),
    ("DE", "015112345678", "+4915112345678"), ("DE", "15112345678", "+4915112345678"),
    # Read as +1 601 234 5678 too, but not starting with 49: Germany's mobile.
    ("DE", "16012345678", "+4916012345678"),
    ("DE", "3012345678", "+493012345678"), ("FR", "612345678", "+33612345678"),
    ("IT", "3471234567", "+393471234567"),
    # The region's code, "+" dropped, where only that reading is a number.
    ("DE", "493012345678", "+493012345678"), ("GB", "447911123456", "+447911123456"),
    ("FR", "33612345678", "+33612345678"), ("IT", "393471234567", "+393471234567"),
    ("DE", "+49 491 5112345678", "+494915112345678"),  # written whole, not a guess
    ("DE", "0491 5112345678", "+494915112345678"),
])
def test_phones_written_as_digits_read_as_one_number(monkeypatch, region, written, stored):
    monkeypatch.setenv("CRM_PHONE_REGION", region)
    assert normalize_phone(written) == stored


def test_digits_that_read_as_two_numbers_are_refused_naming_both(monkeypatch):
    monkeypatch.setenv("CRM_PHONE_REGION", "DE")
    for written in ("4915112345678", " 4915112345678 "):
        with pytest.raises(ValidationError) as refused:
            normalize_phone(written)
        assert refused.value.messages == [AMBIGUOUS]


def test_a_phone_cell_excel_kept_as_a_number_is_refused_when_it_reads_two_ways(
        app, crm, tmp_path):
    """QA: 4915112345678 (+49 151 12345678 without its "+") was stored as
    +494915112345678."""
    path = workbook(tmp_path / "contacts.xlsx", {"Contacts": [
        ["Name", "Email", "Phone"], ["Anna Schmidt", "anna@example.de", 4915112345678],
        ["Bernd Meier", "bernd@example.de", 15112345678]]})
    refused = crm("contacts", "import", str(path), CRM_PHONE_REGION="DE")
    assert refused.exit_code == 1
    assert f"row 2, column Phone: “4915112345678”: {AMBIGUOUS}" in refused.output
    skipped = crm("contacts", "import", str(path), "--skip-bad-rows", CRM_PHONE_REGION="DE")
    assert "Created 1, updated 0, skipped 0, left out 1 bad row(s)" in skipped.output
    csv = tmp_path / "contacts.csv"  # Excel's CSV of that sheet: digits alone too
    csv.write_text("Name,Email,Phone\nCarla Huber,carla@example.de,4915112345678\n")
    assert AMBIGUOUS in crm("contacts", "import", str(csv), CRM_PHONE_REGION="DE").output
    with sqlite(crm) as db:
        assert db.execute("SELECT last_name, phones FROM contacts").fetchall() == [
            ("Meier", '["+4915112345678"]')]


def test_the_api_refuses_a_phone_that_reads_two_ways(api_client, monkeypatch):
    monkeypatch.setenv("CRM_PHONE_REGION", "DE")
    response = api_client().post("/api/v1/leads", json={
        "full_name": "Anna Schmidt", "phones": ["4915112345678"]})
    assert response.status_code == 422
    assert response.get_json()["errors"]["phones"] == {"0": [AMBIGUOUS]}


# -- the command line's progress ---------------------------------------------------------


def test_the_cli_progress_counts_rows_done_not_rows_written(crm, tmp_path):
    """QA: "5 rows written" when 1 row was written and 4 left out as bad."""
    path = tmp_path / "leads.csv"
    path.write_text("Name,Email\nGood Gus,gus@example.com\n"
                    + "".join(f"Bad {i},not-an-email-{i}\n" for i in range(4)))
    done = crm("leads", "import", str(path), "--skip-bad-rows")
    assert "import #1: 5 of 5 rows done" in done.stderr and "written" not in done.stderr
    assert "Created 1, updated 0, skipped 0, left out 4 bad row(s)" in done.stdout
