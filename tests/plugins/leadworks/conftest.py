"""Fixtures for the Leadworks tests: advertisers, their keys and portal users."""

from __future__ import annotations

from collections.abc import Callable
from itertools import count
from pathlib import Path
from typing import Any

import pytest
from crmcore_plugins.leadworks.models import Member, Upload
from crmcore_plugins.leadworks.services import access, advertisers, uploads
from crmcore_plugins.leadworks.services.intake import Submitter
from flask import Flask

from crmcore.db import transaction
from crmcore.services import imports
from crmcore.services import records as svc
from crmcore.services.users import create_user
from crmcore.testing import DEFAULT_PASSWORD

pytestmark = pytest.mark.plugins("mail", "leadworks")


@pytest.fixture
def sessions(app: Flask) -> Any:
    return app.extensions["crm"].sessions


@pytest.fixture
def make_advertiser(sessions: Any) -> Callable[..., Any]:
    def make(name: str = "Acme Ads", **data: Any) -> Any:
        with transaction(sessions) as session:
            return advertisers.create_advertiser(session, None, {"name": name, **data})

    return make


@pytest.fixture
def make_key(sessions: Any) -> Callable[..., str]:
    def make(advertiser: Any) -> str:
        with transaction(sessions) as session:
            _, key = access.issue_key(session, None, session.merge(advertiser), {"name": "t"})
        return key

    return make


@pytest.fixture
def make_portal_user(sessions: Any) -> Callable[..., Any]:
    counter = iter(range(1, 1000))

    def make(advertiser: Any, email: str | None = None) -> Any:
        email = email or f"adv{next(counter)}-{advertiser.id}@partner-ads.com"
        with transaction(sessions) as session:
            user = create_user(session, None, {"email": email, "role": "advertiser",
                                               "password": DEFAULT_PASSWORD, "name": email})
            session.add(Member(user_id=user.id, advertiser_id=advertiser.id))
        return user

    return make


@pytest.fixture
def key_client(client: Any) -> Callable[..., Any]:
    """A client that sends an advertiser key, JSON and a fresh Idempotency-Key."""
    counter = iter(range(1, 100000))

    class KeyClient:
        def __init__(self, key: str) -> None:
            self.key = key

        def post(self, url: str, json: Any, key: str | None = None, **kw: Any) -> Any:
            headers = {"Authorization": f"Bearer {self.key}",
                       "Idempotency-Key": key or f"k-{next(counter)}", **kw.pop("headers", {})}
            return client.post(url, json=json, headers=headers, **kw)

        def get(self, url: str, **kw: Any) -> Any:
            return client.get(url, headers={"Authorization": f"Bearer {self.key}"}, **kw)

    return KeyClient


@pytest.fixture
def make_lead(sessions: Any) -> Callable[..., Any]:
    def make(owner: Any, kind: Any = svc.LEADS, **data: Any) -> Any:
        if kind is svc.LEADS:
            data.setdefault("full_name", "Existing Person")
        else:
            data.setdefault("last_name", "Existing")
        with transaction(sessions) as session:
            return svc.create(session, session.merge(owner), kind, data)

    return make


@pytest.fixture
def upload_csv(sessions: Any, tmp_path: Path) -> Callable[..., Upload]:
    """``upload_csv(advertiser, text)``: the advertiser's CSV upload, imported
    at once (as the portal's upload, without its background thread)."""
    numbers = count(1)

    def upload(advertiser: Any, text: str, campaign: str = "Spring") -> Upload:
        path = tmp_path / f"upload-{next(numbers)}.csv"
        path.write_text(text, encoding="utf-8")
        checked = uploads.upload_csv(sessions, Submitter(advertiser.id, advertiser.name, "csv"),
                                     campaign, path, path.name, all_or_nothing=False)
        assert checked.upload is not None, checked.report
        imports.run(sessions, checked.upload.job_id)
        return checked.upload

    return upload
