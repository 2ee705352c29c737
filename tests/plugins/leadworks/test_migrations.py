"""Leadworks' migrations build exactly the tables and indexes its models
declare, and those after the first go down and up again with the data in
place."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from crmcore import alembic_branches
from crmcore.db import Base

pytestmark = pytest.mark.plugins("mail", "leadworks")


def _ours(obj, name, type_, reflected, compare_to):
    return type_ != "table" or name.startswith("leadworks_")


def assert_matches_the_models(engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": _ours})
        assert compare_metadata(context, Base.metadata) == []


def test_migration_matches_the_models(app):
    assert_matches_the_models(app.extensions["crm"].engine)


def downgrade(engine, branch: alembic_branches.Branch, target: str) -> None:
    """Alembic's downgrade of one branch, set up as ``alembic_branches.upgrade``
    sets up an upgrade (the CRM itself only ever migrates up)."""
    cfg, script = branch.script()
    env = EnvironmentContext(cfg, script, destination_rev=target,
                             fn=lambda rev, _context: script._downgrade_revs(target, rev))
    with engine.connect() as conn:
        env.configure(connection=conn, version_table=branch.version_table,
                      transaction_per_migration=True, render_as_batch=True)
        env.run_migrations()
        conn.commit()


@pytest.fixture
def branch(app) -> alembic_branches.Branch:
    [leadworks] = alembic_branches.branches(app.extensions["crm"].hook, "leadworks")
    return leadworks


def test_0002_gives_each_submission_the_import_its_lead_came_in(
        app, branch, make_advertiser, make_key, key_client, upload_csv):
    upload = upload_csv(make_advertiser("Acme"), "name,email\nAda,ada@example.com\n")
    key_client(make_key(make_advertiser("Beta"))).post(
        "/api/v1/leadworks/leads", json={"campaign": "c", "full_name": "Bob"})
    engine = app.extensions["crm"].engine
    downgrade(engine, branch, "leadworks_0001")
    assert alembic_branches.upgrade(engine, branch, "leadworks_0002") == ["leadworks_0002"]
    with engine.connect() as conn:
        assert list(conn.scalars(text(
            "SELECT import_id FROM leadworks_submissions ORDER BY id"))) == [upload.job_id, None]


def test_0003_down_keeps_each_leads_oldest_submission_and_up_again_allows_several(
        app, branch, make_user, api_client, make_advertiser, make_key, key_client):
    ids = []
    for name in ("Acme", "Beta", "Gamma"):
        response = key_client(make_key(make_advertiser(name))).post(
            "/api/v1/leadworks/leads", json={"campaign": "c", "full_name": "Ada",
                                             "emails": [f"ada@{name.lower()}.example"]})
        ids.append(response.get_json()["id"])
    merged = api_client(make_user("admin")).post(f"/api/v1/leads/{ids[1]}/merge",
                                                 json={"other_ids": [ids[0]]})
    assert merged.status_code == 200, merged.get_json()
    engine = app.extensions["crm"].engine

    def lead_ids() -> list[int | None]:
        with engine.connect() as conn:
            return list(conn.scalars(text(
                "SELECT lead_id FROM leadworks_submissions ORDER BY id")))

    assert lead_ids() == [ids[1], ids[1], ids[2]]
    downgrade(engine, branch, "leadworks_0002")
    # The survivor's oldest submission keeps it; the other shows as removed.
    assert lead_ids() == [ids[1], None, ids[2]]
    with engine.connect() as conn:
        table = inspect(conn)
        assert [u["column_names"] for u in table.get_unique_constraints(
            "leadworks_submissions")] == [["lead_id"]]
        assert "merged_at" not in {c["name"] for c in table.get_columns(
            "leadworks_submissions")}

    assert alembic_branches.upgrade(engine, branch) == ["leadworks_0003", "leadworks_0004"]
    assert_matches_the_models(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE leadworks_submissions SET lead_id = :a WHERE lead_id = :b"),
                     {"a": ids[1], "b": ids[2]})
    assert lead_ids() == [ids[1], None, ids[1]]


def test_0004_keeps_what_unmerged_leads_were_handed_over_as(
        app, branch, make_user, api_client, make_advertiser, make_key, key_client):
    ids = []
    for name in ("Acme", "Beta", "Gamma"):
        response = key_client(make_key(make_advertiser(name))).post(
            "/api/v1/leadworks/leads", json={"campaign": "c", "full_name": f"Ada {name}",
                                             "emails": [f"ada@{name.lower()}.example"]})
        ids.append(response.get_json()["id"])
    engine = app.extensions["crm"].engine
    downgrade(engine, branch, "leadworks_0003")
    merged = api_client(make_user("admin")).post(f"/api/v1/leads/{ids[1]}/merge",
                                                 json={"other_ids": [ids[0]]})
    assert merged.status_code == 200, merged.get_json()

    assert alembic_branches.upgrade(engine, branch) == ["leadworks_0004"]
    assert_matches_the_models(engine)
    with engine.connect() as conn:
        # What the merged ones were handed over as is not known any more.
        assert conn.execute(text(
            "SELECT handed_lead_id, handed_name, handed_email FROM leadworks_submissions "
            "ORDER BY id")).all() == [(None, "", ""), (None, "", ""),
                                      (ids[2], "Ada Gamma", "ada@gamma.example")]
