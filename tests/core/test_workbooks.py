"""Excel workbooks: imported as the text a CSV would hold, exported as text
that never runs as a formula, and read back as they were written."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import date, datetime
from xml.sax.saxutils import escape

import openpyxl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from openpyxl.chart import BarChart, Reference
from sqlalchemy import func, select

from crmcore.db import transaction
from crmcore.errors import ValidationFailed
from crmcore.models import Lead
from crmcore.services import custom_fields as cf
from crmcore.services import imports, workbooks
from crmcore.services import records as svc
from crmcore.services.cells import FORMULA_STARTS
from crmcore.services.exports import export_csv, export_xlsx

pytestmark = pytest.mark.plugins()


def save(path, *rows, title="People"):
    """A workbook as Excel saves one: shared text, typed cells."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = title
    for row in rows:
        sheet.append(list(row))
    book.save(path)
    return path




def stored(app):
    with app.extensions["crm"].sessions() as s:
        return s.execute(select(Lead.full_name, Lead.emails, Lead.phones, Lead.company,
                                Lead.custom).order_by(Lead.id)).all()


def test_the_first_sheet_imports_with_typed_cells_as_text(app, tmp_path, make_user,
                                                          run_import):
    admin = make_user("admin")
    with transaction(app.extensions["crm"].sessions) as s:
        for name, kind in (("seats", "number"), ("since", "date"), ("vip", "boolean")):
            cf.create_field(s, s.merge(admin), {"record_type": "lead", "name": name,
                                                "label": name.title(), "field_type": kind})
    path = save(tmp_path / "people.xlsx",
                ["First Name", "Last Name", "Email", "Phone", "Company", "custom.seats",
                 "custom.since", "custom.vip", None, None],
                ["Ada", "Lovelace", "ada@x.org", "+1 202 555 0143", "=Engines", 12.0,
                 datetime(2024, 3, 1), True],
                [],  # an empty row: the rows after keep the numbers the sheet shows
                ["Grace", "Hopper", "grace@x.org", None, "'quoted", 2.5, date(2023, 1, 2),
                 False])
    book = openpyxl.load_workbook(path)
    book.active["E2"].data_type = "s"  # text typed as '=Engines, not a formula
    book.create_sheet("Notes")["A1"] = "not read"
    book.save(path)
    job = run_import(path, admin)
    assert job.status == "done" and job.created_count == 2, job.message
    assert stored(app) == [
        ("Ada Lovelace", ["ada@x.org"], ["+12025550143"], "=Engines",
         {"seats": 12.0, "since": "2024-03-01", "vip": True}),
        ("Grace Hopper", ["grace@x.org"], [], "'quoted",
         {"seats": 2.5, "since": "2023-01-02", "vip": False})]


def test_bad_rows_are_named_by_their_row_in_the_sheet(app, tmp_path, make_user, run_import):
    admin = make_user("admin")
    path = excel_saved(tmp_path / "bad.xlsx", [["Name", "Email"], ["Ada", "ada@x.org"], [], [],
                                               ["Bob", "not an email"],
                                               ["Cy", "cy@x.org", "", "stray"]])
    job = run_import(path, admin)
    assert job.status == "invalid" and job.total_rows == 3
    assert job.errors == [
        [5, "Email", "“not an email”: An email address must have an @-sign."],
        [6, "#4", "“stray”: A cell beyond the header's 2 columns: name its column in the header "
                  "(in a CSV: is a separator inside a cell not quoted?)."]]
    with app.extensions["crm"].sessions() as s:
        assert s.scalar(select(func.count()).select_from(Lead)) == 0
    assert run_import(path, admin, skip_bad_rows=True).created_count == 1


