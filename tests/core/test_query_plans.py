"""List search and sorting are backed by indexes, as the query planner says."""

from __future__ import annotations

import pytest
from sqlalchemy import event, insert, select, text

from crmcore.db import any_of
from crmcore.models import EmailKey, OtherKey
from crmcore.services import duplicates
from crmcore.services import records as svc
from crmcore.services.duplicates import likely_duplicates
from crmcore.testing import is_postgres

pytestmark = pytest.mark.plugins()


def plan(session, query) -> str:
    compiled = query.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
    if is_postgres():
        # Tiny test tables make a sequential scan cheapest; forbid it to see
        # whether an index can serve the query at all.
        session.execute(text("SET LOCAL enable_seqscan = off"))
        session.execute(text("SET LOCAL enable_sort = off"))
        return "\n".join(session.scalars(text(f"EXPLAIN {compiled}")))
    rows = session.execute(text(f"EXPLAIN QUERY PLAN {compiled}"))
    return "\n".join(row[-1] for row in rows)


def search_query(session, admin, kind, q):
    return svc.visible(session, admin, kind).where(
        svc._prefix_search(session, kind.model, q))


@pytest.mark.parametrize("kind", [svc.LEADS, svc.CONTACTS], ids=["leads", "contacts"])
def test_prefix_search_on_name_email_and_phone_uses_indexes(app, make_user, kind):
    admin = make_user("admin")
    table = kind.model.__tablename__
    with app.extensions["crm"].sessions() as session:
        found = plan(session, search_query(session, admin, kind, "ada_%"))
    for column in svc.SEARCH_KEYS:  # the last name's too: search by surname
        assert f"ix_{table}_{column}" in found, found
    assert ("Seq Scan" if is_postgres() else f"SCAN {table}\n") not in found + "\n", found


@pytest.mark.parametrize("sort", ["full_name", "-created_at"])
def test_a_sorted_page_of_a_surname_search_seeks_the_name_indexes(app, make_user, sort):
    """Among many leads, a page of a search, sorted, seeks the folded name and
    last name through their indexes rather than walking every lead in the
    sort order."""
    admin = make_user("admin")
    with app.extensions["crm"].sessions() as session:
        stage = session.scalar(select(svc.LeadStage.id))
        session.execute(insert(svc.Lead), [
            {"full_name": f"P{i} X", "name_key": f"p{i} x", "last_name_key": "x",
             "stage_id": stage} for i in range(2000)])
        session.execute(text("ANALYZE"))
        found = plan_of_statement(app, session, lambda: svc.list_records(
            session, admin, svc.LEADS, {"q": "Øgå"}, sort=sort))
    assert "ix_leads_name_key" in found and "ix_leads_last_name_key_id" in found, found
    assert ("Seq Scan" if is_postgres() else "SCAN leads") not in found, found


def test_prefix_search_escapes_wildcards(app, make_user):
    admin = make_user("admin")
    with app.extensions["crm"].sessions.begin() as session:
        for name in ("ada_x", "adamx", "ada%y"):
            svc.create(session, admin, svc.LEADS, {"full_name": name})
    with app.extensions["crm"].sessions() as session:
        def names(q):
            return sorted(r.full_name for r in
                          svc.list_records(session, admin, svc.LEADS, {"q": q}).items)

        assert names("ada_") == ["ada_x"]
        assert names("ada%") == ["ada%y"]
        assert names("ADA") == ["ada%y", "ada_x", "adamx"]


@pytest.mark.parametrize(("kind", "sort", "index"), [
    (svc.LEADS, "-created_at", "ix_leads_created_at_id"),
    (svc.LEADS, "full_name", "ix_leads_name_key"),
    (svc.LEADS, "-full_name", "ix_leads_name_key"),
    (svc.CONTACTS, "last_name", "ix_contacts_last_name_key_id"),
])
def plan_of_statement(app, session, action, forbid=("seqscan",), holding="ORDER BY") -> str:
    """The plan of the one statement holding ``holding`` that ``action()``
    runs; on PostgreSQL with the ``forbid`` plans (which tiny tables make
    cheapest) off."""
    engine = app.extensions["crm"].engine
    statements = []

    def keep(conn, cursor, statement, parameters, context, executemany):
        statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", keep)
    try:
        action()
    finally:
        event.remove(engine, "before_cursor_execute", keep)
    [(statement, parameters)] = [s for s in statements if holding in s[0]]
    if is_postgres():
        for name in forbid:
            session.execute(text(f"SET LOCAL enable_{name} = off"))
        return "\n".join(session.connection().exec_driver_sql(
            f"EXPLAIN {statement}", parameters).scalars())
    return "\n".join(row[-1] for row in session.connection().exec_driver_sql(
        f"EXPLAIN QUERY PLAN {statement}", parameters))


