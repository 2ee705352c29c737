"""Fixtures of the core's tests."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from crmcore import testing
from crmcore.alembic_branches import CORE_MIGRATIONS, Branch, upgrade
from crmcore.cli import cli
from crmcore.config import database_url
from crmcore.db import make_engine, transaction
from crmcore.services import imports
from crmcore.services import records as svc
from crmcore.testing import is_postgres
from tests.fake_plugins import install


@pytest.fixture()
def old_install(tmp_path):
    """``migrate(revision)`` migrates a new database's core to ``revision`` and
    returns its engine; ``upgrade()`` takes it to the head."""
    url = testing.test_database_url(tmp_path)
    if is_postgres():
        url = testing.reset_postgres(url)
    engine = make_engine(database_url(tmp_path, {"DATABASE_URL": url}))
    core = Branch("core", CORE_MIGRATIONS)

    def migrate(revision="head"):
        return upgrade(engine, core, revision)

    yield engine, migrate
    engine.dispose()


@pytest.fixture
def run_import(app):
    """``run(path, actor=None, kind=LEADS, **options)``: import a file as
    ``actor`` (the system when ``None``), in this process; returns the job as
    it ended."""
    sessions = app.extensions["crm"].sessions

    def run(path, actor=None, kind=svc.LEADS, **options):
        with transaction(sessions) as s:
            job = imports.start(s, s.merge(actor) if actor else None, kind, path, path.name,
                                imports.ImportOptions(**options))
        return imports.run(sessions, job.id)

    return run


@pytest.fixture
def crm(tmp_path, monkeypatch):
    """``run(*args, input=None, **env)``: the `crm` command in this process, on a
    throwaway SQLite install whose plugins look pip-installed; ``run.db_file``
    is its database, ``run.instance`` its folder."""
    site = tmp_path / "site"
    install(site, ["alpha", "beta", "badmig", "broken"])
    monkeypatch.syspath_prepend(str(site))
    db_file = tmp_path / "crm.sqlite3"
    env = {"CRM_INSTANCE_PATH": str(tmp_path / "instance"),
           "CRM_DATABASE_URL": f"sqlite:///{db_file}", "CRM_PLUGINS": None}

    def run(*args, input=None, **extra_env):
        result = CliRunner().invoke(cli, list(args), env={**env, **extra_env}, input=input,
                                    catch_exceptions=False)
        return result

    run.db_file = db_file
    run.instance = tmp_path / "instance"
    return run
