"""Keyset paging both ways: following ``prev`` from any page gives back the
pages ``next`` gave, in every sort order, ties included."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import update

from crmcore.db import transaction
from crmcore.errors import ValidationFailed
from crmcore.models import Contact, Lead
from crmcore.services import records as svc

LIMIT = 3
# Few distinct values: most pages start or end among ties.
NAMES = ["Ann", "bob", "Ann", "Émile", "bob", "Ann", "Cy", "Ann", "bob", "Ann", "Dee"]


@pytest.fixture
def filled(app, make_user):
    admin = make_user("admin")
    sessions = app.extensions["crm"].sessions
    with transaction(sessions) as session:
        for i, name in enumerate(NAMES):
            svc.create(session, admin, svc.LEADS, {
                "full_name": name, "company": "Co" if i % 3 else "",
                "emails": [f"p{i}@x.example"] if i % 2 else []})
            svc.create(session, admin, svc.CONTACTS, {"last_name": name})
        # One import batch: every created_at the same but for two.
        for model in (Lead, Contact):
            session.execute(update(model).values(created_at=datetime(2026, 1, 1),
                                                 updated_at=datetime(2026, 1, 2)))
            session.execute(update(model).where(model.id.in_([2, 5]))
                            .values(created_at=datetime(2026, 1, 3)))
    return admin, sessions


def walk(sessions, admin, kind, sort, cursor, direction):
    pages = []
    while True:
        with sessions() as session:
            page = svc.list_records(session, admin, kind, {}, sort=sort, cursor=cursor,
                                    limit=LIMIT)
            pages.append(([r.id for r in page.items], page.prev_cursor, page.next_cursor))
        cursor = page.next_cursor if direction == "next" else page.prev_cursor
        if cursor is None:
            return pages


@pytest.mark.parametrize(("kind", "sort"), [
    *((svc.LEADS, s) for s in ("created_at", "-created_at", "updated_at", "-updated_at",
                               "full_name", "-full_name", "score", "-score", "id", "-id")),
    *((svc.CONTACTS, s) for s in ("last_name", "-last_name", "created_at")),
])
def test_prev_gives_back_the_pages_next_gave(filled, kind, sort):
    admin, sessions = filled
    forward = walk(sessions, admin, kind, sort, None, "next")
    ids = [i for page, _, _ in forward for i in page]
    assert len(ids) == len(set(ids)) == len(NAMES)  # nothing twice, nothing missed
    assert forward[0][1] is None and forward[-1][2] is None
    # Back from the last page by prev links: the same pages, the first one last.
    backward = walk(sessions, admin, kind, sort, forward[-1][1], "prev")
    assert [page for page, _, _ in backward] == [page for page, _, _ in forward[-2::-1]]
    assert backward[-1][1] is None  # the first page has no page before it
    # Each page reached backwards leads forward to the page after it.
    in_order = [*backward[::-1], forward[-1]]
    for (_, _, following), (next_page, _, _) in zip(in_order, in_order[1:], strict=False):
        assert following is not None
        with sessions() as session:
            assert [r.id for r in svc.list_records(
                session, admin, kind, {}, sort=sort, cursor=following,
                limit=LIMIT).items] == next_page


def test_a_row_deleted_meanwhile_is_neither_repeated_nor_skipped_around(filled):
    admin, sessions = filled
    forward = walk(sessions, admin, svc.LEADS, "full_name", None, "next")
    second_page, back_to_first = forward[1][0], forward[1][1]
    with transaction(sessions) as session:
        svc.soft_delete(session, admin, svc.LEADS, [forward[0][0][1]])
    with sessions() as session:
        page = svc.list_records(session, admin, svc.LEADS, {}, sort="full_name",
                                cursor=back_to_first, limit=LIMIT)
    assert [r.id for r in page.items] == [forward[0][0][0], forward[0][0][2]]
    assert page.prev_cursor is None  # nothing before it: it is the first page now
    with sessions() as session:
        assert [r.id for r in svc.list_records(session, admin, svc.LEADS, {}, sort="full_name",
                                               cursor=page.next_cursor,
                                               limit=LIMIT).items] == second_page


def test_a_prev_cursor_that_is_not_one_is_refused(app, make_user):
    admin = make_user("admin")
    bad = svc._encode_cursor(["2026-01-01T00:00:00", 1, True, "yes"])
    with app.extensions["crm"].sessions() as session, pytest.raises(ValidationFailed):
        svc.list_records(session, admin, svc.LEADS, {}, sort="created_at", cursor=bad)
