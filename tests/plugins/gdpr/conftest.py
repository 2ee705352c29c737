"""Fixtures of the gdpr plugin's tests: the alpha test plugin (which declares,
exports and erases personal data and can be told to fail), an admin, and a
person with history in the core and in alpha."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from crmcore.db import utcnow
from crmcore.models import Contact, Lead
from crmcore.services import records as svc
from tests.fake_plugins import _descriptors

NAME, EMAIL, PHONE = "Ada Lovelace", "ada@example.com", "+12025550100"


@pytest.fixture
def crm_extra_plugins():
    return {"alpha": _descriptors()["alpha"]}


@pytest.fixture
def admin(make_user):
    return make_user("admin", name="Grace Admin")


@pytest.fixture
def admin_client(app, client, login, admin):
    login(client, admin)
    return client


def make_person(tx, actor, *, name: str = NAME, email: str = EMAIL, phone: str = PHONE,
                with_alpha: bool = True, **extra: Any) -> int:
    """A lead with an edit, a comment quoting its name and phone, and an alpha item."""
    from tests.fake_plugins.alpha.hooks import AlphaItem

    with tx() as s:
        lead = svc.create(s, actor, svc.LEADS, {"full_name": name, "emails": [email],
                                                "phones": [phone], "company": "Engines Ltd",
                                                **extra})
        svc.update(s, actor, svc.LEADS, lead, {"company": "Analytical Engines"})
        svc.comment(s, actor, svc.LEADS, lead, f"Called {name} on {phone}")
        if with_alpha:
            s.add(AlphaItem(label=f"{name.split()[0]}'s file", lead_id=lead.id))
        return lead.id


def make_contact(tx, actor, first: str, last: str, email: str) -> int:
    with tx() as s:
        return svc.create(s, actor, svc.CONTACTS, {"first_name": first, "last_name": last,
                                                   "emails": [email]}).id


def age(tx, record_type: str, record_id: int, days: int) -> None:
    """Set a record's last touch ``days`` ago, as if nobody had worked on it since."""
    model = Lead if record_type == "lead" else Contact
    with tx() as s:
        s.execute(update(model).where(model.id == record_id)
                  .values(touched_at=utcnow() - timedelta(days=days)))
