"""A lead's, contact's, stage's or custom field's id is never given again once
its row is deleted for good, on SQLite (AUTOINCREMENT, core_0025) as on
PostgreSQL (sequences): a stale id in an integrator's store, an old export or
a URL must name nothing rather than someone else."""

from __future__ import annotations

import hashlib
import re

import pytest
from crmcore_plugins.gdpr.services.anonymize import anonymize
from crmcore_plugins.leadworks.services import access, advertisers
from crmcore_plugins.mail.services.store import store_messages
from sqlalchemy import inspect, text
from sqlalchemy.schema import CreateColumn

from crmcore import alembic_branches
from crmcore.app import create_app
from crmcore.db import Base, transaction
from crmcore.models import LeadStage
from crmcore.services import imports, stages
from crmcore.services import records as svc
from crmcore.services.users import create_user, issue_token
from crmcore.testing import ApiClient, https_client
from tests.core.csvfiles import write_csv
from tests.plugins.mail.builders import build_message

pytestmark = pytest.mark.plugins()

KINDS = {"leads": ({"full_name": "Ada Lovelace"}, "lead"),
         "contacts": ({"last_name": "Lovelace"}, "contact")}


def new_ids(api, kind, count):
    values, _ = KINDS[kind]
    ids = []
    for _ in range(count):
        response = api.post(f"/api/v1/{kind}", json=values)
        assert response.status_code == 201, response.get_json()
        ids.append(response.get_json()["id"])
    return ids


def purge(api, kind, record_id):
    assert api.delete(f"/api/v1/{kind}/{record_id}").status_code == 204
    assert api.delete(f"/api/v1/recycle-bin/{KINDS[kind][1]}/{record_id}").status_code == 204


@pytest.mark.parametrize("kind", KINDS)
def test_a_purged_records_id_is_never_given_again(api_client, kind):
    api = api_client()
    ids = new_ids(api, kind, 3)
    purge(api, kind, ids[2])
    purge(api, kind, ids[1])

    [new] = new_ids(api, kind, 1)

    assert new > ids[2]
    assert api.get(f"/api/v1/{kind}/{ids[2]}").status_code == 404


@pytest.mark.parametrize("kind", KINDS)
def test_a_reverted_imports_ids_are_never_given_again(app, api_client, make_user, run_import,
                                                      tmp_path, kind):
    admin = make_user("admin")
    api = api_client(admin)
    [first] = new_ids(api, kind, 1)
    header = ["full_name"] if kind == "leads" else ["last_name"]
    path = write_csv(tmp_path / "people.csv", header, [[f"Person {n}"] for n in range(3)])
    record_kind = svc.LEADS if kind == "leads" else svc.CONTACTS
    job = run_import(path, admin, record_kind)
    assert job.status == "done", job.message
    with app.extensions["crm"].sessions() as session:
        imported = sorted(session.scalars(text(
            f"SELECT id FROM {kind} WHERE import_id = :job"), {"job": job.id}))
    assert imported[0] > first

    assert imports.revert(app.extensions["crm"].sessions, admin, job.id).status == "reverted"
    again = run_import(path, admin, record_kind)
    assert again.status == "done", again.message
    with app.extensions["crm"].sessions() as session:
        reimported = sorted(session.scalars(text(
            f"SELECT id FROM {kind} WHERE import_id = :job"), {"job": again.id}))
    assert len(reimported) == 3 and reimported[0] > imported[-1]

    assert imports.revert(app.extensions["crm"].sessions, admin, again.id).status == "reverted"
    [single] = new_ids(api, kind, 1)
    assert single > reimported[-1]


def test_a_deleted_stages_or_custom_fields_id_is_never_given_again(app, api_client, make_user):
    admin = make_user("admin")
    api = api_client(admin)
    created = api.post("/api/v1/stages", json={"name": "Parked", "kind": "lost"})
    assert created.status_code == 201, created.get_json()
    parked = created.get_json()["id"]
    with transaction(app.extensions["crm"].sessions) as session:
        stages.delete_stage(session, session.merge(admin),
                            session.get(LeadStage, parked))
    again = api.post("/api/v1/stages", json={"name": "Waiting", "kind": "lost"}).get_json()
    assert again["id"] > parked

    field = {"record_type": "lead", "label": "Plan", "field_type": "text"}
    plan = api.post("/api/v1/custom-fields", json={**field, "name": "plan"}).get_json()["id"]
    assert api.delete(f"/api/v1/custom-fields/{plan}").status_code == 204
    tier = api.post("/api/v1/custom-fields", json={**field, "name": "tier"}).get_json()["id"]
    assert tier > plan


@pytest.mark.sqlite_only
def test_the_models_and_the_database_agree_on_autoincrement(app):
    declared = {table.name for table in Base.metadata.tables.values()
                if table.dialect_options["sqlite"]["autoincrement"]}
    with app.extensions["crm"].engine.connect() as conn:
        stored = set(conn.scalars(text(
            "SELECT name FROM sqlite_master WHERE type = 'table'"
            " AND sql LIKE '%PRIMARY KEY AUTOINCREMENT%'")))
    assert declared == stored == {"leads", "contacts", "lead_stages", "custom_fields"}


