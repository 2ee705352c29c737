"""The archive on the web: timelines (page and API), the message page, the
attachment download, the record's mail, the Mail list, and who may see what."""

from __future__ import annotations

import re

import pytest
from crmcore_plugins.mail.services.reading import get_message
from crmcore_plugins.mail.services.store import store_messages

from crmcore.db import transaction
from crmcore.services import records as rec
from tests.plugins.mail.builders import build_message

pytestmark = pytest.mark.plugins("mail")

NASTY_HTML = (
    '<p onclick="steal()">Hi <b>Ada</b></p><script>window.__pwned = 1</script>'
    '<img src="https://tracker.example/pixel.gif" onerror="alert(1)">'
    '<a href="javascript:alert(1)">click</a><a href="https://ok.example/">ok</a>'
    '<iframe src="https://evil.example/"></iframe><style>body{display:none}</style>'
    '<svg onload="alert(1)"><circle/></svg><form action="/logout"><button>go</button></form>'
)


@pytest.fixture
def archive(app, make_user):
    """A sales user's lead with one archived message (HTML and two attachments)
    and the ids involved."""
    sessions = app.extensions["crm"].sessions
    owner = make_user("sales")
    with transaction(sessions) as session:
        lead = rec.create(session, session.merge(owner), rec.LEADS,
                          {"full_name": "Ada Lovelace", "emails": ["ada@example.com"]})
        result = store_messages(session, [build_message(
            subject="Quote <request>", html=NASTY_HTML, attachments=[
                ("../../etc/passwd", "text/html", b"<script>alert(1)</script>"),
                ("report.pdf", "application/pdf", b"%PDF-1.4 fake")])], "import")
        message = get_message(session, None, result.message_ids[0])
        attachments = {a.filename: a.id for a in message.attachments}
    return {"owner": owner, "lead": lead.id, "message": result.message_ids[0],
            "attachments": attachments}


def test_timeline_shows_the_email_on_the_lead_page_and_in_the_api(archive, client, login,
                                                                   api_client):
    login(client, archive["owner"])
    page = client.get(f"/leads/{archive['lead']}").get_data(as_text=True)
    assert "Quote &lt;request&gt; — ada@example.com → sales@crm.test" in page
    assert f'href="/mail/leads/{archive["lead"]}"' in page  # the "Emails" action

    items = api_client(archive["owner"]).get(
        f"/api/v1/leads/{archive['lead']}/timeline").get_json()["items"]
    emails = [i for i in items if i["kind"] == "email"]
    assert emails == [{"kind": "email", "body": "Quote <request> — ada@example.com → "
                       "sales@crm.test", "actor": "", "changes": {}, "source": "plugin",
                       "created_at": "2026-03-04T12:30:00+00:00"}]


def test_message_page_shows_sanitized_html_and_attachments(archive, client, login):
    login(client, archive["owner"])

    response = client.get(f"/mail/messages/{archive['message']}")

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    body = page[page.index('class="mail-html"'):]
    body = body[:body.index("</section>")]
    assert "<b>Ada</b>" in body and 'href="https://ok.example/"' in body
    for bad in ("<script", "onclick", "onerror", "onload", "javascript:", "tracker.example",
                "<iframe", "<style", "<form", "<svg", "__pwned"):
        assert bad not in body
    assert "Quote &lt;request&gt;" in page
    assert "passwd" in page and "report.pdf" in page
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]


def test_plain_text_is_escaped(app, client, login, make_user):
    owner = make_user("sales")
    with transaction(app.extensions["crm"].sessions) as session:
        rec.create(session, session.merge(owner), rec.LEADS,
                   {"full_name": "Ada", "emails": ["ada@example.com"]})
        pk = store_messages(session, [build_message(
            text="<script>alert(1)</script>")], "import").message_ids[0]
    login(client, owner)

    page = client.get(f"/mail/messages/{pk}").get_data(as_text=True)

    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>alert(1)" not in page


def test_attachment_download_is_an_opaque_attachment(archive, client, login, app):
    login(client, archive["owner"])
    url = f"/mail/messages/{archive['message']}/attachments/{archive['attachments']['passwd']}"

    response = client.get(url)

    assert response.status_code == 200
    assert response.data == b"<script>alert(1)</script>"
    assert response.headers["Content-Disposition"] == "attachment; filename=passwd"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.mimetype == "application/octet-stream"  # declared text/html
    assert response.headers["Content-Security-Policy"].startswith("sandbox")
    pdf = client.get(f"/mail/messages/{archive['message']}/attachments/"
                     f"{archive['attachments']['report.pdf']}")
    assert pdf.mimetype == "application/pdf"
    assert pdf.headers["Content-Disposition"] == "attachment; filename=report.pdf"
    # Stored by content hash inside the instance, never under the sender's name.
    folder = app.extensions["crm"].instance / "mail" / "attachments"
    stored = sorted(p.name for p in folder.rglob("*") if p.is_file())
    assert all(re.fullmatch(r"[0-9a-f]{64}", name) for name in stored) and len(stored) == 2


def test_someone_who_may_not_see_the_lead_gets_404(archive, client, login, make_user):
    login(client, make_user("sales"))
    base = f"/mail/messages/{archive['message']}"

    assert client.get(base).status_code == 404
    assert client.get(f"{base}/attachments/{archive['attachments']['report.pdf']}"
                      ).status_code == 404
    assert client.get(f"/mail/leads/{archive['lead']}").status_code == 404
    # Ids beyond what PostgreSQL's INTEGER holds were a 400 there.
    for path in ("/mail/messages/3000000000", "/mail/leads/9223372036854775807"):
        assert client.get(path).status_code == 404, path
    listing = client.get("/mail/").get_data(as_text=True)
    assert "Quote" not in listing


def test_attachment_of_another_message_is_404(archive, app, client, login):
    with transaction(app.extensions["crm"].sessions) as session:
        other = store_messages(session, [build_message(message_id="<o@x>")],
                               "import").message_ids[0]
    login(client, archive["owner"])

    attachment_id = archive["attachments"]["report.pdf"]
    assert client.get(f"/mail/messages/{other}/attachments/{attachment_id}").status_code == 404


def test_signed_out_users_are_sent_to_login(archive, client):
    response = client.get(f"/mail/messages/{archive['message']}")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_mail_list_record_mail_and_address_search(archive, client, login):
    login(client, archive["owner"])

    listing = client.get("/mail/").get_data(as_text=True)
    assert f'href="/mail/messages/{archive["message"]}"' in listing
    assert 'href="/mail/"' in listing  # the nav item
    assert "Quote" in client.get("/mail/?address=ADA@example.com").get_data(as_text=True)
    assert "No emails with nobody@example.com" in client.get(
        "/mail/?address=nobody@example.com").get_data(as_text=True)
    record_mail = client.get(f"/mail/leads/{archive['lead']}").get_data(as_text=True)
    assert "Emails of" in record_mail and "Quote" in record_mail
