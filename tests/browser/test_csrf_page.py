"""A form submitted after signing out in another tab, in a real browser."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.browser.test_web_flow import sign_in

pytestmark = pytest.mark.browser


@pytest.fixture
def crm_config(crm_config: dict[str, Any]) -> dict[str, Any]:
    return {**crm_config, "WTF_CSRF_ENABLED": True}


def test_a_form_sent_after_signing_out_elsewhere_leads_back_to_it(page, live_server,
                                                                   make_user):
    page.set_default_timeout(5000)
    sign_in(page, live_server, make_user("sales"))
    page.goto(live_server.url + "/leads/new")
    page.fill("#f-full_name", "Typed during a long call")
    page.context.clear_cookies()  # signed out in another tab
    page.click("button:has-text('Create lead')")
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == "The form expired"
    assert "This form expired or you were signed out" in page.locator("main").inner_text()
    page.click("text=Back to the form")
    # Signed out, the form's page asks to sign in first, then returns to the form.
    page.wait_for_url(re.compile(r"/login\?next=(/|%2F)leads(/|%2F)new$"))