@pytest.mark.parametrize(("kind", "sort", "index"), [
    (svc.LEADS, "-created_at", "ix_leads_created_at_id"),
    (svc.LEADS, "full_name", "ix_leads_name_key"),
    (svc.LEADS, "-full_name", "ix_leads_name_key"),
    (svc.CONTACTS, "last_name", "ix_contacts_last_name_key_id"),
])
def test_sorted_pages_walk_an_index_instead_of_sorting(app, make_user, kind, sort, index):
    admin = make_user("admin")
    with app.extensions["crm"].sessions() as session:
        found = plan_of_statement(
            app, session, lambda: svc.list_records(session, admin, kind, sort=sort))
    assert index in found, found
    assert "TEMP B-TREE" not in found and "Sort" not in found.split("->")[0], found


def test_the_duplicate_warning_looks_names_phones_and_emails_up_by_index(app, make_user):
    # "Bob" has nicknames: the name is looked up in several spellings.
    admin = make_user("admin")
    with app.extensions["crm"].sessions() as session:
        found = plan_of_statement(app, session, lambda: likely_duplicates(
            session, admin, svc.LEADS, phones=["+12025550143", "+12025550144"],
            emails=["own@example.com", "ada@example.com"], name_key="bob smith",
            company="Acme"),
            forbid=("seqscan", "indexscan"))  # not the id order's walk
    assert all(f"ix_leads_{key}" in found for key in ("sound_key", "phone_key", "email_key")), \
        found
    assert ("Seq Scan" if is_postgres() else "SCAN leads\n") not in found + "\n", found


def test_the_duplicate_warning_looks_other_phones_and_emails_up_by_index(app, make_user):
    admin = make_user("admin")
    with app.extensions["crm"].sessions() as session:
        # Enough keys that the planner tells the primary key (by value) from
        # the index by record.
        session.execute(insert(OtherKey), [
            {"record_type": "lead", "record_id": i, "value": f"+1202555{i:04d}"}
            for i in range(2000)])
        if is_postgres():
            session.execute(text("ANALYZE other_keys"))
        found = plan_of_statement(app, session, lambda: likely_duplicates(
            session, admin, svc.LEADS, phones=["+12025550143"], emails=["ada@example.com"],
            name_key="", company=""), holding="FROM other_keys")
    assert ("pk_other_keys" if is_postgres() else "(record_type=? AND value=?)") in found, found


def test_any_of_looks_thousands_of_keys_up_with_one_parameter(app, make_user):
    admin = make_user("admin")
    with app.extensions["crm"].sessions.begin() as session:
        for email in ("o'hara@x.org", "b@x.org"):
            svc.create(session, admin, svc.LEADS, {"full_name": "X", "emails": [email]})
    wanted = [f"nobody{i}@x.org" for i in range(5000)] + ["o'hara@x.org"]
    with app.extensions["crm"].sessions() as session:
        query = select(EmailKey.email).where(any_of(session, EmailKey.email, wanted))
        assert list(session.scalars(query)) == ["o'hara@x.org"]
        statement = str(query.compile(session.get_bind()))
        assert statement.count("?") + statement.count("%(") <= 1, statement
        if not is_postgres():
            found = plan(session, query)
            assert "email_keys USING" in found and "SCAN email_keys" not in found, found


