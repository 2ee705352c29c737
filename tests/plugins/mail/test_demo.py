"""The mail plugin's part of `crm demo`."""

from __future__ import annotations

import pytest
from crmcore_plugins.mail.services.reading import messages_for

from crmcore.db import transaction
from crmcore.demo import load_demo, load_plugin_demos
from crmcore.models import Lead, User

pytestmark = pytest.mark.plugins("mail")


def test_demo_emails_land_on_the_sellers_first_leads_once(app, api_client):
    sessions = app.extensions["crm"].sessions
    with transaction(sessions) as session:
        load_demo(session, 10, echo=lambda _: None)
        lines = load_plugin_demos(session)
    assert any("demo email" in line for line in lines)
    with transaction(sessions) as session:
        assert load_plugin_demos(session) == lines  # a second run adds nothing
        seller = session.query(User).filter_by(email="sam@example.com").one()
        lead = session.query(Lead).filter_by(owner_id=seller.id).order_by(Lead.id).first()
        assert len(messages_for(session, "lead", lead.id)) == 2
    timeline = api_client().get(f"/api/v1/leads/{lead.id}/timeline").get_data(as_text=True)
    assert "Re: Your fibre quote" in timeline
