"""Many simultaneous submissions of one address make exactly one lead
(PostgreSQL: real concurrency, through a live server and real HTTP)."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request

import pytest
from sqlalchemy import func, select

from crmcore.models import Lead

pytestmark = [pytest.mark.plugins("mail", "leadworks"), pytest.mark.postgres_only]


def post(url: str, key: str, idem: str, body: dict) -> int:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers={
        "Authorization": f"Bearer {key}", "Idempotency-Key": idem,
        "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_simultaneous_submissions_of_one_address_make_one_lead(app, live_server, sessions,
                                                               make_advertiser, make_key):
    keys = [make_key(make_advertiser("Acme")), make_key(make_advertiser("Beta"))]
    writers = 12
    barrier = threading.Barrier(writers)
    statuses: list[int] = []

    def submit(i: int) -> None:
        barrier.wait()
        statuses.append(post(live_server.url + "/api/v1/leadworks/leads", keys[i % 2],
                             f"race-{i}", {"campaign": "Race", "full_name": f"Racer {i}",
                                           "emails": [f"  Same.Person@Example.com{' ' * (i % 3)}"
                                                      if i % 2 else "same.person@EXAMPLE.com"]}))

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(statuses) == [201] + [409] * (writers - 1), statuses
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Lead)) == 1


def test_simultaneous_retries_of_one_request_create_once(app, live_server, sessions,
                                                         make_advertiser, make_key):
    key = make_key(make_advertiser())
    writers = 10
    barrier = threading.Barrier(writers)
    statuses: list[int] = []
    body = {"campaign": "Race", "full_name": "Retry", "emails": ["retry@example.com"]}

    def submit() -> None:
        barrier.wait()
        statuses.append(post(live_server.url + "/api/v1/leadworks/leads", key, "one-key", body))

    threads = [threading.Thread(target=submit) for _ in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert statuses == [201] * writers, statuses
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Lead)) == 1
