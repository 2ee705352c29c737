"""Leadworks' part of ``crm demo``: an advertiser with a portal login, an owner
rule, and a few leads it handed over, one with its email history."""

from __future__ import annotations

from collections.abc import Mapping
from email.message import EmailMessage

from crmcore_plugins.leadworks.models import Advertiser, Member
from crmcore_plugins.leadworks.services.advertisers import create_advertiser
from crmcore_plugins.leadworks.services.intake import Submitter, submit_lead
from crmcore_plugins.leadworks.services.owners import set_owner_rule
from sqlalchemy import select
from sqlalchemy.orm import Session

from crmcore.models import User
from crmcore.services.users import create_user

ADVERTISER = "Acme Ads"
PORTAL_LOGIN = "advertiser@example.com"
PEOPLE = [("Nora Quinn", "Spring fibre"), ("Omar Haddad", "Spring fibre"),
          ("Priya Natarajan", "Business lines"), ("Quentin Blake", "Business lines")]


def load_demo(session: Session, users: Mapping[str, User], password: str) -> list[str]:
    """Create the demo advertiser once; returns the portal's sign-in line."""
    line = [f"  {PORTAL_LOGIN:<22} {'advertiser':<8} password: {password} "
            "(the Leadworks portal)"]
    if session.scalar(select(Advertiser.id).where(Advertiser.name == ADVERTISER)):
        return line
    advertiser = create_advertiser(session, None, {"name": ADVERTISER,
                                                   "contact_email": "team@acme-ads.example"})
    portal_user = create_user(session, None, {"email": PORTAL_LOGIN, "role": "advertiser",
                                              "name": "Alex from Acme Ads",
                                              "password": password})
    session.add(Member(user_id=portal_user.id, advertiser_id=advertiser.id))
    sellers = [u.id for role in ("sales", "manager") if (u := users.get(role))]
    if sellers:
        set_owner_rule(session, None, {"mode": "round_robin", "user_ids": sellers})
    who = Submitter.portal(advertiser, portal_user, "form")
    for number, (name, campaign) in enumerate(PEOPLE):
        address = name.lower().replace(" ", ".") + "@example.com"
        history = [_first_email(name, address)] if number == 0 else []
        submit_lead(session, who, campaign, {"full_name": name, "emails": [address],
                                             "phones": [f"+1415555{number:04d}"]}, history)
    return line


def _first_email(name: str, address: str) -> bytes:
    msg = EmailMessage()
    msg["Message-ID"] = "<demo-leadworks-1@acme-ads.example>"
    msg["From"], msg["To"] = f"{name} <{address}>", "team@acme-ads.example"
    msg["Subject"] = "Fibre at my new office?"
    msg["Date"] = "Mon, 02 Nov 2026 09:30:00 +0000"
    msg.set_content("Hi, I saw your ad. Can you connect my new office in March?")
    return msg.as_bytes()
