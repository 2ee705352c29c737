"""The admin pages, invitations, the advertisers' portal and its isolation."""

from __future__ import annotations

import io
import re
import time

import openpyxl
import pytest
from crmcore_plugins.leadworks.models import Advertiser, Upload
from sqlalchemy import select

from crmcore.models import Lead
from crmcore.testing import DEFAULT_PASSWORD, https_client
from tests.holding import writer_done_while_held

pytestmark = pytest.mark.plugins("mail", "leadworks")

EML = (b"Message-ID: <portal-1@advertiser.test>\r\nFrom: bob@example.com\r\n"
       b"To: desk@advertiser.test\r\nSubject: Roof quote please\r\n\r\nHello.\r\n")


def test_admin_creates_edits_deactivates_and_bins_an_advertiser(client, login, make_user,
                                                                  sessions):
    login(client, make_user("admin"))
    page = client.post("/leadworks/admin/advertisers", data={"name": "Acme",
                                                             "contact_email": "A@Acme-Ads.com"})
    assert page.status_code == 303
    with sessions() as s:
        advertiser = s.scalar(select(Advertiser))
    assert advertiser.contact_email == "a@acme-ads.com"
    url = f"/leadworks/admin/advertisers/{advertiser.id}"
    assert client.post("/leadworks/admin/advertisers", data={"name": "acme"}).status_code == 409
    assert client.post(url, data={"name": "Acme Ltd", "contact_email": ""}).status_code == 303
    detail = client.get(url).get_data(as_text=True)
    assert "Acme Ltd" in detail and "deactivated" in detail
    assert client.post(url, data={"name": "Acme Ltd", "is_active": "1"}).status_code == 303
    issued = client.post(url + "/keys", data={"name": "platform"})
    assert issued.status_code == 201
    key = re.search(r"<code>(crm_[^<]+)</code>", issued.get_data(as_text=True)).group(1)
    assert key not in client.get(url).get_data(as_text=True)  # shown once
    assert client.post(url + "/delete").status_code == 303
    assert client.get(url).status_code == 404


def test_sales_users_cannot_manage_leadworks(client, login, make_user):
    login(client, make_user("sales"))
    assert client.get("/leadworks/admin/").status_code == 403


def test_invitation_sends_a_real_email_and_the_link_sets_a_password(client, login, make_user,
                                                                     make_advertiser, mailbox,
                                                                     app):
    advertiser = make_advertiser("Acme")
    login(client, make_user("admin"))
    response = client.post(f"/leadworks/admin/advertisers/{advertiser.id}/invite",
                           data={"email": "New.Person@Acme-Ads.com", "name": "New Person"})
    assert response.status_code == 303
    [message] = mailbox.wait(1)
    assert message["To"] == "new.person@acme-ads.com"
    link = re.search(r"https?://\S+/leadworks/invitation/\S+", message.get_content()).group(0)
    path = link.split("localhost", 1)[1]
    person = https_client(app)  # the invited person, in a browser of their own
    assert person.get(path).status_code == 200
    # A HEAD (past CSRF as a safe method) shows the page and spends nothing.
    form = {"password": DEFAULT_PASSWORD, "confirm": DEFAULT_PASSWORD}
    assert person.open(path, method="HEAD", data=form).status_code == 200
    bad = person.post(path, data={"password": "short", "confirm": "short"})
    assert bad.status_code == 422
    done = person.post(path, data=form)
    assert done.status_code == 303, done.get_data(as_text=True)[-1500:]
    assert person.get(path).status_code == 404  # one time only
    signed_in = person.post("/login", data={"email": "new.person@acme-ads.com",
                                            "password": DEFAULT_PASSWORD})
    assert signed_in.headers["Location"].endswith("/leadworks/")
    assert "Leads of Acme" in person.get("/leadworks/").get_data(as_text=True)


def test_portal_form_validates_like_the_crm_form_and_lists_the_lead(
        client, login, make_advertiser, make_portal_user, api_client, sessions):
    advertiser = make_advertiser("Acme")
    login(client, make_portal_user(advertiser))
    bad = client.post("/leadworks/leads/new", data={"campaign": "Spring", "full_name": "",
                                                    "emails": "not-an-email"})
    assert bad.status_code == 422
    text = bad.get_data(as_text=True)
    assert 'id="full_name-error"' in text and 'id="emails-error"' in text
    ok = client.post("/leadworks/leads/new", data={
        "campaign": "Spring", "full_name": "Bob Builder", "emails": "bob@example.com",
        "messages": (io.BytesIO(EML), "quote.eml")}, content_type="multipart/form-data")
    assert ok.status_code == 303, ok.get_data(as_text=True)[:2000]
    listing = client.get("/leadworks/").get_data(as_text=True)
    assert "Bob Builder" in listing and "New" in listing and "Spring" in listing
    dup = client.post("/leadworks/leads/new", data={"campaign": "Spring", "full_name": "Bob",
                                                    "emails": " BOB@example.com "})
    assert dup.status_code == 409 and "This email is already known." in dup.get_data(
        as_text=True)
    with sessions() as s:
        lead_id = s.scalar(select(Lead.id))
    timeline = api_client().get(f"/api/v1/leads/{lead_id}/timeline").get_data(as_text=True)
    assert "Roof quote please" in timeline