def test_an_import_reads_the_sheet_it_names(app, tmp_path, make_user, run_import):
    admin = make_user("admin")
    path = save(tmp_path / "book.xlsx", ["Called them all on Monday"], title="Notes")
    book = openpyxl.load_workbook(path)
    leads = book.create_sheet("Leads 2024")
    leads.append(["Name", "Email"])
    leads.append(["Ada", "ada@x.org"])
    chart = BarChart()
    chart.add_data(Reference(leads, min_col=1, min_row=1, max_row=2))
    book.create_chartsheet("Chart").add_chart(chart)
    book.save(path)
    first = run_import(path, admin)
    assert first.status == "invalid" and first.message.endswith(
        "(Read from the sheet “Notes”; the workbook also has “Leads 2024”.)")
    for wanted, message in (("Archive", "The workbook has no sheet “Archive”; its sheets of "
                                        "rows: “Notes”, “Leads 2024”."),
                            ("chart", "The sheet “chart” holds a chart, not rows: choose a "
                                      "sheet of rows.")):
        job = run_import(path, admin, sheet=wanted)
        assert (job.status, job.message, job.errors) == ("invalid", message,
                                                         [[0, "sheet", message]])
    job = run_import(path, admin, sheet=" LEADS 2024 ")  # as Excel compares names
    assert job.status == "done" and job.created_count == 1, job.message
    assert job.options["sheet"] == " LEADS 2024 "  # a resumed job reads the same sheet
    assert [row[0] for row in stored(app)] == ["Ada"]
    (tmp_path / "people.csv").write_text("Name,Email\nBob,bob@x.org\n")
    job = run_import(tmp_path / "people.csv", admin, sheet="Leads")
    assert (job.status, job.errors[0][1]) == ("invalid", "sheet")
    assert job.message == ("The file is read as CSV, which has no sheets: the sheet “Leads” "
                           "can be chosen only in an Excel workbook (.xlsx).")
    with pytest.raises(ValidationFailed) as refused:
        imports.ImportOptions(sheet=" ").check()
    assert refused.value.errors == {"sheet": ["A sheet's name: 1 to 31 characters."]}


def parts_of(path):
    """The parts of an Excel-saved workbook of one row, by name."""
    excel_saved(path, [["Name", "Email"]])
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name).decode() for name in archive.namelist()}


def zipped(path, **members):
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in members.items():
            archive.writestr(name, text)
    return path


@pytest.mark.parametrize(("make", "message"), [
    (lambda p: p.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504)),
     "an Excel 97-2003 workbook (.xls) or a workbook saved with a password"),
    (lambda p: zipped(p, **{"word/document.xml": "<w/>"}), "not an Excel workbook (.xlsx)"),
    (lambda p: p.write_bytes(b"PK\x03\x04 cut short"), "not an Excel workbook (.xlsx)"),
    (lambda p: save(p), "first sheet is empty or its first row (the header) is blank"),
    (lambda p: zipped(p, **{name: text.replace('<sheet name="Export" sheetId="1" r:id="rId1"/>',
                                               "") for name, text in parts_of(p).items()}),
     "first sheet is empty or its first row (the header) is blank"),  # no sheet at all
    (lambda p: save(p, [None, "  "], ["Ada", "a@x.org"]), "first row (the header) is blank"),
])
def test_a_file_that_is_no_readable_workbook_is_refused_before_writing(
        app, tmp_path, make_user, run_import, make, message):
    path = tmp_path / "people.xlsx"
    make(path)
    job = run_import(path, make_user("admin"))
    assert job.status == "invalid" and message in job.message
    assert job.created_count == 0


MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PARTS = "http://schemas.openxmlformats.org/package/2006/relationships"


def excel_saved(path, rows):
    """A workbook as Excel writes it, which openpyxl does not: every text in
    one shared table that cells point into, and empty rows left out."""
    shared: dict[str, int] = {}
    cells = []
    for number, row in enumerate(rows, start=1):
        row_cells = []
        for column, value in zip("ABCDEFGH", row, strict=False):
            if isinstance(value, tuple):  # a formula and its result
                formula, result = value
                row_cells.append(f'<c r="{column}{number}" t="str"><f>{escape(formula)}</f>'
                                 f'<v>{escape(result)}</v></c>')
            elif isinstance(value, str):
                index = shared.setdefault(escape(value), len(shared))
                row_cells.append(f'<c r="{column}{number}" t="s"><v>{index}</v></c>')
            else:
                row_cells.append(f'<c r="{column}{number}"><v>{value}</v></c>')
        if row_cells:  # Excel leaves empty rows out
            cells.append(f'<row r="{number}">{"".join(row_cells)}</row>')
    texts = "".join(f"<si><t>{text}</t></si>" for text in shared)
    zipped(path, **{
        "[Content_Types].xml": (
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
            'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxml'
            'formats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/'
            'worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument'
            '.spreadsheetml.worksheet+xml"/><Override PartName="/xl/sharedStrings.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.'
            'sharedStrings+xml"/></Types>'),
        "_rels/.rels": (
            f'<Relationships xmlns="{PARTS}"><Relationship Id="rId1" Type="{RELS}/'
            'officeDocument" Target="xl/workbook.xml"/></Relationships>'),
        "xl/workbook.xml": (
            f'<workbook xmlns="{MAIN}" xmlns:r="{RELS}"><sheets><sheet name="Export" '
            'sheetId="1" r:id="rId1"/></sheets></workbook>'),
        "xl/_rels/workbook.xml.rels": (
            f'<Relationships xmlns="{PARTS}"><Relationship Id="rId1" Type="{RELS}/worksheet" '
            f'Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="{RELS}/'
            'sharedStrings" Target="sharedStrings.xml"/></Relationships>'),
        "xl/worksheets/sheet1.xml": (
            f'<worksheet xmlns="{MAIN}"><dimension ref="A1:H{len(rows)}"/>'
            f'<sheetData>{"".join(cells)}</sheetData></worksheet>'),
        "xl/sharedStrings.xml": f'<sst xmlns="{MAIN}">{texts}</sst>',
    })
    return path


