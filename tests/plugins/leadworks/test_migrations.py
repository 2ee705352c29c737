"""Leadworks' migrations build exactly the tables and indexes its models declare."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from crmcore.db import Base

pytestmark = pytest.mark.plugins("mail", "leadworks")


def _ours(obj, name, type_, reflected, compare_to):
    return type_ != "table" or name.startswith("leadworks_")


def test_migration_matches_the_models(app):
    with app.extensions["crm"].engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": _ours})
        assert compare_metadata(context, Base.metadata) == []
