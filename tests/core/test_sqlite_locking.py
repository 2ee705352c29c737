"""On SQLite, work that will write takes the write lock when its transaction
begins: background and command-line work (``transaction()``) and requests by
any method but GET, HEAD and OPTIONS. A transaction that read first and wrote
after another process had committed would fail at once ("database is
locked"); taking the lock first, it waits its turn. Reads still run side by
side with a writer."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from crmcore.auth.passwords import verify_password
from crmcore.db import transaction
from crmcore.models import Lead, User
from crmcore.services import records as svc
from crmcore.services import users
from crmcore.testing import DEFAULT_PASSWORD
from tests.holding import writer_done_while_held

# PostgreSQL locks rows, not the database: a writer never waits for another
# one's unrelated rows.
pytestmark = [pytest.mark.plugins(), pytest.mark.sqlite_only]


def while_a_batch_writes(app: Any, send: Callable[[], int]) -> tuple[int, int]:
    """``send``'s status, sent while a transaction holds the write lock (an
    import batch that read, then writes), and how many leads there were
    before it."""
    sessions = app.extensions["crm"].sessions
    answers: list[int] = []
    request_sent = threading.Event()

    def meanwhile() -> None:
        request_sent.set()
        answers.append(send())

    with transaction(sessions) as session:
        before = session.scalar(select(func.count()).select_from(Lead))
        request = threading.Thread(target=meanwhile)
        request.start()
        request_sent.wait(5)
        request.join(0.5)
        assert request.is_alive()  # the request waits for the lock instead of writing first
        svc.create(session, None, svc.LEADS, {"full_name": f"Batch after {before}"})
    request.join(10)
    assert not request.is_alive()
    return answers[0], before


def lead_count(app: Any) -> int:
    with app.extensions["crm"].sessions() as session:
        return session.scalar(select(func.count()).select_from(Lead))


def test_an_api_request_that_writes_waits_for_the_batch_then_is_done(app, api_client):
    api = api_client()
    status, before = while_a_batch_writes(
        app, lambda: api.post("/api/v1/leads", json={"full_name": "Meanwhile"}).status_code)
    assert status == 201  # not 503: its transaction began after the batch's
    assert lead_count(app) == before + 2


def test_a_form_saved_while_a_batch_writes_is_saved(app, client, make_user, login):
    login(client, make_user("sales"))
    status, before = while_a_batch_writes(
        app, lambda: client.post("/leads/new", data={"full_name": "Meanwhile"}).status_code)
    assert status == 303
    assert lead_count(app) == before + 2


def test_reads_are_not_held_up_by_a_writer(app, api_client):
    api = api_client()
    with transaction(app.extensions["crm"].sessions) as session:
        svc.create(session, None, svc.LEADS, {"full_name": "Not committed yet"})
        answers: list[Any] = []
        reader = threading.Thread(target=lambda: answers.append(api.get("/api/v1/leads")))
        reader.start()
        reader.join(5)
        assert not reader.is_alive()
    assert answers[0].status_code == 200
    assert "Not committed yet" not in answers[0].get_data(as_text=True)


def test_a_password_being_checked_at_sign_in_holds_no_writer_up(app, client, make_user,
                                                                monkeypatch):
    user = make_user("sales")
    answer, done_while_checking = writer_done_while_held(
        app, monkeypatch, users, "verify_password",
        lambda: client.post("/login", data={"email": user.email, "password": DEFAULT_PASSWORD}))
    assert done_while_checking
    assert answer.status_code == 303
    with app.extensions["crm"].sessions() as session:
        assert session.get(User, user.id).last_login_at is not None


def test_a_password_being_changed_holds_no_writer_up(app, client, make_user, login,
                                                     monkeypatch):
    user = make_user("sales")
    login(client, user)
    new = {"current_password": DEFAULT_PASSWORD, "new_password": "a brand new secret",
           "confirm_password": "a brand new secret"}
    answer, done_while_checking = writer_done_while_held(
        app, monkeypatch, users, "verify_password",
        lambda: client.post("/account/password", data=new))
    assert done_while_checking
    assert answer.status_code == 303
    with app.extensions["crm"].sessions() as session:
        assert verify_password(session.get(User, user.id).password_hash, "a brand new secret")
