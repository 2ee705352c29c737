"""The main web flow in a real browser (Debian's Chromium through Playwright)."""

from __future__ import annotations

import openpyxl
import pytest
from sqlalchemy import select

from crmcore.db import transaction
from crmcore.models import Lead
from crmcore.services import records as svc
from crmcore.testing import DEFAULT_PASSWORD

pytestmark = pytest.mark.browser

XSS = "<script>window.__pwned=1</script><img src=x onerror=alert(1)>"


def sign_in(page, live_server, user):
    page.goto(live_server.url + "/login")
    page.fill("#email", user.email)
    page.fill("#password", DEFAULT_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(live_server.url + "/")


def to_leads(page, live_server):
    """Follow the nav's Leads link and wait for the list: counting its rows
    before it loaded would count the page before it."""
    page.click("nav >> text=Leads")
    page.wait_for_url(live_server.url + "/leads")


def test_lead_lifecycle(page, live_server, make_user):
    page.set_default_timeout(5000)
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    user = make_user("sales")
    sign_in(page, live_server, user)
    assert page.locator("h1").inner_text() == "Dashboard"

    page.click("nav >> text=Leads")
    page.click("text=New lead")
    page.fill("#f-full_name", "Browser Lead")
    page.fill("#f-emails", "browser@example.com")
    page.fill("#f-source", "web")
    page.click("button:has-text('Create lead')")
    page.wait_for_url("**/leads/*")
    assert page.locator("h1").inner_text() == "Browser Lead"

    page.goto(live_server.url + "/leads")
    page.fill("#q", "brow")
    page.click("button:has-text('Filter')")
    page.wait_for_url("**q=brow*")
    assert page.locator("table.records tbody tr").count() == 1
    page.fill("#q", "zzz")
    page.click("button:has-text('Filter')")
    page.wait_for_url("**q=zzz*")
    assert "No leads match." in page.locator("table.records").inner_text()

    page.goto(live_server.url + "/leads?q=browser")
    page.click("table.records >> text=Browser Lead")
    page.click("text=Edit")
    page.fill("#f-full_name", "Browser Lead Edited")
    page.click("button:has-text('Save')")
    page.wait_for_url("**/leads/*")
    assert page.locator("h1").inner_text() == "Browser Lead Edited"
    assert "Browser Lead Edited" in page.locator(".timeline").inner_text()

    page.fill("#comment-body", "Called from the browser")
    page.click("button:has-text('Comment')")
    assert "Called from the browser" in page.locator(".timeline").inner_text()

    page.click("button:has-text('Delete')")
    page.wait_for_url(live_server.url + "/leads")
    assert "went to the recycle bin" in page.locator(".flash").inner_text()

    page.click("nav >> text=Recycle bin")
    row = page.locator("tr", has_text="Browser Lead Edited")
    row.locator("button:has-text('Restore')").click()
    assert "was restored" in page.locator(".flash").inner_text()
    page.goto(live_server.url + "/leads")
    assert page.locator("table.records >> text=Browser Lead Edited").count() == 1
    assert not [e for e in errors if "Content Security Policy" in e], errors


def test_xss_lead_name_does_not_run(page, live_server, make_user, app):
    page.set_default_timeout(5000)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    user = make_user("sales")
    with transaction(app.extensions["crm"].sessions) as session:
        lead = svc.create(session, session.merge(user), svc.LEADS, {"full_name": XSS})
    sign_in(page, live_server, user)
    for path in ("/leads", f"/leads/{lead.id}", "/"):
        page.goto(live_server.url + path)
        assert page.evaluate("typeof window.__pwned") == "undefined", path
        assert XSS in page.locator("main").inner_text(), path
    assert dialogs == []


def test_merge_two_leads(page, live_server, make_user, app):
    page.set_default_timeout(5000)
    user = make_user("sales")
    with transaction(app.extensions["crm"].sessions) as session:
        owner = session.merge(user)
        keep = svc.create(session, owner, svc.LEADS, {
            "full_name": "Merge Me", "company": "Acme", "source": "fair"})
        other = svc.create(session, owner, svc.LEADS, {
            "full_name": "Merge Me", "company": "Acme", "source": "web"})
        keep_id, other_id = keep.id, other.id
    sign_in(page, live_server, user)
    page.goto(f"{live_server.url}/leads/{keep_id}")
    page.locator(".duplicates").get_by_role("link", name="Merge…").click()
    page.wait_for_url(f"**/leads/{keep_id}/merge/{other_id}")
    assert page.locator(f"#m-source-{keep_id}").is_checked()
    page.check(f"#m-source-{other_id}")
    page.click("button:has-text('Merge into')")
    page.wait_for_url(f"{live_server.url}/leads/{keep_id}")
    assert "were merged" in page.locator(".flash").inner_text()
    details = page.locator("dl.fields").inner_text()
    assert "web" in details and "fair" not in details
    assert page.locator(".duplicates").count() == 0
    page.goto(f"{live_server.url}/recycle-bin")
    assert page.locator("#bin-lead tr", has_text="Merge Me").count() == 1


def test_duplicates_are_found_and_merged_one_set_after_another(page, live_server, make_user,
                                                               app):
    page.set_default_timeout(5000)
    user = make_user("sales")
    with transaction(app.extensions["crm"].sessions) as session:
        owner = session.merge(user)
        made = [svc.create(session, owner, svc.LEADS, values).id for values in (
            {"full_name": "Ada Lovelace", "company": "Engines Ltd", "source": "fair"},
            {"full_name": "ADA LOVELACE", "company": "engines", "source": "web"},
            {"full_name": "Bo", "phones": ["+12025550143"]},
            {"full_name": "Bo", "phones": ["+1 202 555 0143"]},
            {"full_name": "Cy Young", "company": "Acme"},
            {"full_name": "Cy Young", "company": "ACME Inc."},
            {"full_name": "Dee Park", "emails": ["dee@work.example"]},
            {"full_name": "Eve Stone", "emails": ["eve@home.example", "Dee@Work.example"]},
        )]
    sign_in(page, live_server, user)
    page.goto(f"{live_server.url}/leads")
    page.get_by_role("link", name="Find duplicates").click()
    page.wait_for_url("**/leads/duplicates")
    assert page.locator(".duplicate-set").count() == 3

    # Two people of one name at one company: not duplicates.
    page.locator(".duplicate-set", has_text="Cy Young").get_by_role(
        "button", name="Not duplicates").click()
    page.wait_for_url("**/leads/duplicates?by=name")
    assert "different people" in page.locator(".flash").inner_text()
    assert page.locator(".duplicate-set").count() == 2

    page.locator(".duplicate-set", has_text="Ada Lovelace").get_by_role(
        "link", name=f"Merge into #{made[0]}").click()
    page.wait_for_url(f"**/leads/{made[0]}/merge/{made[1]}?back=name")
    page.check(f"#m-source-{made[1]}")
    page.click("button:has-text('Merge into')")
    page.wait_for_url(f"{live_server.url}/leads/duplicates?by=name")
    assert "were merged" in page.locator(".flash").inner_text()
    assert page.locator(".duplicate-set").count() == 1  # Bo and Bo remain

    page.get_by_role("link", name="Same phone").click()
    page.wait_for_url("**/leads/duplicates?by=phone")
    page.locator(".duplicate-set").get_by_role("button", name=f"Merge all into #{made[2]}").click()
    page.wait_for_url(f"{live_server.url}/leads/duplicates?by=phone")
    assert f"merged into #{made[2]}" in page.locator(".flash").inner_text()
    assert "No likely duplicates" in page.locator("main").inner_text()

    # An address one holds first and the other second.
    page.get_by_role("link", name="Same email").click()
    page.wait_for_url("**/leads/duplicates?by=email")
    shared = page.locator(".duplicate-set")
    assert shared.locator("h2").inner_text().startswith("dee@work.example")
    assert shared.get_by_role("cell", name="eve@home.example, dee@work.example").count() == 1
    shared.get_by_role("button", name=f"Merge all into #{made[6]}").click()
    page.wait_for_url(f"{live_server.url}/leads/duplicates?by=email")
    assert "No likely duplicates" in page.locator("main").inner_text()
    with transaction(app.extensions["crm"].sessions) as session:
        assert session.get(Lead, made[0]).source == "web"
        assert session.get(Lead, made[3]).deleted_at is not None


def test_csv_import_through_the_ui(page, live_server, make_user):
    # The import runs in a background thread here (CRM_BACKGROUND's default):
    # the job page refreshes itself until it is done.
    page.set_default_timeout(5000)
    user = make_user("sales")
    sign_in(page, live_server, user)
    page.goto(live_server.url + "/leads")
    page.click("text=Import CSV")
    page.set_input_files("#file", files=[{
        "name": "three.csv", "mimeType": "text/csv",
        "buffer": (b"Name,E-mail,Organisation,Notes\r\n"
                   b"Csv One,one@example.com,Acme,x\r\n"
                   b"Csv Two,two@example.com,Acme,y\r\n"
                   b"Csv Three,three@example.com,Beta,z\r\n")}])
    page.click("button[value=import]")
    assert page.locator("#map-0").input_value() == "full_name"
    assert page.locator("#map-1").input_value() == "emails"
    assert page.locator("#map-3").input_value() == "-"
    page.select_option("#map-3", "source")
    page.locator("form.card button[value=import]").click()
    page.wait_for_url("**/imports/*")
    job_url = page.url
    wait_for_status(page, "done")
    assert page.locator("#count-created").inner_text() == "3"
    to_leads(page, live_server)
    rows = page.locator("table.records tbody tr")
    assert rows.count() == 3
    assert "Csv Three" in page.locator("table.records").inner_text()

    # The revert runs in the background too, followed by the same page.
    page.goto(job_url)
    page.click("text=Revert this import")
    page.click("button:has-text('Revert import')")
    assert "is being reverted" in page.locator(".flash").inner_text()
    wait_for_status(page, "reverted")
    assert "Reverted: deleted 3 record(s), restored 0." in page.inner_text(".job-message")
    to_leads(page, live_server)
    assert page.locator("table.records tbody tr", has_text="Csv").count() == 0


def test_a_spreadsheets_semicolon_file_imports_and_sorts_by_name(page, live_server,
                                                                  make_user):
    """A file as Excel saves it where the decimal mark is a comma: semicolons,
    Windows-1252, names in parts and two email columns."""
    page.set_default_timeout(5000)
    sign_in(page, live_server, make_user("sales"))
    page.goto(live_server.url + "/leads/import")
    page.select_option("#encoding", "cp1252")
    assert page.locator("#delimiter").input_value() == "auto"
    page.set_input_files("#file", files=[{
        "name": "excel.csv", "mimeType": "text/csv",
        "buffer": ("First Name;Last Name;Email;Email 2;Company\r\n"
                   "Zoe;Young;zoe@x.org;;Acme, Inc\r\n"
                   "Émile;Zola;emile@x.org;ez@x.org;Beta\r\n"
                   "adam;smith;adam@x.org;;Gamma\r\n").encode("cp1252")}])
    page.click("button[value=import]")
    assert "cells separated by semicolons" in page.inner_text("form.card .hint")
    assert [page.locator(f"#map-{i}").input_value() for i in range(5)] == [
        "first_name", "last_name", "emails", "emails", "company"]
    page.locator("form.card button[value=import]").click()
    page.wait_for_url("**/imports/*")
    wait_for_status(page, "done")
    assert page.locator("#count-created").inner_text() == "3"
    to_leads(page, live_server)
    page.select_option("#sort", "full_name")
    page.click("button:has-text('Filter')")
    names = page.locator("table.records tbody tr td:nth-child(2)").all_inner_texts()
    assert names == ["adam smith", "Émile Zola", "Zoe Young"]
    assert page.locator("a:has-text('Export CSV (;)')").get_attribute("href").endswith(
        "delimiter=semicolon")


def test_the_excel_export_downloads_and_imports_back_edited(page, live_server, make_user,
                                                           tmp_path, app):
    sales = make_user("sales")
    with transaction(app.extensions["crm"].sessions) as s:
        svc.create(s, s.merge(sales), svc.LEADS, {"full_name": "Ada", "company": "=Engines",
                                                   "emails": ["ada@x.org"]})
    page.set_default_timeout(5000)
    sign_in(page, live_server, sales)
    page.goto(live_server.url + "/leads")
    with page.expect_download() as download:
        page.click("a:has-text('Export Excel')")
    assert download.value.suggested_filename == "leads.xlsx"
    path = tmp_path / "leads.xlsx"
    download.value.save_as(path)
    book = openpyxl.load_workbook(path)
    sheet = book.worksheets[0]
    assert (sheet["B2"].value, sheet["E2"].value, sheet["E2"].data_type) == (
        "Ada", "=Engines", "s")
    sheet["E2"] = "Engines Ltd"
    sheet["C2"] = "ada@engines.example"  # a new first email: the row finds Ada by her id
    book.create_sheet("Notes", 0).append(["Called them all on Monday"])
    book.save(path)
    page.click("a:has-text('Import CSV or Excel')")
    page.set_input_files("#file", str(path))
    page.select_option("#on_duplicate", "update")
    page.select_option("#match_by", "id")
    page.click("button[value=import]")
    assert "Read from the sheet “Notes”" in page.inner_text("form.card .hint")
    page.select_option("#sheet", "Leads")
    page.click("button:has-text('Read this sheet')")
    assert "Read from the sheet “Leads”" in page.inner_text("form.card .hint")
    assert page.input_value("#map-1") == "full_name"
    page.locator("form.card button[value=import]").click()
    page.wait_for_url("**/imports/*")
    wait_for_status(page, "done")
    assert page.locator("#count-updated").inner_text() == "1"
    assert "Rows matched by their id, then first email" in " ".join(
        page.inner_text("main").split())
    with app.extensions["crm"].sessions() as s:
        assert s.execute(select(Lead.company, Lead.emails)).all() == [
            ("Engines Ltd", ["ada@engines.example"])]


def test_a_large_files_dry_run_then_its_import(page, live_server, make_user, monkeypatch):
    """A file over the inline limit is checked by a background job; its page
    imports the checked file without a second upload."""
    monkeypatch.setattr("crmcore.web.imports.INLINE_CHECK_MAX_BYTES", 10)
    page.set_default_timeout(5000)
    sign_in(page, live_server, make_user("sales"))
    page.goto(live_server.url + "/leads/import")
    page.set_input_files("#file", files=[{
        "name": "big.csv", "mimeType": "text/csv",
        "buffer": (b"Name,Email\r\nGood One,good@example.com\r\n"
                   b"Bad One,bad@\r\nGood Two,two@example.com\r\n")}])
    page.click("button[value=check]")
    page.locator("form.card button[value=check]").click()
    page.wait_for_url("**/imports/*")
    assert "nothing will be written" in page.locator(".flash").inner_text()
    wait_for_status(page, "checked")
    assert page.locator("#count-created").inner_text() == "2"
    assert page.locator(".import-errors tbody tr").first.inner_text().startswith("3")
    page.click("button:has-text('Import the good rows, leaving out 1 bad one')")
    wait_for_status(page, "done")
    assert page.locator("#count-created").inner_text() == "2"
    assert page.locator("#count-errors").inner_text() == "1"
    to_leads(page, live_server)
    assert page.locator("table.records tbody tr", has_text="Good").count() == 2


def wait_for_status(page, status):
    for _ in range(50):
        if page.locator("#job-status").inner_text() == status:
            break
        page.wait_for_timeout(200)
        page.reload()
    assert page.locator("#job-status").inner_text() == status


def test_an_admin_changes_a_role_and_cannot_lock_everyone_out(page, live_server, make_user):
    page.set_default_timeout(5000)
    admin, colleague = make_user("admin"), make_user("sales")
    sign_in(page, live_server, admin)
    page.goto(live_server.url + "/admin/users")
    page.get_by_label(f"Role of {colleague.email}").select_option("manager")
    page.locator("tr", has_text=colleague.email).get_by_role("button", name="Change role").click()
    page.wait_for_url(live_server.url + "/admin/users")
    assert f"The role of {colleague.email} is now Manager." in page.inner_text("body")
    assert page.get_by_label(f"Role of {colleague.email}").input_value() == "manager"
    page.get_by_label(f"Role of {admin.email}").select_option("sales")
    page.locator("tr", has_text=admin.email).get_by_role("button", name="Change role").click()
    page.wait_for_url(live_server.url + "/admin/users")
    assert "is the last active user who can manage users." in page.inner_text("body")
    assert page.get_by_label(f"Role of {admin.email}").input_value() == "admin"
