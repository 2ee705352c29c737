"""Demo data: four users and about a thousand leads and contacts that look real."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crmcore.db import utcnow
from crmcore.models import Lead, LeadStage, User
from crmcore.services import records as rec
from crmcore.services import users as user_service

DEMO_PASSWORD = "demo password 2026"  # noqa: S105 - printed for the demo's users
USERS = [
    ("admin@example.com", "admin", "Avery Admin"),
    ("manager@example.com", "manager", "Morgan Manager"),
    ("sam@example.com", "sales", "Sam Seller"),
    ("riley@example.com", "sales", "Riley Rep"),
]
FIRST = ["Ada", "Grace", "Alan", "Linus", "Margaret", "Dennis", "Barbara", "Ken", "Frances",
         "Edsger", "Radia", "Tim", "Hedy", "John", "Katherine", "Guido", "Sophie", "Bjarne",
         "Anita", "Donald", "Mary", "Niklaus", "Evelyn", "James", "Carol", "Leslie"]
LAST = ["Lovelace", "Hopper", "Turing", "Torvalds", "Hamilton", "Ritchie", "Liskov", "Thompson",
        "Allen", "Dijkstra", "Perlman", "Berners-Lee", "Lamarr", "McCarthy", "Johnson",
        "van Rossum", "Wilson", "Stroustrup", "Borg", "Knuth", "Keller", "Wirth", "Boyd",
        "Gosling", "Shaw", "Lamport"]
COMPANIES = ["Northwind Traders", "Acme Fibre", "Globex Networks", "Initech", "Umbrella ISP",
             "Stark Broadband", "Wayne Telecom", "Hooli", "Vandelay Imports", "Soylent Foods", ""]
# Spellings a colleague might type instead ("Lovelace, Jon" for "John Lovelace").
VARIANTS = {"John": "Jon", "Alan": "Allan", "Katherine": "Catherine", "Carol": "Carole"}
# Every this many leads, someone already there is entered again, spelt another
# way, so that the duplicate list has look-alikes to show.
AGAIN_EVERY = 40
SOURCES = ["website", "referral", "trade show", "cold call", "partner", "newsletter"]
CITIES = [("Springfield", "62701"), ("Portland", "97201"), ("Austin", "73301"),
          ("Denver", "80202"), ("Madison", "53703"), ("Boulder", "80302")]
TAGS = ["vip", "fibre", "business", "residential", "follow-up", "newsletter"]


def load_demo(session: Session, count: int = 500,
              echo: Callable[[str], None] = print) -> bool:
    """Load the demo once; returns False when it is already there."""
    if session.scalar(select(User).where(User.email == USERS[0][0])):
        return False
    rnd = random.Random(2026)  # noqa: S311 - repeatable demo data, not secrets
    users = [user_service.create_user(session, None, {"email": e, "role": r, "name": n,
                                                       "password": DEMO_PASSWORD})
             for e, r, n in USERS]
    sellers = [u for u in users if u.role == "sales"] + [users[1]]
    stages = list(session.scalars(select(LeadStage).order_by(LeadStage.position)))
    now = utcnow()
    # Days ago, oldest first: ids follow the order records came in, as they do
    # in use (the duplicate list calls the lowest id the oldest).
    lead_days = sorted((rnd.randint(0, 3 * 365) for _ in range(count)), reverse=True)
    contact_days = sorted((rnd.randint(0, 4 * 365) for _ in range(count)), reverse=True)
    people: list[tuple[str, str, str]] = []
    for i in range(count):
        first, last, company = rnd.choice(FIRST), rnd.choice(LAST), rnd.choice(COMPANIES)
        people.append((first, last, company))
        full_name = f"{first} {last}"
        if i % AGAIN_EVERY == AGAIN_EVERY - 1:
            first, last, company = people[i - AGAIN_EVERY // 2]
            full_name = f"{last}, {VARIANTS.get(first, first)}"
            company = f"{company} Inc." if company else ""
        owner = rnd.choice(sellers)
        email = f"{first}.{last}.{i}@example.net".lower().replace(" ", "")
        phone = f"+1202555{i % 10000:04d}"
        lead = rec.create(session, owner, rec.LEADS, {
            "full_name": full_name, "emails": [email], "phones": [phone],
            "company": company, "source": rnd.choice(SOURCES),
            "location": rnd.choice(CITIES)[0], "tags": rnd.sample(TAGS, rnd.randint(0, 2)),
        })
        lead.stage_id = rnd.choice(stages).id
        lead.created_at = now - timedelta(days=lead_days[i], minutes=count - i)
        # Untouched since created: the GDPR contact age view has ages to show.
        lead.touched_at = lead.created_at
        if rnd.random() < 0.3:
            rec.comment(session, owner, rec.LEADS, lead, rnd.choice(
                ["Called, asked for a quote.", "Sent the brochure.", "Wants fibre by spring.",
                 "Left a voicemail.", "Meeting booked for next week."]))
        city, postal = rnd.choice(CITIES)
        contact_first, contact_last = rnd.choice(FIRST), rnd.choice(LAST)
        contact = rec.create(session, owner, rec.CONTACTS, {
            "first_name": contact_first, "last_name": contact_last,
            "emails": [f"{contact_first}.{contact_last}.c{i}@example.org".lower().replace(" ", "")],
            "phones": [f"+1303555{i % 10000:04d}"], "company": rnd.choice(COMPANIES),
            "city": city, "postal_code": postal, "country": "US",
            "lifecycle_stage": rnd.choice(["lead", "prospect", "customer"]),
            "opt_outs": rnd.sample(["email", "sms", "call"], rnd.randint(0, 1)),
        })
        contact.created_at = contact.touched_at = now - timedelta(
            days=contact_days[i], minutes=count - i)
    session.flush()
    echo(f"loaded {len(users)} users, {count} leads and {count} contacts "
         f"({session.scalar(select(func.count(Lead.id)))} leads in all)")
    return True


def load_plugin_demos(session: Session) -> list[str]:
    """Let every plugin add its demo records (``crm_demo_data``); returns the
    lines they want printed."""
    found = session.scalars(select(User).where(User.email.in_([e for e, _, _ in USERS]))
                            .order_by(User.id.desc()))
    by_role = {user.role: user for user in found}  # the first demo user of each role
    return [line for result in session.info["crm"].hook.crm_demo_data(
        session=session, users=by_role, password=DEMO_PASSWORD) for line in result or ()]


def login_help(extra: list[str] | None = None) -> str:
    lines = ["Sign in at http://127.0.0.1:5000/login with one of:"]
    lines += [f"  {email:<22} {role:<8} password: {DEMO_PASSWORD}" for email, role, _ in USERS]
    return "\n".join(lines + list(extra or ()))
