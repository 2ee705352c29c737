"""Helpers for the API tests."""

from __future__ import annotations

from typing import Any

import pytest

PROBLEM = "application/problem+json"


def assert_problem(response: Any, status: int, *fields: str) -> dict[str, Any]:
    """The response is a problem with ``status`` whose errors name ``fields``."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    body = response.get_json()
    assert body["type"] == "about:blank" and body["status"] == status
    assert body["title"] and body["detail"]
    for field in fields:
        assert field in body.get("errors", {}), body
    return body


@pytest.fixture
def admin_api(api_client):
    return api_client()


@pytest.fixture
def new_lead(admin_api):
    def make(api=None, **values):
        api = api or admin_api
        values.setdefault("full_name", "Ada Lovelace")
        response = api.post("/api/v1/leads", json=values)
        assert response.status_code == 201, response.get_data(as_text=True)
        return response.get_json()

    return make