def test_a_sheet_broken_part_way_is_refused_naming_the_last_row_read(
        app, tmp_path, make_user, run_import):
    rows = [["Name", "Email"], *([f"P{i}", f"p{i}@x.org"] for i in range(3000))]
    path = excel_saved(tmp_path / "broken.xlsx", rows)
    with zipfile.ZipFile(path) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    sheet = "xl/worksheets/sheet1.xml"
    # A damaged archive: a byte of the packed sheet changed half-way.
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
        offset = archive.getinfo(sheet).header_offset
    damaged = bytearray(path.read_bytes())
    start = offset + 30 + len(sheet)  # past the member's local header
    damaged[start + archive.getinfo(sheet).compress_size // 2] ^= 0xFF
    path.write_bytes(bytes(damaged))
    job = run_import(path, make_user("admin"))
    assert job.status == "invalid" and job.created_count == 0
    assert re.match(r"The workbook cannot be read after row \d{3,4}: ", job.message), job.message
    # A broken sheet: its XML cut off inside a row.
    parts[sheet] = parts[sheet].replace(b'<row r="3">', b'<row r="3"><c oops</row>')
    zipped(path, **{name: data.decode() for name, data in parts.items()})
    job = run_import(path, make_user("admin"))
    assert job.status == "invalid" and job.created_count == 0
    assert job.message.startswith("The workbook cannot be read after row 2: ")


def test_a_workbook_with_shared_text_imports_and_its_size_is_bounded(
        app, tmp_path, make_user, run_import, monkeypatch):
    admin = make_user("admin")
    path = excel_saved(tmp_path / "excel.xlsx", [
        ["Name", "Email", "Company"], *([f"Person {i}", f"p{i}@x.org", "Acme & Co"]
                                        for i in range(200)), [], ["Last", "last@x.org", 7]])
    monkeypatch.setattr(workbooks, "MAX_SHARED_TEXT", 1024)
    job = run_import(path, admin)
    assert job.status == "invalid"
    assert "holds more text than an import reads from a workbook (0 MB)" in job.message
    monkeypatch.undo()
    job = run_import(path, admin)
    assert job.status == "done" and job.created_count == 201, job.message
    assert stored(app)[-1][:4] == ("Last", ["last@x.org"], [], "7")
    assert stored(app)[0][3] == "Acme & Co"


def sheet_of(data: bytes):
    return openpyxl.load_workbook(io.BytesIO(data)).worksheets[0]


def exported(app, actor, **filters) -> bytes:
    target = io.BytesIO()
    with transaction(app.extensions["crm"].sessions) as s:
        export_xlsx(s, s.merge(actor), svc.LEADS, target, filters)
    return target.getvalue()


def test_an_export_holds_what_the_csv_holds_and_no_formula(app, make_user):
    admin = make_user("admin")
    with transaction(app.extensions["crm"].sessions) as s:
        actor = s.merge(admin)
        cf.create_field(s, actor, {"record_type": "lead", "name": "seats", "label": "Seats",
                                   "field_type": "number"})
        svc.create(s, actor, svc.LEADS, {"full_name": "=HYPERLINK(\"http://x\")",
                                         "company": "-2+3", "emails": ["a@x.org"],
                                         "phones": ["+1 202 555 0143", "650 253 0000 x42"],
                                         "tags": ["a", "b"],
                                         "custom": {"seats": 2.5}, "source": "web"})
        svc.create(s, actor, svc.LEADS, {"full_name": "Other", "source": "fair"})
    sheet = sheet_of(exported(app, admin, source="web"))
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    with transaction(app.extensions["crm"].sessions) as s:
        header = next(iter(export_csv(s, s.merge(admin), svc.LEADS))).splitlines()[0]
    assert rows[0] == header.split(",") and len(rows) == 2
    values = dict(zip(rows[0], rows[1], strict=True))
    assert values["full_name"] == "=HYPERLINK(\"http://x\")" and values["company"] == "-2+3"
    assert values["phones"] == "+12025550143; +16502530000;ext=42" and values["tags"] == "a; b"
    assert values["custom.seats"] == 2.5 and isinstance(values["id"], int)
    assert values["stage"] == "New" and values["last_contacted_at"] is None
    assert sheet.freeze_panes == "A2"
    for cell in sheet[2]:
        assert cell.data_type != "f"
        text = isinstance(cell.value, str)
        assert cell.quotePrefix == (text and cell.value.startswith(FORMULA_STARTS)), cell


def test_an_export_longer_than_a_worksheet_is_refused(app, make_user, monkeypatch):
    admin = make_user("admin")
    with transaction(app.extensions["crm"].sessions) as s:
        for i in range(3):
            svc.create(s, s.merge(admin), svc.LEADS, {"full_name": f"Lead {i}"})
    monkeypatch.setattr(workbooks, "MAX_SHEET_ROWS", 3)
    with pytest.raises(ValidationFailed) as refused:
        exported(app, admin)
    assert "At most 2 rows fit in a worksheet" in refused.value.errors["format"][0]
    # Counted before anything is written (QA: 2.9M leads took 4.5 minutes).
    monkeypatch.setattr(workbooks, "write_sheet", lambda *args: pytest.fail("written"))
    with pytest.raises(ValidationFailed):
        exported(app, admin)
    monkeypatch.setattr(workbooks, "MAX_SHEET_ROWS", 4)  # three rows and the header fit
    with pytest.raises(pytest.fail.Exception, match="written"):
        exported(app, admin)


# Text a workbook can hold: XML 1.0 has no control characters but tab, LF, CR.
CELL_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters=[
    chr(c) for c in range(32) if chr(c) not in "\t\n\r"]), min_size=1)