def wait_for_job(client, url: str) -> str:
    for _ in range(100):
        page = client.get(url).get_data(as_text=True)
        status = re.search(r'id="job-status">(\w+)<', page).group(1)
        if status not in ("queued", "validating", "running"):
            return page
        time.sleep(0.1)
    raise AssertionError("the import did not finish")


CSV = ("name,email,phone\nGood One,good1@example.com,\nBad,not-an-email,\n"
       "Known,KNOWN@example.com,\nGood Two,good2@example.com,\n")


def test_csv_upload_reports_row_by_row_keep_valid_or_all_or_nothing(
        client, login, make_advertiser, make_portal_user, make_user, make_lead, sessions):
    make_lead(make_user("admin"), emails=["known@example.com"], full_name="Secret Holder")
    advertiser = make_advertiser("Acme")
    login(client, make_portal_user(advertiser))
    strict = client.post("/leadworks/upload", data={
        "campaign": "Fall", "all_or_nothing": "1",
        "file": (io.BytesIO(CSV.encode()), "fall.csv")}, content_type="multipart/form-data")
    text = strict.get_data(as_text=True)
    assert strict.status_code == 422 and "Nothing was imported" in text
    assert "This email is already known." in text and "Secret" not in text
    assert "a lead in the CRM" not in text
    with sessions() as s:
        assert s.scalar(select(Lead.id).where(Lead.email_key == "good1@example.com")) is None
    keep = client.post("/leadworks/upload", data={
        "campaign": "Fall", "file": (io.BytesIO(CSV.encode()), "fall.csv")},
        content_type="multipart/form-data")
    assert keep.status_code == 303
    page = wait_for_job(client, keep.headers["Location"])
    assert 'id="count-created">2<' in page and "This email is already known." in page
    listing = client.get("/leadworks/").get_data(as_text=True)
    assert "Good One" in listing and "Good Two" in listing and "csv" in listing
    with sessions() as s:
        tags = s.scalar(select(Lead.tags).where(Lead.email_key == "good2@example.com"))
    assert "external user" in tags
    refused_columns = client.post("/leadworks/upload", data={
        "campaign": "Fall", "file": (io.BytesIO(b"name,owner\nA,x@y.com\n"), "x.csv")},
        content_type="multipart/form-data")
    assert refused_columns.status_code == 422
    assert "cannot be imported here" in refused_columns.get_data(as_text=True)
    # A name in parts fills the name, which an advertiser may send.
    parts = client.post("/leadworks/upload", data={"campaign": "Fall", "file": (
        io.BytesIO(b"First name,Last name,email\nAnn,Parts,parts@example.com\n"), "p.csv")},
        content_type="multipart/form-data")
    assert parts.status_code == 303, parts.get_data(as_text=True)
    assert 'id="count-created">1<' in wait_for_job(client, parts.headers["Location"])
    with sessions() as s:
        assert s.scalar(select(Lead.full_name).where(Lead.email_key == "parts@example.com")
                        ) == "Ann Parts"
    # An Excel workbook's first sheet, as advertisers often keep their lists.
    book = openpyxl.Workbook()
    book.active.append(["name", "email"])
    book.active.append(["In Excel", "excel@example.com"])
    saved = io.BytesIO()
    book.save(saved)
    workbook = client.post("/leadworks/upload", data={"campaign": "Fall", "file": (
        io.BytesIO(saved.getvalue()), "fall.xlsx")}, content_type="multipart/form-data")
    assert workbook.status_code == 303, workbook.get_data(as_text=True)
    assert 'id="count-created">1<' in wait_for_job(client, workbook.headers["Location"])
    with sessions() as s:
        assert s.scalar(select(Lead.full_name).where(Lead.email_key == "excel@example.com")
                        ) == "In Excel"
    # Another sheet, named on the form; the refusal says which was read.
    book.create_sheet("Read me first", 0).append(["Our lists for the fall"])
    book["Sheet"].append(["Second sheet", "second@example.com"])
    saved = io.BytesIO()
    book.save(saved)

    def sent(**form):
        return client.post("/leadworks/upload", data={"campaign": "Fall", **form, "file": (
            io.BytesIO(saved.getvalue()), "fall.xlsx")}, content_type="multipart/form-data")

    first = sent()
    assert first.status_code == 422
    assert ("(Read from the sheet “Read me first”; the workbook also has “Sheet”.)"
            in first.get_data(as_text=True))
    assert "has no sheet “Leads”" in sent(sheet="Leads").get_data(as_text=True)
    named = sent(sheet="sheet")
    assert named.status_code == 303, named.get_data(as_text=True)
    assert 'id="count-created">1<' in wait_for_job(client, named.headers["Location"])


