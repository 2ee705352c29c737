"""Fixtures of the core's tests."""

from __future__ import annotations

import pytest

from crmcore import testing
from crmcore.alembic_branches import CORE_MIGRATIONS, Branch, upgrade
from crmcore.config import database_url
from crmcore.db import make_engine
from crmcore.testing import is_postgres


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