def test_a_page_after_a_cursor_starts_with_an_index_seek(app, make_user):
    """Also inside a run of equal sort values (an import batch shares its
    timestamp): each page after a cursor is one index seek that bounds both
    columns of (created_at, id), or only the first once the page before saw
    the run end."""
    admin = make_user("admin")
    with app.extensions["crm"].sessions.begin() as session:
        leads = [svc.create(session, admin, svc.LEADS, {"full_name": f"P{i}"}) for i in range(4)]
        for lead in leads[1:3]:
            lead.created_at = leads[0].created_at
    engine = app.extensions["crm"].engine
    statements = []

    def keep(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT") and "leads" in statement:
            statements.append((statement, parameters))

    def page_and_plans(session, cursor):
        statements.clear()
        event.listen(engine, "before_cursor_execute", keep)
        try:
            page = svc.list_records(session, admin, svc.LEADS, cursor=cursor, limit=1)
        finally:
            event.remove(engine, "before_cursor_execute", keep)
        with engine.connect() as conn:
            if is_postgres():
                conn.execute(text("SET enable_seqscan = off"))
                return page, ["\n".join(conn.exec_driver_sql(f"EXPLAIN {s}", p).scalars())
                              for s, p in statements]
            return page, ["\n".join(r[-1] for r in conn.exec_driver_sql(
                f"EXPLAIN QUERY PLAN {s}", p)) for s, p in statements]

    seek = "SEARCH leads USING INDEX ix_leads_created_at_id "
    expected = [seek + "(created_at<?)",  # past the newest lead: no tie follows it
                seek + "(created_at=? AND id<?)",  # inside the run
                seek + "(created_at=? AND id<?)"]
    walked = []
    with app.extensions["crm"].sessions() as session:
        page = svc.list_records(session, admin, svc.LEADS, limit=1)
        walked += [r.id for r in page.items]
        for wanted in expected:
            page, plans = page_and_plans(session, page.next_cursor)
            walked += [r.id for r in page.items]
            if is_postgres():
                assert len(plans) == 1 and "Index Cond: (ROW(created_at, id) < ROW(" in plans[0]
            else:
                assert plans[0] == wanted, plans
    assert walked == [leads[3].id, leads[2].id, leads[1].id, leads[0].id]
    assert page.next_cursor is None


@pytest.mark.parametrize("kind", [svc.LEADS, svc.CONTACTS], ids=["leads", "contacts"])
def test_a_revert_walks_its_imports_rows_through_an_index(app, kind):
    """Each batch of a revert seeks to the rows after the last one deleted;
    scanning or sorting the import's rows for every batch would make
    reverting a large import quadratic."""
    model = kind.model
    with app.extensions["crm"].sessions() as session:
        found = plan(session, select(model.id).where(model.import_id == 7, model.id > 2000)
                     .order_by(model.id).limit(2000))
    assert f"ix_{model.__tablename__}_import" in found, found
    assert "TEMP B-TREE" not in found and "Sort" not in found.split("->")[0], found


def test_deleting_a_contact_finds_its_converted_leads_through_an_index(app):
    """The foreign key from leads to the contact they became is checked for
    every contact deleted; without an index each check reads every lead."""
    with app.extensions["crm"].sessions() as session:
        found = plan(session, select(svc.Lead.id).where(svc.Lead.converted_contact_id == 5))
    assert "ix_leads_converted_contact" in found, found


@pytest.mark.parametrize("column", ["sound_key", "phone_key"])
@pytest.mark.parametrize("kind", [svc.LEADS, svc.CONTACTS], ids=["leads", "contacts"])
def test_duplicate_sets_walk_the_sound_or_phone_index_in_order(app, kind, column):
    table = kind.model.__tablename__
    with app.extensions["crm"].sessions() as session:
        found = plan(session, duplicates._shared(getattr(kind.model, column), "m"))
    assert f"ix_{table}_{column}" in found, found
    # Neither the grouping nor the order sorts the table, nor reads its rows.
    assert "TEMP B-TREE" not in found and "Sort" not in found, found
    assert "COVERING INDEX" in found or "Index Only Scan" in found, found


@pytest.mark.parametrize("by", ["phone", "email"])
@pytest.mark.parametrize("kind", [svc.LEADS, svc.CONTACTS], ids=["leads", "contacts"])
def test_duplicate_sets_walk_other_keys_by_their_primary_key_in_order(app, kind, by):
    with app.extensions["crm"].sessions() as session:
        found = plan(session, duplicates._other_values(kind, by, "+1202"))
    assert "pk_other_keys" in found or "sqlite_autoindex_other_keys_1" in found, found
    assert "TEMP B-TREE" not in found and "Sort" not in found, found
    # Whether another record holds a value: a probe of its first key's index.
    assert f"ix_{kind.model.__tablename__}_{by}_key" in found, found
