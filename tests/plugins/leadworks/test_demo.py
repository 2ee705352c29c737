"""Leadworks' part of `crm demo`: a portal login that shows handed-over leads."""

from __future__ import annotations

import pytest
from crmcore_plugins.leadworks.models import Advertiser, Submission
from sqlalchemy import func, select

from crmcore.db import transaction
from crmcore.demo import DEMO_PASSWORD, load_demo, load_plugin_demos

pytestmark = pytest.mark.plugins("mail", "leadworks")


def test_the_demo_advertiser_signs_in_and_sees_its_leads(app, client):
    sessions = app.extensions["crm"].sessions
    for _ in range(2):  # a second `crm demo` adds nothing
        with transaction(sessions) as session:
            load_demo(session, 10, echo=lambda _: None)
            lines = load_plugin_demos(session)
    assert any("advertiser@example.com" in line for line in lines)
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Advertiser)) == 1
        assert session.scalar(select(func.count()).select_from(Submission)) == 4
    client.get("/login")
    signed_in = client.post("/login", data={"email": "advertiser@example.com",
                                            "password": DEMO_PASSWORD}, follow_redirects=True)
    page = signed_in.get_data(as_text=True)
    assert "Nora Quinn" in page and "Business lines" in page
