"""The key-email rule holds when many writers race (PostgreSQL: real concurrency)."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from crmcore.db import transaction
from crmcore.errors import Conflict
from crmcore.models import EmailKey, Lead
from crmcore.services import records as svc

pytestmark = [pytest.mark.plugins(), pytest.mark.postgres_only]


def test_simultaneous_creates_of_one_address_make_exactly_one_lead(app, make_user):
    admin = make_user("admin")
    writers = 12
    barrier = threading.Barrier(writers)
    outcomes: list[str] = []
    sessions = app.extensions["crm"].sessions

    def create(i: int) -> None:
        barrier.wait()
        try:
            with transaction(sessions) as s:
                if i % 2:
                    svc.create(s, s.merge(admin), svc.LEADS, {
                        "full_name": f"Racer {i}",
                        "emails": [f"  Same.Person@Example.com{' ' * (i % 3)}"]})
                else:
                    svc.create(s, s.merge(admin), svc.CONTACTS, {
                        "last_name": f"Racer {i}", "emails": ["same.person@example.COM"]})
            outcomes.append("created")
        except Conflict:
            outcomes.append("conflict")
        except Exception as exc:  # pragma: no cover - the assertion below shows it
            outcomes.append(f"error: {exc!r}")

    threads = [threading.Thread(target=create, args=(i,)) for i in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == ["conflict"] * (writers - 1) + ["created"], outcomes
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(EmailKey)) == 1
        assert s.scalar(select(func.count()).select_from(Lead)) <= 1