# The migration, on a database whose core stands at core_0024 with rows in
# every table, the plugins' too.

PLUGINS = ("gdpr", "mail", "leadworks")
REBUILT = ("leads", "contacts", "lead_stages", "custom_fields")


@pytest.fixture
def before_0025(crm_config, tmp_path):
    """An app with the plugins whose core's database stands at core_0024 (the
    plugins' at their heads), filled through its services and API (an import's
    rows aside, see :func:`fill`)."""
    app = create_app({**crm_config, "PLUGINS": ",".join(PLUGINS)})
    runtime = app.extensions["crm"]
    engine = runtime.engine
    core, *plugins = alembic_branches.branches(runtime.hook)
    alembic_branches.upgrade(engine, core, "core_0024")
    for branch in plugins:
        alembic_branches.upgrade(engine, branch)
    add_later_columns(engine)
    with transaction(runtime.sessions) as session:
        admin = create_user(session, None, {"email": "admin@example.com", "role": "admin",
                                            "password": "correct horse battery",
                                            "name": "Admin"})
        token = issue_token(session, None, admin, "test")
        advertiser = advertisers.create_advertiser(session, None, {"name": "Acme Ads"})
        _, key = access.issue_key(session, None, advertiser, {"name": "t"})
    fill(app, admin, ApiClient(https_client(app), token), key, tmp_path)
    yield app
    engine.dispose()


def add_later_columns(engine):
    """The columns of the models that revisions after core_0025 add (the
    leads' last name key, core_0026): this code's services, which fill the
    database, write them. core_0025 rebuilds the tables with them as with
    every other column."""
    with engine.begin() as conn:
        # The tables this database has: the metadata also holds those of
        # plugins other tests loaded.
        for name in inspect(conn).get_table_names():
            if (table := Base.metadata.tables.get(name)) is None:
                continue
            present = {c["name"] for c in inspect(conn).get_columns(name)}
            for column in table.columns:
                if column.name not in present:
                    conn.execute(text(f"ALTER TABLE {name} ADD COLUMN "
                                      f"{CreateColumn(column).compile(conn)}"))


def fill(app, admin, api, key, tmp_path):
    runtime = app.extensions["crm"]
    assert api.post("/api/v1/custom-fields", json={
        "record_type": "lead", "name": "plan", "label": "Plan", "field_type": "text"},
    ).status_code == 201
    assert api.post("/api/v1/stages", json={"name": "Parked", "kind": "lost"}).status_code == 201
    leads = [api.post("/api/v1/leads", json={
        "full_name": f"Lead {n}", "emails": [f"lead{n}@example.com", f"other{n}@example.com"],
        "phones": ["+12025550100"], "custom": {"plan": "pro"}}).get_json()["id"]
        for n in range(6)]
    for lead in leads[:2]:
        assert api.post(f"/api/v1/leads/{lead}/comments",
                        json={"body": "Called"}).status_code == 201
    converted = api.post(f"/api/v1/leads/{leads[0]}/convert", json={})
    assert converted.status_code == 201, converted.get_json()
    assert api.delete(f"/api/v1/leads/{leads[1]}").status_code == 204  # in the bin
    merged = api.post(f"/api/v1/leads/{leads[2]}/merge", json={"other_ids": [leads[3]]})
    assert merged.status_code == 200, merged.get_json()
    client = https_client(app)
    for n in range(3):
        response = client.post("/api/v1/leadworks/leads", json={
            "campaign": "c", "full_name": f"Form {n}", "emails": [f"form{n}@example.com"]},
            headers={"Authorization": f"Bearer {key}", "Idempotency-Key": f"k-{n}"})
        assert response.status_code == 201, response.get_json()
    # This code's imports number their rows after sqlite_sequence, which
    # core_0025 makes: the job is given leads of the API.
    path = write_csv(tmp_path / "leads.csv", ["full_name"], [["Imported"]])
    with transaction(runtime.sessions) as session:
        job = imports.start(session, None, svc.LEADS, path, path.name, imports.ImportOptions())
    with runtime.engine.begin() as conn:
        conn.execute(text("UPDATE import_jobs SET status = 'done' WHERE id = :job"),
                     {"job": job.id})
        conn.execute(text("UPDATE leads SET import_id = :job WHERE id IN (:a, :b)"),
                     {"job": job.id, "a": leads[4], "b": leads[5]})
    with transaction(runtime.sessions) as session:
        anonymize(session, session.merge(admin), "lead", leads[5], via="api")
    with transaction(runtime.sessions) as session:
        store_messages(session, [build_message(message_id="<m@x>",
                                               sender="lead4@example.com")], "import")
    with runtime.engine.begin() as conn:
        conn.execute(text("ANALYZE"))


def tables(conn):
    return sorted(conn.scalars(text(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        " AND name NOT LIKE 'alembic_version%'")))