@pytest.mark.sqlite_only
def test_an_upload_being_checked_holds_no_writer_up(app, client, login, make_advertiser,
                                                    make_portal_user, monkeypatch):
    """On SQLite a transaction that writes holds the one write lock: the file is
    checked in a session that only reads, so other saves go on meanwhile."""
    from crmcore_plugins.leadworks.services import uploads

    login(client, make_portal_user(make_advertiser("Acme")))
    answer, done_while_checking = writer_done_while_held(
        app, monkeypatch, uploads.imports, "check", lambda: client.post(
            "/leadworks/upload", data={"campaign": "Fall", "file": (
                io.BytesIO(b"name,email\nSlow One,slow1@example.com\n"), "fall.csv")},
            content_type="multipart/form-data"))
    assert done_while_checking
    assert answer.status_code == 303
    assert 'id="count-created">1<' in wait_for_job(client, answer.headers["Location"])


def test_a_csv_import_emails_the_owner_with_the_apps_mail_settings(
        client, login, make_advertiser, make_portal_user, make_user, sessions, mailbox):
    """The import runs in a thread without an app context; the owner's email
    still leaves through the app's SMTP settings, after the batch commits."""
    from crmcore_plugins.leadworks.services.owners import set_owner_rule

    from crmcore.db import transaction

    owner = make_user("sales", name="Owner")
    with transaction(sessions) as s:
        set_owner_rule(s, None, {"mode": "fixed", "user_ids": [owner.id]})
    login(client, make_portal_user(make_advertiser("Acme")))
    uploaded = client.post("/leadworks/upload", data={"campaign": "Fall", "file": (
        io.BytesIO(b"name,email\nRow One,row1@example.com\nRow Two,row2@example.com\n"),
        "fall.csv")}, content_type="multipart/form-data")
    assert uploaded.status_code == 303
    wait_for_job(client, uploaded.headers["Location"])
    [message] = mailbox.wait(1)
    assert message["To"] == owner.email and message["From"] == "crm@example.test"
    assert message["Subject"] == "2 new leads from Leadworks"
    assert "Row One" in message.get_content() and "Row Two" in message.get_content()


def test_an_advertiser_reaches_nothing_but_its_own(client, login, make_advertiser,
                                                   make_portal_user, make_user, make_lead,
                                                   make_key, key_client, sessions, api_client,
                                                   app):
    acme, beta = make_advertiser("Acme"), make_advertiser("Beta")
    crm_lead = make_lead(make_user("admin"), emails=["crm@example.com"])
    key_client(make_key(beta)).post("/api/v1/leadworks/leads", json={
        "campaign": "B", "full_name": "Beta Secret Lead"})
    login(client, make_portal_user(beta))
    uploaded = client.post("/leadworks/upload", data={"campaign": "B", "file": (
        io.BytesIO(b"name,email\nBeta Row,beta-row@example.com\n"), "b.csv")},
        content_type="multipart/form-data")
    wait_for_job(client, uploaded.headers["Location"])
    with sessions() as s:
        beta_upload = s.scalar(select(Upload.id))
    client.post("/logout")
    acme_user = make_portal_user(acme)
    login(client, acme_user)
    assert "Beta Secret Lead" not in client.get("/leadworks/").get_data(as_text=True)
    for url in (f"/leadworks/uploads/{beta_upload}", "/leads", f"/leads/{crm_lead.id}",
                "/contacts/1", "/imports", "/leadworks/admin/", "/recycle-bin"):
        assert client.get(url).status_code == 404, url
    # Neither a portal user's token nor an advertiser key opens the CRM API.
    assert api_client(acme_user).get("/api/v1/leads").status_code == 401
    assert key_client(make_key(acme)).get("/api/v1/leads").status_code == 401
    acme_api = key_client(make_key(acme))
    assert acme_api.get("/api/v1/leadworks/leads").get_json()["items"] == []


def test_an_advertiser_imports_nothing_as_themselves(app, make_advertiser, make_portal_user,
                                                     sessions, tmp_path):
    """Only through the portal, which imports on their behalf: not with
    ``crm leads import --as``, nor any other caller of the core import."""
    from crmcore.db import transaction
    from crmcore.errors import Forbidden
    from crmcore.services import imports
    from crmcore.services import records as svc

    user = make_portal_user(make_advertiser("Acme"))
    path = tmp_path / "leads.csv"
    path.write_text("name,email\nAda,ada@x.org\n")
    with transaction(sessions) as s:
        me = s.merge(user)
        with pytest.raises(Forbidden, match="through their portal"):
            imports.start(s, me, svc.LEADS, path, path.name, imports.ImportOptions())
        with pytest.raises(Forbidden, match="through their portal"):
            imports.check(s, me, svc.LEADS, path, imports.ImportOptions())
    with sessions() as s:
        assert s.scalar(select(Lead.id)) is None
