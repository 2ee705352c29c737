"""CSV import in the web UI: upload, map, dry run, import, follow, revert."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import func, select

from crmcore.db import transaction, utcnow
from crmcore.models import Contact, ImportJob, Lead
from crmcore.services import imports as import_svc

SCRIPT = "<script>alert(1)</script>"


@pytest.fixture(autouse=True)
def synchronous_jobs(app, monkeypatch):
    """Run each import (and revert) inside the request that starts it.

    In production ``jobs.dispatch_import`` (``dispatch_revert``) starts a
    thread (or leaves the job to a worker), so a test would race the thread:
    the job page could show "queued" or "running", and the thread could still
    write while the test database is torn down. Running ``imports.run``
    (``run_revert``) directly makes every test see the finished job,
    deterministically. The browser test keeps the thread."""

    monkeypatch.setattr("crmcore.jobs.dispatch_import", import_svc.run)
    monkeypatch.setattr("crmcore.jobs.dispatch_revert", import_svc.run_revert)


def csv_bytes(*rows: str, encoding: str = "utf-8") -> bytes:
    return ("\r\n".join(rows) + "\r\n").encode(encoding)


def upload(client, data: bytes, kind: str = "leads", filename: str = "people.csv",
           **form: str):
    fields = {"encoding": "utf-8-sig", "on_duplicate": "report", "action": "check", **form,
              "file": (io.BytesIO(data), filename)}
    return client.post(f"/{kind}/import", data=fields, content_type="multipart/form-data")


def mapping_form(html: str) -> dict[str, str]:
    """The mapping step's hidden fields and selected columns, as a browser would send."""
    form = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html))
    form.pop("csrf_token", None)
    for select_name, body in re.findall(
            r'<select id="map-\d+" name="(map-\d+)">(.*?)</select>', html, re.S):
        form[select_name] = re.search(r'<option value="([^"]*)" selected>', body).group(1)
    for name in ("on_duplicate", "blank_cells", "match_by", "sheet", "encoding", "delimiter"):
        chosen = re.search(rf'<select id="{name}".*?<option value="([^"]*)" selected>',
                           html, re.S)
        if chosen:
            form[name] = chosen.group(1)
    if re.search(r'id="skip_bad_rows"[^>]*checked', html):
        form["skip_bad_rows"] = "1"
    return form


def submit(client, html: str, action: str, kind: str = "leads", **changes: str):
    form = {**mapping_form(html), **changes, "action": action}
    return client.post(f"/{kind}/import/mapping", data=form)


def import_file(client, data: bytes, kind: str = "leads", **changes: str):
    """Upload, keep the guessed mapping, import; the job page's response."""
    page = upload(client, data, kind)
    assert page.status_code == 200, page.get_data(as_text=True)
    response = submit(client, page.get_data(as_text=True), "import", kind, **changes)
    assert response.status_code == 303, response.get_data(as_text=True)
    return client.get(response.headers["Location"])


def count(app, model=Lead) -> int:
    with app.extensions["crm"].sessions() as s:
        return s.scalar(select(func.count()).select_from(model))


def jobs(app) -> list[ImportJob]:
    with app.extensions["crm"].sessions() as s:
        return list(s.scalars(select(ImportJob).order_by(ImportJob.id)))


def test_list_pages_link_to_the_import_and_nav_has_imports(client, sales):
    assert 'href="/leads/import"' in client.get("/leads").get_data(as_text=True)
    assert 'href="/contacts/import"' in client.get("/contacts").get_data(as_text=True)
    page = client.get("/leads/import").get_data(as_text=True)
    assert 'enctype="multipart/form-data"' in page and 'type="file"' in page
    assert ">Imports</a>" in page
    assert "Check only (dry run)" in page and 'value="import"' in page
    assert 'value="latin-1"' in page and 'value="cp1252"' in page


def test_upload_shows_the_mapping_with_guessed_fields(app, client, sales):
    response = upload(client, csv_bytes("Name,E-mail,Organisation,Shoe size",
                                         "Ada,ada@example.com,Acme,38"))
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    form = mapping_form(html)
    assert [form[f"map-{i}"] for i in range(4)] == ["full_name", "emails", "company", "-"]
    assert re.fullmatch(r"[0-9a-f]{32}", form["token"])
    assert form["filename"] == "people.csv"
    stored = Path(app.instance_path) / "uploads" / "imports" / f"{form['token']}.csv"
    assert stored.read_bytes().startswith(b"Name,E-mail")
    assert "header-problem" not in html


def test_custom_fields_can_be_mapped_and_imported(app, client, sales):
    from crmcore.services import custom_fields as custom_svc

    with transaction(app.extensions["crm"].sessions) as s:
        custom_svc.create_field(s, None, {"record_type": "lead", "name": "budget",
                                          "label": "Yearly budget", "field_type": "number"})
    html = upload(client, csv_bytes("name,Yearly Budget", "Ada,1200")).get_data(as_text=True)
    assert mapping_form(html)["map-1"] == "custom.budget"
    assert "Yearly budget (custom.budget)" in html
    page = import_file(client, csv_bytes("name,budget", "Ada,1200")).get_data(as_text=True)
    assert re.search(r'id="job-status">done<', page)
    with app.extensions["crm"].sessions() as s:
        assert float(s.scalar(select(Lead)).custom["budget"]) == 1200


