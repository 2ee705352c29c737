"""Helpers for the web UI tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from crmcore.db import transaction
from crmcore.services import records as svc


@pytest.fixture
def sales(client: Any, make_user: Callable[..., Any], login: Callable[..., Any]) -> Any:
    """A sales user, signed in on ``client``."""
    user = make_user("sales")
    login(client, user)
    return user


@pytest.fixture
def page_queries(client: Any, sql_statements: Callable[..., Any]) -> Callable[[str], int]:
    """How many SQL statements ``client`` getting ``url`` runs (it must be a 200)."""

    def count(url: str) -> int:
        with sql_statements() as statements:
            response = client.get(url)
        assert response.status_code == 200
        return len(statements)

    return count


@pytest.fixture
def make_lead(app: Flask) -> Callable[..., Any]:
    """Create a lead owned by ``owner`` through the service."""

    def make(owner: Any, **data: Any) -> Any:
        data.setdefault("full_name", "Ada Lovelace")
        with transaction(app.extensions["crm"].sessions) as session:
            return svc.create(session, session.merge(owner), svc.LEADS, data)

    return make


@pytest.fixture
def make_contact(app: Flask) -> Callable[..., Any]:
    def make(owner: Any, **data: Any) -> Any:
        data.setdefault("last_name", "Hopper")
        with transaction(app.extensions["crm"].sessions) as session:
            return svc.create(session, session.merge(owner), svc.CONTACTS, data)

    return make


def session_cookie(client: Any) -> str | None:
    cookie = client.get_cookie("__Host-crm_session")
    return cookie.value if cookie else None
