"""On SQLite, background and command-line work (``transaction()``) takes the
write lock when it begins, so that it never fails with "database is locked"
because a request wrote between its reads and its writes. A request caught
the other way round gets a clear 503 with Retry-After, and its retry works."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from crmcore.db import transaction
from crmcore.models import Lead
from crmcore.services import records as svc
from crmcore.testing import is_postgres

pytestmark = pytest.mark.plugins()


def test_work_that_reads_then_writes_is_not_overtaken_by_a_request(app, api_client,
                                                                   make_user):
    if is_postgres():
        pytest.skip("PostgreSQL's row locks need no such care")
    api = api_client(make_user("admin"))
    sessions = app.extensions["crm"].sessions
    answers = []
    request_sent = threading.Event()

    def meanwhile() -> None:
        request_sent.set()
        answers.append(api.post("/api/v1/leads", json={"full_name": "Meanwhile"}).status_code)

    with transaction(sessions) as session:  # an import batch, say
        before = session.scalar(select(func.count()).select_from(Lead))
        request = threading.Thread(target=meanwhile)
        request.start()
        request_sent.wait(5)
        request.join(0.5)  # the request waits for the lock instead of writing first
        svc.create(session, None, svc.LEADS, {"full_name": f"Batch after {before}"})
    request.join(10)
    assert answers == [503]  # its snapshot predates the batch: retry
    assert api.post("/api/v1/leads", json={"full_name": "Retried"}).status_code == 201
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Lead)) == before + 2