def test_a_custom_field_deleted_while_mapping_is_said_and_its_column_ignored(app, client,
                                                                            sales):
    """Checking after an admin deleted the field answered a bare 400 Bad
    Request, and the mapping was lost."""
    from crmcore.services import custom_fields as custom_svc

    with transaction(app.extensions["crm"].sessions) as s:
        field_id = custom_svc.create_field(s, None, {
            "record_type": "lead", "name": "budget", "label": "Budget",
            "field_type": "number"}).id
    html = upload(client, csv_bytes("Full name,Mail,Budget", "Ada,ada@example.com,1200")
                  ).get_data(as_text=True)
    assert mapping_form(html)["map-2"] == "custom.budget"
    with transaction(app.extensions["crm"].sessions) as s:
        custom_svc.delete_field(s, None, field_id)
    for action in ("check", "import"):
        response = submit(client, html, action, **{"map-1": "emails"})
        page = response.get_data(as_text=True)
        assert response.status_code == 422 and "<form" in page
        assert ("Column “Budget”: the field custom.budget no longer exists (deleted since "
                "this page was shown). Those columns are set to ignore: choose again.") in page
        form = mapping_form(page)
        assert [form[f"map-{i}"] for i in range(3)] == ["full_name", "emails", "-"]
    assert jobs(app) == [] and count(app) == 0


def test_contact_upload_guesses_contact_fields(client, sales):
    html = upload(client, csv_bytes("First name,Surname,Zip", "Grace,Hopper,12345"),
                  kind="contacts").get_data(as_text=True)
    form = mapping_form(html)
    assert [form[f"map-{i}"] for i in range(3)] == ["first_name", "last_name", "postal_code"]
    html = upload(client, csv_bytes("Name,Email", "Grace Hopper,g@x.org"),
                  kind="contacts").get_data(as_text=True)
    assert [mapping_form(html)[f"map-{i}"] for i in range(2)] == ["full_name", "emails"]
    assert "header-problem" not in html


def test_dry_run_reports_counts_and_bad_rows_and_writes_nothing(app, client, sales):
    data = csv_bytes("name,email", "Ada,ada@example.com", "Bob,not-an-email",
                     "Cy,cy@example.com")
    html = upload(client, data).get_data(as_text=True)
    response = submit(client, html, "check")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "nothing was written" in page
    assert re.search(r'id="count-total">3<', page)
    assert re.search(r'id="count-create">2<', page)
    assert re.search(r'id="count-errors">1<', page)
    row = re.search(r"<tr><td class=\"num\">3</td><td>email</td><td>([^<]+)</td></tr>", page)
    assert row and "email" in row.group(1).lower()
    assert count(app) == 0 and jobs(app) == []
    # The same mapping can be imported from the report.
    assert 'name="token"' in page and 'value="import"' in page


def test_a_dry_run_with_more_problems_than_a_page_shows_keeps_them_all(app, client, sales,
                                                                       monkeypatch):
    """QA: a small file's dry run, checked on the mapping page, listed the
    first 1000 problems of 3,004, with no way to the rest."""
    monkeypatch.setattr("crmcore.web.imports.SHOWN_ERRORS", 2)
    data = csv_bytes("name,email", *(f"P{i},bad{i}" for i in range(3)))
    response = submit(client, upload(client, data).get_data(as_text=True), "check")
    assert response.status_code == 303  # to the dry run's job
    page = client.get(response.location).get_data(as_text=True)
    assert re.search(r'id="job-status">checked<', page)
    download = re.search(r'<a id="problems-download" href="([^"]+)" download>Download all 3 '
                         r'problems \(CSV\)</a>', page)
    assert download, page
    assert len(client.get(download[1]).get_data(as_text=True).splitlines()) == 4
    assert count(app) == 0


def test_a_large_files_dry_run_runs_in_the_background_then_imports(app, client, sales,
                                                                   monkeypatch):
    monkeypatch.setattr("crmcore.web.imports.INLINE_CHECK_MAX_BYTES", 10)
    data = csv_bytes("name,email", "Ada,ada@example.com", "Bob,not-an-email",
                     "Cy,cy@example.com")
    response = submit(client, upload(client, data).get_data(as_text=True), "check")
    assert response.status_code == 303
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert re.search(r"Dry run #\d+ started: nothing will be written", page)
    assert 'id="job-status">checked<' in page
    assert re.search(r'Would be created</dt><dd id="count-created">2<', page)
    assert re.search(r'<td class="num">3</td><td>email</td>', page)
    assert count(app) == 0
    action = re.search(r'<form method="post" action="(/imports/\d+/import)"', page).group(1)
    assert "Import the good rows, leaving out 1 bad one" in page

    response = client.post(action, data={"skip_bad_rows": "1"})
    assert response.status_code == 303
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'id="job-status">done<' in page and count(app) == 2
    assert [j.status for j in jobs(app)] == ["checked", "done"]
    # A finished import is no dry run to import again.
    again = client.post(action.replace(str(jobs(app)[0].id), str(jobs(app)[1].id)),
                        follow_redirects=True).get_data(as_text=True)
    assert "is not a finished dry run" in again and count(app) == 2


def test_a_checked_file_is_imported_once_whatever_is_clicked(app, client, sales, monkeypatch):
    """The job page's button imported the dry run's file again at every click,
    every person once more each time."""
    monkeypatch.setattr("crmcore.web.imports.INLINE_CHECK_MAX_BYTES", 10)
    data = csv_bytes("name", "Ada", "Bob")
    response = submit(client, upload(client, data).get_data(as_text=True), "check")
    dry_run = response.headers["Location"]
    page = client.get(dry_run).get_data(as_text=True)
    action = re.search(r'<form method="post" action="(/imports/\d+/import)"', page).group(1)
    first = client.post(action)
    assert first.status_code == 303 and count(app) == 2
    imported = first.headers["Location"]
    again = client.post(action, follow_redirects=True).get_data(as_text=True)
    import_id = imported.rsplit("/", 1)[1]
    assert (f"Dry run #{jobs(app)[0].id} was imported already, as import #{import_id} "
            "(done); importing it again would add its rows twice.") in again
    assert count(app) == 2 and len(jobs(app)) == 2
    page = client.get(dry_run).get_data(as_text=True)
    assert action not in page and "Import this file" not in page
    assert re.search(rf'imported as\s+<a href="{imported}">import #{import_id}</a> \(done\)',
                     page)


