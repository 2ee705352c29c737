"""The advertisers' portal in a real browser: sign in, create, upload, list."""

from __future__ import annotations

import pytest

from crmcore.testing import DEFAULT_PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.plugins("mail", "leadworks")]


def test_an_advertiser_creates_and_uploads_leads_and_sees_them(page, live_server, tmp_path,
                                                               make_advertiser,
                                                               make_portal_user):
    page.set_default_timeout(10000)
    errors: list[str] = []
    # Script errors only: a 422 answer to a bad form is expected, not an error.
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error"
            and not msg.text.startswith("Failed to load resource") else None)
    user = make_portal_user(make_advertiser("Acme"))
    page.goto(live_server.url + "/login")
    page.fill("#email", user.email)
    page.fill("#password", DEFAULT_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(live_server.url + "/leadworks/")
    assert page.locator("h1").inner_text() == "Leads of Acme"
    assert "Leads" not in [t.strip() for t in page.locator("nav").all_inner_texts()]

    page.click("nav >> text=New lead")
    page.fill("#f-campaign", "Spring")
    page.fill("#f-full_name", "Browser Lead")
    page.fill("#f-emails", "not-an-email")
    page.click("button:has-text('Create lead')")
    assert page.locator("#emails-error").is_visible()
    page.fill("#f-emails", "browser.lead@example.com")
    page.click("button:has-text('Create lead')")
    page.wait_for_url(live_server.url + "/leadworks/")

    csv = tmp_path / "autumn.csv"
    csv.write_text("name,email\nCsv Person,csv.person@example.com\n")
    page.click("nav >> text=Upload CSV")
    page.fill("#campaign", "Autumn")
    page.set_input_files("#file", str(csv))
    page.click("button:has-text('Upload')")
    page.wait_for_url("**/leadworks/uploads/*")
    page.wait_for_selector("#job-status:text('done')")
    page.click("text=My leads")
    table = page.locator("#submissions").inner_text()
    assert "Browser Lead" in table and "Csv Person" in table
    assert "Spring" in table and "Autumn" in table and "New" in table
    assert not errors
