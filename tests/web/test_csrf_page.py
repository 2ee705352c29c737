"""The page of a form posted without a valid CSRF token: a token older than
Flask-WTF's default hour, or a sign-out in another tab."""

from __future__ import annotations

import time
from typing import Any

import pytest
from itsdangerous import TimestampSigner

from crmcore.testing import DEFAULT_PASSWORD
from tests.web.conftest import session_cookie

SAME_ORIGIN = {"Referer": "https://localhost/leads"}


def token_of(page: Any) -> str:
    return page.get_data(as_text=True).split('name="csrf_token" value="')[1].split('"')[0]


class TestCsrfFailures:
    @pytest.fixture
    def crm_config(self, crm_config: dict[str, Any]) -> dict[str, Any]:
        return {**crm_config, "WTF_CSRF_ENABLED": True}

    @pytest.fixture
    def signed_in(self, client: Any, make_user: Any) -> Any:
        user = make_user("sales")
        response = client.post("/login", data={
            "email": user.email, "password": DEFAULT_PASSWORD,
            "csrf_token": token_of(client.get("/login"))}, headers=SAME_ORIGIN)
        assert response.status_code == 303
        return user

    def test_a_bad_token_is_a_page_of_the_app_leading_back_to_the_form(self, client,
                                                                         signed_in):
        client.get("/leads/new")
        response = client.post("/leads/new", data={"full_name": "Typed", "csrf_token": "x"},
                               headers=SAME_ORIGIN)
        assert response.status_code == 400
        page = response.get_data(as_text=True)
        assert "This form expired or you were signed out, so nothing was saved." in page
        assert 'href="/leads/new">Back to the form</a>' in page
        assert 'class="topbar"' in page and "Sign out" in page  # the app's layout
        # The input is not sent back: a forged post would go through with a fresh token.
        assert "Typed" not in page and 'name="csrf_token"' not in page.split("<main>")[1]

    def test_signed_out_in_another_tab_the_comment_form_leads_back_to_its_record(
            self, client, signed_in, make_lead):
        lead = make_lead(signed_in)
        token = token_of(client.get(f"/leads/{lead.id}"))
        client.delete_cookie("__Host-crm_session", domain="localhost")
        assert session_cookie(client) is None
        response = client.post(f"/leads/{lead.id}/comment",
                               data={"body": "Called", "csrf_token": token},
                               headers={"Referer": f"https://localhost/leads/{lead.id}"})
        assert response.status_code == 400
        page = response.get_data(as_text=True)
        assert "This form expired or you were signed out" in page
        assert f'href="/leads/{lead.id}">Back to the form</a>' in page

    def test_a_referer_of_another_site_is_no_way_back(self, client, signed_in, make_lead):
        lead = make_lead(signed_in)
        response = client.post(f"/leads/{lead.id}/comment", data={"body": "x"},
                               headers={"Referer": "https://evil.example/leads/1"})
        assert response.status_code == 400
        assert "Back to the form" not in response.get_data(as_text=True)

    def test_a_token_lives_as_long_as_the_session_not_an_hour(self, client, signed_in,
                                                              monkeypatch, db_session):
        token = token_of(client.get("/leads/new"))
        later = int(time.time()) + 3 * 3600  # a form left open through long calls
        monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: later)
        response = client.post("/leads/new", data={"full_name": "After the call",
                                                   "csrf_token": token},
                               headers=SAME_ORIGIN)
        assert response.status_code == 303, response.get_data(as_text=True)[:300]

    def test_the_api_needs_no_csrf_token(self, api_client):
        response = api_client().post("/api/v1/leads", json={"full_name": "By token"})
        assert response.status_code == 201