def test_a_leads_name_in_parts_and_several_email_columns_are_guessed_and_join(app, client,
                                                                            sales):
    data = csv_bytes("First Name,Last Name,Email,Email 2", "Ada,Lovelace,ada@x.org,ada@home.org")
    html = upload(client, data).get_data(as_text=True)
    form = mapping_form(html)
    assert [form[f"map-{i}"] for i in range(4)] == ["first_name", "last_name", "emails", "emails"]
    assert "header-problem" not in html
    assert "needs full_name, from a column of first_name or full_name or last_name" in html
    page = import_file(client, data).get_data(as_text=True)
    assert re.search(r'id="job-status">done<', page)
    with app.extensions["crm"].sessions() as s:
        lead = s.scalar(select(Lead))
        assert (lead.full_name, lead.emails) == ("Ada Lovelace", ["ada@x.org", "ada@home.org"])


def test_columns_of_the_same_name_are_mapped_each_on_its_own(app, client, sales):
    """The mapping was keyed by the header's names: the second Company column,
    ignored, ignored the first too, and the lead came without its company."""
    data = csv_bytes("Full Name,Email,Company,Company", "Twin Col,twin@example.com,RealCo,old")
    html = upload(client, data).get_data(as_text=True)
    checked = submit(client, html, "check", **{"map-2": "company", "map-3": "-"})
    assert re.search(r'id="count-create">1<', checked.get_data(as_text=True))
    done = submit(client, html, "import", **{"map-2": "company", "map-3": "-"})
    assert done.status_code == 303
    with app.extensions["crm"].sessions() as s:
        assert s.execute(select(Lead.full_name, Lead.company)).one() == ("Twin Col", "RealCo")
    names = upload(client, csv_bytes("Full Name,Full Name,Email", "Ann,Other,ann@example.com"))
    html = names.get_data(as_text=True)
    assert "several columns fill full_name" in html
    page = submit(client, html, "import", **{"map-1": "-"})
    assert page.status_code == 303, page.get_data(as_text=True)
    with app.extensions["crm"].sessions() as s:
        assert s.scalar(select(Lead.full_name).where(Lead.email_key == "ann@example.com")
                        ) == "Ann"


def test_a_column_with_no_name_can_be_ignored_or_imported(app, client, sales):
    """A trailing comma from Excel blocked Check and Import alike: "column 3
    has no name", even with the column on ignore."""
    html = upload(client, csv_bytes("Full Name,Email,", "Trail Comma,trail@example.com,")
                  ).get_data(as_text=True)
    assert "(no name)" in html and mapping_form(html)["map-2"] == "-"
    assert "header-problem" not in html
    checked = submit(client, html, "check").get_data(as_text=True)
    assert re.search(r'id="count-create">1<', checked) and "No problems found" in checked
    assert submit(client, html, "import").status_code == 303 and count(app) == 1
    filled = upload(client, csv_bytes("Full Name,", "Named Co,Acme")).get_data(as_text=True)
    assert submit(client, filled, "import", **{"map-1": "company"}).status_code == 303
    with app.extensions["crm"].sessions() as s:
        assert s.scalar(select(Lead.company).where(Lead.full_name == "Named Co")) == "Acme"


def test_a_file_separated_by_semicolons_is_detected_and_said_so(app, client, sales):
    data = b"Name;Email;Company\r\nAnn;ann@x.org;Acme, Inc\r\n"
    html = upload(client, data).get_data(as_text=True)
    form = mapping_form(html)
    assert [form[f"map-{i}"] for i in range(3)] == ["full_name", "emails", "company"]
    assert form["delimiter"] == "semicolon" and "cells separated by semicolons" in html
    page = submit(client, html, "import")
    assert page.status_code == 303
    with app.extensions["crm"].sessions() as s:
        assert s.scalar(select(Lead.company)) == "Acme, Inc"
    upload_form = client.get("/leads/import").get_data(as_text=True)
    assert '<option value="semicolon">Semicolon' in upload_form


def test_import_creates_leads_and_the_job_page_shows_done(app, client, sales):
    page = import_file(client, csv_bytes("name,email,company", "Ada,ada@example.com,Acme",
                                         "Bob,bob@example.com,Beta")).get_data(as_text=True)
    assert re.search(r'id="job-status">done<', page)
    assert re.search(r'id="count-created">2<', page)
    assert '<progress id="job-progress" max="2" value="2">' in page
    assert 'http-equiv="refresh"' not in page
    assert "Revert import" in page
    assert '<a href="/leads/duplicates">Find likely duplicates</a>' in page
    assert count(app) == 2
    with app.extensions["crm"].sessions() as s:
        assert {lead.owner_id for lead in s.scalars(select(Lead))} == {sales.id}
    listing = client.get("/imports").get_data(as_text=True)
    assert "people.csv" in listing and "done" in listing


def test_the_imports_page_lists_fifty_and_links_to_older_ones(app, client, sales):
    with transaction(app.extensions["crm"].sessions) as s:
        s.add_all(ImportJob(record_type="lead", filename=f"file-{n}.csv", path="", status="done",
                            created_by=sales.id) for n in range(1, 53))
    newest = client.get("/imports").get_data(as_text=True)
    assert "file-52.csv" in newest and "file-3.csv" in newest and "file-2.csv" not in newest
    assert '<a href="/imports?before=3" rel="next">Older imports' in newest
    older = client.get("/imports?before=3").get_data(as_text=True)
    assert "file-2.csv" in older and "file-1.csv" in older and "file-3.csv" not in older
    assert 'rel="next"' not in older and '<a href="/imports">← Newest imports</a>' in older
    assert "No older imports." in client.get("/imports?before=1").get_data(as_text=True)