@given(st.lists(CELL_TEXT, min_size=1, max_size=5))
def test_text_written_to_a_sheet_reads_back_as_the_import_takes_it(values):
    target = io.BytesIO()
    workbooks.write_sheet(target, "Sheet", ["a"], [[v] for v in values])
    path = io.BytesIO(target.getvalue())
    book = openpyxl.load_workbook(path, read_only=True)
    read = [workbooks.cell_text(row[0]) for row in book.worksheets[0].iter_rows(
        min_row=2, values_only=True)]
    book.close()
    # openpyxl writes a cell's line ends as they are; XML reads CR LF and CR as LF.
    assert read == [v.replace("\r\n", "\n").replace("\r", "\n") for v in values]


def test_characters_a_workbook_cannot_hold_are_replaced_not_refused():
    target = io.BytesIO()
    workbooks.write_sheet(target, "Sheet", ["a"], [["bell\x07 in the middle"], ["\x01=1+2"]])
    sheet = sheet_of(target.getvalue())
    assert [c.value for c in sheet["A"]] == ["a", "bell\ufffd in the middle", "\ufffd=1+2"]
    assert sheet["A3"].data_type == "s"


def test_formulas_import_their_saved_results_and_unsaved_ones_are_refused(app, tmp_path,
                                                                         make_user, run_import):
    admin = make_user("admin")
    # As Excel saves a formula: the formula, then its result.
    saved = excel_saved(tmp_path / "saved.xlsx", [["Name", "Email", "Company"],
                                                  ["Ada", "ada@x.org", ("A2&\" Ltd\"", "Ada Ltd")],
                                                  ["Al", "al@x.org", ('IF(1,"","x")', "")]])
    job = run_import(saved, admin)
    assert job.status == "done" and job.created_count == 2, job.message
    assert [row[3] for row in stored(app)] == ["Ada Ltd", ""]
    # As a program writes one (openpyxl here): the formula alone.
    book = openpyxl.Workbook()
    book.active.append(["Name", "Email", "Company"])
    book.active.append(["Bob", "bob@x.org", "Beta"])
    book.active.append(["Cy", "cy@x.org", '=A3&" Ltd"'])
    book.save(tmp_path / "unsaved.xlsx")
    job = run_import(tmp_path / "unsaved.xlsx", admin)
    message = ("The cell C3 holds a formula whose result the file does not hold (a program "
               "wrote the formula without working it out): open the workbook in a "
               "spreadsheet and save it, or save it as CSV.")
    assert (job.status, job.message, job.errors) == ("invalid", message, [[0, "file", message]])
    assert len(stored(app)) == 2