def checksums(conn):
    """Each table's row count and a digest of its rows, in their order."""
    sums = {}
    for table in tables(conn):
        rows = conn.execute(text(f'SELECT * FROM "{table}" ORDER BY 1, 2')).all()
        sums[table] = (len(rows), hashlib.sha256(repr(rows).encode()).hexdigest())
    return sums


def schema(conn):
    """Everything the database declares besides the tables' own SQL: indexes and
    triggers, columns, foreign keys and planner statistics."""
    objects = set(conn.execute(text(
        "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE type != 'table'")))
    pragmas = {(table, pragma): conn.exec_driver_sql(f'PRAGMA {pragma}("{table}")').all()
               for table in tables(conn) for pragma in ("table_xinfo", "foreign_key_list")}
    # A rebuilt table lists its indexes in the order they were made again.
    indexes = {(table, row[1], row[2:]): conn.exec_driver_sql(
                   f'PRAGMA index_xinfo("{row[1]}")').all()
               for table in tables(conn)
               for row in conn.exec_driver_sql(f'PRAGMA index_list("{table}")')}
    stats = sorted(conn.execute(text("SELECT tbl, idx, stat FROM sqlite_stat1")))
    return objects, pragmas, indexes, stats


def definition(conn, table):
    """The table's SQL, clause by clause, its primary key left out."""
    sql = conn.scalar(text("SELECT sql FROM sqlite_master WHERE name = :t"), {"t": table})
    clauses = {c.strip() for c in re.split(r",\s*\n", sql.split("(", 1)[1].rsplit(")", 1)[0])}
    return {re.sub(r"^id INTEGER NOT NULL.*", "id INTEGER NOT NULL", c) for c in clauses
            if not re.fullmatch(r"CONSTRAINT pk_\w+ PRIMARY KEY \(id\)", c)}


@pytest.mark.sqlite_only
@pytest.mark.plugins(*PLUGINS)
def test_core_0025_rebuilds_the_tables_keeping_every_row_index_and_key(before_0025):
    runtime = before_0025.extensions["crm"]
    engine = runtime.engine
    core = alembic_branches.branches(runtime.hook, "core")[0]
    with engine.connect() as conn:
        rows, before, sql = (checksums(conn), schema(conn),
                             {t: definition(conn, t) for t in REBUILT})
        assert conn.scalar(text("SELECT count(*) FROM leadworks_submissions"
                                " WHERE lead_id IS NOT NULL")) == 3
        assert conn.scalar(text("SELECT count(*) FROM leads"
                                " WHERE converted_contact_id IS NOT NULL")) == 1
        assert conn.scalar(text("SELECT count(*) FROM sqlite_stat1 WHERE tbl = 'leads'"))
        assert not conn.scalar(text("SELECT count(*) FROM sqlite_master"
                                    " WHERE sql LIKE '%AUTOINCREMENT%'"))
        assert all(rows[t][0] for t in (*REBUILT, "timeline_entries", "email_keys",
                                        "other_keys", "import_jobs", "gdpr_merge",
                                        "gdpr_audit", "mail_links",
                                        "leadworks_submissions")), rows

    assert alembic_branches.upgrade(engine, core, "core_0025") == ["core_0025"]

    with engine.connect() as conn:
        assert checksums(conn) == rows
        assert schema(conn) == before
        assert {t: definition(conn, t) for t in REBUILT} == sql
        binned = conn.scalar(text("SELECT sql FROM sqlite_master WHERE name = 'ix_leads_binned'"))
        assert binned.endswith("WHERE deleted_at IS NOT NULL")
        assert conn.execute(text("PRAGMA foreign_key_check")).all() == []
        assert conn.scalar(text("PRAGMA integrity_check")) == "ok"
        assert conn.scalar(text("PRAGMA foreign_keys")) == 1
        for table in REBUILT:
            assert conn.scalar(text("SELECT seq FROM sqlite_sequence WHERE name = :t"),
                               {"t": table}) == conn.scalar(text(f"SELECT max(id) FROM {table}"))
        top = conn.scalar(text("SELECT max(id) FROM leads"))

    with transaction(runtime.sessions) as session:
        svc.remove(session, None, svc.LEADS, [top])
    with transaction(runtime.sessions) as session:
        fresh = svc.create(session, None, svc.LEADS, {"full_name": "New"}).id
    assert fresh == top + 1
    with engine.connect() as conn:
        # Removing the top lead set its submission's lead to NULL, as it should:
        # the foreign keys are on again.
        assert conn.scalar(text("SELECT count(*) FROM leadworks_submissions"
                                " WHERE lead_id IS NOT NULL")) == 2
    # Once rebuilt, a table is left alone: the upgrade may run again after a
    # crash between its commit and the stamp of the revision.
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'core_0024'"))
        before_again = checksums(conn)
    assert alembic_branches.upgrade(engine, core, "core_0025") == ["core_0025"]
    with engine.connect() as conn:
        assert checksums(conn) == before_again