def test_contacts_import(app, client, sales):
    page = import_file(client, csv_bytes("first_name,last_name,email",
                                         "Grace,Hopper,grace@example.com"),
                       kind="contacts").get_data(as_text=True)
    assert re.search(r'id="job-status">done<', page)
    assert '<a href="/contacts/duplicates">Find likely duplicates</a>' in page
    assert count(app, Contact) == 1


def test_one_bad_row_stops_the_whole_import(app, client, sales):
    page = import_file(client, csv_bytes("name,email", "Ada,ada@example.com",
                                         "Bob,not-an-email")).get_data(as_text=True)
    assert re.search(r'id="job-status">invalid<', page)
    assert "nothing was imported" in page
    assert re.search(r"<tr><td class=\"num\">3</td><td>email</td>", page)
    assert "Revert import" not in page
    assert count(app) == 0


def test_skip_bad_rows_imports_the_good_ones(app, client, sales):
    page = import_file(client, csv_bytes("name,email", "Ada,ada@example.com",
                                         "Bob,not-an-email"),
                       skip_bad_rows="1").get_data(as_text=True)
    assert re.search(r'id="job-status">done<', page)
    assert re.search(r'id="count-created">1<', page)
    assert re.search(r'id="count-errors">1<', page)
    assert count(app) == 1
    link = re.search(r'<a id="problems-download" href="([^"]+)" download>Download the problem '
                     r'\(CSV\)</a>', page)
    assert link, page
    download = client.get(link[1])
    assert download.status_code == 200 and download.mimetype == "text/csv"
    assert download.get_data(as_text=True).splitlines() == [
        "row,column,problem", "3,email,“not-an-email”: An email address must have an @-sign."]


def test_update_duplicates_then_revert_restores_old_values(app, client, sales, make_lead):
    lead = make_lead(sales, full_name="Old Name", emails=["ada@example.com"], company="Old Co")
    data = csv_bytes("name,email,company", "New Name,ada@example.com,New Co",
                     "Fresh,fresh@example.com,Fresh Co")
    page = import_file(client, data, on_duplicate="update").get_data(as_text=True)
    assert re.search(r'id="count-updated">1<', page)
    assert re.search(r'id="count-created">1<', page)
    with app.extensions["crm"].sessions() as s:
        assert s.get(Lead, lead.id).company == "New Co"
    job_id = jobs(app)[-1].id

    response = client.post(f"/imports/{job_id}/revert")
    assert response.status_code == 303
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "is being reverted" in page and re.search(r'id="job-status">reverted<', page)
    assert re.search(r"<dt>Reverted by</dt><dd>sales\d*@example.com<", page)
    with app.extensions["crm"].sessions() as s:
        restored = s.get(Lead, lead.id)
        assert (restored.full_name, restored.company) == ("Old Name", "Old Co")
    assert count(app) == 1

    again = client.post(f"/imports/{job_id}/revert", follow_redirects=True)
    assert "already reverted" in again.get_data(as_text=True)


def test_a_revert_in_flight_shows_its_progress_and_a_stopped_one_can_be_finished(
        app, client, sales):
    import_file(client, csv_bytes("name", "Ada", "Bob", "Cy"))
    job_id = jobs(app)[-1].id

    def set_job(**values):
        with transaction(app.extensions["crm"].sessions) as s:
            for name, value in values.items():
                setattr(s.get(ImportJob, job_id), name, value)

    set_job(status="reverting", reverted_count=2, progress_at=utcnow())
    page = client.get(f"/imports/{job_id}").get_data(as_text=True)
    assert '<meta http-equiv="refresh"' in page and "2 of 3 records" in page
    assert f"Revert import #{job_id}" not in page and "job-stalled" not in page
    refused = client.post(f"/imports/{job_id}/revert", follow_redirects=True)
    assert f"Import #{job_id} is being reverted." in refused.get_data(as_text=True)
    assert count(app) == 3

    assert "(stopped)" not in client.get("/imports").get_data(as_text=True)
    set_job(progress_at=utcnow() - timedelta(hours=1))  # its process died
    assert "(stopped)" in client.get("/imports").get_data(as_text=True)
    page = client.get(f"/imports/{job_id}").get_data(as_text=True)
    assert '<meta http-equiv="refresh"' not in page
    assert 'id="job-stalled"' in page and "Revert it again to finish the revert" in page
    assert f"Revert import #{job_id}" in page
    finished = client.post(f"/imports/{job_id}/revert", follow_redirects=True)
    assert re.search(r'id="job-status">reverted<', finished.get_data(as_text=True))
    assert count(app) == 0


def test_the_lists_export_edited_in_a_spreadsheet_imports_back(app, client, sales, make_lead):
    make_lead(sales, full_name="Ada", emails=["ada@example.com"], phones=["+12025550123"],
              company="-Minus Co", tags=["vip"])
    exported = client.get("/leads/export.csv").get_data(as_text=True)
    assert "'+12025550123" in exported and "'-Minus Co" in exported  # safe to open
    edited = exported.replace("'-Minus Co", "Renamed Co").encode()
    page = import_file(client, edited, on_duplicate="update").get_data(as_text=True)
    assert re.search(r'id="job-status">done<', page), page
    assert re.search(r'id="count-updated">1<', page) and re.search(r'id="count-errors">0<', page)
    with app.extensions["crm"].sessions() as s:
        lead = s.scalars(select(Lead)).one()
        assert (lead.company, lead.phones, lead.tags, lead.owner_id) == (
            "Renamed Co", ["+12025550123"], ["vip"], sales.id)


