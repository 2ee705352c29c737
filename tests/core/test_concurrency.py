"""Rules that hold when writers race (PostgreSQL: real concurrency): one lead per
key email, and an install never left without an active admin."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from crmcore.db import transaction
from crmcore.errors import Conflict, Forbidden, ValidationFailed
from crmcore.models import EmailKey, Lead, User
from crmcore.services import records as svc
from crmcore.services import users

pytestmark = [pytest.mark.plugins(), pytest.mark.postgres_only]


def at_once(target: Callable[..., None], *calls: tuple[Any, ...]) -> None:
    """``target`` run with each of ``calls``' arguments, in threads started together."""
    threads = [threading.Thread(target=target, args=args) for args in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)


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

    at_once(create, *((i,) for i in range(writers)))
    assert sorted(outcomes) == ["conflict"] * (writers - 1) + ["created"], outcomes
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(EmailKey)) == 1
        assert s.scalar(select(func.count()).select_from(Lead)) <= 1


@pytest.mark.parametrize("change", [{"role": "sales"}, {"is_active": False}])
def test_two_last_admins_taking_each_others_role_at_once_leave_one(app, make_user, change):
    first, second = make_user("admin"), make_user("admin")
    barrier = threading.Barrier(2)
    outcomes: list[str] = []
    sessions = app.extensions["crm"].sessions

    def demote(actor_id: int, user_id: int) -> None:
        barrier.wait()
        try:
            with transaction(sessions) as s:
                users.update_user(s, s.get(User, actor_id), s.get(User, user_id), change)
            outcomes.append("changed")
        except (ValidationFailed, Forbidden):
            # Refused as the last admin, or, had the other finished first, as
            # no longer an admin.
            outcomes.append("refused")
        except Exception as exc:  # pragma: no cover - the assertion below shows it
            outcomes.append(f"error: {exc!r}")

    at_once(demote, (first.id, second.id), (second.id, first.id))
    assert sorted(outcomes) == ["changed", "refused"], outcomes
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(User).where(
            User.role == "admin", User.is_active)) == 1


@pytest.mark.parametrize("addresses", [False, True])
def test_two_records_merged_into_each_other_at_once_leave_one(app, make_user, addresses):
    """Each merge locks both records in id order: the second waits, then finds
    its other record binned (404). Both used to be binned, or, with addresses,
    the two deadlocked on their email keys."""
    from crmcore.errors import NotFound
    from crmcore.services.merge import merge

    admin = make_user("admin")
    sessions = app.extensions["crm"].sessions
    with transaction(sessions) as s:
        ids = [svc.create(s, s.merge(admin), svc.LEADS, {
            "full_name": "Twin", "emails": [f"twin{i}@example.com"] if addresses else []}).id
            for i in range(2)]
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def merge_into(survivor: int, other: int) -> None:
        barrier.wait()
        try:
            with transaction(sessions) as s:
                merge(s, s.merge(admin), svc.LEADS, survivor, [other])
            outcomes.append("merged")
        except NotFound:
            outcomes.append("not found")
        except Exception as exc:  # pragma: no cover - the assertion below shows it
            outcomes.append(f"error: {exc!r}")

    at_once(merge_into, tuple(ids), tuple(ids[::-1]))
    assert sorted(outcomes) == ["merged", "not found"], outcomes
    with sessions() as s:
        live = s.scalars(select(Lead).where(Lead.deleted_at.is_(None))).all()
        assert len(live) == 1
        assert sorted(live[0].emails) == ([f"twin{i}@example.com" for i in range(2)]
                                          if addresses else [])
