"""The contact age view in real Chromium: touch a record, then anonymize one
from its page after the confirmation."""

from __future__ import annotations

import pytest

from tests.plugins.gdpr.conftest import age, make_contact, make_person

pytestmark = [pytest.mark.browser, pytest.mark.plugins("gdpr")]


def sign_in(page, live_server, user):
    from crmcore.testing import DEFAULT_PASSWORD

    page.goto(live_server.url + "/login")
    page.fill("#email", user.email)
    page.fill("#password", DEFAULT_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(live_server.url + "/")


def test_touch_and_anonymize_in_the_browser(page, live_server, make_user, tx):
    page.set_default_timeout(5000)
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    admin = make_user("admin")
    old = make_person(tx, admin, name="Olga Old", email="olga@example.com",
                      phone="+12025550131", with_alpha=False)
    mid = make_contact(tx, admin, "Max", "Middle", "max@example.com")
    age(tx, "lead", old, 500)
    age(tx, "contact", mid, 90)
    sign_in(page, live_server, admin)

    page.click("nav >> text=GDPR")
    page.wait_for_url(live_server.url + "/gdpr/")
    rows = page.locator("table.age tbody tr")
    assert rows.nth(0).get_attribute("data-ref") == f"lead:{old}"
    assert rows.nth(0).locator(".age-days").inner_text() == "500"

    # Touch the oldest: its age resets and it moves to the end.
    page.check(f"tr[data-ref='lead:{old}'] input[type=checkbox]")
    page.click("button:has-text('Touch')")
    page.wait_for_url(live_server.url + "/gdpr/")
    assert "1 record touched" in page.locator(".flash").inner_text()
    assert rows.nth(0).get_attribute("data-ref") == f"contact:{mid}"
    assert rows.nth(1).get_attribute("data-ref") == f"lead:{old}"
    assert rows.nth(1).locator(".age-days").inner_text() == "0"

    # Anonymize the contact from its page, after the confirmation.
    page.fill("#older_than", "2")
    page.click("button:has-text('Filter')")
    page.wait_for_url("**older_than=2*")
    assert rows.count() == 1
    rows.nth(0).locator("a").click()
    page.wait_for_url(f"**/contacts/{mid}")
    page.click("text=Anonymize…")
    page.wait_for_url(f"**/gdpr/contacts/{mid}/anonymize")
    assert "This cannot be undone." in page.locator(".alert").inner_text()
    page.click("button:has-text('Anonymize for good')")
    page.wait_for_url(f"**/contacts/{mid}")
    assert "The contact was anonymized" in page.locator(".flash").inner_text()
    assert page.locator("h1").inner_text() == f"Anonymized contact #{mid}"
    assert "max@example.com" not in page.locator("main").inner_text()

    page.goto(live_server.url + "/gdpr/")
    assert [rows.nth(i).get_attribute("data-ref") for i in range(rows.count())] == [
        f"lead:{old}"]
    page.goto(live_server.url + "/gdpr/audit")
    assert page.locator("table.audit tbody tr").count() == 2
    assert not [e for e in errors if "Content Security Policy" in e], errors