def test_an_export_with_semicolons_imports_back_detected(app, client, sales, make_lead):
    make_lead(sales, full_name="Ada; Countess", emails=["ada@example.com", "a@x.org"],
              company="Engines, Ltd")
    page = client.get("/leads").get_data(as_text=True)
    link = re.search(r'<a class="button" href="([^"]+)" download[^>]*>Export CSV \(;\)</a>',
                     page)
    exported = client.get(link.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert exported.startswith("\ufeffid;full_name;emails;")
    assert ';"Ada; Countess";"ada@example.com; a@x.org";;Engines, Ltd;' in exported
    edited = exported.replace("Engines, Ltd", "Engines, Inc").encode()
    done = import_file(client, edited, on_duplicate="update").get_data(as_text=True)
    assert re.search(r'id="count-updated">1<', done), done
    with app.extensions["crm"].sessions() as s:
        lead = s.scalars(select(Lead)).one()
        assert (lead.full_name, lead.emails, lead.company) == (
            "Ada; Countess", ["ada@example.com", "a@x.org"], "Engines, Inc")


def test_the_lists_excel_export_edited_imports_back_from_its_sheet(app, client, sales,
                                                                   make_lead):
    make_lead(sales, full_name="Ada", emails=["ada@example.com"], company="=Engines")
    make_lead(sales, full_name="Bob", emails=["bob@example.com"], source="fair")
    page = client.get("/leads?source=fair").get_data(as_text=True)
    link = re.search(r'<a class="button" href="([^"]+)" download>Export Excel</a>', page)
    assert link.group(1) == "/leads/export.xlsx?source=fair&amp;mine=1&amp;sort=-created_at"
    only_bob = openpyxl.load_workbook(io.BytesIO(
        client.get(link.group(1).replace("&amp;", "&")).get_data())).worksheets[0]
    assert [row[1] for row in only_bob.iter_rows(values_only=True)] == ["full_name", "Bob"]
    book = openpyxl.load_workbook(io.BytesIO(client.get("/leads/export.xlsx").get_data()))
    sheet = book.worksheets[0]
    assert sheet.title == "Leads" and sheet["B3"].value == "Ada"
    sheet["E3"] = "Engines Ltd"
    notes = book.create_sheet("Notes <b>", 0)  # a sheet of notes in front, as people keep
    notes.append(["Called them all on Monday"])
    book.create_sheet("Archive")
    edited = io.BytesIO()
    book.save(edited)
    html = upload(client, edited.getvalue(), filename="leads.xlsx",
                  on_duplicate="update").get_data(as_text=True)
    assert ("Read from the sheet “Notes &lt;b&gt;”, one of the workbook's 3 sheets: to import "
            "another, choose it above.") in html
    assert re.findall(r'<option value="([^"]*)"( selected)?>[^<]*</option>',
                      re.search(r'<select id="sheet".*?</select>', html, re.S).group(0)) == [
        ("Notes &lt;b&gt;", " selected"), ("Leads", ""), ("Archive", "")]
    assert "cells separated by" not in html
    assert "no column gives full_name" in html
    # Another sheet is only read, its columns mapped anew: nothing checked or imported.
    html = submit(client, html, "import", sheet="Leads").get_data(as_text=True)
    assert "Read from the sheet “Leads”" in html and "Dry run" not in html and not jobs(app)
    assert re.search(r'<select id="map-1" name="map-1">.*?<option value="full_name" selected>',
                     html, re.S)
    done = client.get(submit(client, html, "import").headers["Location"]).get_data(as_text=True)
    assert re.search(r'id="count-updated">1<', done), done
    assert re.search(r'id="count-unchanged">1<', done)  # Bob's row, as exported
    with app.extensions["crm"].sessions() as s:
        assert s.execute(select(Lead.full_name, Lead.company, Lead.source)
                         .order_by(Lead.id)).all() == [("Ada", "Engines Ltd", ""),
                                                       ("Bob", "", "fair")]
    broken = upload(client, b"PK\x03\x04 cut short", filename="leads.xlsx")
    assert broken.status_code == 422
    assert "not an Excel workbook (.xlsx)" in broken.get_data(as_text=True)


def test_duplicates_reported_by_default(app, client, sales, make_lead):
    make_lead(sales, full_name="Ada", emails=["ada@example.com"])
    html = upload(client, csv_bytes("name,email", "Ada,ada@example.com")).get_data(as_text=True)
    page = submit(client, html, "check").get_data(as_text=True)
    assert "already belongs to a lead" in page
    skipped = submit(client, html, "check", on_duplicate="skip").get_data(as_text=True)
    assert re.search(r'id="count-skip">1<', skipped)


def test_wrong_encoding_is_explained(app, client, sales):
    latin = csv_bytes("name,email", "Zoë,zoe@example.com", encoding="latin-1")
    # The header is plain ASCII: the bad byte shows under it, and in the dry
    # run, with its line.
    html = upload(client, latin).get_data(as_text=True)
    assert re.search(r'class="alert warning sample-problem" role="alert"><p>The file is not '
                     r'valid UTF-8 \(also with BOM\) text \(line 2\)', html)
    page = submit(client, html, "check").get_data(as_text=True)
    assert "not valid UTF-8 (also with BOM) text (line 2" in page

    # A bad byte in the header: the upload form again, with the message.
    response = upload(client, csv_bytes("Prénom,email", encoding="latin-1"))
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "not valid UTF-8 (also with BOM) text (line 1)" in page
    assert 'type="file"' in page
    assert list((Path(app.instance_path) / "uploads" / "imports").glob("*.csv")) == [
        Path(app.instance_path) / "uploads" / "imports" / f"{mapping_form(html)['token']}.csv"]

    fine = upload(client, csv_bytes("Prénom,email", encoding="latin-1"), encoding="latin-1")
    assert "Prénom" in fine.get_data(as_text=True)


def test_the_mapping_shows_the_first_rows_under_each_column(client, sales):
    html = upload(client, csv_bytes("name,email,notes", "Ada,ada@x.org,", ",,",
                                    f"Bob,bob@x.org,{SCRIPT}", "Cy,cy@x.org,one",
                                    "Dee,dee@x.org,two")).get_data(as_text=True)
    cells = [re.findall(r'<span class="sample">([^<]*)</span>', row) for row in
             re.findall(r'<td class="samples">(.*?)</td>', html, re.S)]
    # Three rows that are not blank; an empty cell is not shown.
    assert cells == [["Ada", "Bob", "Cy"], ["ada@x.org", "bob@x.org", "cy@x.org"],
                     ["&lt;script&gt;alert(1)&lt;/script&gt;", "one"]]
    assert SCRIPT not in html


def test_a_file_read_wrongly_is_read_again_from_the_mapping_step(app, client, sales):
    data = csv_bytes("name,email,company", "Ann,ann@x.org,Acme", "José,jose@x.org,Café Ltd",
                     encoding="cp1252")
    html = upload(client, data).get_data(as_text=True)
    assert "(line 3)" in html and "José" not in html
    assert mapping_form(html)["encoding_read"] == "utf-8-sig"

    html = submit(client, html, "read", encoding="cp1252").get_data(as_text=True)
    form = mapping_form(html)
    assert "sample-problem" not in html and "José" in html and "Café Ltd" in html
    assert (form["encoding"], form["encoding_read"]) == ("cp1252", "cp1252")
    assert "Read as Windows-1252" in html
    assert submit(client, html, "import").status_code == 303
    with app.extensions["crm"].sessions() as s:
        assert s.scalars(select(Lead.full_name).order_by(Lead.id)).all() == ["Ann", "José"]


def test_another_separator_chosen_on_the_mapping_step_is_mapped_before_anything_runs(
        app, client, sales):
    html = upload(client, csv_bytes("name;email;company", "Ann;ann@x.org;Acme, Inc")
                  ).get_data(as_text=True)
    assert [mapping_form(html)[f"map-{i}"] for i in range(3)] == [
        "full_name", "emails", "company"]
    # Import pressed right after choosing commas: the columns change, so
    # they are shown to map again rather than imported as they were mapped.
    response = submit(client, html, "import", delimiter="comma")
    html = response.get_data(as_text=True)
    form = mapping_form(html)
    assert response.status_code == 200 and form["delimiter_read"] == "comma"
    assert form["map-0"] == "-" and "map-1" not in form  # one column, "name;email;company"
    assert "cells separated by commas" in html
    assert not jobs(app)


def test_windows_1252_text_read_as_latin_1_is_said_on_the_mapping_step(app, client, sales):
    """QA: its quotes, dashes and euro signs were stored as control characters."""
    data = csv_bytes("name,company", "Ann,Acme", "Bo,“Quote” – 5 €", encoding="cp1252")
    html = upload(client, data, encoding="latin-1").get_data(as_text=True)
    assert ("The file is not Latin-1 text (line 3): it holds the control character U+0093 "
            "where Windows-1252 text has its quotes, dashes or euro sign; choose "
            "Windows-1252.") in html
    checked = submit(client, html, "check").get_data(as_text=True)
    assert "Dry run" not in checked and "it holds the control character U+0093" in checked
    html = submit(client, html, "read", encoding="cp1252").get_data(as_text=True)
    assert "“Quote” – 5 €" in html and "sample-problem" not in html


def test_an_encoding_that_does_not_read_the_file_keeps_the_columns_read(app, client, sales):
    data = csv_bytes("Prénom,email", "Zoë,zoe@x.org", encoding="latin-1")
    html = upload(client, data, encoding="latin-1").get_data(as_text=True)
    response = submit(client, html, "read", encoding="utf-8-sig")
    html = response.get_data(as_text=True)
    form = mapping_form(html)
    assert response.status_code == 422
    assert "not valid UTF-8 (also with BOM) text (line 1)" in html
    assert (form["encoding"], form["encoding_read"]) == ("latin-1", "latin-1")
    assert "Prénom" in html and "Zoë" in html and form["map-1"] == "emails"


def test_empty_file_is_refused(client, sales):
    response = upload(client, b"")
    assert response.status_code == 422
    assert "The file is empty" in response.get_data(as_text=True)
    response = upload(client, b"\r\n\r\n")
    assert "header) is blank" in response.get_data(as_text=True)


def test_a_utf16_file_is_refused_at_upload_with_a_hint(client, sales):
    # UTF-16 without a BOM decodes as UTF-8 with NUL in every other character.
    response = upload(client, csv_bytes("name,email", "Ada,ada@x.org", encoding="utf-16-le"))
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and 'type="file"' in page
    assert ("The file is not valid CSV (line 1): it contains the NUL character (U+0000). "
            "A file saved as UTF-16 has one in every other character: save it as UTF-8.") in page


def test_header_without_name_column_shows_the_problem(app, client, sales):
    html = upload(client, csv_bytes("email,company", "ada@example.com,Acme")).get_data(
        as_text=True)
    assert ("<p>The header does not fit: no column gives full_name (a column of first_name "
            "or full_name or last_name would). Fields: company, emails, first_name, full_name, "
            "last_name, location, login, owner, partner, phones, source, stage, tags.</p>") in html
    for intent in ("import", "check"):
        response = submit(client, html, intent)
        page = response.get_data(as_text=True)
        assert response.status_code == 422
        assert page.count("The header does not fit: no column gives full_name") == 1, intent
    assert count(app) == 0 and jobs(app) == []
    # Mapping the company column to the name fixes it.
    fixed = submit(client, html, "check", **{"map-1": "full_name"}).get_data(as_text=True)
    assert re.search(r'id="count-create">1<', fixed)


def test_a_mapping_the_check_refuses_once_the_page_passed_it_is_said_once(app, client, sales,
                                                                          monkeypatch):
    """The page checks the mapping first; should the check still refuse it (a
    custom field deleted in between), its problem, under columns, is not
    repeated after the header's message."""
    html = upload(client, csv_bytes("Name,Shoe size", "Ada,44")).get_data(as_text=True)
    monkeypatch.setattr("crmcore.web.imports.header_problem", lambda *args, **kwargs: None)
    monkeypatch.setattr("crmcore.web.imports._selected",
                        lambda ui, header: (["full_name", "custom.shoe_size"], None))
    response = submit(client, html, "check")  # a small file's, checked in the request
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert ("<p>The header does not fit: column &#39;Shoe size&#39; matches no field "
            "(mapped to unknown field &#39;custom.shoe_size&#39;). Fields: company, emails, "
            "first_name, full_name, last_name, location, login, owner, partner, phones, "
            "source, stage, tags.</p>") in page
    assert page.count("matches no field") == 1
    assert count(app) == 0 and jobs(app) == []


def test_a_file_neither_csv_nor_xlsx_is_refused(app, client, sales):
    response = upload(client, csv_bytes("name", "Ada"), filename="people.ods")
    assert response.status_code == 422
    assert ("Only .csv, .tsv, .txt, .xlsx files can be uploaded here"
            in response.get_data(as_text=True))
    assert not (Path(app.instance_path) / "uploads" / "imports").exists() or not list(
        (Path(app.instance_path) / "uploads" / "imports").iterdir())


def test_filename_is_never_a_path(app, client, sales):
    html = upload(client, csv_bytes("name", "Ada"), filename="../../evil.csv").get_data(
        as_text=True)
    form = mapping_form(html)
    assert form["filename"] == "evil.csv"
    assert not (Path(app.instance_path).parent / "evil.csv").exists()


def test_bad_or_foreign_token_refused(app, client, sales, make_user, login):
    html = upload(client, csv_bytes("name", "Ada")).get_data(as_text=True)
    for token in ("../../secret", "A" * 32, "0" * 32):
        response = submit(client, html, "import", token=token)
        assert response.status_code == 422
        assert "upload the file again" in response.get_data(as_text=True)
    # A token from another browser session is refused too.
    other = app.test_client_class(app)
    login(other, make_user("sales"))
    response = other.post("/leads/import/mapping",
                          data={**mapping_form(html), "action": "import"})
    assert "upload the file again" in response.get_data(as_text=True)
    assert jobs(app) == []


def test_oversize_upload_is_refused(app, client, sales):
    app.config["IMPORT_MAX_BYTES"] = 100
    response = upload(client, csv_bytes("name", *["Ada Lovelace"] * 20))
    assert response.status_code == 413
    page = response.get_data(as_text=True)
    assert "File too large" in page and "larger than 100 bytes" in page
    assert not (Path(app.instance_path) / "uploads" / "imports").exists()


def test_oversize_file_stops_while_stored(app):
    """With CSRF on, the form is parsed before the view can lower the request's
    limit; storing the file counts its bytes and stops at the import limit."""
    from werkzeug.datastructures import FileStorage

    from crmcore.web.imports import UploadProblem, store_upload

    app.config["IMPORT_MAX_BYTES"] = 3 * 1024 * 1024
    big = FileStorage(io.BytesIO(b"name\r\n" + b"x" * (4 * 1024 * 1024)), "big.csv")
    with app.test_request_context("/leads/import", method="POST"):
        with pytest.raises(UploadProblem, match="larger than 3 MB"):
            store_upload(big)
        token, name = store_upload(FileStorage(io.BytesIO(b"name\r\nAda\r\n"), "ok.csv"))
    folder = Path(app.instance_path) / "uploads" / "imports"
    assert [p.name for p in folder.iterdir()] == [f"{token}.csv"] and name == "ok.csv"


def test_request_over_content_length_renders_a_page(app, client, sales):
    app.config["MAX_CONTENT_LENGTH"] = 1000
    response = upload(client, csv_bytes("name", *["Ada Lovelace"] * 200))
    assert response.status_code == 413
    page = response.get_data(as_text=True)
    assert "File too large" in page and "<html" in page


def test_another_sales_users_job_is_not_found(app, client, sales, make_user, login):
    import_file(client, csv_bytes("name", "Ada"))
    job_id = jobs(app)[-1].id
    other = app.test_client_class(app)
    login(other, make_user("sales"))
    assert other.get(f"/imports/{job_id}").status_code == 404
    assert other.post(f"/imports/{job_id}/revert").status_code == 404
    assert "people.csv" not in other.get("/imports").get_data(as_text=True)
    manager = app.test_client_class(app)
    login(manager, make_user("admin"))
    assert manager.get(f"/imports/{job_id}").status_code == 200
    assert "people.csv" in manager.get("/imports").get_data(as_text=True)
    assert count(app) == 1


def test_running_job_page_refreshes_itself(app, client, sales):
    with transaction(app.extensions["crm"].sessions) as s:
        job = ImportJob(record_type="lead", filename="big.csv", path="/nonexistent.csv",
                        options={"on_duplicate": "report"}, status="running",
                        total_rows=1000, processed_rows=251, rows_done=250, created_count=250,
                        created_by=sales.id, progress_at=utcnow())
        s.add(job)
        s.flush()
        job_id = job.id
    page = client.get(f"/imports/{job_id}").get_data(as_text=True)
    assert '<meta http-equiv="refresh" content="2">' in page
    assert '<progress id="job-progress" max="1000" value="250">' in page
    assert "250 of 1000 rows" in page
    assert "<script" not in page.lower()


def test_a_dry_run_job_page_says_what_an_import_would_do(app, client, sales, tmp_path):
    """Dry-run jobs come from the API; the web lists and shows them too."""
    path = tmp_path / "check.csv"
    path.write_bytes(csv_bytes("Full name,Email", "Ada,ada@example.com", "Bad,bad@"))
    with transaction(app.extensions["crm"].sessions) as s:
        job_id = import_svc.start(s, s.merge(sales), import_svc.rec.LEADS, path, "check.csv",
                                  import_svc.ImportOptions(dry_run=True)).id
    import_svc.run(app.extensions["crm"].sessions, job_id)
    page = client.get(f"/imports/{job_id}").get_data(as_text=True)
    assert 'id="job-status">checked<' in page and "Nothing was written" in page
    assert re.search(r'Would be created</dt><dd id="count-created">1<', page)
    assert "Revert this import" not in page
    assert re.search(r'<td class="num">3</td><td>Email</td>', page)
    assert count(app) == 0
    listed = client.get("/imports").get_data(as_text=True)
    assert "check.csv" in listed and "(dry run: what an import would do)" in listed


def test_a_stopped_import_is_resumed_from_its_page(app, client, sales, tmp_path):
    path = tmp_path / "half.csv"
    path.write_bytes(csv_bytes("Full name", "Ada", "Bob", "Cy"))
    with transaction(app.extensions["crm"].sessions) as s:
        job = ImportJob(record_type="lead", filename="half.csv", path=str(path),
                        options={"on_duplicate": "report"}, status="running", total_rows=3,
                        created_by=sales.id, progress_at=utcnow() - timedelta(hours=1))
        s.add(job)
        s.flush()
        job_id = job.id
    page = client.get(f"/imports/{job_id}").get_data(as_text=True)
    assert "Resume it to continue after its last written rows" in page
    assert f'action="/imports/{job_id}/resume"' in page
    page = client.post(f"/imports/{job_id}/resume", follow_redirects=True
                       ).get_data(as_text=True)
    assert f"Import #{job_id} is being resumed." in page
    assert 'id="job-status">done<' in page and count(app) == 3
    assert "Resume import" not in page
    again = client.post(f"/imports/{job_id}/resume", follow_redirects=True)
    assert "nothing to resume" in again.get_data(as_text=True) and count(app) == 3


def test_script_in_cells_is_escaped(app, client, sales):
    data = csv_bytes(f'"{SCRIPT}",email', f'"",{SCRIPT}')
    html = upload(client, data).get_data(as_text=True)
    assert SCRIPT not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    page = submit(client, html, "check", **{"map-0": "full_name"}).get_data(as_text=True)
    assert SCRIPT not in page and "&lt;script&gt;" in page
    job_page = submit(client, html, "import", **{"map-0": "full_name"})
    job_html = client.get(job_page.headers["Location"]).get_data(as_text=True)
    assert re.search(r'id="job-status">invalid<', job_html)
    assert SCRIPT not in job_html and "&lt;script&gt;alert(1)&lt;/script&gt;" in job_html


def test_the_mapping_step_shows_the_id_column_that_matches_rows(app, client, sales, make_lead):
    lead = make_lead(sales, full_name="Ada", emails=["ada@example.com"])
    html = upload(client, csv_bytes("id,Name,Email", f"{lead.id},Ada,ada@new.example"),
                  match_by="id", on_duplicate="update").get_data(as_text=True)
    assert "this column names each row's lead, whatever is chosen here" in html
    assert "header-problem" not in html
    done = client.get(submit(client, html, "import").headers["Location"]).get_data(as_text=True)
    assert re.search(r'id="count-updated">1<', done), done
    with app.extensions["crm"].sessions() as s:
        assert s.scalar(select(Lead.emails)) == ["ada@new.example"]
    no_id = upload(client, csv_bytes("Name,Email", "Bo,bo@example.com"), match_by="id")
    assert "rows are matched by id, but no column is named id" in no_id.get_data(as_text=True)
    assert upload(client, csv_bytes("Name,Email", "Bo,bo@example.com"),
                  match_by="name").status_code == 400


def test_a_dry_run_holds_no_writer_up(app, client, sales, monkeypatch):
    """A dry run only reads: while it checks the file, other saves go on (on
    SQLite the request's own transaction, which may write, holds the write
    lock, so the check must run outside it)."""
    import threading

    from crmcore.services import records as svc

    checking, go = threading.Event(), threading.Event()
    check = import_svc.check

    def slow_check(*args, **kwargs):
        checking.set()
        go.wait(10)
        return check(*args, **kwargs)

    page = upload(client, csv_bytes("name,email", "Ada Lovelace,ada@example.com"))
    monkeypatch.setattr(import_svc, "check", slow_check)
    answers = []
    dry_run = threading.Thread(target=lambda: answers.append(
        submit(client, page.get_data(as_text=True), "check")))
    dry_run.start()
    assert checking.wait(5)
    written = []

    def another_writer():
        with transaction(app.extensions["crm"].sessions) as session:
            svc.create(session, None, svc.LEADS, {"full_name": "Not held up"})
        written.append(True)

    writer = threading.Thread(target=another_writer)
    writer.start()
    writer.join(3)
    not_held_up = written == [True]
    go.set()
    dry_run.join(10)
    writer.join(35)
    assert not_held_up
    assert answers[0].status_code == 200
    assert '<dd id="count-create">1</dd>' in answers[0].get_data(as_text=True)
